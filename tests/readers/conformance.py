"""Conformance of our readers with allotropy's own test suite (``../shared/corpus/allotropy/``).

Beside each input ``X.<ext>`` allotropy's expected output ``X.json`` (Allotrope Simple Model). This module
walks that JSON — independently of ``readers/allotropy_fallback.py``, so the code under test does not grade
itself — into the measurements we must reproduce, reads the input through the product path
(``readers.detect.read``: native readers first, then the allotropy fallback) and compares.

In scope (each an :class:`Expected`):

* a **signal**: one measurement document's scalar ``absorbance`` / ``fluorescence`` / ``luminescence``
  (MSD instruments: ``ECL``), or a multiplex analyte's ``median role`` statistic (``MFI``), at its plate,
  well (and analyte). Our row must be at the same well (plate, analyte), of the same kind family (``OD``,
  ``RFU``, ``RLU``, ``ECL``, ``MFI``) and, when our ``signal_kind`` names wavelengths, those must be the
  read's (``OD450`` for a 450 nm read; ``RFU 485/528``; a filter name with its numbers); equal value.
  A read allotropy marks as not a number (``nan``, ``NaN``, an empty cell of a partial plate) must not
  come back as a number.
* a **calculated concentration**: a calculated-data document named ``[Concentration]``, ``Conc``,
  ``Calc. Concentration`` or ``Concentration`` (the instruments' per-well concentration columns), compared
  with our ``value``; a printed token (``?????``, ``<0.000``) must not come back as an in-range number.

Out of scope (:data:`OUT_OF_SCOPE`), checked differently — the file is refused saying which read type it
holds, or read with rows whose ``signal_kind`` is not a bare endpoint kind (a reduced value named as such):

* spectra (``absorption spectrum data cube``, ``fluorescence emission spectrum data cube``);
* kinetic traces (``absorption profile data cube``, ``fluorescence/luminescence profile data cube``).

Also not compared: derived columns (``Blank …``, ``Net MFI``, ``Reduced``, ``Result`` — a user formula
whose meaning only the protocol knows —, ``AdjConc``, group means/CVs), sample names, dilutions.

Files without a JSON (``errors/``, ``exclude/`` and the few others allotropy does not read) must either be
read (a valid well table) or get a :class:`readers.base.ReaderError` whose message is one short paragraph.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandera.polars as pa
import polars as pl

from readers.base import FileInput, ReaderError, ReadResult
from readers.detect import read
from schemas.wells import WellModel

FAMILIES = {
    "luminex_xponent": "Luminex xPONENT",
    "luminex_intelliflex": "Luminex INTELLIFLEX",
    "biorad_bioplex_manager": "Bio-Rad Bio-Plex Manager",
    "msd_workbench": "MSD Workbench",
    "methodical_mind": "MSD instrument (Methodical Mind)",
    "moldev_softmax_pro": "SoftMax Pro",
    "agilent_gen5": "BioTek/Agilent Gen5",
}
_MSD = {"msd_workbench", "methodical_mind"}
_SCALARS = {"absorbance": "OD", "fluorescence": "RFU", "luminescence": "RLU"}
OUT_OF_SCOPE = {
    "absorption spectrum data cube": "spectrum",
    "fluorescence emission spectrum data cube": "spectrum",
    "fluorescence excitation spectrum data cube": "spectrum",
    "luminescence spectrum data cube": "spectrum",
    "absorption profile data cube": "kinetic",
    "fluorescence profile data cube": "kinetic",
    "luminescence profile data cube": "kinetic",
}
CONC_NAMES = {"[concentration]", "conc", "calc. concentration", "concentration"}
# What a refusal of an out-of-scope file must say (one of these words).
READ_TYPE_WORDS = re.compile(r"spectr|kinetic|over time|scan|profile|time-resolved", re.IGNORECASE)
# A bare endpoint kind: what a spectrum or kinetic trace must never be read as.
_ENDPOINT_KIND = re.compile(r"^(OD|RFU|RLU|ECL|MFI|FI)(?![A-Za-z])", re.IGNORECASE)
MAX_REFUSAL_CHARS = 700


@dataclass(frozen=True)
class Expected:
    what: str  # "signal" | "conc"
    plate: str | None
    wells: tuple[str, ...]  # one well; several for a concentration computed over replicate wells
    analyte: str | None  # multiplex analyte name; None for plate readers
    family: str | None  # OD / RFU / RLU / ECL / MFI (signals); None for concentrations
    wavelengths: frozenset[int]  # every wavelength/bandwidth setting of the read (nm)
    value: float | None  # None: the file prints no number here (see token)
    token: str | None = None


@dataclass
class FileCase:
    path: Path
    family: str  # folder under allotropy/
    json_path: Path | None
    expected: list[Expected] = field(default_factory=list)
    out_of_scope: dict[str, int] = field(default_factory=dict)  # read type → measurements

    @property
    def rel(self) -> str:
        return f"{self.family}/{self.path.name}" if self.json_path else self.path.name


@dataclass
class Verdict:
    case: FileCase
    how: str  # "native" | "fallback" | "refused"
    format: str | None
    error: str | None
    equal: int = 0
    different: int = 0
    missing: int = 0
    problems: list[str] = field(default_factory=list)
    named_ok: bool | None = None  # out-of-scope file: refused naming its read type / read as named reads
    schema_error: str | None = None  # the well table does not pass schemas.wells.WellModel


# ---- the corpus --------------------------------------------------------------------------------------


def corpus_files(root: Path) -> list[Path]:
    """Every input file under allotropy/ (not the JSONs, not the README)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix not in (".json", ".md"))


