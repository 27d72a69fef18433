"""Bio-Rad Bio-Plex Manager result exports: the Excel workbook (.xls/.xlsx) and the same layout as text.

Layout (shared/corpus/README.md, "Bio-Rad Bio-Plex Manager (Excel)"); the reader keys on that, not on one
file:

* one sheet per analyte. Sheet names are cut to 31 characters by Excel, so the analyte's full name comes
  from the sheet's ``Analyte: Hu IL-6 (19)`` line (name, then bead region in parentheses);
* a header block of ``Key: value`` lines (File Name, Analyte, Acquisition Date, Reader Serial Number,
  Plate ID, Signed By, Document ID, RP1 PMT (Volts), RP1 Target…);
* one or more tables, each under a header row found BY CONTENT (a row naming ``Type``, ``Well`` and ``FI``
  or ``Obs Conc``): ``Analyte | Type | Well | [Outlier] | Description | FI | FI - Bkgd | Std Dev | %CV |
  Obs Conc | Exp Conc | (Obs/Exp) * 100 | [Conc in Range] | Group | Ratio | Dilution | [Bead Count] |
  Sampling Errors``. Columns are found by name, so optional columns may be missing and the order may vary.
  A table ends at an empty row or a row without a Well;
* footer lines ``Regression Type: Logistic - 5PL``, ``Std. Curve: FI = …``, ``FitProb. = …, ResVar. = …``.

The bytes decide the form, never the file name: OLE2 (``D0 CF 11 E0``) → .xls, a zip holding ``xl/`` →
.xlsx (both through python-calamine), anything else is decoded as text (comma, semicolon or tab; the CSV
form may hold several analyte blocks one after the other, each starting with its ``File Name:`` /
``Analyte:`` lines). Every cell becomes text first, so the Excel and CSV forms share one parser; a number
that Excel stored as a float keeps its written form (sample ID ``275001``, never ``275001.0``).

What is read, per data row: ``Type`` → ``sample_type`` (``B`` blank, ``S1..Sn``/``ES`` standard, ``C``
qc, ``X`` unknown; anything else is ``unknown`` with a ``type_unrecognised`` flag), ``Well`` → ``well``,
``Description`` → ``sample_id`` (for blanks/standards/controls without one, their Type label, e.g.
``S3``), ``FI`` → ``signal`` (``signal_kind="FI"``), ``Obs Conc`` → ``reported_text`` and, through
:func:`readers.tokens.parse_conc`, ``qualifier``/``value``/``extrapolated``, ``Exp Conc`` →
``expected_conc`` (Bio-Plex writes 0 when no nominal concentration was entered: 0 is read as null),
``Dilution`` → ``dilution`` (1 when the column is absent or the cell empty, with a warning; an unknown sample
with an empty cell is also flagged ``dilution_missing``, :mod:`readers.toolkit.dilution`), ``Outlier`` and
``Sampling Errors`` → flags. Footer lines go to ``PlateInfo.extra`` per analyte: ``curve:<analyte>`` (the ``FI
= …`` equation), ``regression:<analyte>``, ``fitprob:<analyte>``, ``resvar:<analyte>``; header lines go to
``extra`` too (``file_name``, ``reader_serial_number``, ``rp1_pmt_volts``…).

What is ignored: ``FI - Bkgd``, ``Std Dev``, ``%CV``, ``(Obs/Exp) * 100``, ``Conc in Range``, ``Group``,
``Ratio`` (all recomputed downstream from the rows), ``Bead Count`` (Bio-Plex reports a low count itself
as Sampling Error 1), the legend lines under the table, and sheets without a result table (e.g. a
``Project Template`` sheet; named in the warnings).

Tokens → qualifiers (``Obs Conc``): a number → ``=``; ``*3.42`` → ``=`` 3.42 with ``extrapolated`` (beyond
the standards); ``OOR <`` → ``<`` and ``OOR >`` → ``>`` with a null value (the limit is filled later from
the plate's standards); ``***`` (not available) → ``NR``; ``---`` (outlier) → ``NR`` with the ``outlier``
flag (so does ``Outlier`` = 1); an empty cell → ``NR``. Flags are ';'-separated: ``outlier``,
``low_bead_count`` (Sampling Error 1), ``sampling_error: <code> <meaning>`` (2–5),
``result_not_reported: <why>``, ``signal_not_reported: <why>``, ``type_unrecognised: <Type>``.

Units are not on the analyte sheets: ``unit`` and ``unit_source`` stay null and the pipeline takes the unit
from the assay configuration. Obs Conc is already multiplied by the dilution, so ``dilution_applied`` is
True for rows with a number (extrapolated included) and False for censored/not-reported rows.

Raw and replicate-average rows: a ``Well`` is one well (a raw row) or a list ``C1,D1`` (a replicate
average). A sheet may hold a raw block and a summary block; raw rows are emitted when present and a
summary row is emitted only when no raw row of the same analyte covers any of its wells (so a value is
never counted twice); when a sheet has only summary rows they are emitted with ``well="C1,D1"``. The
warnings say which kind was used for which sheets.

``plate_id``: the ``Plate ID:`` line when non-empty, else the base name of the ``File Name:`` line without
its Bio-Plex extension (``10JAN07 plate 1``), else the export's file stem. ``row_number`` is the 1-based
row within its sheet (the line number for text).

Anything a lab can fix (no result table, a Well that is not a well, a row cut short or split by an unquoted
well list, a bad dilution, the same well twice in a table, a text export ending inside a table without a
final line break) raises :class:`ReaderError` naming the sheet and row; any other failure — including
python-calamine's Rust panics on damaged workbooks, which Python sees as a BaseException — is wrapped into
one, so no raw exception escapes :meth:`BioplexReader.read`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import ClassVar

import polars as pl

from readers.base import FileInput, PlateInfo, ReaderError, ReadResult, Sniff
from readers.text import decode, split_lines
from readers.tokens import ParsedConc, parse_conc, parse_number
from readers.toolkit.cells import split_line
from readers.toolkit.delimited import is_blank, norm_key, trim_cells, uses_decimal_comma
from readers.toolkit.dilution import DilutionError, missing_dilution_flag, parse_dilution
from readers.toolkit.guarded_reader import GuardedReader, ParseRun, ReaderTexts
from readers.toolkit.sample_codes import sample_type_from_code
from readers.toolkit.sampling_errors import sampling_error_flag
from readers.toolkit.workbook import excel_kind, workbook_rows
from schemas.wells import WELL_SCHEMA, conform

FORMAT = "bioplex"
SNIFF_SCORE = 100
SNIFF_SCORE_TABLE_ONLY = 80  # the result table without the Bio-Plex header lines above it


_LOOKED_FOR = (
    "looked for a Bio-Plex Manager result table (a header row naming Type, Well and FI or Obs Conc) under "
    "'File Name:' / 'Analyte:' / 'Acquisition Date:' lines, in an Excel workbook (.xls/.xlsx) or CSV/tab text"
)
_TEXTS = ReaderTexts(
    looked_for=_LOOKED_FOR,
    what="this file as a Bio-Plex Manager export",
    todo="Check that it is an unedited Bio-Plex Manager Excel/CSV report and export it again.",
)

# Table columns: key (lower-case, spaces removed) → field.
_COLUMNS = {
    "analyte": "analyte",
    "type": "type",
    "well": "well",
    "outlier": "outlier",
    "description": "description",
    "fi": "fi",
    "fi-bkgd": "fi_bkgd",
    "stddev": "std_dev",
    "%cv": "cv",
    "obsconc": "obs_conc",
    "expconc": "exp_conc",
    "(obs/exp)*100": "recovery",
    "concinrange": "conc_in_range",
    "group": "group",
    "ratio": "ratio",
    "dilution": "dilution",
    "beadcount": "bead_count",
    "samplingerrors": "sampling_errors",
}
_MIN_KNOWN_COLUMNS = 4

# Header lines above the table (lower-case key) → PlateInfo.extra key.
_HEAD_KEYS = {
    "file name": "file_name",
    "analyte": "analyte",
    "acquisition date": "acquisition_date",
    "reader serial number": "reader_serial_number",
    "plate id": "plate_id",
    "rp1 pmt (volts)": "rp1_pmt_volts",
    "rp1 target": "rp1_target",
    "signed by": "signed_by",
    "document id": "document_id",
}
_EXTRA_HEAD = ("file_name", "reader_serial_number", "rp1_pmt_volts", "rp1_target", "signed_by", "document_id")

_KV_RE = re.compile(r"^\s*([^:]{1,60}?)\s*:\s*(.*)$", re.DOTALL)
_REGRESSION_RE = re.compile(r"^\s*Regression\s+Type\s*:\s*(.+?)\s*$", re.IGNORECASE)
_CURVE_RE = re.compile(r"^\s*Std\.?\s*Curve\s*:\s*(.+?)\s*$", re.IGNORECASE)
_FITPROB_RE = re.compile(r"FitProb\.?\s*=\s*([^,;\s]+)", re.IGNORECASE)
_RESVAR_RE = re.compile(r"ResVar\.?\s*=\s*([^,;\s]+)", re.IGNORECASE)
_WELL_RE = re.compile(r"^([A-Pa-p])\s*0*(\d{1,2})$")
_WELL_SPLIT_RE = re.compile(r"[,;\s]+")
_BIOPLEX_EXT_RE = re.compile(r"\.(?:s?rbx|s?pbx|xlsx?|csv|txt)$", re.IGNORECASE)


# ---- cells and sheets ---------------------------------------------------------------------------------


@dataclass
class _Sheet:
    name: str  # sheet name (Excel) or a label for a block of a text export
    rows: list[tuple[int, list[str]]]  # (1-based row/line number, cells)
    excel: bool
    joiner: str = " "  # how cells of a non-table line are glued back (an unquoted comma split them)


def _excel_sheets(data: bytes, nrows: int | None = None, max_sheets: int | None = None) -> list[_Sheet]:
    """The workbook's sheets, numbered rows of cell texts (parsed in the isolated child process)."""
    return [
        _Sheet(name, [(i + 1, cells) for i, cells in enumerate(rows)], excel=True)
        for name, rows in workbook_rows(data, nrows, max_sheets)
    ]


