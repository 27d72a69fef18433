"""Moved to ``schemas.outcome`` (issue 17: the warehouse stores outcomes, so they live on the ground floor).

This alias only keeps branches written before the move importing; new code imports ``schemas.outcome``.
"""

from schemas.outcome import FILE_STATUSES, FileOutcome, PlateRecord

__all__ = ["FILE_STATUSES", "FileOutcome", "PlateRecord"]
