"""Gen5Reader against allotropy's Gen5 test exports (../shared/corpus/allotropy/agilent_gen5): every
measurement allotropy extracts — well, read mode with its wavelengths, value — and every concentration is
in our table with the same value, each read as its own row; non-endpoint reads are named, never read as
endpoint OD; the files allotropy refuses (exclude/: several plates, kinetic runs) are read plate by plate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from readers.base import FileInput, ReaderError, ReadResult
from readers.gen5 import NO_ANALYTE, Gen5Reader
from schemas.wells import WellModel

pytestmark = pytest.mark.corpus

GEN5 = "allotropy/agilent_gen5"
WITH_JSON = [
    "absorbance/010307_114129_BNCH654563_stdcurve_singleplate01",
    "absorbance/240307_114129_BNCH654563_spectralScan_example01",
    "absorbance/Lowry_Protein_Assay_no_results_matrix",
    "absorbance/absorbance_error_document_example",
    "absorbance/endpoint_stdcurve_singleplate",
    "absorbance/endpoint_wavelength_measurement_labels",
    "absorbance/spectrum_data",
    "fluorescence/alphalisa_endpoint_singleplate",
    "fluorescence/endpoint_fluorescence_polarization",
    "fluorescence/endpoint_singleplate",
    "fluorescence/endpoint_singleplate_filter_withStepLabel",
    "fluorescence/endpoint_singleplate_filter_withoutStepLabel",
    "fluorescence/endpoint_singleplate_monochromator_withoutStepLabel",
    "fluorescence/spectrum_emission_data",
    "luminescence/endpoint_singleplate_withFilter_withStepLabel",
    "luminescence/endpoint_singleplate_withoutStepLabel",
    "luminescence/luminescence_no_results_table",
    "multi_read_modes/two_same_read_modes",
]
SIGNALS = ("absorbance", "fluorescence", "luminescence")


def read(corpus: Path, rel: str) -> ReadResult:
    path = corpus / GEN5 / rel
    return Gen5Reader().read(FileInput(path.name, path.read_bytes()))


def _value(obj: Any) -> float | None:
    return obj.get("value") if isinstance(obj, dict) else None


def _expected_kind(md: dict[str, Any]) -> tuple[str, float] | None:
    """(our signal kind, value) of one allotropy measurement document; None for a spectrum's data cube."""
    dc = md["device control aggregate document"]["device control document"][0]
    em, ex = _value(dc.get("detector wavelength setting")), _value(dc.get("excitation wavelength setting"))
    if "absorbance" in md:
        return f"OD{em:g}", md["absorbance"]["value"]
    if "fluorescence" in md:
        kind = "RFU Alpha" if ex is None or em is None else f"RFU {ex:g}/{em:g}"
        return kind, md["fluorescence"]["value"]
    if "luminescence" in md:
        return (f"RLU {em:g}" if em is not None else "RLU"), md["luminescence"]["value"]
    return None


def _well(loc: str) -> str:
    return f"{loc[0]}{int(loc[1:])}"


@pytest.mark.parametrize("rel", WITH_JSON)
def test_every_allotropy_value_is_read_equal(corpus: Path, rel: str) -> None:
    asm = json.loads((corpus / GEN5 / f"{rel}.json").read_text())["plate reader aggregate document"]
    res = read(corpus, f"{rel}.txt")
    df = WellModel.validate(res.wells)
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in df.iter_rows(named=True):
        by_key.setdefault((r["well"], r["signal_kind"]), []).append(r)
    assert all(len(v) == 1 for v in by_key.values()), "one row per well and read"
    sources: dict[str, str] = {}
    compared = 0
    for doc in asm["plate reader document"]:
        for md in doc["measurement aggregate document"]["measurement document"]:
            well = _well(md["sample document"]["location identifier"])
            sources[md["measurement identifier"]] = well
            expected = _expected_kind(md)
            if expected is None:
                # a spectrum's data cube: out of scope, and never an endpoint reading of that well
                assert not any(k[0] == well and k[1].startswith(("OD", "RFU", "RLU")) for k in by_key), well
                continue
            kind, value = expected
            rows = by_key.get((well, kind)) or [
                r for k, rs in by_key.items() if k[0] == well and k[1].startswith(kind + " ") for r in rs
            ]  # polarization: "RFU 485/528 parallel" / "perpendicular"
            assert rows, f"{well} {kind} missing"
            errors = [
                e["error"]
                for e in md.get("error aggregate document", {}).get("error document", [])
                if e["error feature"] in SIGNALS
                or ":" in e["error feature"]
                or e["error feature"][:1].isdigit()
            ]
            if errors:  # a cell Gen5 could not read or masked: no signal, the text kept in the flags
                (row,) = rows
                assert row["signal"] is None and all(e in row["flags"] for e in errors), (well, errors)
            else:
                assert value in [r["signal"] for r in rows], (well, kind, value)
            compared += 1
    for cd in asm.get("calculated data aggregate document", {}).get("calculated data document", []):
        name, value = cd["calculated data name"], cd["calculated result"]["value"]
        source = cd["data source aggregate document"]["data source document"][0]["data source identifier"]
        well = sources[source]
        rows = df.filter(pl.col("well") == well)
        if "conc" in name.casefold():
            (conc,) = rows.filter(pl.col("reported_text").is_not_null()).to_dicts()
            assert conc["value"] == value, (well, conc["reported_text"], value)
            compared += 1
        elif name in rows["signal_kind"].to_list():  # a value Gen5 reduced from a spectrum / polarization
            row = rows.filter(pl.col("signal_kind") == name).row(0, named=True)
            assert row["signal"] == value or (row["signal"] is None and value == 0.0), (well, name)
            compared += 1
    assert compared > 0
    assert set(df["analyte_as_written"]) == {""} and any(NO_ANALYTE in w for w in res.warnings)