def _delimiter(lines: list[str]) -> str:
    """The delimiter of the table header row (the first line naming Type and Well), comma by default."""
    for line in lines[:400]:
        low = line.casefold()
        if "well" in low and "type" in low:
            counts = {d: line.count(d) for d in ("\t", ";", ",")}
            best = max(counts, key=lambda d: counts[d])
            if counts[best]:
                return best
    return ","


def _text_sheets(lines: list[str], delimiter: str) -> list[_Sheet]:
    """Split a text export into analyte blocks: a second ``File Name:`` or ``Analyte:`` line starts the
    next block (the CSV form of a workbook writes its sheets one after the other)."""
    joiner = ", " if delimiter == "," else " "
    sheets: list[_Sheet] = []
    cur: list[tuple[int, list[str]]] = []
    seen: set[str] = set()
    for i, line in enumerate(lines):
        cells = split_line(line, delimiter)
        first = cells[0].strip() if cells else ""
        m = _KV_RE.match(first) if first else None
        key = norm_key(m.group(1)) if m else ""
        if key in ("file name", "analyte"):
            if key in seen and cur:
                sheets.append(_Sheet(f"block {len(sheets) + 1}", cur, excel=False, joiner=joiner))
                cur, seen = [], set()
            seen.add(key)
        cur.append((i + 1, cells))
    if cur:
        sheets.append(_Sheet(f"block {len(sheets) + 1}", cur, excel=False, joiner=joiner))
    return sheets


