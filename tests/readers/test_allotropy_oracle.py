"""allotropy (Benchling, MIT) as an independent oracle for our native readers, and the allotropy fallback
reader for instruments we do not read natively.

allotropy runs in its own locked environment (``.venv-oracle``, ``make oracle``; see oracle/pyproject.toml
for why). Every corpus file it converts is converted once per session, all in two parallel subprocesses
(the 30-plex CovidOIS file alone takes ~7 s), through ``oracle/run_allotropy.py --batch``.

The comparison is strict: same wells × analytes, equal signals, equal concentrations where both readers give
one. Every disagreement that is real and explained is an explicit, narrow exception below (named file,
wells, field), with the reason — never a global tolerance.
"""

from __future__ import annotations

import importlib
import json
import math
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from readers.allotropy_fallback import (
    ORACLE_PYTHON,
    ORACLE_SCRIPT,
    SNIFF_SCORE,
    AllotropyFallbackReader,
    map_asm,
    oracle_available,
)
from readers.base import FileInput, Reader, ReaderError, ReadResult
from readers.detect import all_readers, detect, head_text
from readers.gen5 import Gen5Reader
from readers.intelliflex import IntelliflexReader
from readers.msd_instrument import MsdRawReader
from readers.msd_workbench import MsdWorkbenchReader
from readers.softmax import SoftmaxGroupReader
from readers.xponent import XponentReader
from schemas.wells import WellModel

pytestmark = pytest.mark.corpus

# corpus file → (folder, allotropy vendor). All of these convert with allotropy 0.1.150.
JOBS: dict[str, tuple[str, str]] = {
    "allotropy_xPONENT_example02.csv": ("xponent", "LUMINEX_XPONENT"),
    "allotropy_xPONENT_NaN_and_not_reported_values.csv": ("xponent", "LUMINEX_XPONENT"),
    "serolyzer_CovidOISExPONTENT.csv": ("xponent", "LUMINEX_XPONENT"),
    "allotropy_bioplex_manager_example_01.xml": ("bioplex", "BIORAD_BIOPLEX"),
    "allotropy_msd_workbench_test_1.csv": ("msd", "MSD_WORKBENCH"),
    "allotropy_methodical_mind_test_1.txt": ("msd", "METHODICAL_MIND"),
    "allotropy_softmax_pro_group_with_partial_rows.txt": ("platereader", "MOLDEV_SOFTMAX_PRO"),
    "allotropy_gen5_kinetic_standard_curve.txt": ("platereader", "AGILENT_GEN5"),
}
SLOW = "serolyzer_CovidOISExPONTENT.csv"  # converted in its own process, beside all the others
INTELLIFLEX = "allotropy_intelliflex_single_dataset.csv"

Key = tuple[str, ...]
Values = dict[Key, tuple[float | None, float | None]]  # key → (signal, concentration)


# ---- the oracle --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def oracle_env() -> None:
    if not oracle_available():
        pytest.skip(f"allotropy oracle environment not found ({ORACLE_PYTHON}); run `make oracle`")