def test_reads_keep_their_kinds_and_sample_ids(corpus: Path) -> None:
    fl = read(corpus, "fluorescence/endpoint_singleplate.txt").wells
    assert dict(fl.group_by("signal_kind").len().iter_rows()) == {"RFU 360/460": 96, "RFU 485/528": 96}
    a1 = fl.filter((pl.col("well") == "A1") & (pl.col("signal_kind") == "RFU 485/528")).row(0, named=True)
    assert (a1["signal"], a1["sample_id"], a1["sample_type"]) == (8605.0, "POS", "control")
    lum = read(corpus, "luminescence/endpoint_singleplate_withFilter_withStepLabel.txt").wells
    assert set(lum["signal_kind"]) == {"RLU 460"}
    labels = read(corpus, "absorbance/endpoint_wavelength_measurement_labels.txt").wells
    b1 = labels.filter(pl.col("well") == "B1")
    assert dict(zip(b1["signal_kind"], b1["signal"], strict=True)) == {"OD325": 1.6629, "OD280": 1.0033}
    lowry = read(corpus, "absorbance/Lowry_Protein_Assay_no_results_matrix.txt").wells
    h3 = lowry.filter(pl.col("well") == "H3").row(0, named=True)
    assert h3["signal"] is None and "signal_masked" in h3["flags"] and "*0.356*" in h3["flags"]
    assert (h3["sample_id"], h3["qualifier"], h3["reported_text"]) == ("SPL15", "NR", "?????")


def test_partial_plate_reads_the_rows_it_has(corpus: Path) -> None:
    fp = read(corpus, "fluorescence/endpoint_fluorescence_polarization.txt").wells
    assert sorted({w[0] for w in fp["well"]}) == ["A", "D", "H", "L", "P"]
    assert dict(fp.group_by("signal_kind").len().iter_rows()) == {
        "RFU 485/528 parallel": 120,
        "RFU 485/528 perpendicular": 120,
        "Polarization": 120,
    }
    one_row = read(corpus, "absorbance/absorbance_error_document_example.txt").wells
    assert one_row.height == 12 and set(one_row["well"]) == {f"A{c}" for c in range(1, 13)}


def test_non_endpoint_reads_are_named_never_endpoint(corpus: Path) -> None:
    with pytest.raises(ReaderError, match=r"luminescence spectrum .* not an endpoint reading"):
        read(corpus, "luminescence/spectral_scan.txt")
    spectrum = read(corpus, "absorbance/spectrum_data.txt")
    assert set(spectrum.wells["signal_kind"]) == {"Mean Max OD [Spectral_Scan_Test:Spectrum]"}
    assert any("absorbance spectrum" in w for w in spectrum.warnings)
    kinetic = read(corpus, "absorbance/exclude/kinetic_multiplate.txt")
    assert set(kinetic.wells["signal_kind"]) == {"Max V [Blank OD600:450]"}
    assert any("kinetic absorbance read" in w for w in kinetic.warnings)
    synergy = read(corpus, "Synergy instrument datafile (Fibrillation data) - TXT format.txt")
    kinds = dict(synergy.wells.group_by("signal_kind").len().iter_rows())
    assert {k: kinds[k] for k in ("RFU 450/490", "RFU 295/350", "RFU 295/335")} == dict.fromkeys(
        ("RFU 450/490", "RFU 295/350", "RFU 295/335"), 96
    )
    assert all(k.startswith(("RFU", "Max V [Read")) for k in kinds)
    a2 = synergy.wells.filter((pl.col("well") == "A2") & (pl.col("signal_kind") == "RFU 450/490"))
    assert a2["signal"].to_list() == [1636.0]


@pytest.mark.parametrize(
    "rel",
    [
        "absorbance/exclude/endpoint_stdcurve_multiplate.txt",
        "fluorescence/exclude/endpoint_multiplate.txt",
        "luminescence/exclude/endpoint_multiplate.txt",
        "luminescence/exclude/neo_kinetic_titration_gen5_2_06_column.txt",
    ],
)
def test_files_allotropy_refuses_are_read_plate_by_plate(corpus: Path, rel: str) -> None:
    res = read(corpus, rel)
    df = WellModel.validate(res.wells)
    ids = [p.plate_id for p in res.plates]
    assert len(ids) == len(set(ids)) and set(df["plate_id"]) == set(ids)
    assert not df["signal_kind"].is_null().any()
    if "multiplate" in rel:
        assert len(ids) == 3 and all(i.endswith(f"-Plate {n}") for n, i in enumerate(ids, 1))
    else:  # a kinetic luminescence run: its integral and the concentrations Gen5 fitted on it
        assert set(df["signal_kind"]) == {"Integral [Lum]"}
        a1 = df.filter(pl.col("well") == "A1").row(0, named=True)
        assert (a1["signal"], a1["qualifier"], a1["value"], a1["expected_conc"]) == (
            69172.005,
            ">",
            4200.0,
            4000.0,
        )
