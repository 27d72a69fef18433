"""``Key: value`` lines that plate-reader exports print above their data (``Plate: P-0042``, ``Assay:
VEGF ELISA``, ``Wavelength: 450 nm``), and which plate fields they fill.

Kept apart from any one reader so that every reader of a free-form text header (the grid reader, the MSD
instrument file…) splits such a line the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEY_VALUE_RE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 ()._/#-]{0,40}?)\s*:\s*(.*)$")

# The PlateInfo/metadata field → the header keys (lower-cased, spaces collapsed) that fill it.
_KEYS_OF_FIELD = {
    "plate_id": ("plate", "plate id", "plate name", "plate barcode", "barcode"),
    "protocol": ("assay", "protocol"),
    "analyte": ("analyte",),
    "wavelength": ("wavelength", "wavelengths"),
    "acquired_at": ("read date", "date"),
    "operator": ("operator",),
    "instrument": ("instrument", "reader"),
    "kit_lot": ("kit lot", "lot"),
}
# Header key → the field it fills.
HEADER_FIELDS = {key: name for name, keys in _KEYS_OF_FIELD.items() for key in keys}


@dataclass(frozen=True)
class KeyValue:
    key: str  # lower-cased, spaces collapsed: the lookup key
    name: str  # the key as written
    cells: list[str]  # the cells after the colon, empty ones kept (positions matter in SoftMax lines)

    @property
    def values(self) -> list[str]:
        return [c for c in self.cells if c]


def key_value(line: str) -> KeyValue | None:
    """``Key: value`` (or ``Key:<TAB>a<TAB>b``) → its parts; None for any other line."""
    m = _KEY_VALUE_RE.match(line)
    if not m:
        return None
    key = re.sub(r"\s+", " ", m.group(1)).strip().lower()
    return KeyValue(key, m.group(1).strip(), _value_cells(m.group(2)))


def _value_cells(text: str) -> list[str]:
    """The cells after ``Key:`` — tab-separated (SoftMax), delimiter-padded CSV, or one free-text value
    (a date such as ``Jan 2, 2024`` keeps its comma)."""
    if "\t" in text:
        return [c.strip() for c in text.split("\t")]
    s = text.strip()
    for d in (",", ";"):
        if s.startswith(d) or s.endswith(d):
            return [c.strip().strip('"') for c in s.split(d)]
    return [s.strip('"')]
