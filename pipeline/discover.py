"""Finding what is new in an inbox: by content (SHA-256), never by name or modification time.

A no-op run reads a directory listing and a set of hashes and starts no per-file work.
"""

from __future__ import annotations

import hashlib
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

    def siblings_of(self, c: Candidate) -> list[Candidate]:
        return [s for s in self.companions if is_sibling(c.path, s.path)]


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


def discover(
    inbox: Path,
    known: Iterable[str],
    *,
    lab: str | None = None,
    via: str | None = None,
    uploads: bool = False,
) -> Discovery:
    """Hash every file in the inbox and keep those whose content the warehouse has not seen.

    ``lab``/``via``: who delivers to this folder (operations.yaml ``sources[].lab``); ``uploads``: the
    folder is the upload service's, whose notes name each file's lab."""
    known_set = set(known)
    refused: list[str] = []
    paths, skipped = list_inbox(inbox, refused)
    out = Discovery(skipped=skipped, refused=refused)
    first_by_sha: dict[str, str] = {}
    for p in paths:
        sha = file_sha256(p)
        if sha in known_set:
            out.known += 1
            continue
        if sha in first_by_sha:
            out.duplicates.append((p.name, first_by_sha[sha]))
            continue
        first_by_sha[sha] = p.name
        who, how = sender_of(p, lab, via, uploads=uploads)
        assay = upload_assay(p, uploads=uploads)
        c = Candidate(path=p, name=p.name, sha256=sha, size=p.stat().st_size, lab=who, via=how, assay=assay)
        with open(p, "rb") as fh:
            head = fh.read(40_000)
        if is_companion(FileInput(name=p.name, data=head)):
            out.companions.append(c)
        else:
            out.new.append(c)
    return out
