"""Study configuration is validated data: a bad file fails with the file and the key named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from schemas.config import DEFAULT_CONFIG_DIR, ConfigError, load_config, normalise_analyte_name


def test_shipped_configuration_loads(config: object) -> None:
    c = load_config()
    assert c.study.study_id == "BCT-002-US"
    assert len(c.study.sites) == 6
    assert [v.nominal_week for v in c.study.visits] == [0, 2, 4, 8, 12, 16, 20]
    assert {m.code for m in c.study.matrices} == {"CSF", "SERUM"}
    assert len(c.catalogue.analytes) >= 20
    assert {a.analyte_class for a in c.catalogue.analytes} == {
        "neurotrophic",
        "inflammatory",
        "cytokine",
        "neurodegeneration",
    }


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("Hu VEGF (45)", "VEGF-A"),
        ("VEGF-A", "VEGF-A"),
        ("vegf", "VEGF-A"),
        ("MCP-1(MCAF)", "MCP-1"),
        ("TNF-α", "TNF-a"),
        ("TNF alpha", "TNF-a"),
        ("Hu FGF basic (44)", "FGF-2"),
        ("YKL-40", "CHI3L1"),
        ("NF-L", "NfL"),
        ("IL-1β", "IL-1b"),
        ("Something else", None),
    ],
)
def test_aliases_resolve_as_labs_write_them(written: str, canonical: str | None) -> None:
    assert load_config().catalogue.resolve(written) == canonical


def test_normalisation_drops_bead_region_and_prefix() -> None:
    assert normalise_analyte_name("Hu IL-6 (19)") == normalise_analyte_name("il6")


def _copy(tmp_path: Path) -> Path:
    d = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, d)
    return d


def _edit(path: Path, fn: object) -> None:
    data = yaml.safe_load(path.read_text())
    fn(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data))


def test_a_typo_in_a_key_is_named(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    _edit(d / "study.yaml", lambda s: s["visits"][2].update(windw_days=3))
    with pytest.raises(ConfigError, match=r"(?s)study\.yaml.*visits\[2\]\.windw_days"):
        load_config(d)


def test_a_wrong_type_is_named(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    _edit(d / "analytes.yaml", lambda s: s["analytes"][0].update({"class": "vitamin"}))
    with pytest.raises(ConfigError, match=r"(?s)analytes\.yaml.*analytes\[0\]\.class"):
        load_config(d)


def test_reported_value_and_westgard_settings_are_validated(tmp_path: Path) -> None:
    assert {a.reported_value for a in load_config().assays.assays} == {"instrument"}  # the default
    d = _copy(tmp_path)
    _edit(d / "assays.yaml", lambda s: s["assays"][0].update(reported_value="recomputed"))
    assert load_config(d).assays.assays[0].reported_value == "recomputed"
    _edit(d / "assays.yaml", lambda s: s["assays"][0].update(reported_value="ours"))
    with pytest.raises(ConfigError, match=r"(?s)assays\.yaml.*assays\[0\]\.reported_value"):
        load_config(d)
    _edit(
        d / "assays.yaml",
        lambda s: s["assays"][0].update(
            reported_value="instrument", acceptance={"westgard": {"rules": ["1-5s"]}}
        ),
    )
    with pytest.raises(ConfigError, match=r"(?s)assays\[0\]\.acceptance\.westgard\.rules"):
        load_config(d)


def test_an_assay_naming_an_unknown_analyte_is_refused(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    _edit(d / "assays.yaml", lambda s: s["assays"][0]["analytes"].append("Unobtainium"))
    with pytest.raises(ConfigError, match="Unobtainium"):
        load_config(d)


def test_an_alias_claimed_by_two_analytes_is_refused(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    _edit(d / "analytes.yaml", lambda s: s["analytes"][1]["aliases"].append("VEGF"))
    with pytest.raises(ConfigError, match="VEGF"):
        load_config(d)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    (d / "assays.yaml").unlink()
    with pytest.raises(ConfigError, match=r"assays\.yaml is missing"):
        load_config(d)
    (d / "assays.yaml").write_text("assays: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(d)


def test_standard_series_and_kit_limits() -> None:
    a = load_config().assays.get("ELISA-VEGF")
    assert a is not None
    assert a.standards.series("VEGF-A")[:3] == [2000, 1000, 500]
    assert a.kit_limits("VEGF-A") == (2000 / 2**7, 2000)
