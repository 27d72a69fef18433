"""Moved to ``schemas.settings`` (issue 17: settings are on the ground floor, below every package that
needs them). This alias only keeps CLI code written before the move importing; new code imports it there.
"""

from schemas.settings import (
    REPO_ROOT,
    actor,
    configure_environment,
    data_dir,
    default_inbox,
    default_manifest,
    demo_dir,
    warehouse_dir,
)

__all__ = [
    "REPO_ROOT",
    "actor",
    "configure_environment",
    "data_dir",
    "default_inbox",
    "default_manifest",
    "demo_dir",
    "warehouse_dir",
]
