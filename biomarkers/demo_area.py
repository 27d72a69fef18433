"""The demo's own folder, and the rule that keeps `biomarkers demo` from ever losing a file it did not write.

`make demo` is run again and again, so it must clear what it wrote last time. It writes only into
``data/demo/`` (study in ``data/demo/study/``, warehouse in ``data/demo/warehouse/``) and keeps a ledger
(``data/demo/.demo-ledger.json``) of the SHA-256 of every file it generated. Before clearing, every file in
the folder is checked against the ledger: a file the demo did not write (a user's export dropped into the
demo's inbox), or a generated file someone changed, stops the demo with the list, and nothing is deleted.
The demo's warehouse is rebuilt only when every raw file it keeps is one the demo generated and nobody
made a data cut in it; otherwise it is refused the same way. The default inbox of ``biomarkers ingest`` and
of the nightly run is elsewhere (``data/inbox/``): the demo never touches it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

LEDGER = ".demo-ledger.json"


class DemoFolderError(Exception):
    """The demo folder holds something the demo did not write; nothing was deleted."""


@dataclass(frozen=True)
class DemoArea:
    root: Path

    @property
    def ledger(self) -> Path:
        return self.root / LEDGER

    @property
    def study(self) -> Path:
        return self.root / "study"

    @property
    def inbox(self) -> Path:
        return self.study / "inbox"

    @property
    def manifest(self) -> Path:
        return self.study / "manifest.csv"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    def written(self) -> dict[str, str]:
        """Relative path → SHA-256 of every file the last demo generated ({} when there is no ledger)."""
        if not self.ledger.is_file():
            return {}
        data = json.loads(self.ledger.read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.get("files", {}).items()}

    def clear(self) -> None:
        """Delete what the previous demo wrote, after checking that it is all the demo's; else raise
        DemoFolderError naming what is not (and delete nothing)."""
        if not self.root.exists():
            return
        written = self.written()
        foreign = [
            rel
            for rel, sha in self._study_files().items()
            if written.get(rel) != sha  # not written by the demo, or changed since
        ]
        stray = [
            p.relative_to(self.root).as_posix()
            for p in self.root.iterdir()
            if p.name not in (LEDGER, "study", "warehouse")
        ]
        problems = [f"{self.root / rel}" for rel in sorted(foreign + stray)]
        problems += self._warehouse_problems(set(written.values()))
        if problems:
            shown = "\n  ".join(problems[:8]) + (
                f"\n  … and {len(problems) - 8} more" if len(problems) > 8 else ""
            )
            raise DemoFolderError(
                f"the demo folder {self.root} holds files the demo did not write (or that changed since):\n"
                f"  {shown}\nNothing was deleted. Move them elsewhere (plate exports for the real warehouse "
                "go in the ingest inbox, data/inbox/), or run the demo in another folder with "
                "BIOMARKERS_DATA=<folder>."
            )
        for rel in written:
            (self.study / rel).unlink(missing_ok=True)
        _remove_empty_dirs(self.study)
        if self.warehouse.exists():
            shutil.rmtree(self.warehouse)
        self.ledger.unlink(missing_ok=True)

    def record(self) -> None:
        """Remember every file now in the study folder as the demo's own."""
        files = self._study_files()
        self.ledger.write_text(
            json.dumps({"files": files}, indent=1, sort_keys=True) + "\n", encoding="utf-8"
        )

    def _study_files(self) -> dict[str, str]:
        if not self.study.exists():
            return {}
        return {
            p.relative_to(self.study).as_posix(): _sha256(p)
            for p in sorted(self.study.rglob("*"))
            if p.is_file() or p.is_symlink()
        }

    def _warehouse_problems(self, demo_hashes: set[str]) -> list[str]:
        """What in the demo's warehouse did not come from the demo: raw copies of other files (someone
        ingested their own exports into it), data cuts someone made."""
        if not self.warehouse.exists():
            return []
        problems = []
        raw = self.warehouse / "raw"
        if raw.exists():
            others = [p for p in raw.rglob("*") if p.is_file() and p.name not in demo_hashes]
            if others:
                problems.append(
                    f"{self.warehouse} (holds {len(others)} file(s) the demo did not generate, "
                    f"e.g. raw/{others[0].relative_to(raw).as_posix()})"
                )
        for cuts in (self.warehouse / d / "datacuts" for d in (".", "analyst", "full")):
            if cuts.exists() and any(cuts.iterdir()):
                problems.append(f"{cuts.resolve()} (data cuts someone made)")
        return problems


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _remove_empty_dirs(root: Path) -> None:
    if not root.exists():
        return
    for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(d.iterdir()):
            d.rmdir()
    if not any(root.iterdir()):
        root.rmdir()
