"""Finding what is new in an inbox: by content (SHA-256), never by name or modification time.

A no-op run reads a directory listing and a set of hashes and starts no per-file work. A file is taken only
when complete: its size and modification time must hold still across a short settle interval (a file still
being copied in changes them); one that moves is left for the next run and named in the summary.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from readers.base import FileInput
from readers.detect import is_companion

_SKIP_SUFFIXES = (".tmp", ".part", ".crdownload", ".partial")


RECEIVED_FROM = ".received-from"
"""Written by the upload service beside each upload (``<uploads>/<sha256>/.received-from``): the lab whose
token sent it. Read only on upload runs (a lab delivering to a shared folder cannot name another lab)."""

UPLOAD_ASSAY = ".assay"
"""Written by the upload service beside an upload sent with an assay (the upload page's assay field, the
API's ``assay``): the assay_id of an export that does not name its analyte. Read only on upload runs."""


@dataclass(frozen=True)
class Candidate:
    path: Path
    name: str
    sha256: str
    size: int
    lab: str | None = None  # who sent it: the upload token's lab, or the lab its source is configured for
    via: str | None = None  # how: "upload", "source <name>"
    assay: str | None = None  # the assay_id the upload was sent with (UPLOAD_ASSAY), else the run's


@dataclass
class Discovery:
    new: list[Candidate] = field(default_factory=list)  # exports to process, in name order
    companions: list[Candidate] = field(default_factory=list)  # new plate maps (read with their export)
    known: int = 0  # files whose bytes are already in the warehouse
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (name, name of the same bytes)
    skipped: list[str] = field(default_factory=list)  # hidden/temporary files left alone (waiting)
    refused: list[str] = field(default_factory=list)  # symbolic links: never followed, one message each
    copying: list[str] = field(default_factory=list)  # changed while we looked: read next run
    # plate maps whose bytes the warehouse already holds (a re-assay's map): not new, but still read with
    # the export named after them (issue 14: dropping them quarantined the re-assay's grid)
    seen_companions: list[Candidate] = field(default_factory=list)

    def siblings_of(self, c: Candidate) -> list[Candidate]:
        """The plate maps delivered beside ``c`` and named after it, new or seen before: a plate map is
        matched to its grid by name and content every time, whatever the warehouse already holds."""
        return [s for s in (*self.companions, *self.seen_companions) if is_sibling(c.path, s.path)]


COPYING_NOTE = "still being copied in — will be read next run"
"""How the summary names a file left because it changed while the run looked at it."""


def copying_message(name: str, what: str) -> str:
    return f"{name}: {what}; {COPYING_NOTE}"


def is_sibling(export: Path, other: Path) -> bool:
    """A companion delivered beside an export and named after it (``<stem>_platemap.csv``)."""
    stem = export.stem.lower()
    name = other.name.lower()
    return other.parent == export.parent and name.startswith(stem) and "platemap" in name[len(stem) :]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def symlink_message(rel: Path) -> str:
    return (
        f"{rel}: a symbolic link, not a file, so it is not read (a link can point anywhere on the server); "
        "copy the file itself into the inbox."
    )


def list_inbox(inbox: Path, refused: list[str] | None = None) -> tuple[list[Path], list[str]]:
    """Regular files under ``inbox`` (recursively), skipping hidden, Office lock and in-progress files.
    A symbolic link (to a file or a folder) is never followed — a link to ``/etc/passwd`` was archived
    into ``raw/`` (issue 14) — and is listed in ``refused`` with the reason."""
    if not inbox.exists():
        raise FileNotFoundError(f"inbox {inbox} does not exist")
    files: list[Path] = []
    skipped: list[str] = []
    links: set[Path] = set()
    for p in sorted(inbox.rglob("*")):
        rel = p.relative_to(inbox)
        if any(parent in links for parent in rel.parents):
            continue  # inside a linked folder
        if p.is_symlink():
            links.add(rel)
            if refused is not None:
                refused.append(symlink_message(rel))
            continue
        if not p.is_file():
            continue
        if (
            any(part.startswith(".") for part in rel.parts)
            or p.name.startswith("~$")
            or p.name.endswith(_SKIP_SUFFIXES)
        ):
            skipped.append(str(rel))
            continue
        files.append(p)
    return files, skipped


def sender_of(
    path: Path, lab: str | None, via: str | None, *, uploads: bool
) -> tuple[str | None, str | None]:
    """Who sent the file at ``path``: the upload service's note beside it (upload runs only), else the lab
    configured for the folder it was found in."""
    note = path.parent / RECEIVED_FROM
    if uploads and note.is_file():
        named = note.read_text(encoding="utf-8").strip()
        if named:
            return named, "upload"
    return lab, via


def upload_assay(path: Path, *, uploads: bool) -> str | None:
    """The assay the upload service noted beside the file at ``path`` (upload runs only), else None."""
    note = path.parent / UPLOAD_ASSAY
    if uploads and note.is_file():
        return note.read_text(encoding="utf-8").strip() or None
    return None


def _stamp(path: Path) -> tuple[int, int] | None:
    """Size and modification time (ns), or None when the file has gone."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _companion(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(40_000)
    return is_companion(FileInput(name=path.name, data=head))


def settled(
    stamps: dict[Path, tuple[int, int] | None], settle_s: float, *, looked_at: float
) -> dict[Path, str]:
    """Which of the files stamped at ``looked_at`` (``time.time()``) were not still: a file written to
    within the last ``settle_s`` seconds is looked at again once that interval has passed (a file
    untouched for longer needs no wait: its time already says it is still); any change of size or time
    since the first look — even while it was being hashed — means a copy is still going on. Returns
    {path: what changed}."""
    young = [st[1] / 1e9 for st in stamps.values() if st is not None and looked_at - st[1] / 1e9 < settle_s]
    if young:
        time.sleep(max(0.0, max(young) + settle_s - time.time()))
    moving: dict[Path, str] = {}
    for p, before in stamps.items():
        now = _stamp(p)
        if now is None or before is None:
            moving[p] = "it disappeared while the run looked at it"
        elif now[0] != before[0]:
            moving[p] = f"its size changed from {before[0]:,} to {now[0]:,} bytes during the run"
        elif now[1] != before[1]:
            moving[p] = "it was written to during the run"
    return moving


def discover(
    inbox: Path,
    known: Iterable[str],
    *,
    lab: str | None = None,
    via: str | None = None,
    uploads: bool = False,
    settle_s: float = 0.0,
) -> Discovery:
    """Hash every file in the inbox and keep those whose content the warehouse has not seen and which
    held still for ``settle_s`` seconds (operations.yaml ``processing.settle_s``; see :func:`settled`).

    ``lab``/``via``: who delivers to this folder (operations.yaml ``sources[].lab``); ``uploads``: the
    folder is the upload service's, whose notes name each file's lab."""
    known_set = set(known)
    refused: list[str] = []
    paths, skipped = list_inbox(inbox, refused)
    out = Discovery(skipped=skipped, refused=refused)
    first_by_sha: dict[str, str] = {}
    looked_at = time.time()
    stamps: dict[Path, tuple[int, int] | None] = {}
    found: list[tuple[Path, str, bool]] = []  # (path, sha, is a plate map)
    for p in paths:
        stamp = _stamp(p)
        try:
            sha = file_sha256(p)
        except OSError:  # gone between the listing and now (moved away, or renamed at the end of a copy)
            continue
        if sha in known_set:
            out.known += 1
            # a plate map seen before is still the map of the export named after it (a re-assay)
            if "platemap" in p.name.lower() and _companion(p):
                size = os.path.getsize(p)
                out.seen_companions.append(Candidate(path=p, name=p.name, sha256=sha, size=size))
            continue
        companion = _companion(p)
        if sha in first_by_sha and not companion:
            out.duplicates.append((p.name, first_by_sha[sha]))
            continue
        first_by_sha.setdefault(sha, p.name)
        stamps[p] = stamp
        found.append((p, sha, companion))
    moving = settled(stamps, settle_s, looked_at=looked_at) if stamps else {}
    for p, sha, companion in found:
        if p in moving:
            out.copying.append(copying_message(str(p.relative_to(inbox)), moving[p]))
            continue
        who, how = sender_of(p, lab, via, uploads=uploads)
        st = stamps[p]
        assay = upload_assay(p, uploads=uploads)
        size = st[0] if st else 0
        c = Candidate(path=p, name=p.name, sha256=sha, size=size, lab=who, via=how, assay=assay)
        (out.companions if companion else out.new).append(c)
    return out