def _col_key(text: str) -> str:
    return re.sub(r"\s+", "", text).casefold()


def header_columns(cells: list[str]) -> dict[str, int] | None:
    """Field → column index when ``cells`` is a result-table header row, else None. Found by content: the
    row must name Type and Well, FI or Obs Conc, and at least four known columns in all."""
    cols: dict[str, int] = {}
    for j, c in enumerate(cells):
        f = _COLUMNS.get(_col_key(c))
        if f and f not in cols:
            cols[f] = j
    required = "type" in cols and "well" in cols and ("fi" in cols or "obs_conc" in cols)
    return cols if required and len(cols) >= _MIN_KNOWN_COLUMNS else None


def _line_text(cells: list[str], joiner: str) -> str:
    return joiner.join(c.strip() for c in trim_cells(cells) if c.strip())


def _key_value(text: str) -> tuple[str, str] | None:
    m = _KV_RE.match(text)
    if not m:
        return None
    return norm_key(m.group(1)), m.group(2).strip().lstrip(",;\t ").strip()


def parse_wells(text: str) -> list[str] | None:
    """``"C1,D1"`` / ``"A03"`` → normalised wells (``["C1", "D1"]``), None when any part is not a well."""
    parts = [p for p in _WELL_SPLIT_RE.split(text.strip()) if p]
    out: list[str] = []
    for p in parts:
        m = _WELL_RE.match(p)
        if not m or not 1 <= int(m.group(2)) <= 24:
            return None
        out.append(f"{m.group(1).upper()}{int(m.group(2))}")
    return out or None