def family_of(root: Path, path: Path) -> str:
    return path.relative_to(root).parts[0]


def load_case(root: Path, path: Path) -> FileCase:
    family = family_of(root, path)
    js = path.with_suffix(".json")
    case = FileCase(path=path, family=family, json_path=js if js.is_file() else None)
    if case.json_path is not None:
        fill_expected(case, json.loads(case.json_path.read_text(encoding="utf-8")))
    return case


# ---- ASM → expected measurements ----------------------------------------------------------------------


def _docs(parent: Any, aggregate: str, document: str) -> list[Mapping[str, Any]]:
    agg = parent.get(aggregate) if isinstance(parent, Mapping) else None
    items = agg.get(document) if isinstance(agg, Mapping) else None
    return [d for d in items if isinstance(d, Mapping)] if isinstance(items, list) else []


def _number(obj: Any) -> float | None:
    """allotropy writes -0.0 (its NEGATIVE_ZERO) where the file holds no number."""
    v = obj.get("value") if isinstance(obj, Mapping) else obj
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    if not math.isfinite(f) or (f == 0.0 and math.copysign(1.0, f) < 0):
        return None
    return f


def _well(text: Any) -> str | None:
    m = re.fullmatch(r"\s*([A-Pa-p])0*(\d{1,2})\s*", str(text or ""))
    return f"{m.group(1).upper()}{int(m.group(2))}" if m else None


def _wavelengths(md: Mapping[str, Any]) -> frozenset[int]:
    out: set[int] = set()
    for dc in _docs(md, "device control aggregate document", "device control document"):
        for key, val in dc.items():
            if ("wavelength" in key or "bandwidth" in key) and (n := _number(val)) is not None and n > 0:
                out.add(round(n))
    return frozenset(out)


