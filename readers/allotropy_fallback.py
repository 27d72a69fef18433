"""Fallback reader for instruments we do not read natively: Benchling's ``allotropy`` (MIT) converts the
file to the Allotrope Simple Model (ASM), and this module maps the ASM measurement documents into the
canonical well table.

allotropy cannot live in the pipeline's environment (it pins ``jsonschema<4.18``, prefect needs
``>=4.18``), so it runs in its own locked environment ``.venv-oracle/`` (``make oracle``, from
oracle/uv.lock) through ``oracle/run_allotropy.py --detect`` in a subprocess (60 s timeout; the bytes go
through a temporary file named like the upload, since allotropy picks its parser by extension). The driver
is package data (``readers/allotropy_oracle``, a symlink to ``oracle/`` in a checkout, real files in the
wheel, with the oracle's pyproject.toml and uv.lock to build its environment); the environment is
``.venv-oracle`` in a checkout, ``<data dir>/venv-oracle`` for an installed wheel.

Detection: :meth:`AllotropyFallbackReader.sniff` is cheap (no subprocess): it matches any non-empty file
when the oracle environment exists, with score 1 — every native reader scores ≥ 10, so the fallback is only
chosen when no native reader takes the file. Whether allotropy can read it is only known in :meth:`read`.

Mapping (one row per plate × well × analyte):

* ``well`` from the sample document's ``well location identifier`` (MSD) or ``location identifier``
  (``A01`` → ``A1``); measurement documents without a well are skipped (counted in a warning);
* ``sample_id`` = ``sample identifier``; ``sample_type`` from ``sample role type`` (standard / blank /
  control / unknown), else from the name (as xPONENT: ``Standard*``/``Std*``, ``Blank*``, ``Control*``…);
* multi-analyte profiling (Luminex, Bio-Plex): one row per analyte document, ``analyte_as_written`` = its
  ``analyte name``, ``signal`` = the ``median role`` statistic (``MFI``); an error document whose feature is
  ``<analyte> <median role>`` (allotropy writes ``-0.0`` beside it) makes the signal null; bead counts below
  the ``minimum assay bead count threshold setting`` are flagged ``low_bead_count``;
* plate readers (SoftMax Pro, Gen5, MSD…): ``analyte_as_written`` = the MSD ``assay identifier``, else the
  protocol (``analytical method identifier`` without path and extension), else the detection type;
  ``signal`` = ``absorbance`` (``OD<nm>``), ``fluorescence`` (``RFU``) or ``luminescence`` (``ECL`` for MSD,
  else ``RLU``); a kinetic read without a scalar value takes its single-well calculated value (e.g. Gen5
  ``Mean V [420]``). Several reads of one well (450 and 650 nm, two filters) are one row each, told apart by
  ``signal_kind`` (``OD450``, ``RFU 485/528``, ``RLU``; a polarisation read adds its direction);
* concentration: the calculated-data documents (or error documents, which carry the printed token such as
  ``Range?`` or ``NaN``) attached to the row, by name: ``Result*Dilution`` > ``Result`` > ``Calc.
  Concentration`` / ``[Concentration]`` / ``Obs Conc`` > ``Concentration…``; next to a ``Result`` a
  ``Concentration <unit>`` column is the nominal concentration (→ ``expected_conc`` of standards and
  controls). ``reported_text`` is the printed value (the shortest repr of the number, or the error token) and
  goes through :func:`readers.tokens.parse_conc` for the qualifier. ``unit`` from the calculated result, the
  column name (``Concentration ng/mL``) or the calibrators' ``mass concentration`` (same assay config);
  none → null (the row is held downstream);
* ``dilution`` from ``dilution factor setting`` (unless an error says it was not reported), else a
  ``Dilution`` calculated value, else 1; ``dilution_applied`` when the value's name says so
  (``Result*Dilution``) or the instrument is known to report dilution-corrected concentrations (xPONENT,
  MSD Workbench, Bio-Plex) and the value is not a censoring bound.

``format`` is ``allotropy:<vendor>`` (e.g. ``allotropy:luminex_intelliflex``) and ``PlateInfo.instrument``
names the instrument (allotropy's display name, plus the model when the file gives one). Every failure —
missing oracle environment, allotropy unable to read the file, timeout, unexpected ASM — is a
:class:`ReaderError`; nothing else escapes :meth:`AllotropyFallbackReader.read`.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PureWindowsPath
from typing import Any, ClassVar

import polars as pl

from readers.base import FileInput, PlateInfo, ReaderError, ReadResult, Sniff
from readers.tokens import parse_conc
from readers.toolkit.sample_codes import sample_type_from_name
from schemas import settings
from schemas.wells import WELL_SCHEMA, conform

# Where `make install` puts allotropy's environment (a checkout) or where an installed wheel expects it (the
# data folder); a deployment that installs it elsewhere sets BIOMARKERS_ORACLE_ENV (the environment folder)
# and, for another driver, BIOMARKERS_ORACLE_SCRIPT. The driver ships as package data.
_DEFAULT_ORACLE_ENV = (
    settings.REPO_ROOT / ".venv-oracle"
    if settings.RUNS_FROM_CHECKOUT
    else settings.data_dir() / "venv-oracle"
)
ORACLE_ENV = Path(os.environ.get("BIOMARKERS_ORACLE_ENV") or _DEFAULT_ORACLE_ENV)
ORACLE_PYTHON = ORACLE_ENV / "bin" / "python"
ORACLE_SCRIPT = Path(
    os.environ.get("BIOMARKERS_ORACLE_SCRIPT")
    or settings.package_path("readers", "allotropy_oracle", "run_allotropy.py").resolve()
)
TIMEOUT_S = 60.0
SNIFF_SCORE = 1  # below every native reader (≥ 10): the fallback only wins when nothing else matches
FORMAT_PREFIX = "allotropy"

_INSTALL_HINT = (
    "`make install` sets it up in a checkout; an installed wheel: `uv sync --frozen --project` on the "
    "package's readers/allotropy_oracle with UV_PROJECT_ENVIRONMENT at that folder, or set "
    "BIOMARKERS_ORACLE_ENV (a separate environment: allotropy's pins clash with prefect's)"
)
_WELL_RE = re.compile(r"^\s*([A-Pa-p])\s*0*([1-9]|1\d|2[0-4])\s*$")
_FEATURE_RE = re.compile(r"^(.*\S)\s*<(.+)>\s*$")  # "analyte1 <median role>"
_UNIT_IN_NAME_RE = re.compile(r"(?<![A-Za-z])([fpnuµμm]?g/[dm]?l)(?![A-Za-z])", re.IGNORECASE)
_STAT_WORDS_RE = re.compile(r"\b(?:mean|avg|average|cv|sd|std|stdev|recovery|rec)\b|%", re.IGNORECASE)
# Our sample type → the ASM sample roles that mean it; a row's role is looked up in the inverse.
_ROLES_OF_TYPE = {
    "standard": ("standard sample role", "calibration sample role"),
    "blank": ("blank role",),
    "qc": ("control sample role", "spiked sample role"),
    "unknown": ("unknown sample role", "sample role", "experiment sample role"),
}
_ROLE_TYPES = {role: stype for stype, roles in _ROLES_OF_TYPE.items() for role in roles}
_SIGNALS = ("absorbance", "fluorescence", "luminescence")
_MSD_VENDORS = {"MSD_WORKBENCH", "METHODICAL_MIND"}
# Instruments whose reported concentrations already include the well's dilution (corpus README; the native
# readers' docstrings). Censoring bounds never do.
_DILUTION_INCLUDED = {"LUMINEX_XPONENT", "LUMINEX_INTELLIFLEX", "MSD_WORKBENCH", "BIORAD_BIOPLEX"}


# ASM data cubes: reads that are not endpoints (named in a refusal, never read as endpoint values)
_NOT_ENDPOINT = {
    "absorption spectrum data cube": "a spectrum (absorbance over wavelengths)",
    "fluorescence emission spectrum data cube": "a spectrum (fluorescence emission over wavelengths)",
    "fluorescence excitation spectrum data cube": "a spectrum (fluorescence excitation over wavelengths)",
    "luminescence spectrum data cube": "a spectrum (luminescence over wavelengths)",
    "absorption profile data cube": "a kinetic trace (absorbance over time)",
    "fluorescence profile data cube": "a kinetic trace (fluorescence over time)",
    "luminescence profile data cube": "a kinetic trace (luminescence over time)",
}


class NotEndpointError(ReaderError):
    """allotropy read the file, but it holds only spectra or kinetic traces (out of scope): the refusal
    names the read type rather than calling the file unreadable."""


def oracle_available(python: Path = ORACLE_PYTHON, script: Path = ORACLE_SCRIPT) -> bool:
    return python.is_file() and script.is_file()


class AllotropyFallbackReader:
    """Reads, through allotropy in ``.venv-oracle``, what no native reader takes (see module docstring)."""

    name: ClassVar[str] = FORMAT_PREFIX
    label: ClassVar[str] = "allotropy fallback (other instruments)"

    def __init__(
        self, python: Path | None = None, script: Path | None = None, timeout: float = TIMEOUT_S
    ) -> None:
        self.python = python or ORACLE_PYTHON
        self.script = script or ORACLE_SCRIPT
        self.timeout = timeout

    def sniff(self, text_head: str, file: FileInput) -> Sniff:
        if not oracle_available(self.python, self.script):
            return Sniff(
                False, f"the allotropy environment ({self.python.parent.parent}) is missing; " + _INSTALL_HINT
            )
        if not file.data:
            return Sniff(False, "an empty file is not offered to allotropy")
        return Sniff(True, "offered to allotropy (Benchling's converter for ~55 instruments)", SNIFF_SCORE)

    def read(self, file: FileInput) -> ReadResult:
        try:
            out = self.run_oracle(file)
            return map_asm(
                out["asm"],
                vendor=str(out["vendor"]),
                display_name=str(out.get("display_name") or out["vendor"]),
                file_name=file.name,
                warnings=[str(w) for w in out.get("warnings") or []],
            )
        except ReaderError:
            raise
        except Exception as exc:  # never let a raw error escape: the upload must get a readable answer
            raise ReaderError(
                f"allotropy read this file but its output could not be mapped ({type(exc).__name__}: {exc}). "
                "Export the plate in a format this pipeline reads natively, or use the canonical CSV "
                "template.",
                file=file.name,
            ) from exc

    def run_oracle(self, file: FileInput) -> dict[str, Any]:
        """``run_allotropy.py --detect`` on the file's bytes: ``{"vendor", "display_name", "asm", ...}``."""
        if not oracle_available(self.python, self.script):
            raise ReaderError(
                "no native reader takes this file and the allotropy fallback is not installed "
                f"(looked for {self.python} and {self.script}); {_INSTALL_HINT}.",
                file=file.name,
            )
        with tempfile.TemporaryDirectory(prefix="allotropy-") as tmp:
            path = Path(tmp) / _safe_name(file.name)
            path.write_bytes(file.data)
            try:
                proc = subprocess.run(
                    [str(self.python), str(self.script), "--detect", str(path)],
                    capture_output=True,
                    timeout=self.timeout,
                    cwd=tmp,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise ReaderError(
                    f"allotropy did not finish reading this file within {self.timeout:g} s",
                    file=file.name,
                ) from exc
        stderr = proc.stderr.decode("utf-8", errors="replace").strip()
        if proc.returncode == 2:
            raise ReaderError(
                "allotropy could not read it as any of the instruments it knows either",
                file=file.name,
                details=_tried_by_allotropy(stderr),
            )
        if proc.returncode != 0:
            raise ReaderError(
                f"the allotropy converter failed (exit {proc.returncode}): {stderr[-600:] or 'no message'}. "
                f"Rebuild its environment with `make oracle`.",
                file=file.name,
            )
        try:
            out = json.loads(proc.stdout)
        except ValueError as exc:
            raise ReaderError(
                f"the allotropy converter returned output that is not JSON ({exc}); "
                "rebuild it with `make oracle`",
                file=file.name,
            ) from exc
        if not isinstance(out, dict) or not isinstance(out.get("asm"), dict) or not out.get("vendor"):
            raise ReaderError("the allotropy converter returned no ASM document", file=file.name)
        return out


def _safe_name(name: str) -> str:
    """The upload's base name (its extension chooses allotropy's parser), safe as a file name."""
    base = PureWindowsPath(PurePath(name).name).name
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = re.sub(r"[^\w.\- ()]+", "_", stem)[:100].strip(". ") or "upload"
    ext = re.sub(r"[^\w]+", "", ext)[:10]
    return f"{stem}.{ext}" if ext else stem


def _tried_by_allotropy(stderr: str) -> str:
    """Each allotropy parser tried and why it declined, one per line (160 characters each at most): the
    ``details`` of a refusal, never its message."""
    try:
        info = json.loads(stderr.splitlines()[-1])
        return "; ".join(f"{t['vendor']}: {str(t['reason'])[:160]}" for t in info.get("tried", []))
    except Exception:
        return stderr[-600:]


# ---- ASM → canonical rows ------------------------------------------------------------------------------


def _num(obj: Any) -> float | None:
    """A finite number from ``{"value": x, "unit": …}`` or a bare number. ``-0.0`` is allotropy's placeholder
    for a value it could not read (``NEGATIVE_ZERO``, written beside an error document): no number."""
    v = obj.get("value") if isinstance(obj, Mapping) else obj
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    if not math.isfinite(f) or (f == 0.0 and math.copysign(1.0, f) < 0):
        return None
    return f


def _docs(parent: Any, aggregate: str, document: str) -> list[Mapping[str, Any]]:
    if not isinstance(parent, Mapping):
        return []
    agg = parent.get(aggregate)
    items = agg.get(document) if isinstance(agg, Mapping) else None
    return [d for d in items if isinstance(d, Mapping)] if isinstance(items, list) else []


def _text(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip()).casefold()


def _stem(path_like: str | None) -> str | None:
    """``S:\\x\\Kinetic B-Galactosidase.prt`` → ``Kinetic B-Galactosidase``."""
    if not path_like:
        return None
    name = PureWindowsPath(path_like).name
    return (PureWindowsPath(name).stem if re.search(r"\.\w{1,4}$", name) else name) or None


def _well(text: str | None) -> str | None:
    m = _WELL_RE.match(text or "")
    return f"{m.group(1).upper()}{int(m.group(2))}" if m else None


@dataclass(frozen=True)
class _Calc:
    ident: str
    name: str
    value: float | None
    unit: str | None
    text: str | None = None  # the printed token when allotropy kept only an error (Range?, NaN…)
    sources: int = 1


def _conc_rank(name: str) -> int | None:
    """Lower is better; None: not a concentration of this well."""
    n = _norm(name)
    if _STAT_WORDS_RE.search(n.replace("*", " ")):
        return None
    if "dilution" in n and ("result" in n or "conc" in n):
        return 0
    if n == "result":
        return 1
    if n in (
        "calc. concentration",
        "calculated concentration",
        "calc. conc.",
        "obs conc",
        "[concentration]",
        "conc",
    ):
        return 2
    if n.startswith("concentration") or n.startswith("[concentration"):
        return 3
    return None


def _unit_of(calc: _Calc) -> str | None:
    if calc.unit and "/" in calc.unit:
        return calc.unit
    m = _UNIT_IN_NAME_RE.search(calc.name)
    return m.group(1) if m else None


@dataclass
class _Row:
    plate_id: str
    well: str
    analyte: str
    sample_id: str | None
    role: str | None
    signal: float | None = None
    signal_kind: str | None = None
    signal_note: str | None = None
    dilution: float | None = None
    dilution_note: str | None = None
    mass_conc: float | None = None
    mass_unit: str | None = None
    conc_dil: float | None = None
    calcs: dict[str, _Calc] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)


