"""The benchmark behind every speed claim in the README: one run measures, on the same generated files,
(a) the bare limit — files parsed with polars and inserted into DuckDB by the most direct code, no
validation, no orchestration; (b) the full pipeline through the real flow; (c) a no-op re-run; (d) the
analysts' queries; (e) peak memory; (f) the QC report of the study's largest multiplex plate, and of a
30-plex page made from it (its analytes repeated under new names: the issue's bound is 5 s and 2 MB).
Figures are ratios within one run on one machine (house rule 8).
"""

from __future__ import annotations

import io
import platform
import re
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

DEFAULT_PARTICIPANTS = 196  # the default study (what `make demo` generates)
_SECTION = re.compile(rb'^"DataType:","([^"]*)"', re.MULTILINE)
_GRID_HEADER = re.compile(r"^\t1\t2\t3", re.MULTILINE)

PIVOT_SQL = "select * from results_wide"
"""The participant × visit wide table analysts read (warehouse/analyst_sql.py; materialised at publish)."""
ADHOC_PIVOT_SQL = """
pivot (select participant_id, visit, matrix || ' ' || analyte || ' ' || assay_id as k, conc_pg_ml
       from results where participant_id is not null)
on k using first(conc_pg_ml) group by participant_id, visit
"""
"""An analyst's own ad-hoc PIVOT over the current results (computed at query time), for comparison."""
CURRENT_SQL = "select * from results"


@dataclass
class BenchResult:
    scale: float
    participants: int
    files: int
    results: int
    bare_s: float
    bare_rows: int
    pipeline_s: float
    ratio: float
    noop_s: float
    current_s: float
    pivot_s: float
    pivot_rows: int
    adhoc_pivot_s: float
    peak_rss_mb: float
    peak_rss_tree_mb: float
    prefect_server_rss_mb: float
    workers: int
    generate_s: float
    qc_plate: str = ""
    qc_plate_analytes: int = 0
    qc_report_s: float = 0.0  # read the plate from the full store and write its page, wall time
    qc_report_cpu_s: float = 0.0
    qc_report_kb: float = 0.0
    qc_30plex_s: float = 0.0  # write the 30-plex page (no store reading), wall time
    qc_30plex_cpu_s: float = 0.0  # the same in CPU time: what a busy machine does not inflate
    qc_30plex_kb: float = 0.0
    machine: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- (a) the bare limit ------------------------------------------------------------------------------
def _xponent_rows(name: str, data: bytes) -> pl.DataFrame:
    """Median (signal) and Result (concentration text) sections of an xPONENT CSV, long form."""
    marks = list(_SECTION.finditer(data))
    frames = {}
    for i, m in enumerate(marks):
        kind = m.group(1).decode()
        if kind not in ("Median", "Result"):
            continue
        end = marks[i + 1].start() if i + 1 < len(marks) else len(data)
        body = data[m.end() : end].strip()
        df = pl.read_csv(io.BytesIO(body), infer_schema=False, truncate_ragged_lines=True)
        df = df.filter(pl.col("Location").is_not_null())
        analytes = [c for c in df.columns if c not in ("Location", "Sample", "Total Events")]
        frames[kind] = df.unpivot(analytes, index=["Location", "Sample"], variable_name="analyte")
    med, res = frames["Median"], frames["Result"]
    return (
        med.rename({"value": "signal"})
        .join(res.rename({"value": "reported_text"}), on=["Location", "Sample", "analyte"], how="left")
        .select(
            pl.lit(name).alias("file"),
            pl.col("Location").alias("well"),
            pl.col("Sample").alias("sample_id"),
            "analyte",
            pl.col("signal").cast(pl.Float64, strict=False),
            "reported_text",
        )
    )


def _grid_rows(name: str, data: bytes, platemap: bytes) -> pl.DataFrame:
    """An OD grid with its plate map, long form (no curve: that is validation/science, not I/O)."""
    text = data.decode("utf-8", errors="replace")
    m = _GRID_HEADER.search(text)
    if m is None:
        return pl.DataFrame()
    analyte = re.search(r"^Analyte:\s*(.+)$", text, re.MULTILINE)
    grid = pl.read_csv(io.StringIO(text[m.start() :]), separator="\t", infer_schema=False, n_rows=16)
    grid = grid.rename({grid.columns[0]: "row"}).filter(pl.col("row").str.len_chars() == 1)
    cols = [c for c in grid.columns if c != "row"]
    od = grid.unpivot(cols, index="row", variable_name="col", value_name="signal")
    first_block = re.split(rb"\r?\n\s*\r?\n", platemap.strip(), maxsplit=1)[0]  # plater: sample_id block
    pm = pl.read_csv(io.BytesIO(first_block), infer_schema=False)
    pm = pm.rename({pm.columns[0]: "row"}).unpivot(
        [c for c in pm.columns[1:]], index="row", variable_name="col", value_name="sample_id"
    )
    return (
        od.join(pm, on=["row", "col"], how="inner")
        .filter(pl.col("sample_id").is_not_null())
        .select(
            pl.lit(name).alias("file"),
            (pl.col("row") + pl.col("col")).alias("well"),
            "sample_id",
            pl.lit(analyte.group(1).strip() if analyte else "").alias("analyte"),
            pl.col("signal").cast(pl.Float64, strict=False),
            pl.lit(None, pl.String).alias("reported_text"),
        )
    )


