"""Discovery: new files by content, duplicates, hidden/in-progress files, plate maps as companions."""

from __future__ import annotations

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
