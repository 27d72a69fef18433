"""SoftMax Pro reader against allotropy's own SoftMax exports (../shared/corpus/allotropy/moldev_softmax_pro):
every reading and every concentration allotropy extracts from a file we read must be in our rows with the
same value; kinetic traces and spectra are refused naming their read type; the files allotropy refuses
(errors/) are refused with a clear message.

The expected values come from allotropy's JSON beside each export, read here directly (the Allotrope
Simple Model: measurement documents per well and wavelength, calculated-data documents per group column).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from readers.base import FileInput, ReaderError, ReadResult
from readers.detect import head_text
from readers.softmax import NO_ANALYTE, SoftmaxGroupReader
from readers.tokens import parse_number
from schemas.wells import WellModel

pytestmark = pytest.mark.corpus

FOLDER = "allotropy/moldev_softmax_pro"
# Out of scope: not one reading per well (the reader names the read type).
OUT_OF_SCOPE = {
    "ACSINS_absorbance_timeformat_spectrum.txt": "spectrum",
    "partial_plate.txt": "spectrum",
    "spectramax340_kinetic_partial_plate.txt": "kinetic read",
}
# Files allotropy refuses, with what our refusal says.
REFUSED = {
    "header_size_mismatch.txt": "##BLOCKS= 12",
    "missing_kinetic_measurement.txt": "kinetic read",
    "multi-plate-block_non-unique_plate_ID.txt": "both named 'Plate01'",
    "trf_well_scan_plates.txt": "well scan",
}
# Group columns holding a concentration SoftMax interpolated on the standard curve (the names used in these
# files; the reader recognises them by their InterpX formula).
CONC_COLUMNS = {"Result", "BackCalcConc", "Conc"}


def _files(corpus: Path) -> list[Path]:
    return sorted(p for p in (corpus / FOLDER).glob("*.txt"))


def _read(path: Path) -> ReadResult:
    return SoftmaxGroupReader().read(FileInput(path.name, path.read_bytes()))


def _equal(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def _expected(path: Path) -> tuple[dict[tuple[str, str, str], float | None], dict[tuple[str, str], Any]]:
    """From allotropy's JSON: (plate, well, signal_kind) → reading (None: an error/empty cell), and
    (plate, well) → {calculated-data name: [values]} (Reduced and group columns)."""
    doc = json.loads(path.with_suffix(".json").read_text())
    agg = doc["plate reader aggregate document"]
    reads: dict[tuple[str, str, str], float | None] = {}
    by_id: dict[str, tuple[str, str]] = {}
    for prd in agg["plate reader document"]:
        seen: dict[tuple[str, str, str], int] = defaultdict(int)
        for m in prd["measurement aggregate document"]["measurement document"]:
            sample = m["sample document"]
            plate, well = sample["well plate identifier"], sample["location identifier"]
            dc = m["device control aggregate document"]["device control document"][0]
            wl = dc.get("detector wavelength setting", {}).get("value")
            ex = dc.get("excitation wavelength setting", {}).get("value")
            mode = dc["detection type"]
            if mode == "Absorbance":
                kind, value = f"OD{wl:g}", m["absorbance"]["value"]
            elif mode == "Fluorescence":
                kind, value = f"RFU {ex:g}/{wl:g}", m["fluorescence"]["value"]
            else:
                kind = "RLU" if not wl else f"RLU {wl:g}"
                value = m["luminescence"]["value"]
            n = seen[(plate, well, kind)] = seen[(plate, well, kind)] + 1
            key = (plate, well, kind if n == 1 else f"{kind} #{n}")
            errors = m.get("error aggregate document", {}).get("error document", [])
            reads[key] = None if any(e["error feature"] == mode for e in errors) else value
            by_id[m["measurement identifier"]] = (plate, well)
    calcs: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for c in agg.get("calculated data aggregate document", {}).get("calculated data document", []):
        sources = c["data source aggregate document"]["data source document"]
        ids = [s["data source identifier"] for s in sources]
        for pw in {by_id[i] for i in ids if i in by_id}:
            calcs[pw][c["calculated data name"]].append(c["calculated result"]["value"])
    return reads, calcs


def _ours(res: ReadResult) -> tuple[dict[tuple[str, str, str], dict[str, Any]], list[dict[str, Any]]]:
    names = {p.plate_id: p.extra.get("plate_name", "") for p in res.plates}
    only = next(iter(names.values())) if len(names) == 1 else None
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in res.wells.to_dicts():
        plate = names.get(r["plate_id"]) or only or ""
        r["plate"] = plate
        key = (plate, r["well"], r["signal_kind"])
        assert key not in rows, key  # one row per plate × well × signal
        rows[key] = r
    return rows, res.wells.to_dicts()


def compare(path: Path) -> dict[str, int]:
    """Counts of readings and concentrations: equal, different, missing (in the JSON, not in our rows)."""
    res = _read(path)
    WellModel.validate(res.wells)
    reads, calcs = _expected(path)
    rows, _ = _ours(res)
    out = dict.fromkeys(("equal", "different", "missing", "conc_equal", "conc_different", "conc_missing"), 0)
    plates = {k[0] for k in reads}
    for key, value in reads.items():
        row = rows.get(key)
        if value is None:  # an error token or an empty (unread) well: no row, or a row without a signal
            if row is not None and row["signal"] is not None:
                out["different"] += 1
            continue
        if row is None:
            out["missing"] += 1
        elif row["signal"] is not None and _equal(row["signal"], value):
            out["equal"] += 1
        else:
            out["different"] += 1
    for key in rows:  # nothing invented: every raw read we give is in the JSON
        if key[0] in plates and "(reduced)" not in str(key[2]) and "-" not in str(key[2]):
            assert key in reads, f"{path.name}: {key} is not a reading allotropy knows"
    for (plate, well), named in calcs.items():
        ours = [r for k, r in rows.items() if k[:2] == (plate, well)]
        reduced = named.get("Reduced", [])
        for v in reduced:  # the reduced value: our reduced row, or the raw read it repeats
            if any(r["signal"] is not None and _equal(r["signal"], v) for r in ours):
                out["equal"] += 1
            else:
                out["different" if ours else "missing"] += 1
        texts = [r for r in ours if r["reported_text"] is not None]
        numbers = [n for r in texts if (n := parse_number(r["reported_text"])) is not None]
        numbers += [r["expected_conc"] for r in ours if r["expected_conc"] is not None]  # a standard's "Conc"
        for name in CONC_COLUMNS & set(named):
            for v in named[name]:
                if not texts:
                    out["conc_missing"] += 1
                elif any(_equal(n, v) for n in numbers) or (
                    v == 0.0 and math.copysign(1, v) < 0 and all(r["value"] is None for r in texts)
                ):
                    out["conc_equal"] += 1
                else:
                    out["conc_different"] += 1
    return out


def test_every_in_scope_value_equals_allotropy(corpus: Path) -> None:
    files = [p for p in _files(corpus) if p.name not in OUT_OF_SCOPE]
    assert len(files) >= 13
    total: dict[str, int] = defaultdict(int)
    for path in files:
        counts = compare(path)
        assert counts["different"] == counts["missing"] == 0, (path.name, counts)
        assert counts["conc_different"] == counts["conc_missing"] == 0, (path.name, counts)
        for k, v in counts.items():
            total[k] += v
    assert total["equal"] > 4500 and total["conc_equal"] > 400, dict(total)


@pytest.mark.parametrize("name", sorted(OUT_OF_SCOPE))
def test_non_endpoint_reads_are_named_not_read_as_od(corpus: Path, name: str) -> None:
    with pytest.raises(ReaderError) as err:
        _read(corpus / FOLDER / name)
    assert OUT_OF_SCOPE[name] in str(err.value) and "endpoint" in str(err.value)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_files_allotropy_refuses_get_a_clear_refusal(corpus: Path, name: str) -> None:
    path = corpus / FOLDER / "errors" / name
    with pytest.raises(ReaderError) as err:
        _read(path)
    text = str(err.value)
    assert text.startswith(name) and REFUSED[name] in text and len(text) < 600


def test_every_softmax_export_is_sniffed(corpus: Path) -> None:
    for path in [*_files(corpus), *sorted((corpus / FOLDER / "errors").glob("*.txt"))]:
        f = FileInput(path.name, path.read_bytes())
        assert SoftmaxGroupReader().sniff(head_text(f), f).matched, path.name


def test_several_plates_wavelengths_and_modes(corpus: Path) -> None:
    res = _read(corpus / FOLDER / "MD_SMP_fluorescence_endpoint_example06.txt")
    assert [p.plate_id for p in res.plates] == ["BNCH_28465721_96w", "BNCH_49917577_96w", "BNCH_94389207_96w"]
    assert set(res.wells["signal_kind"]) == {"RFU 404/445", "RFU 485/535", "RFU 569/780", "RFU (reduced)"}
    assert set(res.wells["analyte_as_written"]) == {""} and NO_ANALYTE in res.warnings
    mixed = _read(corpus / FOLDER / "softmaxpro_no_calc_docs.txt")
    kinds = {(r["plate_id"], r["signal_kind"]) for r in mixed.wells.to_dicts()}
    assert kinds == {("PLate1", "RFU 380/505"), ("Plate2", "RLU"), ("Plate3", "RLU")}


def test_partial_plate_groups_and_concentrations(corpus: Path) -> None:
    res = _read(corpus / FOLDER / "MD_SMP_absorbance_endpoint_partial_plate_example02.txt")
    df = res.wells
    assert set(df["well"].str.slice(1).cast(int)) == set(range(2, 12))  # columns 2-11 were read
    a2 = df.filter((df["well"] == "A2") & (df["signal_kind"] == "OD260")).to_dicts()[0]
    got = (a2["sample_id"], a2["sample_type"], a2["expected_conc"], a2["value"])
    assert got == ("01", "standard", 1.0, 0.836)
    a2_280 = df.filter((df["well"] == "A2") & (df["signal_kind"] == "OD280")).to_dicts()[0]
    assert a2_280["sample_id"] == "01" and a2_280["reported_text"] is None  # the concentration once per well


def test_decimal_comma_cell_and_error_token(corpus: Path) -> None:
    df = _read(corpus / FOLDER / "abs_endpoint_plates.txt").wells
    a2 = df.filter((df["well"] == "A2") & (df["signal_kind"] == "OD426")).to_dicts()[0]
    assert a2["signal"] == 0.02  # written "0,02" in a dot-decimal file
    b1 = df.filter((df["well"] == "B1") & (df["signal_kind"] == "OD426")).to_dicts()[0]
    assert b1["signal"] is None and "Path?" in b1["flags"]


def test_no_measurements_file_reads_six_unreported_wells(corpus: Path) -> None:
    res = _read(corpus / FOLDER / "no_measurements.txt")
    assert res.wells.height == 6 and res.wells["signal"].is_null().all()
    assert all("NaN" in f for f in res.wells["flags"])


def test_plate_only_export_with_its_plate_map_loses_nothing(corpus: Path) -> None:
    """LabKey's SpectraMax 384-well luminescence export (no groups) with a plate map: every well read, as the
    independent expected grid says, with the map's samples and analyte."""
    stem = "labkey_spectramax_20140102_140152_0063_PLATE.002"
    folder = corpus / "platereader"
    header = "sample_id," + ",".join(str(c) for c in range(1, 25))
    rows = [",".join([r, *(f"{r}{c}" for c in range(1, 25))]) for r in "ABCDEFGHIJKLMNOP"]
    analyte = ["analyte," + ",".join(str(c) for c in range(1, 25))]
    analyte += [",".join([r, *["NAb"] * 24]) for r in "ABCDEFGHIJKLMNOP"]
    platemap = "\n".join([header, *rows, "", *analyte]) + "\n"
    f = FileInput(
        f"{stem}.txt", (folder / f"{stem}.txt").read_bytes(), {f"{stem}_platemap.csv": platemap.encode()}
    )
    res = SoftmaxGroupReader().read(f)
    df = WellModel.validate(res.wells)
    expected = [
        [float(x) for x in line.split("\t") if x]
        for line in (folder / f"{stem}.expected.tsv").read_text().splitlines()
        if line.strip()
    ]
    got = dict(zip(df["well"], df["signal"], strict=True))
    assert len(got) == 384 and set(df["signal_kind"]) == {"RLU"}
    for r, letter in enumerate("ABCDEFGHIJKLMNOP"):
        assert [got[f"{letter}{c}"] for c in range(1, 25)] == expected[r]
    assert df.filter(df["well"] == "P24")["sample_id"].item() == "P24"
    assert set(df["analyte_as_written"]) == {"NAb"} and res.companions == [f"{stem}_platemap.csv"]
    assert res.plates[0].extra["temperature"] == "23" and res.plates[0].plate_id == stem
