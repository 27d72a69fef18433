"""Issue 14, items 2 and 6 through the real flow: a file still being copied in is left for the next run (not
loaded, named in the summary), and a re-assay's plate map — the same bytes as the original's — still goes
with its grid."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import duckdb
import pytest

from flows.ingest import ingest_flow
from synth.generator import reassay_plate

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's configuration with a short settle interval (the default is 2 s)."""
    out = tmp_path_factory.mktemp("config")
    for p in (REPO / "config").glob("*.yaml"):
        shutil.copy(p, out / p.name)
    ops = out / "operations.yaml"
    text = ops.read_text()
    assert "  settle_s: 2 " in text
    ops.write_text(text.replace("  settle_s: 2 ", "  settle_s: 0.5 "))
    return out


def _files(wh: Path) -> dict[str, str]:
    con = duckdb.connect(str(wh / "ingest.duckdb"), read_only=True)
    try:
        return dict(con.execute("select source_file, status from files").fetchall())
    finally:
        con.close()


def test_a_file_growing_during_the_run_is_left_for_the_next_run(
    small_study: Path, tmp_path: Path, config_dir: Path
) -> None:
    """A thread appends an xPONENT export line by line while the run looks at the inbox (a slow copy):
    the run loads the complete file beside it, leaves the growing one (nothing of it loaded or kept) and
    says so; the next run, once the copy is over, loads it whole."""
    exports = sorted((small_study / "inbox").glob("*LX-*.csv"))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(exports[0], inbox / exports[0].name)
    whole = exports[1].read_bytes()
    lines = whole.splitlines(keepends=True)
    growing = inbox / exports[1].name
    growing.write_bytes(b"".join(lines[:20]))
    stop = threading.Event()

    def copy_slowly() -> None:
        with open(growing, "ab") as fh:
            for line in lines[20:]:
                if stop.wait(0.05):
                    return
                fh.write(line)
                fh.flush()

    writer = threading.Thread(target=copy_slowly)
    writer.start()
    wh = tmp_path / "wh"
    manifest = str(small_study / "manifest.csv")
    try:
        summary = ingest_flow(
            inbox=str(inbox), manifest=manifest, warehouse=str(wh), trigger="test", config_dir=str(config_dir)
        )
    finally:
        stop.set()
        writer.join()
    assert [f.name for f in summary.files] == [exports[0].name]
    assert len(summary.copying) == 1
    assert summary.copying[0].startswith(f"{growing.name}: ")
    assert summary.copying[0].endswith("still being copied in — will be read next run")
    assert _files(wh) == {exports[0].name: summary.files[0].status}
    kept = {p.read_bytes() for p in (wh / "raw").rglob("*") if p.is_file()}
    assert kept == {exports[0].read_bytes()}, "a partial copy was kept in raw/"

    growing.write_bytes(whole)  # the copy finishes
    again = ingest_flow(
        inbox=str(inbox), manifest=manifest, warehouse=str(wh), trigger="test", config_dir=str(config_dir)
    )
    assert [f.name for f in again.files] == [growing.name] and again.copying == []
    assert again.files[0].status != "quarantined" and again.files[0].accepted > 0
    assert whole in {p.read_bytes() for p in (wh / "raw").rglob("*") if p.is_file()}


def test_a_reassay_with_the_same_plate_map_as_before_loads(
    small_study: Path, tmp_path: Path, config_dir: Path
) -> None:
    """The re-assay generator writes the original plate's map again, byte for byte; the map was dropped as
    already seen and the re-assay's grid quarantined ("upload the plate map")."""
    grid = sorted((small_study / "inbox").glob("*ELISA-*[0-9].txt"))[0]
    plate_map = grid.with_name(grid.stem + "_platemap.csv")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for p in (grid, plate_map):
        shutil.copy(p, inbox / p.name)
    wh = tmp_path / "wh"
    manifest = str(small_study / "manifest.csv")
    first = ingest_flow(
        inbox=str(inbox), manifest=manifest, warehouse=str(wh), trigger="test", config_dir=str(config_dir)
    )
    assert first.files[0].status != "quarantined", first.files[0].message
    plate_id = grid.stem.rsplit("_", 1)[0]
    written = reassay_plate(tmp_path / "reassay", plate_id, seed=11, participants=12)
    ra_map = next(p for p in written if "platemap" in p.name)
    assert ra_map.read_bytes() == plate_map.read_bytes()  # the case of the issue: the same bytes
    for p in written:
        shutil.copy(p, inbox / p.name)
    again = ingest_flow(
        inbox=str(inbox), manifest=manifest, warehouse=str(wh), trigger="test", config_dir=str(config_dir)
    )
    [line] = again.files
    assert line.name.startswith(f"{plate_id}-RA") and line.status != "quarantined", line.message
    assert line.accepted == first.files[0].accepted > 0
    assert again.files_known == 3 and again.companions_waiting == []  # the map, its grid, the first map
    con = duckdb.connect(str(wh / "ingest.duckdb"), read_only=True)
    try:
        [(companions,)] = con.execute(
            "select companions from files where source_file = ?", [line.name]
        ).fetchall()
    finally:
        con.close()
    assert companions is not None and len(companions) == 64  # the map's SHA-256
