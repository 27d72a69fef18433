"""Bio-Rad Bio-Plex Manager 6.x XML export (root element ``BioPlexManager``): per-well FI readings.

What is read:

* ``Samples`` → ``Blanks/Blank``, ``Standards/Standard``, ``Controls/Control``, ``Unknowns/Unknown``: each a
  replicate group with ``Description`` (the sample ID), ``Label`` (B, S1, C1, X1…), ``Dilution``, per-analyte
  statistics (``Analytes/Analyte``: ``ExpectedConc``, ``ObsConc`` and their validation flags) and its
  ``MemberWells/MemberWell`` (``RowNo``/``ColNo``), each with one ``MWAnalytes/MWAnalyte/Reading`` per
  analyte.
  One output row per member well × analyte: ``Reading`` → ``signal`` (``signal_kind="FI"``); the group's kind
  → ``sample_type`` (Blank blank, Standard standard, Control qc, Unknown unknown); ``Description`` →
  ``sample_id`` (for blanks/standards/controls without one, their Label); ``Dilution`` → ``dilution`` (1 when
  absent; an Unknown group without one is flagged ``dilution_missing``); a positive ``ExpectedConc`` with
  validation code 0 → ``expected_conc`` (Bio-Plex writes 0 when none was entered);
  ``StandardCurves/Interpolators/Interpolator/ConcentrationUnits`` → ``unit`` (``unit_source="file"``) when
  filled.
* Reading attributes → flags: ``Code`` 1 ``low_bead_count``, 2–5 ``sampling_error: <code> <meaning>``
  (Bio-Plex's sampling-error codes), ``Valid="false"`` ``reading_invalid``, ``OutlierType`` other than
  ``None`` ``outlier``.
* Plate: the wells' ``PlateID`` (else ``NativeDocumentName``, else the file stem), ``AcquisitionTime`` of the
  first well, ``RunProtocolDocumentName`` (protocol), ``User`` (operator); ``PlateInfo.extra`` holds the
  software version, export time, reader serial number and, per analyte, the curve's regression type,
  validity and ``EquationErr``.

Concentrations: this export carries the concentration only per replicate group (``ObsConc``, an average),
never per well, and the corpus file leaves it unset (validation code 9, "Data field has not been set").
Rows are per well, so every row has qualifier ``NR``, a null value and no ``reported_text`` (signals
only; the pipeline can fit the plate's standards). When a file does carry group concentrations, a warning
says they were not read — export the Excel report for Bio-Plex's own concentrations.

Ignored: ``Wells/Well`` acquisition detail (run conditions, per-region bead statistics, raw
``BeadEventData``; it covers only some wells), group statistics (mean, SD, CV: recomputed downstream),
normalisation settings.

A ``<Samples>`` element on its own (a fragment of the export, no BioPlexManager root) is recognised and
refused with a sentence saying so; a document without the ``Wells`` element (acquisition detail, which
allotropy requires) is read, with a warning.

Parsing uses expat directly (for the line number of each ``Reading`` → ``row_number``); a document type
declaration is refused (no entity expansion). Any failure is a :class:`ReaderError`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import PurePath
from typing import ClassVar
from xml.parsers import expat

import polars as pl

from readers.base import FileInput, PlateInfo, ReaderError, ReadResult, Sniff
from readers.tokens import parse_number
from readers.toolkit.dilution import DilutionError, missing_dilution_flag, parse_dilution
from readers.toolkit.guarded_reader import GuardedReader, ParseRun, ReaderTexts
from readers.toolkit.sampling_errors import sampling_error_flag
from schemas.wells import conform

FORMAT = "bioplex_xml"
SNIFF_SCORE = 100
SNIFF_SCORE_FRAGMENT = 40  # only the <Samples> element: claimed so that the refusal says what it is
LINE_ATTR = "__line__"

_LOOKED_FOR = (
    "looked for an XML document whose root element is BioPlexManager (Bio-Plex Manager 6.x XML export)"
)
_FRAGMENT_RE = re.compile(r"^(?:<\?xml[^>]*\?>\s*)?<(?:[A-Za-z_][\w.-]*:)?Samples[\s>]")
_ROOT_RE = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?BioPlexManager[\s>/]")
_GROUPS = {
    "Blanks": ("Blank", "blank"),
    "Standards": ("Standard", "standard"),
    "Controls": ("Control", "qc"),
    "Unknowns": ("Unknown", "unknown"),
}
_ROWS = "ABCDEFGHIJKLMNOP"


class _DoctypeRefused(Exception):
    pass


def parse_xml(data: bytes) -> ET.Element:
    """Element tree with each element's start line in ``attrib[LINE_ATTR]``; namespace prefixes dropped.
    A DOCTYPE (entity declarations) is refused rather than expanded."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.buffer_text = True

    def local(name: str) -> str:
        return name.rsplit(":", 1)[-1]

    def start(name: str, attrs: dict[str, str]) -> None:
        attrs[LINE_ATTR] = str(parser.CurrentLineNumber)
        builder.start(local(name), attrs)

    def end(name: str) -> None:
        builder.end(local(name))

    def doctype(*_: object) -> None:
        raise _DoctypeRefused

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    parser.Parse(data, True)
    return builder.close()


