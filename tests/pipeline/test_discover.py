"""Discovery: new files by content, duplicates, hidden/in-progress files, plate maps as companions."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from pipeline.discover import discover, file_sha256

PLATEMAP = (
    "sample_id,1,2,3,4,5,6,7,8,9,10,11,12\n"
    + "\n".join(f"{r}," + ",".join(f"S{r}{c}" for c in range(1, 13)) for r in "ABCDEFGH")
    + "\n"
)


def test_new_known_duplicate_and_skipped(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.csv").write_text("alpha")
    (tmp_path / "sub" / "b.csv").write_text("bravo")
    (tmp_path / "copy-of-a.csv").write_text("alpha")
    (tmp_path / ".hidden.csv").write_text("x")
    (tmp_path / "upload.csv.part").write_text("y")
    (tmp_path / "~$book.xlsx").write_text("z")
    known = {file_sha256(tmp_path / "sub" / "b.csv")}
    d = discover(tmp_path, known)
    assert [c.name for c in d.new] == ["a.csv"]
    assert d.known == 1
    assert d.duplicates == [("copy-of-a.csv", "a.csv")] or d.duplicates == [("a.csv", "copy-of-a.csv")]
    assert sorted(d.skipped) == [".hidden.csv", "upload.csv.part", "~$book.xlsx"]


def test_plate_map_is_a_companion_of_the_export_named_like_it(tmp_path: Path) -> None:
    (tmp_path / "ELISA-001.txt").write_text("Plate: ELISA-001\n")
    (tmp_path / "ELISA-001_platemap.csv").write_text(PLATEMAP)
    (tmp_path / "ELISA-002_platemap.csv").write_text(PLATEMAP.replace("SA1", "SX1"))
    d = discover(tmp_path, set())
    assert [c.name for c in d.new] == ["ELISA-001.txt"]
    assert {c.name for c in d.companions} == {"ELISA-001_platemap.csv", "ELISA-002_platemap.csv"}
    assert [s.name for s in d.siblings_of(d.new[0])] == ["ELISA-001_platemap.csv"]


def test_sha256_matches_hashlib(tmp_path: Path) -> None:
    import hashlib

    p = tmp_path / "x.bin"
    p.write_bytes(bytes(range(256)) * 10_000)
    assert file_sha256(p) == hashlib.sha256(p.read_bytes()).hexdigest()


def test_symbolic_links_are_refused_never_followed(tmp_path: Path) -> None:
    """Issue 14: a link to /etc/passwd was read and archived into raw/."""
    inbox = tmp_path / "inbox"
    outside = tmp_path / "outside"
    inbox.mkdir()
    outside.mkdir()
    (outside / "secret.csv").write_text("not for us")
    (inbox / "plate.csv").write_text("alpha")
    (inbox / "passwd.csv").symlink_to("/etc/passwd")
    (inbox / "linked-folder").symlink_to(outside, target_is_directory=True)
    d = discover(inbox, set())
    assert [c.name for c in d.new] == ["plate.csv"]
    assert len(d.refused) == 2
    assert any(m.startswith("passwd.csv: a symbolic link") for m in d.refused)
    assert any(m.startswith("linked-folder: a symbolic link") for m in d.refused)
    assert all("copy the file itself" in m for m in d.refused)


def _grow(path: Path, stop: threading.Event, every_s: float = 0.05) -> None:
    """A copy in progress: appends a line to ``path`` until told to stop."""
    with open(path, "a") as fh:
        while not stop.is_set():
            fh.write("A1,Unknown1,123.4\n")
            fh.flush()
            stop.wait(every_s)


def test_a_file_growing_during_discovery_is_left_for_the_next_run(tmp_path: Path) -> None:
    """Issue 14 item 2: a file still being copied in is not taken; a still one beside it is."""
    (tmp_path / "done.csv").write_text("alpha")
    growing = tmp_path / "growing.csv"
    growing.write_text("Program,xPONENT\n")
    stop = threading.Event()
    writer = threading.Thread(target=_grow, args=(growing, stop))
    writer.start()
    try:
        started = time.monotonic()
        d = discover(tmp_path, set(), settle_s=0.5)
        took = time.monotonic() - started
    finally:
        stop.set()
        writer.join()
    assert [c.name for c in d.new] == ["done.csv"]
    assert len(d.copying) == 1 and d.copying[0].startswith("growing.csv: its size changed from ")
    assert d.copying[0].endswith("still being copied in — will be read next run")
    assert 0.4 <= took < 5  # waited for the settle interval, once
    # once the copy is over (and has held still), the next run takes it
    os.utime(growing, (time.time() - 10, time.time() - 10))
    again = discover(tmp_path, {file_sha256(tmp_path / "done.csv")}, settle_s=0.5)
    assert [c.name for c in again.new] == ["growing.csv"] and again.copying == []


def test_files_untouched_for_the_settle_interval_cost_no_wait(tmp_path: Path) -> None:
    p = tmp_path / "old.csv"
    p.write_text("alpha")
    os.utime(p, (time.time() - 60, time.time() - 60))
    started = time.monotonic()
    d = discover(tmp_path, set(), settle_s=30)
    assert time.monotonic() - started < 5
    assert [c.name for c in d.new] == ["old.csv"]


def test_a_just_written_file_waits_out_the_interval_then_is_taken(tmp_path: Path) -> None:
    (tmp_path / "fresh.csv").write_text("alpha")
    started = time.monotonic()
    d = discover(tmp_path, set(), settle_s=0.3)
    assert time.monotonic() - started >= 0.25
    assert [c.name for c in d.new] == ["fresh.csv"] and d.copying == []


def test_a_plate_map_seen_before_still_goes_with_its_export(tmp_path: Path) -> None:
    """Issue 14 item 6: a re-assay's plate map has the bytes of the original's; it was dropped as known
    and the re-assay's grid quarantined ("upload the plate map")."""
    (tmp_path / "ELISA-001-RA.txt").write_text("Plate: ELISA-001-RA\n")
    (tmp_path / "ELISA-001-RA_platemap.csv").write_text(PLATEMAP)
    (tmp_path / "ELISA-002.txt").write_text("Plate: ELISA-002\n")
    (tmp_path / "ELISA-002_platemap.csv").write_text(PLATEMAP)  # same bytes, in the same delivery
    known = {file_sha256(tmp_path / "ELISA-001-RA_platemap.csv")}  # both maps' bytes
    d = discover(tmp_path, known)
    assert [c.name for c in d.new] == ["ELISA-001-RA.txt", "ELISA-002.txt"]
    assert d.known == 2 and d.duplicates == [] and d.companions == []
    assert [s.name for s in d.siblings_of(d.new[0])] == ["ELISA-001-RA_platemap.csv"]
    assert [s.name for s in d.siblings_of(d.new[1])] == ["ELISA-002_platemap.csv"]
    # new to the warehouse, the same bytes twice in one delivery: each map still goes with its own export
    d = discover(tmp_path, set())
    assert d.duplicates == [] and len(d.companions) == 2
    assert [s.name for s in d.siblings_of(d.new[0])] == ["ELISA-001-RA_platemap.csv"]
    assert [s.name for s in d.siblings_of(d.new[1])] == ["ELISA-002_platemap.csv"]
