"""The benchmark's bare baseline reads the same values the real readers do (else the ratio means nothing)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from biomarkers.bench import ADHOC_PIVOT_SQL, TreeRss, bare_load, peak_rss_mb
from pipeline.inspect import inspect_file


def test_bare_load_reads_what_the_readers_read(tiny_study: Path, tmp_path: Path) -> None:
    inbox = tiny_study / "inbox"
    exports = [p for p in sorted(inbox.iterdir()) if "platemap" not in p.name]
    rows = bare_load(inbox, tmp_path / "bare.duckdb")
    readers = sum(inspect_file(p).rows.height for p in exports)
    assert rows == readers  # the same well × analyte values, just without any of the work on them
    con = duckdb.connect(str(tmp_path / "bare.duckdb"), read_only=True)
    files = {r[0] for r in con.execute("select distinct file from wells").fetchall()}
    assert files == {p.name for p in exports}
    assert con.execute("select count(*) from wells where signal is null").fetchall()[0][0] == 0


def test_pivot_is_one_row_per_participant_visit() -> None:
    con = duckdb.connect()
    con.execute(
        "create table results as select * from (values ('P1','V1','CSF','NfL','LX',1.0), "
        "('P1','V1','CSF','IL-6','LX',2.0), ('P1','V2','CSF','NfL','LX',3.0)) "
        "t(participant_id, visit, matrix, analyte, assay_id, conc_pg_ml)"
    )
    out = con.sql(ADHOC_PIVOT_SQL).pl().sort("visit")
    assert out.height == 2 and out["CSF NfL LX"].to_list() == [1.0, 3.0]
    assert peak_rss_mb() > 10


def test_tree_rss_counts_child_processes() -> None:
    """The sampled peak covers worker processes: a child holding ~200 MiB shows up in it."""
    import subprocess
    import sys
    import time

    with TreeRss(interval=0.05) as alone:
        time.sleep(0.2)
    hog = "b = bytearray(200 * 1024 * 1024); import time; time.sleep(1.5)"
    with TreeRss(interval=0.05) as with_child:
        subprocess.run([sys.executable, "-c", hog], check=True)
    assert with_child.peak_mb > alone.peak_mb + 150