def bare_load(inbox: Path, db: Path) -> int:
    """The minimal script: read every export, insert its values into one DuckDB table. Returns rows."""
    con = duckdb.connect(str(db))
    con.execute(
        "create table if not exists wells (file varchar, well varchar, sample_id varchar, analyte varchar, "
        "signal double, reported_text varchar)"
    )
    rows = 0
    for p in sorted(inbox.iterdir()):
        if "platemap" in p.name:
            continue
        data = p.read_bytes()
        if data.startswith(b'"Program","xPONENT"'):
            df = _xponent_rows(p.name, data)
        else:
            pm = p.with_name(f"{p.stem}_platemap.csv")
            if not pm.exists():
                continue
            df = _grid_rows(p.name, data, pm.read_bytes())
        if df.height:
            con.execute("insert into wells select * from df")
            rows += df.height
    con.close()
    return rows


# --- measurement helpers -----------------------------------------------------------------------------
class TreeRss:
    """Peak resident memory of this process plus its worker processes at once, sampled every 0.2 s —
    what the machine must hold for the pipeline, not just its largest process. Prefect's temporary API
    server (a child process in a local run; its own service in production) is measured apart."""

    def __init__(self, interval: float = 0.2) -> None:
        import threading

        self.peak_mb = 0.0
        self.server_peak_mb = 0.0
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import os

        me = os.getpid()
        while not self._stop.is_set():
            pipeline_kb, server_kb = _tree_rss_kb(me)
            self.peak_mb = max(self.peak_mb, pipeline_kb / 1024.0)
            self.server_peak_mb = max(self.server_peak_mb, server_kb / 1024.0)
            self._stop.wait(self._interval)