@pytest.fixture(scope="session")
def asm(corpus: Path, oracle_env: None) -> dict[str, dict[str, Any]]:
    """ASM of every corpus file in JOBS, converted once per session in two parallel processes."""
    jobs = [{"vendor": v, "file": str(corpus / folder / name)} for name, (folder, v) in JOBS.items()]
    groups = [
        [j for j in jobs if j["file"].endswith(SLOW)],
        [j for j in jobs if not j["file"].endswith(SLOW)],
    ]
    procs = [
        subprocess.Popen(
            [str(ORACLE_PYTHON), str(ORACLE_SCRIPT), "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in groups
    ]
    out: dict[str, dict[str, Any]] = {}
    for proc, group in zip(procs, groups, strict=True):
        stdout, stderr = proc.communicate(json.dumps(group).encode(), timeout=180)
        assert proc.returncode == 0, stderr.decode(errors="replace")
        for item in json.loads(stdout):
            name = Path(item["file"]).name
            assert "asm" in item, f"allotropy no longer converts {name}: {item.get('error')}"
            out[name] = item["asm"]
    return out


def read_native(corpus: Path, name: str, reader: Reader) -> ReadResult:
    folder = JOBS[name][0] if name in JOBS else "xponent"
    path = corpus / folder / name
    res = reader.read(FileInput(path.name, path.read_bytes()))
    WellModel.validate(res.wells)
    return res


# ---- ASM access (written here, independently of readers/allotropy_fallback.py) ------------------------


def _aggregate(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    return next(v for k, v in doc.items() if k.endswith("aggregate document"))


def measurements(doc: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for tdocs in _aggregate(doc).values():
        for tdoc in tdocs if isinstance(tdocs, list) else []:
            if isinstance(tdoc, Mapping) and "measurement aggregate document" in tdoc:
                yield from tdoc["measurement aggregate document"]["measurement document"]


def calculated(doc: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """data source identifier (a measurement or analyte) → calculated data name → value."""
    out: dict[str, dict[str, float]] = {}
    agg = _aggregate(doc).get("calculated data aggregate document", {})
    for cd in agg.get("calculated data document", []):
        for src in cd["data source aggregate document"]["data source document"]:
            out.setdefault(src["data source identifier"], {})[cd["calculated data name"]] = cd[
                "calculated result"
            ]["value"]
    return out


def errors(md: Mapping[str, Any]) -> dict[str, str]:
    docs = md.get("error aggregate document", {}).get("error document", [])
    return {d["error feature"]: d["error"] for d in docs if "error feature" in d}


def well_id(text: str) -> str:
    return f"{text[0].upper()}{int(text[1:])}"


def real(v: float | None) -> float | None:
    """allotropy writes -0.0 (its NEGATIVE_ZERO) where a number could not be read."""
    return None if v is None or (v == 0.0 and math.copysign(1.0, v) < 0) else v


def theirs_multiplex(doc: Mapping[str, Any]) -> Values:
    """Luminex / Bio-Plex: (well, analyte) → (median fluorescence, no concentration in these files)."""
    out: Values = {}
    for md in measurements(doc):
        well, errs = well_id(md["sample document"]["location identifier"]), errors(md)
        for ad in md["analyte aggregate document"]["analyte document"]:
            name = ad["analyte name"]
            (stat,) = ad["statistics aggregate document"]["statistics document"]
            dims = stat["statistic dimension aggregate document"]["statistic dimension document"]
            (median,) = [
                d["statistical value"]["value"]
                for d in dims
                if d["statistical value"]["has statistic datum role"] == "median role"
            ]
            signal = None if f"{name} <median role>" in errs else median
            out[(well, name)] = (signal, None)
    return out


def ours(res: ReadResult, key: Callable[[dict[str, Any]], Key]) -> Values:
    out: Values = {}
    for row in res.wells.to_dicts():
        k = key(row)
        assert k not in out, f"two rows for {k}"
        out[k] = (row["signal"], row["value"])
    return out


def by_well_analyte(row: dict[str, Any]) -> Key:
    return (row["well"], row["analyte_as_written"])


def assert_same(
    our: Values,
    their: Values,
    *,
    conc: bool,
    only_ours: frozenset[Key] = frozenset(),
    signal_exceptions: Mapping[Key, tuple[float | None, float | None]] | None = None,
) -> int:
    """Same keys (except the named ``only_ours``), equal signals (except the named ones, with both values
    pinned), equal concentrations where both give one. Returns how many concentrations were compared."""
    assert set(our) - set(their) == set(only_ours)
    assert set(their) - set(our) == set()
    exceptions = dict(signal_exceptions or {})
    compared = 0
    for k, (their_signal, their_conc) in their.items():
        our_signal, our_conc = our[k]
        if k in exceptions:
            assert (our_signal, their_signal) == exceptions.pop(k), k
        else:
            assert our_signal == their_signal, (k, our_signal, their_signal)
        if conc and our_conc is not None and their_conc is not None:
            assert our_conc == pytest.approx(their_conc, rel=1e-12, abs=0), (k, our_conc, their_conc)
            compared += 1
    assert not exceptions, f"named exceptions not met: {exceptions}"
    return compared


# ---- Luminex xPONENT ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "allotropy_xPONENT_example02.csv",
        "allotropy_xPONENT_NaN_and_not_reported_values.csv",
        "serolyzer_CovidOISExPONTENT.csv",
    ],
)
def test_xponent_matches_allotropy(corpus: Path, asm: dict[str, dict[str, Any]], name: str) -> None:
    res = read_native(corpus, name, XponentReader())
    their = theirs_multiplex(asm[name])
    assert_same(ours(res, by_well_analyte), their, conc=False)
    assert len(their) == {"allotropy_xPONENT_example02.csv": 8, SLOW: 96 * 30}.get(name, 96 * 3)


def test_xponent_example02_facts_in_both(corpus: Path, asm: dict[str, dict[str, Any]]) -> None:
    name = "allotropy_xPONENT_example02.csv"
    their = theirs_multiplex(asm[name])
    assert their[("A1", "alpha")][0] == 10921.5 and their[("A1", "bravo")][0] == 37214.0
    res = read_native(corpus, name, XponentReader())
    assert res.plates[0].instrument == _aggregate(asm[name])["device system document"]["model number"]


# ---- Bio-Rad Bio-Plex Manager XML ----------------------------------------------------------------------


def bioplex_xml_reader() -> Reader:
    for module in ("readers.bioplex_xml", "readers.bioplex"):
        try:
            cls = getattr(importlib.import_module(module), "BioplexXmlReader", None)
        except ImportError:
            continue
        if cls is not None:
            return cls()
    pytest.skip("readers.bioplex_xml.BioplexXmlReader is not there yet (in progress)")


def test_bioplex_xml_matches_allotropy(corpus: Path, asm: dict[str, dict[str, Any]]) -> None:
    name = "allotropy_bioplex_manager_example_01.xml"
    res = read_native(corpus, name, bioplex_xml_reader())
    their = theirs_multiplex(asm[name])
    # allotropy maps only the wells that have a Wells/Well acquisition element (A1–A8 in this file); the
    # per-well readings of all 96 wells are in Samples/…/MemberWells, which we read (corpus README: 96
    # wells × 15 analytes). The other 88 wells are ours only; the 8 both read must agree exactly.
    analytes = set(res.wells["analyte_as_written"])
    assert {w for w, _ in their} == {f"A{c}" for c in range(1, 9)} and len(analytes) == 15
    only_ours = frozenset((f"{r}{c}", a) for r in "ABCDEFGH" for c in range(1, 13) for a in analytes) - set(
        their
    )
    assert_same(ours(res, by_well_analyte), their, conc=False, only_ours=only_ours)


# ---- MSD --------------------------------------------------------------------------------------------------


def test_msd_workbench_matches_allotropy(corpus: Path, asm: dict[str, dict[str, Any]]) -> None:
    name = "allotropy_msd_workbench_test_1.csv"
    doc = asm[name]
    calcs = calculated(doc)
    their: Values = {}
    for md in measurements(doc):
        sample = md["sample document"]
        key = (
            well_id(sample["well location identifier"]),
            md["custom information document"]["assay identifier"],
        )
        conc = calcs.get(md["measurement identifier"], {}).get("Calc. Concentration")
        their[key] = (md["luminescence"]["value"], conc)
    res = read_native(corpus, name, MsdWorkbenchReader())
    # A01 Spike (Wuhan): Calc. Concentration is the literal NaN; allotropy leaves the value out, we report
    # it as '>' (Above Fit Curve Range) with no number — neither gives a number, so nothing to compare.
    assert their[("A1", "Spike (Wuhan)")][1] is None
    assert assert_same(ours(res, by_well_analyte), their, conc=True) == 3


def test_msd_methodical_mind_matches_allotropy(corpus: Path, asm: dict[str, dict[str, Any]]) -> None:
    name = "allotropy_methodical_mind_test_1.txt"
    their: Values = {}
    for md in measurements(asm[name]):
        sample = md["sample document"]
        # allotropy keeps the barcode's '*' delimiters (*22M0TALA85N*); our reader strips them.
        key = (sample["well plate identifier"].strip("*"), well_id(sample["well location identifier"]))
        their[key] = (md["luminescence"]["value"], None)
    res = read_native(corpus, name, MsdRawReader())
    assert set(res.wells["analyte_as_written"]) == {"Spot 1"}  # one spot per well: allotropy names none
    assert_same(ours(res, lambda r: (r["plate_id"], r["well"])), their, conc=False)
    assert len(their) == 192


# ---- plate readers ------------------------------------------------------------------------------------


def test_softmax_matches_allotropy(corpus: Path, asm: dict[str, dict[str, Any]]) -> None:
    name = "allotropy_softmax_pro_group_with_partial_rows.txt"
    doc = asm[name]
    calcs = calculated(doc)
    reads: dict[str, dict[float, float]] = {}
    results: dict[str, dict[str, float]] = {}
    for md in measurements(doc):
        well = well_id(md["sample document"]["location identifier"])
        (dc,) = md["device control aggregate document"]["device control document"]
        reads.setdefault(well, {})[dc["detector wavelength setting"]["value"]] = md["absorbance"]["value"]
        results.setdefault(well, {}).update(calcs.get(md["measurement identifier"], {}))
    res = read_native(corpus, name, SoftmaxGroupReader())
    # One row per well and read: the raw 450 and 650 nm reads are allotropy's measurements.
    for r in res.wells.filter(pl.col("signal_kind").is_in(["OD450", "OD650"])).to_dicts():
        assert r["signal"] == reads[r["well"]][float(r["signal_kind"][2:])], r["well"]
    rows = {r["well"]: r for r in res.wells.filter(pl.col("signal_kind") == "OD450-650").to_dicts()}
    assert res.wells.height == 3 * 96

    # Wells: allotropy has all 96 (every well of the plate was read), so do we; 4 belong to no Group: table
    # (no sample, no result).
    not_grouped = {w for w, r in rows.items() if r["sample_id"] is None}
    assert set(rows) == set(reads) and len(not_grouped) == 4, sorted(not_grouped)
    assert all(rows[w]["flags"] == "not_in_a_group" for w in not_grouped)
    assert all("Result" not in results[w] and "Result*Dilution" not in results[w] for w in not_grouped)
    for w in not_grouped:
        del rows[w]

    compared = censored = range_token = 0
    for well, row in rows.items():
        # signal: our reduced OD (the file's 450-650 grid) is allotropy's "Reduced", and 450 − 650.
        assert row["signal"] == results[well]["Reduced"], well
        assert row["signal"] == pytest.approx(reads[well][450.0] - reads[well][650.0], abs=1e-12), well
        # concentration: unknowns report Result*Dilution (dilution applied), standards/controls Result.
        their = results[well].get("Result*Dilution" if row["dilution_applied"] else "Result")
        if row["value"] is not None and their is not None:
            assert row["value"] == their, (well, row["value"], their)
            compared += 1
        elif their is not None and real(their) is None:
            # "Range?" in the file: allotropy writes its -0.0 placeholder (+ an error document), we keep
            # the token (NR for standards, '<'/'>' for unknowns whose group says out of range).
            assert row["reported_text"] == "Range?", well
            range_token += 1
        elif their is not None:
            # We censor (qualifier '<'/'>' without a number) what SoftMax flags out of range (the group's
            # MeanValue outside its Lower/Upper limit, "Out of range"); allotropy keeps the printed number.
            # The printed text we keep is allotropy's number.
            assert row["qualifier"] in ("<", ">") and "out_of_range" in row["flags"], well
            assert float(row["reported_text"]) == their, well
            censored += 1
    assert (compared, censored, range_token) == (35, 55, 2)


def test_gen5_matches_allotropy(corpus: Path, asm: dict[str, dict[str, Any]]) -> None:
    name = "allotropy_gen5_kinetic_standard_curve.txt"
    doc = asm[name]
    calcs = calculated(doc)
    their: Values = {}
    for md in measurements(doc):
        c = calcs.get(md["measurement identifier"], {})
        their[(well_id(md["sample document"]["location identifier"]),)] = (
            c.get("Mean V [420]"),
            c.get("[Concentration]"),
        )
    res = read_native(corpus, name, Gen5Reader())
    assert set(res.wells["signal_kind"]) == {"Mean V [420]"}
    compared = assert_same(ours(res, lambda r: (r["well"],)), their, conc=True)
    # allotropy drops censored results (">40.000", "<0.000"): 73 of 96 wells carry a [Concentration];
    # we keep them as '>'/'<' with the limit as the value — only the numbers both give are compared.
    censored = res.wells.filter(pl.col("qualifier").is_in(["<", ">"]))
    assert all(their[(w,)][1] is None for w in censored["well"])
    assert compared == 73 and compared + censored.height == 96


# ---- the fallback reader ------------------------------------------------------------------------------


def test_intelliflex_reads_through_the_fallback(corpus: Path, oracle_env: None) -> None:
    path = corpus / "xponent" / INTELLIFLEX
    file = FileInput(path.name, path.read_bytes())
    # the native INTELLIFLEX reader takes it (and only it) …
    head = head_text(file)
    native = [r for r in all_readers() if r.name != AllotropyFallbackReader.name]
    assert [r.name for r in native if r.sniff(head, file).matched] == [IntelliflexReader.name]
    assert detect(file).name == IntelliflexReader.name
    # … the fallback would read it too, but only ever wins when no native reader matches: its score is
    # below every native reader's (≥ 10). Its values are the native reader's.
    reader = AllotropyFallbackReader()
    sniff = reader.sniff(head, file)
    assert sniff.matched and sniff.score == SNIFF_SCORE < 10
    assert ours(reader.read(file), by_well_analyte) == ours(IntelliflexReader().read(file), by_well_analyte)

    res = reader.read(file)
    df = WellModel.validate(res.wells)
    assert res.format == "allotropy:luminex_intelliflex" and set(df["format"]) == {res.format}
    assert [p.instrument for p in res.plates] == ["Luminex INTELLIFLEX"]
    assert [p.plate_id for p in res.plates] == ["PLATE_11082024_RUN000"]
    assert df.height == 3 * 28 and set(df["well"]) == {"A1", "B1", "C1"}
    a1 = df.filter((pl.col("well") == "A1") & (pl.col("analyte_as_written") == "R25: RP1")).to_dicts()
    assert len(a1) == 1
    assert a1[0]["signal"] == 130.55469 and a1[0]["signal_kind"] == "MFI"
    assert a1[0]["sample_id"] == "Unknown1" and a1[0]["sample_type"] == "unknown"
    # no dilution in the file (allotropy says "Not reported in file"): 1, and said so
    assert set(df["dilution"]) == {1.0} and all("dilution_not_reported" in f for f in df["flags"])
    assert set(df["qualifier"]) == {"NR"}  # signals only


def test_fallback_mapping_agrees_with_native_readers(corpus: Path, asm: dict[str, dict[str, Any]]) -> None:
    """The fallback's ASM mapping, applied to files we also read natively, gives our readers' numbers."""
    name = "allotropy_xPONENT_example02.csv"
    mapped = map_asm(asm[name], vendor="LUMINEX_XPONENT", display_name="Luminex xPONENT", file_name=name)
    WellModel.validate(mapped.wells)
    native = read_native(corpus, name, XponentReader())
    assert ours(mapped, by_well_analyte) == ours(native, by_well_analyte)
    assert mapped.plates[0].instrument == "Luminex xPONENT (FlexMAP 3D)"

    name = "allotropy_msd_workbench_test_1.csv"
    mapped = map_asm(
        asm[name], vendor="MSD_WORKBENCH", display_name="MSD Discovery Workbench", file_name=name
    )
    WellModel.validate(mapped.wells)
    native = read_native(corpus, name, MsdWorkbenchReader())
    assert ours(mapped, by_well_analyte) == ours(native, by_well_analyte)
    assert set(mapped.wells["signal_kind"]) == {"ECL"} and set(mapped.wells["unit"].drop_nulls()) == {"pg/mL"}

    name = "allotropy_softmax_pro_group_with_partial_rows.txt"
    mapped = map_asm(asm[name], vendor="MOLDEV_SOFTMAX_PRO", display_name="SoftMax Pro", file_name=name)
    df = WellModel.validate(mapped.wells)
    b3 = df.filter(pl.col("well") == "B3").to_dicts()[0]
    assert (b3["value"], b3["dilution"], b3["dilution_applied"]) == (4278.331, 100.0, True)
    a1 = df.filter(pl.col("well") == "A1").to_dicts()[0]
    assert (a1["reported_text"], a1["qualifier"], a1["expected_conc"]) == ("Range?", "NR", 0.0)


def test_fallback_cannot_read_a_plate_map(corpus: Path, oracle_env: None) -> None:
    path = corpus / "platemap" / "plater_example-1.csv"
    with pytest.raises(ReaderError, match="allotropy could not read it") as info:
        AllotropyFallbackReader().read(FileInput(path.name, path.read_bytes()))
    assert "LUMINEX_XPONENT" not in str(info.value)  # the message stays one short sentence
    assert "LUMINEX_XPONENT" in (info.value.details or "")  # each parser's reason is in the details


def test_fallback_without_the_oracle_environment(tmp_path: Path) -> None:
    reader = AllotropyFallbackReader(python=tmp_path / "no-python")
    file = FileInput("x.csv", b"a,b\n1,2\n")
    assert not reader.sniff("a,b", file).matched
    with pytest.raises(ReaderError, match="make install"):
        reader.read(file)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("import time; time.sleep(30)", "within 0.5 s"),
        (
            'import sys; sys.stderr.write(\'{"tried": [{"vendor": "V", "reason": "R"}]}\'); sys.exit(2)',
            "V: R",
        ),
        ("import sys; sys.exit(3)", "exit 3"),
        ("print('not json')", "not JSON"),
        ('print(\'{"vendor": "V", "asm": {}}\')', "no aggregate document"),
    ],
)
def test_fallback_failures_are_reader_errors(tmp_path: Path, script: str, message: str) -> None:
    fake = tmp_path / "fake.py"
    fake.write_text(script)
    reader = AllotropyFallbackReader(python=Path(sys.executable), script=fake, timeout=0.5)
    with pytest.raises(ReaderError) as info:
        reader.read(FileInput("../../etc/x y?.csv", b"a,b\n"))
    assert message in f"{info.value} {info.value.details}"


# ---- sample identifiers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reader"),
    [
        ("allotropy_xPONENT_example02.csv", XponentReader),
        ("allotropy_xPONENT_NaN_and_not_reported_values.csv", XponentReader),
        ("serolyzer_CovidOISExPONTENT.csv", XponentReader),
        ("allotropy_softmax_pro_group_with_partial_rows.txt", SoftmaxGroupReader),
        ("allotropy_gen5_kinetic_standard_curve.txt", Gen5Reader),
        ("allotropy_msd_workbench_test_1.csv", MsdWorkbenchReader),
    ],
)
def test_sample_ids_match_allotropy(
    corpus: Path, asm: dict[str, dict[str, Any]], name: str, reader: Callable[[], Reader]
) -> None:
    their: dict[str, str] = {}
    for md in measurements(asm[name]):
        sample = md["sample document"]
        well = well_id(sample.get("well location identifier") or sample["location identifier"])
        sid = sample["sample identifier"]
        if name == "allotropy_msd_workbench_test_1.csv":
            # allotropy builds the MSD sample identifier as "<Sample>_<Well>" (S001_A02); the file says S001.
            sid = sid.removesuffix("_" + sample["well location identifier"])
        their[well] = sid
    res = read_native(corpus, name, reader())
    got = {row["well"]: row["sample_id"] for row in res.wells.to_dicts()}
    unnamed = {w for w, sid in got.items() if sid is None}  # a well in no SoftMax group: allotropy makes up
    assert all(their[w].endswith(" " + w) for w in unnamed)  # "<plate> <well>" for it
    assert got == {w: their[w] for w in got if w not in unnamed} | dict.fromkeys(unnamed)


def test_native_readers_outscore_the_fallback_on_the_corpus(corpus: Path) -> None:
    """The fallback's score (1) only works as "no native reader takes it" while every native match scores
    higher — checked on every corpus file."""
    for path in sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix not in (".md", ".json")):
        file = FileInput(path.name, path.read_bytes())
        head = head_text(file)
        for r in all_readers():
            s = r.sniff(head, file)
            if r.name != AllotropyFallbackReader.name and s.matched:
                assert s.score > SNIFF_SCORE, (path.name, r.name, s.score)
