"""SoftmaxGroupReader and Gen5Reader against the real public exports in ../shared/corpus (facts from its
README), and the four new readers' sniffing across the whole corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from readers.base import FileInput, Reader, ReadResult
from readers.detect import head_text
from readers.ella import EllaReader
from readers.gen5 import Gen5Reader
from readers.platereader import SNIFF_SCORE as GRID_SCORE
from readers.simoa import SimoaReader
from readers.softmax import SoftmaxGroupReader
from schemas.wells import WellModel

pytestmark = pytest.mark.corpus

SOFTMAX = "platereader/allotropy_softmax_pro_group_with_partial_rows.txt"
GEN5 = "platereader/allotropy_gen5_kinetic_standard_curve.txt"


def load(corpus: Path, rel: str) -> FileInput:
    path = corpus / rel
    return FileInput(path.name, path.read_bytes())


def well(df: pl.DataFrame, w: str) -> dict[str, Any]:
    rows = df.filter(pl.col("well") == w).to_dicts()
    assert len(rows) == 1
    return rows[0]


@pytest.fixture(scope="module")
def softmax(corpus: Path) -> ReadResult:
    return SoftmaxGroupReader().read(load(corpus, SOFTMAX))


@pytest.fixture(scope="module")
def gen5(corpus: Path) -> ReadResult:
    return Gen5Reader().read(load(corpus, GEN5))


# ---- SoftMax Pro ---------------------------------------------------------------------------------------


def results(res: ReadResult) -> pl.DataFrame:
    """The rows of the signal SoftMax's groups used (the reduced 450 − 650 nm): they carry the group results;
    the raw 450 and 650 nm reads are their own rows, with the sample but no concentration."""
    return res.wells.filter(pl.col("signal_kind") == "OD450-650")


def test_softmax_standards(softmax: ReadResult) -> None:
    df = WellModel.validate(results(softmax))
    std = df.filter(pl.col("sample_type") == "standard")
    expected = {"STD A": 0.0, "STD B": 2.0, "STD C": 10.0, "STD D": 25.0, "STD E": 75.0, "STD F": 200.0}
    got = std.group_by("sample_id").agg(pl.col("expected_conc").unique(), pl.len()).sort("sample_id")
    assert got["sample_id"].to_list() == list(expected)
    assert [v.to_list() for v in got["expected_conc"]] == [[v] for v in expected.values()]
    assert set(got["len"]) == {2}  # in duplicate
    # ng/mL as written (the Note block and the standards' column say so), from the file.
    assert set(df["unit"]) == {"ng/mL"} and set(df["unit_source"]) == {"file"}


def test_softmax_mean_results(softmax: ReadResult) -> None:
    std = results(softmax).filter(pl.col("sample_type") == "standard")
    means = std.group_by("sample_id").agg(pl.col("value").mean()).sort("sample_id")
    file_means = {"STD B": 2.338, "STD C": 9.459, "STD D": 25.339, "STD E": 74.924, "STD F": 200.02}
    for sample, mean in file_means.items():
        (got,) = means.filter(pl.col("sample_id") == sample)["value"].to_list()
        assert round(got, 3) == pytest.approx(mean, abs=6e-4)
    # Every MeanResult in the file agrees with its wells: no cross-check warning.
    assert not [w for w in softmax.warnings if "MeanResult" in w]


def test_softmax_dilution_corrected_unknowns(softmax: ReadResult) -> None:
    df = results(softmax)
    b3, b4 = well(df, "B3"), well(df, "B4")
    assert (b3["sample_id"], b3["sample_type"], b3["dilution"]) == ("Sample 1", "unknown", 100.0)
    assert (b3["reported_text"], b3["qualifier"], b3["value"]) == ("4278.331", "=", 4278.331)
    assert (b4["value"], b4["dilution"]) == (4023.048, 100.0)
    assert b3["dilution_applied"] and b4["dilution_applied"]
    unknowns = df.filter((pl.col("sample_type") == "unknown") & pl.col("reported_text").is_not_null())
    assert unknowns.height == 78 and unknowns["dilution_applied"].all()


def test_softmax_out_of_curve_and_range(softmax: ReadResult) -> None:
    df = results(softmax)
    a1 = well(df, "A1")  # STD A, "Range?", no Range column in the Standards group
    assert (a1["reported_text"], a1["qualifier"], a1["value"]) == ("Range?", "NR", None)
    assert "Range?" in a1["flags"]
    # Sample 1 250x: Range "Out of range", MeanValue 0.120 < Lower limit 0.186 → below, no value.
    c3 = well(df, "C3")
    assert (c3["reported_text"], c3["qualifier"], c3["value"]) == ("1130.083", "<", None)
    assert "out_of_range: below" in c3["flags"] and "Lower limit 0.186" in c3["flags"]
    # Sample 1 25x: MeanValue 3.433 > Upper limit 2.380 → above.
    assert (well(df, "A3")["qualifier"], well(df, "A4")["qualifier"]) == (">", ">")
    # A "Range?" cell of an out-of-range sample (Sample 12 250x, D12) is censored on the sample's side.
    d12 = well(df, "D12")
    assert (d12["reported_text"], d12["qualifier"]) == ("Range?", "<")
    # "In the range" samples keep their numbers.
    assert well(df, "E3")["qualifier"] == "="
    assert set(df["qualifier"]) <= {"=", "<", ">", "NR"}


def test_softmax_controls_signals_and_plate(softmax: ReadResult) -> None:
    df = results(softmax)
    g1 = well(df, "G1")
    assert (g1["sample_id"], g1["sample_type"], g1["expected_conc"], g1["value"]) == (
        "CTRL",
        "qc",
        40.0,
        43.561,
    )
    # OD from the plate block: the reduced value is 450 − 650 nm (A1: 0.1003 − 0.0338).
    assert well(df, "A1")["signal"] == pytest.approx(0.0665)
    assert set(softmax.wells["signal_kind"]) == {"OD450", "OD650", "OD450-650"}  # each read its own rows
    assert not [w for w in softmax.warnings if "plate readings" in w]  # group Values agree with the plate
    assert df.height == 12 + 2 + 78 + 4  # the group wells, and 4 wells no group names
    assert df.filter(pl.col("reported_text").is_null())["flags"].to_list() == ["not_in_a_group"] * 4
    raw = softmax.wells.filter((pl.col("well") == "A1") & (pl.col("signal_kind") != "OD450-650"))
    assert raw.sort("signal_kind")["signal"].to_list() == [0.1003, 0.0338]  # OD450, OD650 as written
    assert set(raw["sample_id"]) == {"STD A"} and raw["reported_text"].is_null().all()
    (plate,) = softmax.plates
    assert plate.protocol == "Residual HEK293-HCP"
    assert plate.plate_id == "allotropy_softmax_pro_group_with_partial_rows"
    assert set(df["analyte_as_written"]) == {"Residual HEK293-HCP"}  # no Analyte line: the Method name
    assert any("Method name" in w for w in softmax.warnings)


# ---- Gen5 ----------------------------------------------------------------------------------------------


def test_gen5_layout_and_results(gen5: ReadResult) -> None:
    df = WellModel.validate(gen5.wells)
    assert df.height == 96
    a1 = well(df, "A1")
    assert (a1["sample_id"], a1["sample_type"], a1["expected_conc"]) == ("STD12", "standard", 40.0)
    assert (a1["reported_text"], a1["qualifier"], a1["value"]) == ("27.131", "=", 27.131)
    assert (a1["signal"], a1["signal_kind"]) == (31.303, "Mean V [420]")
    assert well(df, "A12")["expected_conc"] == 0.0
    c1 = well(df, "C1")
    assert (c1["sample_id"], c1["sample_type"], c1["expected_conc"], c1["dilution"]) == (
        "SPL1",
        "unknown",
        None,
        1.0,
    )
    counts = dict(df.group_by("sample_type").len().iter_rows())
    assert counts == {"standard": 24, "unknown": 72}


def test_gen5_censored_tokens(gen5: ReadResult) -> None:
    df = gen5.wells
    a2 = well(df, "A2")
    assert (a2["reported_text"], a2["qualifier"], a2["value"]) == (">40.000", ">", 40.0)
    a11 = well(df, "A11")
    assert (a11["reported_text"], a11["qualifier"], a11["value"]) == ("<0.000", "<", 0.0)
    assert df.filter(pl.col("qualifier") == ">").height == 6
    assert df.filter(pl.col("qualifier") == "<").height == 17


def test_gen5_failed_statistic_and_metadata(gen5: ReadResult) -> None:
    (plate,) = gen5.plates
    assert plate.extra["curve Fit F Prob"] == "?????"
    assert plate.extra["curve R2"] == "0.995"
    assert any("Fit F Prob" in w and "?????" in w for w in gen5.warnings)
    assert plate.acquired_at == "2/9/2006 6:14:21 AM"
    assert plate.protocol == "Kinetic B-Galactosidase"
    assert gen5.wells["unit"].is_null().all()  # Gen5 writes no unit: the assay's configured unit is used
    assert not gen5.wells["dilution_applied"].any()


# ---- sniffing across the corpus ------------------------------------------------------------------------

NEW_READERS: list[Reader] = [SimoaReader(), EllaReader(), SoftmaxGroupReader(), Gen5Reader()]
OWN = {SOFTMAX: "softmax_pro", GEN5: "gen5"}
# Every SoftMax Pro text export is the SoftMax reader's (a plate-only export too; the files allotropy refuses,
# in errors/, are refused by it with their reason).
SOFTMAX_EXPORTS = ("allotropy/moldev_softmax_pro/", "platereader/labkey_spectramax_")


def owner(rel: str) -> str | None:
    """The reader that must recognise a corpus file: the files above, every SoftMax Pro text export, and every
    Gen5 text export of allotropy's set (spectra and kinetic runs too: Gen5 names them; the grid reader must
    not read them)."""
    if rel in OWN:
        return OWN[rel]
    if rel.startswith(SOFTMAX_EXPORTS) and rel.endswith(".txt"):
        return "softmax_pro"
    if rel.startswith("allotropy/agilent_gen5/") and rel.endswith(".txt"):
        return "gen5"
    return None


def test_own_files_outscore_the_grid_reader(corpus: Path) -> None:
    for rel, name in OWN.items():
        f = load(corpus, rel)
        (reader,) = [r for r in NEW_READERS if r.name == name]
        s = reader.sniff(head_text(f), f)
        assert s.matched and s.score > GRID_SCORE, rel


def test_no_other_corpus_file_is_sniffed_as_ours(corpus: Path) -> None:
    files = sorted(p for p in corpus.rglob("*") if p.is_file() and p.name != "README.md")
    assert len(files) > 10
    for path in files:
        rel = path.relative_to(corpus).as_posix()
        f = FileInput(path.name, path.read_bytes())
        head = head_text(f)
        matched = {r.name for r in NEW_READERS if r.sniff(head, f).matched}
        own = owner(rel)
        assert matched == ({own} if own else set()), rel