def measurement_docs(asm: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    agg = next(v for k, v in asm.items() if k.endswith("aggregate document"))
    for tdocs in agg.values():
        for tdoc in tdocs if isinstance(tdocs, list) else []:
            yield from _docs(tdoc, "measurement aggregate document", "measurement document")


def fill_expected(case: FileCase, asm: Mapping[str, Any]) -> None:
    agg = next(v for k, v in asm.items() if k.endswith("aggregate document"))
    where: dict[str, tuple[str | None, str, str | None]] = {}  # source id → (plate, well, analyte)
    errors_of: dict[str, dict[str, str]] = {}  # source id → error feature → token
    for md in measurement_docs(asm):
        sample = md.get("sample document") or {}
        well = _well(sample.get("well location identifier")) or _well(sample.get("location identifier"))
        if well is None:
            continue
        plate = sample.get("well plate identifier")
        errs = {
            str(e.get("error feature")): str(e.get("error"))
            for e in _docs(md, "error aggregate document", "error document")
        }
        cubes = [OUT_OF_SCOPE[k] for k in md if k in OUT_OF_SCOPE]
        for kind in cubes:
            case.out_of_scope[kind] = case.out_of_scope.get(kind, 0) + 1
        mid = str(md.get("measurement identifier"))
        where[mid] = (plate, well, None)
        errors_of[mid] = errs
        for key, family in _SCALARS.items():
            if key not in md:
                continue
            fam = "ECL" if case.family in _MSD and family == "RLU" else family
            value = _number(md[key])
            token = None if value is not None else next(iter(errs.values()), "no number")
            case.expected.append(
                Expected("signal", plate, (well,), None, fam, _wavelengths(md), value, token)
            )
        for ad in _docs(md, "analyte aggregate document", "analyte document"):
            name = str(ad.get("analyte name"))
            where[str(ad.get("analyte identifier"))] = (plate, well, name)
            errors_of[str(ad.get("analyte identifier"))] = {
                f.split("<", 1)[1].rstrip(">").strip(): t
                for f, t in errs.items()
                if f.startswith(f"{name} <")
            }
            median = None
            for sd in _docs(ad, "statistics aggregate document", "statistics document"):
                for dim in _docs(
                    sd, "statistic dimension aggregate document", "statistic dimension document"
                ):
                    sv = dim.get("statistical value") or {}
                    if sv.get("has statistic datum role") == "median role":
                        median = _number(sv)
            token = None if median is not None else errs.get(f"{name} <median role>", "no number")
            case.expected.append(Expected("signal", plate, (well,), name, "MFI", frozenset(), median, token))
    seen: set[tuple[Any, ...]] = set()
    for cd in _docs(agg, "calculated data aggregate document", "calculated data document"):
        name = str(cd.get("calculated data name") or "").strip()
        if name.casefold() not in CONC_NAMES:
            continue
        srcs = [
            str(s.get("data source identifier"))
            for s in _docs(cd, "data source aggregate document", "data source document")
        ]
        located = [where[s] for s in srcs if s in where]
        if not located:
            continue
        plate, analyte = located[0][0], located[0][2]
        wells = tuple(sorted({w for _, w, _ in located}))
        value = _number(cd.get("calculated result"))
        key = (plate, wells, analyte, name, value)
        if key in seen:
            continue
        seen.add(key)
        case.expected.append(Expected("conc", plate, wells, analyte, None, frozenset(), value))
    # concentrations allotropy kept only as an error document (the printed token)
    for sid, errs in errors_of.items():
        plate, well, analyte = where[sid]
        for feature, token in errs.items():
            if feature.casefold() in CONC_NAMES:
                key = (plate, (well,), analyte, feature, None)
                if key not in seen:
                    seen.add(key)
                    case.expected.append(
                        Expected("conc", plate, (well,), analyte, None, frozenset(), None, token)
                    )


# ---- comparison --------------------------------------------------------------------------------------


def _norm_plate(text: str | None) -> str:
    return re.sub(r"[^0-9a-z]+", "", (text or "").casefold())


def _kind_family(kind: str | None) -> str | None:
    m = _ENDPOINT_KIND.match((kind or "").strip())
    if not m:
        return None
    fam = m.group(1).upper()
    return "MFI" if fam == "FI" else fam


def _kind_numbers(kind: str | None) -> set[int]:
    """Wavelengths in a kind; ``#2`` (a second read at one wavelength: ``OD426 #2``) is no wavelength."""
    return {int(n) for n in re.findall(r"\d+", re.sub(r"#\d+", "", kind or ""))}


def _equal(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def plate_map(expected_plates: set[str | None], ours: list[str]) -> dict[str | None, set[str]]:
    """Expected plate id → our plate ids. One plate on each side: they are the same plate whatever the
    names. Several: equal once case and punctuation are dropped, or ours starts or ends with theirs
    (``run-Plate 1`` for ``Plate 1``; ``Plate1 (2)`` for a second block the file also calls ``Plate1``)."""
    if len(expected_plates) == 1 and len(set(ours)) == 1:
        return {next(iter(expected_plates)): set(ours)}
    out: dict[str | None, set[str]] = {}
    for p in expected_plates:
        n = _norm_plate(p)
        exact = {q for q in ours if _norm_plate(q) == n}
        # a file with several blocks of one name (allotropy keeps the name; we number them: "Plate1 (2)")
        out[p] = exact | {
            q for q in ours if n and (_norm_plate(q).endswith(n) or _norm_plate(q).startswith(n))
        }
    return out


def compare(case: FileCase, result: ReadResult) -> tuple[int, int, int, list[str]]:
    """(equal, different, missing, examples of problems) for one file's expected measurements."""
    rows = result.wells.select(
        "plate_id",
        "well",
        "analyte_as_written",
        "signal",
        "signal_kind",
        "qualifier",
        "value",
        "expected_conc",
    ).to_dicts()
    plates = plate_map({e.plate for e in case.expected}, [str(r["plate_id"]) for r in rows])
    by_well: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        for w in str(r["well"]).split(","):
            by_well.setdefault((str(r["plate_id"]), w), []).append(r)
    equal = different = missing = 0
    problems: list[str] = []

    def note(text: str) -> None:
        if len(problems) < 8:
            problems.append(text)

    for e in case.expected:
        cands = [
            r
            for q in plates.get(e.plate, set())
            for w in e.wells
            for r in by_well.get((q, w), [])
            if e.analyte is None or (r["analyte_as_written"] or "").strip() == e.analyte.strip()
        ]
        where = f"{e.plate or ''} {','.join(e.wells)}{' ' + e.analyte if e.analyte else ''}".strip()
        if e.what == "signal":
            cands = [
                r
                for r in cands
                if _kind_family(r["signal_kind"]) == e.family
                and (_kind_numbers(r["signal_kind"]) <= e.wavelengths or not e.wavelengths)
            ]
            label = f"{e.family}{'/'.join(str(w) for w in sorted(e.wavelengths))}"
            if e.value is None:
                if any(r["signal"] is not None for r in cands) and not any(
                    r["signal"] is None for r in cands
                ):
                    different += 1
                    note(f"{where} {label}: file prints {e.token!r}, we read a number")
                else:
                    equal += 1
            elif any(_equal(r["signal"], e.value) for r in cands):
                equal += 1
            elif cands:
                different += 1
                note(f"{where} {label}: expected {e.value!r}, ours {[r['signal'] for r in cands][:3]}")
            else:
                missing += 1
                note(f"{where} {label}={e.value!r}: no row of that kind")
        else:
            with_value = [r for r in cands if r["value"] is not None]
            if e.value is None:
                if any(r["qualifier"] == "=" for r in with_value):
                    different += 1
                    note(f"{where} conc: file prints {e.token!r}, we read an in-range number")
                else:
                    equal += 1
            elif any(_equal(r["value"], e.value) for r in with_value) or any(
                _equal(r["expected_conc"], e.value)
                for r in cands  # a standard's nominal (SoftMax `Conc`)
            ):
                equal += 1
            elif with_value:
                different += 1
                note(f"{where} conc: expected {e.value!r}, ours {[r['value'] for r in with_value][:3]}")
            else:
                missing += 1
                note(f"{where} conc={e.value!r}: no concentration read")
    return equal, different, missing, problems


def named_not_endpoint(case: FileCase, result: ReadResult | None, error: str | None) -> bool:
    """An out-of-scope file (spectra, kinetic traces): refused saying which read type it holds, or read
    only as reads named for what they are (never a bare endpoint kind like ``OD405``)."""
    if result is None:
        return bool(error and READ_TYPE_WORDS.search(error))
    kinds = result.wells["signal_kind"].drop_nulls().to_list()
    return not any(_kind_family(k) for k in kinds)


def judge(root: Path, path: Path) -> Verdict:
    case = load_case(root, path)
    try:
        result = read(FileInput(path.name, path.read_bytes()))
    except ReaderError as exc:
        v = Verdict(case, "refused", None, exc.reason)  # the sentence, without the file name
        if case.out_of_scope and not case.expected:
            v.named_ok = named_not_endpoint(case, None, exc.reason)
        else:  # every number the file holds is missing (a file with none may be refused: see nothing_to_read)
            v.missing = sum(e.value is not None for e in case.expected)
        return v
    how = "fallback" if result.format.startswith("allotropy") else "native"
    v = Verdict(case, how, result.format, None)
    try:
        WellModel.validate(result.wells, lazy=True)
    except (pa.errors.SchemaError, pa.errors.SchemaErrors) as exc:
        v.schema_error = str(exc)[:300]
    if case.out_of_scope and not case.expected:
        v.named_ok = named_not_endpoint(case, result, None)
    v.equal, v.different, v.missing, v.problems = compare(case, result)
    return v


# ---- the table ----------------------------------------------------------------------------------------


def table(verdicts: list[Verdict]) -> pl.DataFrame:
    rows = []
    for fam in sorted({v.case.family for v in verdicts}):
        vs = [v for v in verdicts if v.case.family == fam]
        with_json = [v for v in vs if v.case.json_path]
        rows.append(
            {
                "family": FAMILIES.get(fam, fam),
                "files": len(with_json),
                "native": sum(v.how == "native" for v in with_json),
                "fallback": sum(v.how == "fallback" for v in with_json),
                "refused": sum(v.how == "refused" for v in with_json),
                "equal": sum(v.equal for v in with_json),
                "different": sum(v.different for v in with_json),
                "missing": sum(v.missing for v in with_json),
                "out_of_scope_named": f"{sum(bool(v.named_ok) for v in with_json)}"
                f"/{sum(v.named_ok is not None for v in with_json)}",
                "no_json_read_or_clear": f"{sum(clear_or_read(v) for v in vs if not v.case.json_path)}"
                f"/{sum(not v.case.json_path for v in vs)}",
            }
        )
    return pl.DataFrame(rows)


def nothing_to_read(case: FileCase) -> bool:
    """allotropy's JSON holds measurement positions but not a single number (an empty plate)."""
    return bool(case.expected) and all(e.value is None for e in case.expected)


def clear_or_read(v: Verdict) -> bool:
    """A file allotropy does not read: read by us, or refused in one short paragraph."""
    return v.how != "refused" or is_short_refusal(v.error or "")


def is_short_refusal(message: str) -> bool:
    return 0 < len(message) <= MAX_REFUSAL_CHARS and "\\x" not in message and "Traceback" not in message