def _text(el: ET.Element | None, path: str) -> str:
    if el is None:
        return ""
    found = el.find(path)
    return (found.text or "").strip() if found is not None and found.text else ""


def _line(el: ET.Element) -> int | None:
    v = el.attrib.get(LINE_ATTR)
    return int(v) if v and v.isdigit() else None


_TEXTS = ReaderTexts(
    looked_for=_LOOKED_FOR,
    what="this file as a Bio-Plex Manager XML export",
    todo="Export the XML again from Bio-Plex Manager without editing it.",
)


def _recognise(text_head: str, file: FileInput) -> Sniff:
    head = text_head.lstrip("\ufeff \t\r\n")
    if head.startswith("<") and _ROOT_RE.search(head[:5000]):
        return Sniff(True, "XML document with a BioPlexManager root element", SNIFF_SCORE)
    if _FRAGMENT_RE.match(head) and "<MemberWell" in head[:20000]:
        return Sniff(True, "the Samples part of a Bio-Plex Manager XML export, alone", SNIFF_SCORE_FRAGMENT)
    return Sniff(False, _LOOKED_FOR)


class _Parse(ParseRun):
    """One read: the document parsed with line numbers, its groups walked into rows."""

    def run(self) -> ReadResult:
        file = self.file
        try:
            return self._read(file)
        except _DoctypeRefused as exc:
            raise ReaderError(
                "the XML declares a document type (DOCTYPE/ENTITY), which Bio-Plex Manager never writes and "
                "which is refused for safety. Export the XML again from Bio-Plex Manager.",
                file=file.name,
            ) from exc
        except expat.ExpatError as exc:
            raise ReaderError(
                f"the XML is not well-formed ({expat.errors.messages.get(exc.code, str(exc))}, column "
                f"{exc.offset}); the file looks truncated or edited. Export the XML again from Bio-Plex "
                "Manager.",
                file=file.name,
                line=exc.lineno,
            ) from exc

    def _read(self, file: FileInput) -> ReadResult:
        root = parse_xml(file.data)
        if root.tag == "Samples":
            raise ReaderError(
                "this XML holds only the Samples part of a Bio-Plex Manager XML export (its root element is "
                "Samples, not BioPlexManager): the readings are there but not the document they belong to "
                "(plate, standard curves, software), so it is not read. Export the whole XML from Bio-Plex "
                "Manager (File > Export > XML) without cutting it.",
                file=file.name,
            )
        if root.tag != "BioPlexManager":
            raise ReaderError(
                f"the XML root element is {root.tag!r}, not BioPlexManager. " + _LOOKED_FOR, file=file.name
            )
        warnings: list[str] = []
        units, extra = self._curves(root)
        samples = root.find("Samples")
        if samples is None:
            raise ReaderError(
                "the XML has no Samples element, so no wells to read. Export the XML again from Bio-Plex "
                "Manager with the sample data included.",
                file=file.name,
            )
        rows: list[dict[str, object]] = []
        seen: dict[tuple[str, str], int | None] = {}
        n_conc_set = 0
        n_no_dilution = 0
        for container, (tag, stype) in _GROUPS.items():
            for group in samples.findall(f"{container}/{tag}"):
                label = _text(group, "Label")
                description = _text(group, "Description")
                sample_id = description or (label if stype != "unknown" and label else None)
                try:
                    given = parse_dilution(
                        _text(group, "Dilution"), column="Dilution", software="Bio-Plex Manager"
                    )
                except DilutionError as exc:
                    raise ReaderError(
                        f"sample {label or description!r}: {exc}", file=file.name, line=_line(group)
                    ) from exc
                dilution = 1.0 if given is None else given
                no_dilution = missing_dilution_flag(stype) if given is None else None
                n_no_dilution += no_dilution is not None
                expected: dict[str, float] = {}
                for a in group.findall("Analytes/Analyte"):
                    name = _text(a, "AnalyteName")
                    flag = a.find("ExpectedConcValidationFlag")
                    exp = parse_number(_text(a, "ExpectedConc"))
                    if exp is not None and exp > 0 and (flag is None or flag.attrib.get("Code", "0") == "0"):
                        expected[name] = exp
                    oflag = a.find("ObsConcValidationFlag")
                    if oflag is not None and oflag.attrib.get("Code") == "0":
                        n_conc_set += 1
                for mw in group.findall("MemberWells/MemberWell"):
                    well = self._well(mw, file.name)
                    for mwa in mw.findall("MWAnalytes/MWAnalyte"):
                        name = _text(mwa, "AnalyteName") or f"region {mwa.attrib.get('RegionNumber', '?')}"
                        reading = mwa.find("Reading")
                        key = (well, name)
                        if key in seen:
                            raise ReaderError(
                                f"well {well} has two readings for {name} (lines {seen[key]} and "
                                f"{_line(mwa)}); the file looks edited. Export the XML again.",
                                file=file.name,
                                line=_line(mwa),
                            )
                        seen[key] = _line(mwa)
                        rows.append(
                            self._row(
                                file.name,
                                well,
                                mwa if reading is None else reading,
                                reading,
                                stype,
                                sample_id,
                                name,
                                expected.get(name) if stype in ("standard", "qc") else None,
                                units.get(name),
                                dilution,
                                no_dilution,
                            )
                        )
        if not rows:
            raise ReaderError(
                "the XML lists no member wells with readings (Samples/*/MemberWells/MemberWell/MWAnalytes). "
                "Export the XML again from Bio-Plex Manager after the plate has been read.",
                file=file.name,
            )
        warnings.append(
            "the XML export carries FI readings per well; concentrations are not read (signals only)"
        )
        if n_conc_set:
            warnings.append(
                f"{n_conc_set} replicate-group concentrations (ObsConc) are set in the XML but belong to "
                "groups, not wells, and were not read: export the Bio-Plex Excel report to load Bio-Plex's "
                "own concentrations"
            )
        if n_no_dilution:
            warnings.append(
                f"{n_no_dilution} unknown sample group(s) have no Dilution: dilution 1 used and their wells "
                "flagged dilution_missing (held until the dilution is known)"
            )
        if root.find("Wells") is None:
            warnings.append(
                "the XML has no Wells element (acquisition details): no acquisition time, PlateID or reader "
                "serial number; the plate is named after the document"
            )
        plate = self._plate(root, file.name, extra)
        df = pl.DataFrame(rows, schema=_ROW_SCHEMA).with_columns(plate_id=pl.lit(plate.plate_id))
        return ReadResult(format=FORMAT, wells=conform(df), plates=[plate], warnings=warnings)

    @staticmethod
    def _well(mw: ET.Element, file_name: str) -> str:
        r, c = mw.attrib.get("RowNo", ""), mw.attrib.get("ColNo", "")
        if not (r.isdigit() and c.isdigit() and 1 <= int(r) <= 16 and 1 <= int(c) <= 24):
            raise ReaderError(
                f"a MemberWell has RowNo={r!r} ColNo={c!r}, not a well of a 96/384-well plate. Export the "
                "XML again from Bio-Plex Manager.",
                file=file_name,
                line=_line(mw),
            )
        return f"{_ROWS[int(r) - 1]}{int(c)}"

    @staticmethod
    def _row(
        file_name: str,
        well: str,
        where: ET.Element,
        reading: ET.Element | None,
        stype: str,
        sample_id: str | None,
        analyte: str,
        expected: float | None,
        unit: str | None,
        dilution: float,
        dilution_flag: str | None,
    ) -> dict[str, object]:
        flags: list[str] = [dilution_flag] if dilution_flag else []
        signal = None
        if reading is None:
            flags.append("signal_not_reported: no Reading element")
        else:
            text = (reading.text or "").strip()
            signal = parse_number(text)
            if signal is None:
                flags.append(f"signal_not_reported: {text!r} is not a number".replace(";", ","))
            if reading.attrib.get("Valid", "true").strip().casefold() == "false":
                flags.append("reading_invalid")
            if reading.attrib.get("OutlierType", "None").strip() not in ("", "None"):
                flags.append("outlier")
            code = reading.attrib.get("Code", "0").strip()
            if code and code != "0":
                flags.append(sampling_error_flag(code))
        return {
            "source_file": file_name,
            "format": FORMAT,
            "well": well,
            "row_number": _line(where),
            "sample_id": sample_id,
            "sample_type": stype,
            "expected_conc": expected,
            "analyte_as_written": analyte,
            "signal": signal,
            "signal_kind": "FI",
            "reported_text": None,
            "qualifier": "NR",
            "value": None,
            "extrapolated": False,
            "unit": unit,
            "unit_source": "file" if unit else None,
            "dilution": dilution,
            "dilution_applied": False,
            "flags": ";".join(flags) or None,
        }

    @staticmethod
    def _curves(root: ET.Element) -> tuple[dict[str, str], dict[str, str]]:
        units: dict[str, str] = {}
        extra: dict[str, str] = {}
        for ip in root.findall("StandardCurves/Interpolators/Interpolator"):
            name = _text(ip, "AnalyteName")
            if not name:
                continue
            if u := _text(ip, "ConcentrationUnits"):
                units[name] = u
            if reg := _text(ip, "Regression"):
                extra[f"regression:{name}"] = reg
            if "IsValid" in ip.attrib:
                extra[f"curve_valid:{name}"] = ip.attrib["IsValid"]
            if err := _text(ip, "EquationErr"):
                extra[f"curve_error:{name}"] = err
            if region := ip.attrib.get("RegionNumber"):
                extra[f"region:{name}"] = region
        return units, extra

    @staticmethod
    def _plate(root: ET.Element, file_name: str, extra: dict[str, str]) -> PlateInfo:
        wells = root.findall("Wells/Well")
        first = wells[0] if wells else None
        plate_id = next((t for w in wells if (t := _text(w, "PlateID"))), "")
        plate_id = plate_id or _text(root, "NativeDocumentName") or PurePath(file_name).stem.strip()
        if not plate_id:
            raise ReaderError(
                "no plate id: the wells have no PlateID, the document no NativeDocumentName, and the upload "
                "no file name. Fill in the Plate ID in Bio-Plex Manager and export again.",
                file=file_name,
            )
        meta = {
            "software_version": root.attrib.get("BioPlexManagerVersion", ""),
            "xml_export_time": root.attrib.get("XmlExportDateTime", ""),
            "native_document": _text(root, "NativeDocumentLocation") or _text(root, "NativeDocumentName"),
            "reader_serial_number": _text(first, "MachineInfo/SerialNumber"),
            "author": _text(root, "AuthorName"),
        }
        return PlateInfo(
            plate_id=plate_id,
            protocol=_text(first, "RunProtocolDocumentName") or None,
            acquired_at=_text(first, "AcquisitionTime") or None,
            operator=_text(first, "User") or None,
            kit_lot=_text(root, "AssayLotID") or None,
            extra={**{k: v for k, v in meta.items() if v}, **extra},
        )


_ROW_SCHEMA = {
    "source_file": pl.String,
    "format": pl.String,
    "well": pl.String,
    "row_number": pl.Int64,
    "sample_id": pl.String,
    "sample_type": pl.String,
    "expected_conc": pl.Float64,
    "analyte_as_written": pl.String,
    "signal": pl.Float64,
    "signal_kind": pl.String,
    "reported_text": pl.String,
    "qualifier": pl.String,
    "value": pl.Float64,
    "extrapolated": pl.Boolean,
    "unit": pl.String,
    "unit_source": pl.String,
    "dilution": pl.Float64,
    "dilution_applied": pl.Boolean,
    "flags": pl.String,
}


class BioplexXmlReader(GuardedReader, texts=_TEXTS, recognise=_recognise, parser=_Parse):
    """Reads a Bio-Plex Manager 6.x XML export into the canonical well table (see module docstring)."""

    name: ClassVar[str] = FORMAT
    label: ClassVar[str] = "Bio-Rad Bio-Plex Manager XML export"
