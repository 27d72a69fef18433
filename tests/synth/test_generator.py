"""The synthetic study generator on small studies (participants 8–12): shape, identity, determinism,
the answer key of injected defects, and the truth the blinding tests rely on."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from schemas.config import Config
from schemas.manifest import MANIFEST_COLUMNS
from synth.generator import (
    Profiles,
    StudySummary,
    SynthStudy,
    build_study,
    check_profiles,
    generate_study,
    load_profiles,
    plate_capacity,
)

N = 8


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, config: Config) -> StudySummary:
    return generate_study(tmp_path_factory.mktemp("study"), seed=1, participants=N, config=config)


@pytest.fixture(scope="module")
def study(config: Config) -> SynthStudy:
    return build_study(seed=1, participants=N, config=config)


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        r = csv.DictReader(f)
        return list(r.fieldnames or []), list(r)


def defects(summary: StudySummary) -> list[dict[str, Any]]:
    doc = json.loads(summary.defects_json.read_text(encoding="utf-8"))
    assert doc["seed"] == summary.seed
    return list(doc["defects"])


def test_summary_counts_match_the_files(written: StudySummary) -> None:
    inbox = sorted(p.name for p in written.inbox.iterdir())
    assert written.files == len(inbox) == len(written.files_written)
    assert written.participants == N
    assert written.plates > 0 and written.wells > written.plates
    assert written.defects == len(defects(written))


def test_manifest_columns_uniqueness_and_values(written: StudySummary, config: Config) -> None:
    header, rows = read_csv(written.manifest)
    assert tuple(header) == MANIFEST_COLUMNS
    assert len(rows) == written.samples
    ids = [r["sample_id"] for r in rows]
    assert len(set(ids)) == len(ids)
    visits = {v.code for v in config.study.visits}
    for r in rows:
        assert r["visit"] in visits and r["matrix"] in {"CSF", "SERUM"}
        assert r["sample_id"].startswith({"CSF": "CSF", "SERUM": "SER"}[r["matrix"]])
        assert len(r["collection_date"]) == 10 and r["collection_date"][4] == "-"
        assert r["condition"] in {"", "HEMOLYZED", "BLOOD-CONTAMINATED"}
    # one sample per participant × visit × matrix
    keys = Counter((r["participant_id"], r["visit"], r["matrix"]) for r in rows)
    assert max(keys.values()) == 1


def test_every_plate_sample_is_in_the_manifest_except_the_injected_typos(study: SynthStudy) -> None:
    manifest = {s.sample_id for s in study.samples}
    typos = {d.sample_id for d in study.defects if d.kind == "sample_id_typo"}
    assert typos and not typos & manifest
    on_plates = {w.sample_id for p in study.plates for w in p.wells if w.sample_type == "unknown"}
    assert on_plates - manifest == typos
    for d in study.defects:
        if d.kind == "sample_id_typo":
            true_id = d.detail["manifest_sample_id"]
            assert true_id in manifest and sorted(true_id) == sorted(d.sample_id or "")


def test_allocation_is_one_to_one_blocked_by_site(written: StudySummary, study: SynthStudy) -> None:
    header, rows = read_csv(written.allocation)
    assert header == ["participant_id", "site_id", "arm"]
    assert len(rows) == N and {r["arm"] for r in rows} <= {"MSC-NTF", "PLACEBO"}
    by_site: dict[str, Counter[str]] = {}
    for r in rows:
        by_site.setdefault(r["site_id"], Counter())[r["arm"]] += 1
    for c in by_site.values():
        assert abs(c["MSC-NTF"] - c["PLACEBO"]) <= 2  # blocks of 2 or 4, the last one possibly cut
    big = build_study(seed=3, participants=120, profiles=None)
    arms = Counter(p.arm for p in big.participants)
    assert abs(arms["MSC-NTF"] - arms["PLACEBO"]) <= 2 * 6


def test_seeds_give_disjoint_ids(config: Config) -> None:
    a, b = (build_study(seed=s, participants=N, config=config) for s in (1, 2))
    assert not {p.participant_id for p in a.participants} & {p.participant_id for p in b.participants}
    assert not {s.sample_id for s in a.samples} & {s.sample_id for s in b.samples}
    assert not {p.plate_id for p in a.plates} & {p.plate_id for p in b.plates}


def test_same_seed_gives_identical_bytes(written: StudySummary, tmp_path: Path, config: Config) -> None:
    again = generate_study(tmp_path, seed=1, participants=N, config=config)
    files = sorted(p.relative_to(written.out) for p in written.out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again.out) for p in again.out.rglob("*") if p.is_file())
    for f in files:
        assert (written.out / f).read_bytes() == (again.out / f).read_bytes(), f


def test_a_non_empty_inbox_is_not_mixed_with_another_study(written: StudySummary, config: Config) -> None:
    with pytest.raises(FileExistsError):
        generate_study(written.out, seed=2, participants=N, config=config)


def test_plate_layout(study: SynthStudy) -> None:
    seen_ids = set()
    manifest = {s.sample_id: s for s in study.samples}
    for p in study.plates:
        assert p.plate_id not in seen_ids
        seen_ids.add(p.plate_id)
        assert len(p.wells) <= 96 and len({w.well for w in p.wells}) == len(p.wells)
        levels = Counter(w.level for w in p.wells if w.level)
        n = p.assay.standards.levels
        assert levels == Counter({**{f"S{i}": 2 for i in range(1, n + 1)}, "QC-L": 2, "QC-M": 2, "QC-H": 2})
        assert sum(w.sample_type == "blank" for w in p.wells) == 2
        std = {w.level: w.expected_conc for w in p.wells if w.sample_type == "standard"}
        for a in p.assay.analytes:
            series = p.assay.standards.series(a)
            factor = std["S1"][a] / series[0]  # 1, or 0.001 on the ng/mL plate
            assert [std[f"S{i + 1}"][a] for i in range(n)] == pytest.approx([x * factor for x in series])
        unknowns = [w for w in p.wells if w.sample_type == "unknown"]
        counts = Counter(w.sample_id for w in unknowns)
        assert set(counts.values()) == {2}
        # one matrix per plate; the run after every collection on it
        for w in unknowns:
            s = manifest.get(w.sample_id)
            if s is not None:
                assert s.matrix == p.matrix
                assert p.run_started.date() > s.collection_date
                assert w.dilution == p.assay.sample_dilution.get(p.matrix, 1.0)


def test_plates_per_assay_and_matrix(study: SynthStudy) -> None:
    prof = load_profiles()
    plan = {(p.assay.assay_id, p.matrix) for p in study.plates}
    assert plan == {(a, m) for a, ms in prof.plates.items() for m in ms}
    for p in study.plates:
        assert len([w for w in p.wells if w.sample_type == "unknown"]) <= 2 * plate_capacity(p.assay, prof)


def test_labels_as_labs_write_them(study: SynthStudy, config: Config) -> None:
    for p in study.plates:
        for a, label in p.labels.items():
            assert config.catalogue.resolve(label) == a
            if p.assay.platform == "luminex":
                assert label.endswith(")") and "(" in label
    written = {label for p in study.plates for label in p.labels.values()}
    assert {"VEGF (45)", "Hu HGF (62)", "MCP-1(MCAF) (53)"} <= written


def test_elisa_cells_carry_od_only_and_luminex_cells_a_text(study: SynthStudy) -> None:
    for p in study.plates:
        for w in p.wells:
            for c in w.cells.values():
                if p.assay.platform == "plate_reader":
                    assert c.reported_text is None and 0 < c.signal <= 3.5
                else:
                    assert c.reported_text and 1 <= c.signal < 40000


def test_defects_json_lists_what_was_injected(written: StudySummary, study: SynthStudy) -> None:
    found = defects(written)
    kinds = Counter(d["kind"] for d in found)
    assert kinds["sample_id_typo"] >= 1
    assert kinds["unit_mislabel"] == 1
    assert kinds["high_cv_duplicate"] >= 1
    inbox = {p.name for p in written.inbox.iterdir()}
    for d in found:
        assert set(d) == {"id", "kind", "file", "plate_id", "wells", "sample_id", "analyte", "detail"}
        assert d["file"] in inbox and d["plate_id"] in d["file"]
    plates = {p.plate_id: p for p in study.plates}

    (um,) = (d for d in found if d["kind"] == "unit_mislabel")
    plate = plates[um["plate_id"]]
    assert (plate.assay.assay_id, plate.matrix, um["analyte"]) == ("LX-NTF", "SERUM", "BDNF")
    assert plate.unit_label == "pg/mL" and um["wells"]
    for w in plate.wells:
        if w.well in um["wells"]:
            cell = w.cells["BDNF"]
            value = float((cell.reported_text or "").lstrip("*"))
            in_pg = cell.true_conc_pg_ml or 0.0
            assert value == pytest.approx(in_pg * w.dilution / 1000, rel=0.5)  # replicate noise aside
    assert "BDNF" in (plate.labels["BDNF"]) and plate.file_stem in um["file"]

    for d in (d for d in found if d["kind"] == "high_cv_duplicate"):
        cells = [w.cells[d["analyte"]] for w in plates[d["plate_id"]].wells if w.well in d["wells"]]
        signals = [c.signal for c in cells]
        assert len(signals) == 2 and signals == d["detail"]["signals_after"]
        k = d["wells"].index(d["detail"]["off_well"])
        off = signals[k] / d["detail"]["signals_before"][k]
        assert abs(off - 1) >= 0.45 and off == pytest.approx(d["detail"]["signal_factor"], rel=0.01)
        assert d["detail"]["cv_pct_conc"] > 20

    # the typo'd sample ID is what the export file says
    for d in (d for d in found if d["kind"] == "sample_id_typo"):
        assert d["sample_id"] in (written.inbox / d["file"]).read_text(encoding="utf-8")


def test_conditions_and_not_reported_cells_are_in_the_answer_key(study: SynthStudy) -> None:
    cond = {s.sample_id for s in study.samples if s.condition}
    listed = {(d.plate_id, d.sample_id) for d in study.defects if d.kind == "sample_condition"}
    for p in study.plates:
        for w in p.wells:
            if w.sample_id in cond:
                assert (p.plate_id, w.sample_id) in listed
    stars = {(d.plate_id, d.wells[0], d.analyte) for d in study.defects if d.kind == "not_reported"}
    actual = {
        (p.plate_id, w.well, a)
        for p in study.plates
        for w in p.wells
        for a, c in w.cells.items()
        if c.reported_text == "***"
    }
    assert stars == actual


def test_treatment_effect_in_the_truth_for_csf_vegf(config: Config) -> None:
    """Within-participant change from baseline, active vs placebo: ~4× for CSF VEGF-A after dosing, and
    none at baseline (which is pre-dose) — the reason results must stay blinded."""
    st = build_study(seed=5, participants=12, config=config)
    arm = {p.participant_id: p.arm for p in st.participants}
    truth = st.truth[("CSF", "VEGF-A")]
    base = {
        s.participant_id: math.log(truth[s.sample_id])
        for s in st.samples
        if s.matrix == "CSF" and s.visit == "W00"
    }
    change: dict[str, list[float]] = {"MSC-NTF": [], "PLACEBO": []}
    for s in st.samples:
        if s.matrix == "CSF" and s.nominal_week >= 2 and s.participant_id in base:
            change[arm[s.participant_id]].append(math.log(truth[s.sample_id]) - base[s.participant_id])
    effect = math.exp(np.mean(change["MSC-NTF"]) - np.mean(change["PLACEBO"]))
    assert 2.5 < effect < 6.5
    # and the plates carry the same truth (in-well = sample / dilution)
    for p in st.plates:
        if p.assay.assay_id == "LX-NTF" and p.matrix == "CSF":
            w = next(w for w in p.wells if w.sample_type == "unknown")
            assert w.cells["VEGF-A"].true_conc_pg_ml == pytest.approx(truth[w.sample_id] / w.dilution)


def test_chit1_true_zero_is_a_property_of_the_participant(config: Config) -> None:
    st = build_study(seed=1, participants=60, config=config)
    zero: dict[str, set[bool]] = {}
    for m in ("CSF", "SERUM"):
        truth = st.truth[(m, "CHIT1")]
        for s in st.samples:
            if s.matrix == m:
                zero.setdefault(s.participant_id, set()).add(truth[s.sample_id] == 0)
    assert all(len(v) == 1 for v in zero.values())
    assert 0 < sum(v == {True} for v in zero.values()) < 20


def test_profiles_are_checked_against_the_configuration(config: Config) -> None:
    prof = load_profiles()
    check_profiles(prof, config)
    bad = prof.model_copy(update={"plates": {**prof.plates, "NO-SUCH-KIT": ["CSF"]}})
    with pytest.raises(ValueError, match="NO-SUCH-KIT"):
        check_profiles(bad, config)
    labels = {**prof.labels, "LX-NTF": {**prof.labels["LX-NTF"]}}
    labels["LX-NTF"]["VEGF-A"] = labels["LX-NTF"]["VEGF-A"].model_copy(update={"name": "Vegetable"})
    with pytest.raises(ValueError, match="Vegetable"):
        check_profiles(Profiles.model_validate({**prof.model_dump(), "labels": labels}), config)


def test_tiny_study_keeps_the_key_defects(config: Config) -> None:
    st = build_study(seed=9, participants=6, config=config)
    kinds = Counter(d.kind for d in st.defects)
    assert kinds["sample_id_typo"] >= 1 and kinds["unit_mislabel"] == 1


def _sample_means(path: Path) -> dict[tuple[str, str], float]:
    """(sample or standard ID, analyte as written) → mean of the numeric concentration cells."""
    from readers.base import FileInput
    from readers.xponent import XponentReader

    wells = XponentReader().read(FileInput(path.name, path.read_bytes())).wells
    got: dict[tuple[str, str], list[float]] = {}
    for r in wells.filter(wells["qualifier"] == "=").iter_rows(named=True):
        got.setdefault((r["sample_id"], r["analyte_as_written"]), []).append(r["value"])
    return {k: sum(v) / len(v) for k, v in got.items()}


def test_an_isr_plate_repeats_the_picks_with_the_seeded_bad_fraction(
    written: StudySummary, study: SynthStudy, tmp_path: Path
) -> None:
    """isr_plate: the plate's calibrators and QCs as they were, only the picked samples, on <plate>-ISR;
    the first half of the picks (bad_fraction 0.5) read 0.6 x the first run, the others within 10 %."""
    from synth.generator import isr_plate

    plate = next(p for p in study.plates if p.plate_id.endswith("LX-NTF-CSF-P001"))
    on_plate = list(dict.fromkeys(w.sample_id for w in plate.wells if w.sample_type == "unknown"))
    picks = on_plate[:6]
    [path] = isr_plate(tmp_path, plate.plate_id, picks, seed=1, participants=N, bad_fraction=0.5)
    assert path.name.startswith(f"{plate.plate_id}-ISR_")
    first = _sample_means(next(written.inbox.glob(f"{plate.plate_id}_*.csv")))
    again = _sample_means(path)
    assert {s for s, _ in again if s.startswith("CSF")} == set(picks)
    ratios: dict[str, list[float]] = {}
    for (sid, analyte), value in again.items():
        if sid in picks and (sid, analyte) in first and first[(sid, analyte)] > 1:
            ratios.setdefault(sid, []).append(value / first[(sid, analyte)])
        elif sid not in picks:
            assert value == first[(sid, analyte)], (sid, analyte)  # standards and QCs unchanged
    assert set(ratios) == set(picks)
    for sid in picks[:3]:
        assert all(0.55 < r < 0.65 for r in ratios[sid]), (sid, ratios[sid])
    for sid in picks[3:]:
        assert all(0.85 < r < 1.15 for r in ratios[sid]), (sid, ratios[sid])
    with pytest.raises(ValueError, match="did not measure"):
        isr_plate(tmp_path, plate.plate_id, ["CSF-NOT-THERE"], seed=1, participants=N)