def sample_type_of(type_label: str) -> str | None:
    """Bio-Plex ``Type`` → sample type (B blank, S/ES standard, C qc, X unknown); None when unrecognised."""
    return sample_type_from_code(type_label, unknown_letters="X")


def plate_id_from(head: dict[str, str], file_name: str) -> str:
    """``Plate ID:`` when filled, else the ``File Name:`` base name without its extension, else the file
    stem — the same plate must get the same id whichever of its exports is uploaded."""
    pid = head.get("plate_id", "").strip()
    if pid:
        return pid
    fname = head.get("file_name", "").strip()
    if fname:
        base = re.split(r"[\\/]", fname)[-1].strip()
        base = _BIOPLEX_EXT_RE.sub("", base).strip()
        if base:
            return base
    return PurePath(file_name).stem.strip()


# ---- sniffing -----------------------------------------------------------------------------------------


# A cell that header_columns reads as Type / Well: only whitespace and quote characters around and between
# the letters (its key drops whitespace; csv drops the quotes), between delimiters or the line's ends.
_TYPE_CELL_RE = re.compile(r'(?:^|[,;\t])[\s"]*t[\s"]*y[\s"]*p[\s"]*e[\s"]*(?:[,;\t]|$)')
_WELL_CELL_RE = re.compile(r'(?:^|[,;\t])[\s"]*w[\s"]*e[\s"]*l[\s"]*l[\s"]*(?:[,;\t]|$)')


def _may_be_header(line: str) -> bool:
    """False when ``line`` cannot be a result-table header (no Type cell and Well cell), decided without
    parsing it: a text export's preamble often names "96-well plate" and "Type" (xPONENT does), and
    parsing every line of the head only to find no header was most of the cost of sniffing."""
    low = line.casefold().replace("\x00", "")
    return _TYPE_CELL_RE.search(low) is not None and _WELL_CELL_RE.search(low) is not None


def _sniff_rows(rows: list[list[str]]) -> tuple[bool, int]:
    """(table header found, number of Bio-Plex header lines above it)."""
    head_keys = 0
    for cells in rows:
        if header_columns(cells) is not None:
            return True, head_keys
        first = next((c for c in cells if c.strip()), "")
        kv = _key_value(first) if first else None
        if kv and kv[0] in _HEAD_KEYS:
            head_keys += 1
    return False, head_keys


def _verdict(found: bool, head_keys: int, form: str) -> Sniff:
    if found and head_keys >= 2:
        return Sniff(
            True, f"Bio-Plex Manager {form}: header lines and a Type/Well/FI result table", SNIFF_SCORE
        )
    if found:
        return Sniff(
            True,
            f"a Bio-Plex result table (Type/Well/FI) in {form}, without header lines",
            SNIFF_SCORE_TABLE_ONLY,
        )
    return Sniff(False, _LOOKED_FOR)


def _sniff(text_head: str, file: FileInput) -> Sniff:
    kind = excel_kind(file.data)
    if kind == "zip":
        return Sniff(False, "a zip archive without xl/ inside (not an Excel workbook); " + _LOOKED_FOR)
    if kind is not None:
        try:
            sheets = _excel_sheets(file.data, nrows=60, max_sheets=3)
        except Exception:
            return Sniff(False, "an OLE2/zip file that is not a readable Excel workbook; " + _LOOKED_FOR)
        for sheet in sheets:
            found, keys = _sniff_rows([c for _, c in sheet.rows])
            if found:
                return _verdict(found, keys, f"Excel workbook (.{kind})")
        return Sniff(False, _LOOKED_FOR)
    lines = split_lines(text_head.lstrip("\ufeff"))[:300]
    if not any("well" in ln.casefold() and "type" in ln.casefold() for ln in lines):
        return Sniff(False, _LOOKED_FOR)
    if not any(_may_be_header(ln) for ln in lines):  # no line can be the table header: skip the parse
        return Sniff(False, _LOOKED_FOR)
    delimiter = _delimiter(lines)
    found, keys = _sniff_rows([split_line(ln, delimiter) for ln in lines])
    return _verdict(found, keys, "text export")