@dataclass
class _Plate:
    protocol: str | None = None
    acquired_at: str | None = None
    operator: str | None = None


def _errors(md: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    return [
        (_text(e.get("error feature")), str(e.get("error")))
        for e in _docs(md, "error aggregate document", "error document")
        if _text(e.get("error")) is not None
    ]


def _device_setting(md: Mapping[str, Any], key: str) -> Any:
    for dc in _docs(md, "device control aggregate document", "device control document"):
        if key in dc:
            return dc[key]
    return None


def _clean_flag(text: str) -> str:
    return " ".join(text.replace(";", ",").split())[:120]


class _AsmMapper:
    def __init__(self, asm: Mapping[str, Any], vendor: str, display_name: str, file_name: str) -> None:
        self.vendor = vendor
        self.display_name = display_name
        self.file_name = file_name
        keys = [k for k, v in asm.items() if k.endswith("aggregate document") and isinstance(v, Mapping)]
        if not keys:
            raise ReaderError("allotropy's output has no aggregate document (not an ASM)", file=file_name)
        self.agg: Mapping[str, Any] = asm[keys[0]]
        self.calcs_by_source: dict[str, list[_Calc]] = {}
        for cd in _docs(self.agg, "calculated data aggregate document", "calculated data document"):
            sources = [
                str(s.get("data source identifier"))
                for s in _docs(cd, "data source aggregate document", "data source document")
            ]
            calc = _Calc(
                ident=str(cd.get("calculated data identifier") or id(cd)),
                name=str(cd.get("calculated data name") or ""),
                value=_num(cd.get("calculated result")),
                unit=_text((cd.get("calculated result") or {}).get("unit")),
                sources=len(sources),
            )
            for s in sources:
                self.calcs_by_source.setdefault(s, []).append(calc)
        self.rows: dict[tuple[str, str, str, str], _Row] = {}
        self.plates: dict[str, _Plate] = {}
        self.skipped = 0
        self.empty = 0
        self.not_endpoint: dict[str, int] = {}  # read type (spectrum, kinetic trace) → measurements

    # ---- walk ----

    def run(self) -> tuple[list[_Row], dict[str, _Plate], int]:
        for docs in self.agg.values():
            if not isinstance(docs, list):
                continue
            for tdoc in docs:
                if isinstance(tdoc, Mapping) and isinstance(
                    tdoc.get("measurement aggregate document"), Mapping
                ):
                    self.technique_doc(tdoc)
        return list(self.rows.values()), self.plates, self.skipped

    def technique_doc(self, tdoc: Mapping[str, Any]) -> None:
        mad: Mapping[str, Any] = tdoc["measurement aggregate document"]
        for md in _docs(tdoc, "measurement aggregate document", "measurement document"):
            for key in md:
                if key in _NOT_ENDPOINT:
                    self.not_endpoint[_NOT_ENDPOINT[key]] = self.not_endpoint.get(_NOT_ENDPOINT[key], 0) + 1
            raw_sample = md.get("sample document")
            sample: Mapping[str, Any] = raw_sample if isinstance(raw_sample, Mapping) else {}
            well = _well(_text(sample.get("well location identifier"))) or _well(
                _text(sample.get("location identifier"))
            )
            if well is None:
                self.skipped += 1
                continue
            plate_id = (
                _text(sample.get("well plate identifier"))
                or _stem(_text(mad.get("experimental data identifier")))
                or PurePath(self.file_name).stem
                or "plate"
            )
            plate = self.plates.setdefault(plate_id, _Plate())
            plate.protocol = plate.protocol or _stem(
                _text(md.get("analytical method identifier") or mad.get("analytical method identifier"))
            )
            plate.acquired_at = plate.acquired_at or _text(
                md.get("measurement time") or mad.get("measurement time")
            )
            plate.operator = plate.operator or _text(tdoc.get("analyst"))
            errors = _errors(md)
            if "analyte aggregate document" in md:
                self.map_analytes(md, sample, plate_id, well, errors)
            else:
                self.map_plate_read(md, mad, sample, plate_id, well, errors)

    def new_row(
        self,
        plate_id: str,
        well: str,
        analyte: str,
        sample: Mapping[str, Any],
        md: Mapping[str, Any],
        kind: str | None = None,
    ) -> tuple[_Row, bool]:
        key = (plate_id, well, analyte, kind or "")
        if key in self.rows:
            return self.rows[key], False
        custom = sample.get("custom information document")
        conc_dil = _num(custom.get("Conc/Dil")) if isinstance(custom, Mapping) else None
        row = _Row(
            plate_id=plate_id,
            well=well,
            analyte=analyte,
            sample_id=_text(sample.get("sample identifier")),
            role=_text(sample.get("sample role type")),
            mass_conc=_num(sample.get("mass concentration")),
            mass_unit=_text((sample.get("mass concentration") or {}).get("unit"))
            if isinstance(sample.get("mass concentration"), Mapping)
            else None,
            conc_dil=conc_dil,
        )
        dil = _device_setting(md, "dilution factor setting")
        not_reported = [e for f, e in _errors(md) if f == "dilution factor setting"]
        if not_reported:
            row.dilution_note = not_reported[0]
        elif (d := _num(dil)) is not None and d > 0:
            row.dilution = d
        self.rows[key] = row
        return row, True

    def add_calcs(
        self, row: _Row, source_id: str, errors: Iterable[tuple[str | None, str]], prefix: str
    ) -> None:
        for calc in self.calcs_by_source.get(source_id, []):
            row.calcs.setdefault(_norm(calc.name), calc)
        for feature, text in errors:
            if feature is None:
                continue
            name = feature
            if prefix:
                m = _FEATURE_RE.match(feature)
                if not m or m.group(1) != prefix:
                    continue
                name = m.group(2)
            known = row.calcs.get(_norm(name))
            if _conc_rank(name) is not None and (known is None or known.value is None):
                # the printed token (Range?, NaN…) of a value allotropy could not read
                row.calcs[_norm(name)] = _Calc(f"error:{name}", name, None, None, text=text)

    def map_analytes(
        self,
        md: Mapping[str, Any],
        sample: Mapping[str, Any],
        plate_id: str,
        well: str,
        errors: list[tuple[str | None, str]],
    ) -> None:
        threshold = _num(_device_setting(md, "minimum assay bead count threshold setting"))
        for ad in _docs(md, "analyte aggregate document", "analyte document"):
            name = _text(ad.get("analyte name"))
            if name is None:
                continue
            row, _ = self.new_row(plate_id, well, name, sample, md)
            stats: list[tuple[str | None, float | None]] = []
            for sd in _docs(ad, "statistics aggregate document", "statistics document"):
                for dim in _docs(
                    sd, "statistic dimension aggregate document", "statistic dimension document"
                ):
                    sv = dim.get("statistical value")
                    if isinstance(sv, Mapping):
                        stats.append((_text(sv.get("has statistic datum role")), _num(sv)))
            median = [v for role, v in stats if role == "median role"] or [v for _, v in stats]
            role_name = "median role" if any(r == "median role" for r, _ in stats) else None
            bad = [e for f, e in errors if f is not None and role_name and f == f"{name} <{role_name}>"]
            if bad:
                row.signal_note = bad[0]
            elif median:
                row.signal = median[0]
            row.signal_kind = "MFI"
            beads = _num(ad.get("assay bead count"))
            if beads is not None and threshold is not None and beads < threshold:
                row.flags.append("low_bead_count")
            self.add_calcs(row, str(ad.get("analyte identifier")), errors, name)
        for feature, text in errors:
            if feature is None:
                for row in (r for k, r in self.rows.items() if k[:2] == (plate_id, well)):
                    row.flags.append("instrument_message: " + _clean_flag(text))

    def map_plate_read(
        self,
        md: Mapping[str, Any],
        mad: Mapping[str, Any],
        sample: Mapping[str, Any],
        plate_id: str,
        well: str,
        errors: list[tuple[str | None, str]],
    ) -> None:
        custom = md.get("custom information document")
        custom = custom if isinstance(custom, Mapping) else {}
        detection = _text(_device_setting(md, "detection type"))
        spot = _text(sample.get("location identifier")) if self.vendor in _MSD_VENDORS else None
        analyte = (
            _text(custom.get("assay identifier"))
            or _text(md.get("analyte name"))
            or (f"spot {spot}" if spot else None)  # MSD: one read per spot of the well, none named
            or _stem(_text(md.get("analytical method identifier") or mad.get("analytical method identifier")))
            or (detection or "signal")
        )
        signal, kind = None, None
        for key in _SIGNALS:
            if key in md:
                signal, kind = _num(md[key]), self.kind_of(key, md)
                break
        mid = str(md.get("measurement identifier"))
        if signal is None and kind is None:
            own = [
                c for c in self.calcs_by_source.get(mid, []) if c.sources == 1 and _conc_rank(c.name) is None
            ]
            if own and own[0].value is not None:
                signal, kind = own[0].value, own[0].name
        if signal is None and not any(c.value is not None for c in self.calcs_by_source.get(mid, [])):
            self.empty += 1  # a well the export leaves empty (a partial plate): no row
            return
        row, _ = self.new_row(plate_id, well, analyte, sample, md, kind)
        row.signal, row.signal_kind = signal, kind
        if signal is None and kind is not None:
            bad = [e for f, e in errors if f is not None and _conc_rank(f) is None]
            row.signal_note = bad[0] if bad else "no value in the file"
        if (rng := _text(custom.get("detection range"))) is not None:
            row.flags.append("detection_range: " + _clean_flag(rng))
        for calc in self.calcs_by_source.get(mid, []):
            if _norm(calc.name) == "dilution" and calc.value and calc.value > 0 and row.dilution is None:
                row.dilution = calc.value
        self.add_calcs(row, mid, errors, "")
        for feature, text in errors:
            if feature is None:
                row.flags.append("instrument_message: " + _clean_flag(text))

    def kind_of(self, key: str, md: Mapping[str, Any]) -> str:
        """``OD450``, ``RFU 485/528`` (excitation/emission), ``RLU``, ``ECL`` (MSD), as the readers name them;
        a fluorescence polarisation read adds the direction of the emitted light."""
        wl = _num(_device_setting(md, "detector wavelength setting"))
        ex = _num(_device_setting(md, "excitation wavelength setting"))
        if key == "absorbance":
            return f"OD{wl:g}" if wl else "OD"
        if key == "luminescence":
            if self.vendor in _MSD_VENDORS:
                return "ECL"
            return f"RLU {wl:g}" if wl else "RLU"
        kind = f"RFU {ex:g}/{wl:g}" if ex and wl else "RFU"
        for dc in _docs(md, "device control aggregate document", "device control document"):
            custom = dc.get("custom information document")
            if isinstance(custom, Mapping) and _text(custom.get("Direction of emitted light")):
                kind += f" {str(custom['Direction of emitted light']).casefold()}"
        return kind

    # ---- rows → table ----

    def record(self, row: _Row) -> dict[str, Any]:
        ranked = sorted(
            ((r, c) for c in row.calcs.values() if (r := _conc_rank(c.name)) is not None),
            key=lambda rc: (rc[0], rc[1].value is None),
        )
        chosen = ranked[0][1] if ranked else None
        nominal = (
            next((c for r, c in ranked if r == 3), None) if chosen and _conc_rank(chosen.name) != 3 else None
        )
        sample_type = _ROLE_TYPES.get((row.role or "").casefold()) or sample_type_from_name(row.sample_id)
        flags = list(dict.fromkeys(row.flags))
        if row.signal_note is not None:
            flags.append("signal_not_reported: " + _clean_flag(row.signal_note))
        reported = value_unit = None
        qualifier, value, extrapolated, applied = "NR", None, False, False
        if chosen is not None:
            reported = chosen.text if chosen.value is None else repr(chosen.value)
            parsed = parse_conc(reported)
            qualifier, value, extrapolated = parsed.qualifier, parsed.value, parsed.extrapolated
            if parsed.qualifier == "NR":
                flags.append("result_not_reported: " + _clean_flag(parsed.note or reported or ""))
            value_unit = _unit_of(chosen) or (nominal and _unit_of(nominal)) or row.mass_unit
            applied = qualifier == "=" and (
                "dilution" in _norm(chosen.name) or self.vendor in _DILUTION_INCLUDED
            )
        if row.dilution_note:
            flags.append("dilution_not_reported: " + _clean_flag(row.dilution_note))
        expected = None
        if sample_type in ("standard", "qc"):
            expected = row.mass_conc if row.mass_conc is not None else (nominal.value if nominal else None)
            if expected is None and row.conc_dil is not None:
                expected = row.conc_dil
        return {
            "source_file": self.file_name,
            "format": f"{FORMAT_PREFIX}:{self.vendor.lower()}",
            "plate_id": row.plate_id,
            "well": row.well,
            "sample_id": row.sample_id,
            "sample_type": sample_type,
            "expected_conc": expected,
            "analyte_as_written": row.analyte,
            "signal": row.signal,
            "signal_kind": row.signal_kind,
            "reported_text": reported,
            "qualifier": qualifier,
            "value": value,
            "extrapolated": extrapolated,
            "unit": value_unit,
            "unit_source": "file" if value_unit else None,
            "dilution": row.dilution or 1.0,
            "dilution_applied": applied,
            "flags": ";".join(flags) or None,
        }

    def plate_infos(self, plates: Mapping[str, _Plate]) -> list[PlateInfo]:
        dsd = self.agg.get("data system document")
        dsd = dsd if isinstance(dsd, Mapping) else {}
        dev = self.agg.get("device system document")
        dev = dev if isinstance(dev, Mapping) else {}
        model = _text(dev.get("model number"))
        instrument = self.display_name
        if model and model.casefold() not in ("n/a", "na", "none"):
            instrument += f" ({model})"
        extra = {
            "allotropy_vendor": self.vendor,
            "allotropy_version": _text(dsd.get("ASM converter version")),
            "software": _text(dsd.get("software name")),
            "software_version": _text(dsd.get("software version")),
            "serial_number": _text(dev.get("equipment serial number")),
        }
        clean = {k: v for k, v in extra.items() if v and v.casefold() not in ("n/a", "na")}
        return [
            PlateInfo(
                plate_id=pid,
                protocol=p.protocol,
                instrument=instrument,
                acquired_at=p.acquired_at,
                operator=p.operator,
                extra=clean,
            )
            for pid, p in plates.items()
        ]


def map_asm(
    asm: Mapping[str, Any],
    *,
    vendor: str,
    display_name: str,
    file_name: str,
    warnings: Iterable[str] = (),
) -> ReadResult:
    """One allotropy ASM document → the canonical well table (see the module docstring for the rules)."""
    mapper = _AsmMapper(asm, vendor, display_name, file_name)
    rows, plates, skipped = mapper.run()
    if not rows and mapper.not_endpoint:
        kinds = " and ".join(sorted(mapper.not_endpoint))
        raise NotEndpointError(
            f"this {display_name} export holds {kinds} reads, not endpoint values: spectra and kinetic "
            "traces are not loaded (docs/formats.md). Export the endpoint read, or the instrument's reduced "
            "value per well (e.g. Vmax, max), and upload that file.",
            file=file_name,
        )
    if not rows:
        raise ReaderError(
            f"allotropy read this file as {display_name}, but it holds no per-well measurements this "
            "pipeline can use",
            file=file_name,
        )
    df = pl.DataFrame([mapper.record(r) for r in rows], schema=WELL_SCHEMA, strict=False)
    notes = [
        f"read through allotropy as {display_name} (no native reader for this file): check the analyte "
        "names, units and dilutions before release",
        *[f"allotropy: {w}" for w in warnings],
    ]
    if skipped:
        notes.append(f"{skipped} measurement(s) without a plate well location were skipped")
    if mapper.empty:
        notes.append(f"{mapper.empty} read(s) of wells the export leaves empty (no value) were skipped")
    no_unit = df.filter(pl.col("value").is_not_null() & pl.col("unit").is_null()).height
    if no_unit:
        notes.append(
            f"{no_unit} concentration(s) have no unit in the file (set it in the assay configuration)"
        )
    return ReadResult(
        format=f"{FORMAT_PREFIX}:{vendor.lower()}",
        wells=conform(df),
        plates=mapper.plate_infos(plates),
        warnings=notes,
    )
