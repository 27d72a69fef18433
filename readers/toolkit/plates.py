"""Plate metadata gathered from an export's header lines, as a :class:`readers.base.PlateInfo`.

Readers collect ``Key: value`` lines into a mapping keyed by PlateInfo's field names (``protocol``,
``instrument``, ``acquired_at``, ``operator``, ``kit_lot``); the rest goes to ``extra`` as written.
"""

from __future__ import annotations

from collections.abc import Mapping

from readers.base import PlateInfo

PLATE_FIELDS = ("protocol", "instrument", "acquired_at", "operator", "kit_lot")


def plate_info(plate_id: str, fields: Mapping[str, str], extra: Mapping[str, str]) -> PlateInfo:
    """The plate's PlateInfo: its id, the known fields found (others None), and ``extra``."""
    known = {k: fields.get(k) or None for k in PLATE_FIELDS}
    return PlateInfo(plate_id=plate_id, **known, extra=dict(extra))