# ---- reading ------------------------------------------------------------------------------------------


@dataclass
class _DataRow:
    row_number: int
    analyte: str
    type_label: str
    wells: list[str]
    cells: dict[str, str]  # field → cell text (only the columns the table has)
    block: int


@dataclass
class _SheetData:
    name: str
    head: dict[str, str] = field(default_factory=dict)  # extra key → value
    footer: dict[str, str] = field(default_factory=dict)  # regression / curve / fitprob / resvar
    blocks: list[list[_DataRow]] = field(default_factory=list)
    columns: set[str] = field(default_factory=set)
    analyte: str | None = None


class _Parse(ParseRun):
    """State of one read: the sheets, the decimal mark, the warnings collected on the way."""

    def __init__(self, file: FileInput) -> None:
        super().__init__(file)
        self.notes: dict[str, list[str]] = {}  # per-sheet remark → sheets (summarised at the end)
        self.decimal_comma = False
        self.conc_cache: dict[str, ParsedConc] = {}

    def error(self, message: str, sheet: _Sheet | None = None, line: int | None = None) -> ReaderError:
        if sheet is not None and sheet.excel:
            message = (
                f"sheet {sheet.name!r}, row {line}: {message}" if line else f"sheet {sheet.name!r}: {message}"
            )
        return ReaderError(message, file=self.file.name, line=line)

    def note(self, message: str, sheet: str) -> None:
        self.notes.setdefault(message, []).append(sheet)

    # ---- input --------------------------------------------------------------------------------------

    def sheets(self) -> list[_Sheet]:
        kind = excel_kind(self.file.data)
        if kind == "zip":
            raise self.error(
                "this is a zip archive without an xl/ folder, so not an Excel workbook. Upload the Bio-Plex "
                "Manager report itself (.xls/.xlsx or CSV)."
            )
        if kind is not None:
            try:
                return _excel_sheets(self.file.data)
            except Exception as exc:
                raise self.error(
                    f"the file looks like an Excel workbook (.{kind}) but cannot be opened "
                    f"({exc}). If it is password-protected or damaged, save it again "
                    "from Excel without protection, or export the report again from Bio-Plex Manager."
                ) from exc
        lines = split_lines(decode(self.file.data).lstrip("\ufeff"))
        delimiter = _delimiter(lines)
        self.decimal_comma = uses_decimal_comma("\n".join(lines), delimiter)
        return _text_sheets(lines, delimiter)

    # ---- one sheet ----------------------------------------------------------------------------------

    def sheet_data(self, sheet: _Sheet) -> _SheetData:
        data = _SheetData(sheet.name)
        cols: dict[str, int] | None = None
        header_width = header_raw = 0
        seen_table = False
        block: list[_DataRow] = []

        def close() -> None:
            nonlocal block
            if cols is not None:
                data.blocks.append(block)
            block = []

        for n, cells in sheet.rows:
            new_cols = header_columns(cells)
            if new_cols is not None:
                close()
                cols, header_width, header_raw, seen_table = (
                    new_cols,
                    len(trim_cells(cells)),
                    len(cells),
                    True,
                )
                data.columns |= set(new_cols)
                continue
            if cols is not None:
                if is_blank(cells):
                    close()
                    cols = None
                    continue
                well_text = cells[cols["well"]].strip() if cols["well"] < len(cells) else ""
                type_text = cells[cols["type"]].strip() if cols["type"] < len(cells) else ""
                if well_text:
                    block.append(
                        self.data_row(
                            sheet, data, n, cells, cols, (header_width, header_raw), len(data.blocks)
                        )
                    )
                    continue
                if type_text and sample_type_of(type_text) is not None:
                    raise self.error(
                        f"this {type_text} row of the result table has no Well. Fill in the well (or "
                        "export the report again from Bio-Plex Manager).",
                        sheet,
                        n,
                    )
                close()
                cols = None
            self.meta_line(sheet, data, cells, before_table=not seen_table)
        if cols is not None and not sheet.excel and sheet.rows and not is_blank(sheet.rows[-1][1]):
            raise self.error(
                "the file ends inside the result table without a line break after the last row: it looks "
                "truncated. Export or copy the report again.",
                sheet,
                sheet.rows[-1][0],
            )
        close()
        return data

    def meta_line(self, sheet: _Sheet, data: _SheetData, cells: list[str], *, before_table: bool) -> None:
        text = _line_text(cells, sheet.joiner)
        if not text:
            return
        for key, rx in (("regression", _REGRESSION_RE), ("curve", _CURVE_RE)):
            m = rx.match(text)
            if m:
                data.footer.setdefault(key, m.group(1))
                return
        fp, rv = _FITPROB_RE.search(text), _RESVAR_RE.search(text)
        if fp or rv:
            if fp:
                data.footer.setdefault("fitprob", fp.group(1))
            if rv:
                data.footer.setdefault("resvar", rv.group(1))
            return
        if before_table:
            kv = _key_value(text)
            if kv:
                key = _HEAD_KEYS.get(kv[0], re.sub(r"[^a-z0-9]+", "_", kv[0]).strip("_"))
                if key:
                    data.head.setdefault(key, kv[1])

    def data_row(
        self,
        sheet: _Sheet,
        data: _SheetData,
        n: int,
        cells: list[str],
        cols: dict[str, int],
        header_size: tuple[int, int],
        block: int,
    ) -> _DataRow:
        header_width, header_raw = header_size
        needed = max(cols[f] for f in ("type", "well", "fi", "obs_conc", "dilution") if f in cols)
        if len(cells) <= needed:
            raise self.error(
                f"this row has {len(cells)} fields but the table header has {header_width}: the row is cut "
                "short, so the file looks truncated or edited. Export the report again from Bio-Plex "
                "Manager.",
                sheet,
                n,
            )
        w = cols["well"]
        split_list = len(cells) > max(header_raw, w + 1) and parse_wells(cells[w + 1]) is not None
        width = len(trim_cells(cells))
        if not sheet.excel and (width > max(header_width, needed + 1) or split_list):
            raise self.error(
                f"this row has more fields ({width}) than the table header ({header_width}). A "
                'well list like C1,D1 must be quoted ("C1,D1") in a comma-separated export; export the '
                "report again from Bio-Plex Manager.",
                sheet,
                n,
            )
        well_text = cells[cols["well"]].strip()
        wells = parse_wells(well_text)
        if wells is None:
            raise self.error(
                f"Well {well_text!r} is not a plate well: expected a well like A1 or a replicate list like "
                "C1,D1 (rows A–P, columns 1–24). Check that the table is not damaged and export again.",
                sheet,
                n,
            )
        values = {f: cells[j] for f, j in cols.items() if j < len(cells)}
        if data.analyte is None:
            data.analyte = data.head.get("analyte", "").strip() or None
        analyte = data.analyte or values.get("analyte", "").strip() or sheet.name
        written = values.get("analyte", "").strip()
        if data.analyte and written and written != data.analyte:
            self.note(
                "the table's Analyte column differs from the sheet's 'Analyte:' line (the line's full name "
                "is used)",
                sheet.name,
            )
        return _DataRow(n, analyte, values.get("type", "").strip(), wells, values, block)

    # ---- raw vs summary -----------------------------------------------------------------------------

    def choose_rows(self, sheet: _Sheet, data: _SheetData) -> list[_DataRow]:
        """Raw rows when present; a summary row only when no raw row covers any of its wells (per
        analyte). Within a table a well may appear once; a later table repeating wells is dropped."""
        blocks = [b for b in data.blocks if b]
        for b in blocks:
            seen: dict[tuple[str, str], int] = {}
            for r in b:
                for w in r.wells:
                    key = (r.analyte, w)
                    if key in seen:
                        raise self.error(
                            f"well {w} appears twice in the same result table (rows {seen[key]} and "
                            f"{r.row_number}) for {r.analyte}; the file looks edited. Export the report "
                            "again.",
                            sheet,
                            r.row_number,
                        )
                    seen[key] = r.row_number
        raw_blocks = [b for b in blocks if all(len(r.wells) == 1 for r in b)]
        summary_blocks = [b for b in blocks if any(len(r.wells) > 1 for r in b)]
        raw_blocks.sort(key=len, reverse=True)  # stable: equal sizes keep file order
        kept: list[_DataRow] = []
        covered: set[tuple[str, str]] = set()
        n_raw = n_sum = dropped_sum = dropped_raw = 0
        for b in raw_blocks:
            keys = {(r.analyte, r.wells[0]) for r in b}
            if keys & covered:
                dropped_raw += len(b)
                continue
            covered |= keys
            kept += b
            n_raw += len(b)
        for b in summary_blocks:
            for r in b:
                keys = {(r.analyte, w) for w in r.wells}
                if keys & covered:
                    dropped_sum += 1
                    continue
                covered |= keys
                kept.append(r)
                n_sum += 1
        if n_raw and dropped_sum:
            self.note(
                "single-well rows used; replicate-average rows (well lists) skipped because the single-well "
                "rows cover their wells",
                sheet.name,
            )
        if n_sum and not n_raw:
            self.note(
                "only replicate-average rows (well lists): those were used, well = the list", sheet.name
            )
        elif n_sum and n_raw:
            self.note(
                "single-well rows and, for wells they do not cover, replicate-average rows used", sheet.name
            )
        if dropped_raw:
            self.note("a second single-well table repeating the same wells was skipped", sheet.name)
        kept.sort(key=lambda r: r.row_number)
        return kept

    # ---- cells --------------------------------------------------------------------------------------

    def conc(self, text: str) -> ParsedConc:
        p = self.conc_cache.get(text)
        if p is None:
            p = parse_conc(text, decimal_comma=self.decimal_comma)
            self.conc_cache[text] = p
        return p

    def number(self, text: str) -> float | None:
        return parse_number(text, decimal_comma=self.decimal_comma)

    def out_row(self, sheet: _Sheet, data: _SheetData, r: _DataRow, plate_id: str) -> dict[str, object]:
        c = r.cells
        flags: list[str] = []
        stype = sample_type_of(r.type_label)
        if stype is None:
            flags.append(f"type_unrecognised: {r.type_label or '(empty)'}")
            self.note("a Type other than B, S/ES, C or X was read as an unknown sample", sheet.name)
            stype = "unknown"
        description = c.get("description", "").strip()
        sample_id = description or (r.type_label if stype != "unknown" and r.type_label else None)

        outlier_text = c.get("outlier", "").strip().casefold()
        outlier = outlier_text in ("yes", "true", "y", "x") or (self.number(outlier_text) or 0) != 0
        fi_text = c.get("fi")
        obs_text = c.get("obs_conc")
        if "---" in ((fi_text or "").strip(), (obs_text or "").strip()):
            outlier = True
        if outlier:
            flags.append("outlier")

        signal = self.number(fi_text) if fi_text is not None else None
        if "obs_conc" in data.columns:
            text = obs_text if obs_text is not None else ""
            p = self.conc(text)
        else:
            text, p = None, ParsedConc("NR", None)
        if "obs_conc" in data.columns and p.qualifier == "NR" and text is not None and text.strip() != "---":
            flags.append("result_not_reported: " + (p.note or "no number").replace(";", ","))

        for code in self.sampling_errors(c.get("sampling_errors", "")):
            flags.append(code)
        if fi_text is not None and signal is None:
            note = parse_conc(fi_text).note or "not a number"
            flags.append("signal_not_reported: " + note.replace(";", ","))

        try:
            d = parse_dilution(
                c.get("dilution"),
                column="Dilution",
                software="Bio-Plex Manager",
                decimal_comma=self.decimal_comma,
            )
        except DilutionError as exc:
            raise self.error(str(exc), sheet, r.row_number) from exc
        dilution = 1.0 if d is None else d
        if d is None and "dilution" in data.columns:
            self.note("empty Dilution cells read as dilution 1", sheet.name)
            if (flag := missing_dilution_flag(stype)) is not None:
                flags.append(flag)
                self.note(f"study samples without a Dilution flagged {flag}", sheet.name)
        exp = self.number(c.get("exp_conc", "")) if "exp_conc" in c else None

        return {
            "source_file": self.file.name,
            "format": FORMAT,
            "plate_id": plate_id,
            "well": ",".join(r.wells),
            "row_number": r.row_number,
            "sample_id": sample_id,
            "sample_type": stype,
            "expected_conc": exp if exp is not None and exp > 0 else None,
            "analyte_as_written": r.analyte,
            "signal": signal,
            "signal_kind": "FI" if "fi" in data.columns else None,
            "reported_text": text,
            "qualifier": p.qualifier,
            "value": p.value,
            "extrapolated": p.extrapolated,
            "dilution": dilution,
            "dilution_applied": p.qualifier == "=" and p.value is not None,
            "flags": ";".join(flags) or None,
        }

    @staticmethod
    def sampling_errors(text: str) -> Iterator[str]:
        """Bio-Plex Sampling Errors codes (``1``, ``1,3``…) → flags; unknown text kept as a note."""
        s = text.strip()
        if not s or s in ("0", "---"):
            return
        codes = re.findall(r"[1-5]", s)
        if not codes or re.sub(r"[\s,;/&+1-5]", "", s):
            yield "sampling_error: " + s.replace(";", ",")
            return
        for code in dict.fromkeys(codes):
            yield sampling_error_flag(code)

    # ---- assembly -----------------------------------------------------------------------------------

    def run(self) -> ReadResult:
        sheets = self.sheets()
        rows: list[dict[str, object]] = []
        plates: dict[str, dict[str, str]] = {}
        plate_meta: dict[str, dict[str, str]] = {}
        skipped: list[str] = []
        n_tables = 0
        for sheet in sheets:
            data = self.sheet_data(sheet)
            if not data.blocks:
                if sheet.excel:
                    skipped.append(sheet.name)
                continue
            n_tables += 1
            chosen = self.choose_rows(sheet, data)
            if not chosen:
                self.note("a result table with no data rows", sheet.name)
                continue
            if "dilution" not in data.columns:
                self.note("no Dilution column: dilution 1 assumed", sheet.name)
            if "obs_conc" not in data.columns:
                self.note("no Obs Conc column: the rows carry the FI only", sheet.name)
            pid = plate_id_from(data.head, self.file.name)
            if not pid:
                raise self.error(
                    "no plate id: the 'Plate ID:' and 'File Name:' lines are empty and the upload has no "
                    "file name. Fill in the Plate ID in Bio-Plex Manager and export again.",
                    sheet,
                )
            extra = plates.setdefault(pid, {})
            if pid not in plate_meta:
                plate_meta[pid] = data.head
                extra.update({k: v for k in _EXTRA_HEAD if (v := data.head.get(k, "").strip())})
            analyte = data.analyte or chosen[0].analyte
            for key in ("curve", "regression", "fitprob", "resvar"):
                if key in data.footer:
                    extra[f"{key}:{analyte}"] = data.footer[key]
            rows += [self.out_row(sheet, data, r, pid) for r in chosen]
        if n_tables == 0:
            raise self.error(
                "no Bio-Plex result table was found: expected a header row naming Analyte, Type, Well, "
                "Description, FI, Obs Conc… under the 'File Name:' / 'Analyte:' lines. Export the report "
                "from Bio-Plex Manager (one sheet per analyte) without editing it."
            )
        if not rows:
            raise self.error(
                "the result tables hold no data rows (no row with a Well); export the report again."
            )
        if skipped:
            self.warnings.append(
                "sheets without a Bio-Plex result table were skipped: " + ", ".join(repr(s) for s in skipped)
            )
        for msg, names in self.notes.items():
            uniq = list(dict.fromkeys(names))
            shown = ", ".join(repr(s) for s in uniq[:5]) + (
                f" … ({len(uniq)} sheets)" if len(uniq) > 5 else ""
            )
            self.warnings.append(f"{msg}: {shown}")
        if len(plates) > 1:
            self.warnings.append(f"the export holds {len(plates)} plates: {', '.join(plates)}")
        infos = [
            PlateInfo(
                plate_id=pid,
                acquired_at=(plate_meta[pid].get("acquisition_date") or "").strip() or None,
                extra=extra,
            )
            for pid, extra in plates.items()
        ]
        df = pl.DataFrame(rows, schema=WELL_SCHEMA)
        return ReadResult(format=FORMAT, wells=conform(df), plates=infos, warnings=self.warnings)


class BioplexReader(GuardedReader, texts=_TEXTS, recognise=_sniff, parser=_Parse):
    """Reads a Bio-Plex Manager export (Excel or text) into the canonical well table (module docstring)."""

    name: ClassVar[str] = FORMAT
    label: ClassVar[str] = "Bio-Rad Bio-Plex Manager export (Excel/CSV)"