def _tree_rss_kb(root: int) -> tuple[int, int]:
    """(this process + descendants, Prefect server subtree) resident kB, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    server: set[int] = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            status = (d / "status").read_text()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(d.name)
        children.setdefault(int(fields.get("PPid", "0").strip() or 0), []).append(pid)
        rss[pid] = int(fields["VmRSS"].split()[0]) if "VmRSS" in fields else 0
        if b"prefect.server" in cmd or b"prefect\x00server" in cmd:
            server.add(pid)
    totals = [0, 0]
    todo = [(root, 0)]
    while todo:
        pid, kind = todo.pop()
        kind = 1 if pid in server else kind
        totals[kind] += rss.get(pid, 0)
        todo += [(c, kind) for c in children.get(pid, [])]
    return totals[0], totals[1]


def peak_rss_mb() -> float:
    """Peak resident memory of this process and of its waited-for children, whichever is larger (MiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def machine() -> dict[str, Any]:
    import os

    mem = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "mem_gib": round(mem, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def qc_report_timing(paths: Any, out: Path) -> dict[str, Any]:
    """(f): `biomarkers qc-report`'s work for the plate with the most analytes (read from the full store,
    page written), then a 30-plex page built from that plate's analytes repeated under new names."""
    from dataclasses import replace

    from assay.qc_report import write_qc_report
    from schemas.config import load_config
    from warehouse.analyst import connect_analyst
    from warehouse.qc_report_data import build_report_input

    config = load_config()
    con = connect_analyst(paths, full=True)
    try:
        rows = con.execute(
            "SELECT plate_id, count(DISTINCT analyte) AS n FROM curves GROUP BY plate_id ORDER BY n DESC, "
            "plate_id LIMIT 1"
        ).fetchall()
        if not rows:
            return {}
        plate = str(rows[0][0])
        t, cpu = time.perf_counter(), time.process_time()
        run = build_report_input(con, plate, config)
        page = write_qc_report(out / "plate", run, image_format="inline")
        plate_s, plate_cpu = time.perf_counter() - t, time.process_time() - cpu
    finally:
        con.close()
    n = len(run.analytes)
    analytes = [
        replace(a, analyte=f"{a.analyte} ({k + 1})") for k in range(-(-30 // n)) for a in run.analytes
    ][:30]
    t, cpu = time.perf_counter(), time.process_time()
    page30 = write_qc_report(out / "plex30", replace(run, analytes=analytes), image_format="inline")
    wall30, cpu30 = time.perf_counter() - t, time.process_time() - cpu
    return {
        "qc_plate": plate,
        "qc_plate_analytes": n,
        "qc_report_s": round(plate_s, 3),
        "qc_report_cpu_s": round(plate_cpu, 3),
        "qc_report_kb": round(page.stat().st_size / 1024, 1),
        "qc_30plex_s": round(wall30, 3),
        "qc_30plex_cpu_s": round(cpu30, 3),
        "qc_30plex_kb": round(page30.stat().st_size / 1024, 1),
    }


def run_bench(
    scale: float, *, workdir: Path | None = None, seed: int = 1, log: Callable[[str], None] = print
) -> BenchResult:
    """Generate a study ``scale``× the default and measure (a)–(e) on it, in this one process."""
    from schemas import settings

    settings.configure_environment()
    from prefect import flow

    from flows.ingest import ingest_flow
    from synth.generator import generate_study
    from warehouse.analyst import connect_analyst
    from warehouse.paths import WarehousePaths

    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="biomarkers-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    participants = max(1, round(DEFAULT_PARTICIPANTS * scale))
    study, wh = root / "study", root / "warehouse"
    for d in (study, wh):
        shutil.rmtree(d, ignore_errors=True)
    gen_s, s = timed(lambda: generate_study(study, seed=seed, participants=participants))
    log(f"generated {s.files} files ({s.plates} plates, {participants} participants) in {gen_s:.1f} s")

    bare_s, bare_rows = timed(lambda: bare_load(study / "inbox", root / "bare.duckdb"))
    log(f"(a) bare polars → DuckDB: {bare_s:.2f} s, {bare_rows} rows")

    @flow(name="bench-warm-up")
    def warm_up() -> None:
        """Start Prefect's temporary server before timing (its start-up is not the pipeline's cost)."""

    warm_up()

    def ingest() -> Any:
        return ingest_flow(
            inbox=str(study / "inbox"),
            manifest=str(study / "manifest.csv"),
            warehouse=str(wh),
            trigger="bench",
        )

    from schemas.operations import load_operations

    workers = load_operations().processing.workers_for(s.files)
    with TreeRss() as tree:
        pipeline_s, summary = timed(ingest)
    log(f"(b) full pipeline: {pipeline_s:.1f} s ({summary.files_new} files)")
    noop_s, again = timed(ingest)
    assert again.files_new == 0, "the re-run found new files: the benchmark's inbox changed"
    log(f"(c) no-op re-run: {noop_s:.2f} s")

    con = connect_analyst(WarehousePaths.at(wh))
    try:
        current_s, current = timed(lambda: con.sql(CURRENT_SQL).pl())
        pivot_s, pivot = timed(lambda: con.sql(PIVOT_SQL).pl())
        adhoc_s, adhoc = timed(lambda: con.sql(ADHOC_PIVOT_SQL).pl())
    finally:
        con.close()
    log(
        f"(d) current results: {current_s:.3f} s ({current.height} rows); wide pivot (results_wide): "
        f"{pivot_s:.3f} s ({pivot.height} participant × visit × matrix rows, {pivot.width} columns); "
        f"ad-hoc PIVOT over results: {adhoc_s:.3f} s ({adhoc.height} rows)"
    )
    qc = qc_report_timing(WarehousePaths.at(wh), root / "qc")
    log(
        f"(f) QC report of {qc['qc_plate']} ({qc['qc_plate_analytes']} analytes): {qc['qc_report_s']:.2f} s "
        f"({qc['qc_report_cpu_s']:.2f} s CPU), "
        f"{qc['qc_report_kb']:.0f} kB; a 30-plex page: {qc['qc_30plex_s']:.2f} s "
        f"({qc['qc_30plex_cpu_s']:.2f} s CPU), {qc['qc_30plex_kb']:.0f} kB"
    )
    rss = peak_rss_mb()
    log(
        f"(e) peak RSS: {rss:.0f} MiB (largest single process); {tree.peak_mb:.0f} MiB (this process and "
        f"its {workers} worker processes together, sampled); Prefect's temporary server apart: "
        f"{tree.server_peak_mb:.0f} MiB"
    )
    return BenchResult(
        scale=scale,
        participants=participants,
        files=s.files,
        results=current.height,
        bare_s=round(bare_s, 3),
        bare_rows=bare_rows,
        pipeline_s=round(pipeline_s, 2),
        ratio=round(pipeline_s / bare_s, 1) if bare_s else float("inf"),
        noop_s=round(noop_s, 2),
        current_s=round(current_s, 4),
        pivot_s=round(pivot_s, 4),
        pivot_rows=pivot.height,
        adhoc_pivot_s=round(adhoc_s, 4),
        peak_rss_mb=round(rss, 1),
        peak_rss_tree_mb=round(tree.peak_mb, 1),
        prefect_server_rss_mb=round(tree.server_peak_mb, 1),
        workers=workers,
        generate_s=round(gen_s, 1),
        **qc,
        machine=machine(),
    )
