"""File and folder names made from identifiers that came from a lab's file (plate IDs, sample IDs).

A plate ID is whatever an export says it is: ``../../../x``, ``/etc``, ``CON``, 10,000 characters. It is
never used as a path as it is (``biomarkers qc-report --plate '../../x'`` used to write outside
``data/qc``): only letters, digits, ``.``, ``-`` and ``_`` are kept, other characters become ``_``, a
leading dot is removed, and when anything was changed (or the name is long) a short hash of the original
keeps two different IDs from sharing a folder.
"""

from __future__ import annotations

import hashlib
import re

_KEEP = re.compile(r"[^A-Za-z0-9._-]")
MAX_LEN = 80


def safe_name(identifier: str) -> str:
    """A single path component for ``identifier``: never empty, never ``.``/``..``, no separator."""
    name = _KEEP.sub("_", identifier).lstrip(".")[:MAX_LEN]
    if name == identifier and name:
        return name
    digest = hashlib.sha256(identifier.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{name or 'id'}-{digest}"
