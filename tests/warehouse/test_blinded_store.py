"""The blinded analyst store physically holds no withheld value; the full store holds every value.

A small generated study (real vendor-format files, read by the real readers and processed by the real
pipeline) is loaded and published. Then every table and view of analyst/analyst.duckdb and every Parquet
file under analyst/ is scanned for the withheld values — post-dose CSF VEGF-A, HGF, LIF, GDNF, BDNF and NfL,
W08 and W16 included — as numbers and as text (instrument texts, messages quoting a value); the full store
must still have them, and every other value of the blinded store must equal the full store's.
"""

from __future__ import annotations

import hashlib
import re
import stat
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from pipeline.manifest import load_manifest
from pipeline.process import process_file
from readers.base import FileInput
from schemas.config import Config
from synth.generator import generate_study
from warehouse.analyst import connect_analyst
from warehouse.paths import WarehousePaths
from warehouse.publish import current_snapshot, publish
from warehouse.store import WriterStore

WITHHELD_ANALYTES = {"VEGF-A", "HGF", "LIF", "GDNF", "BDNF", "NfL"}
VISIBLE_VISITS = {"W00"}  # on or before the first dose
PLACEHOLDERS = {"WITHHELD"}
MASKED = {
    "results_all": ["conc_pg_ml", "qualifier", "lloq_pg_ml", "uloq_pg_ml", "cv_pct", "reported_texts",
                    "extrapolated", "flags", "hold_reason"],
    "wells": ["qualifier", "signal", "reported_text", "value", "extrapolated", "conc_pg_ml", "flags",
              "recomputed_conc", "recomputed_diff_pct"],
    "quarantine": ["value_text", "message"],
    "result_currency": ["reason"],
    "audit_log": ["reason"],
}  # fmt: skip


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, config: Config) -> WarehousePaths:
    out = tmp_path_factory.mktemp("study")
    summary = generate_study(out, seed=5, participants=10)
    manifest = load_manifest(summary.manifest, config)
    files = {p.name: p.read_bytes() for p in sorted(summary.inbox.iterdir())}
    paths = WarehousePaths.at(tmp_path_factory.mktemp("wh"))
    with WriterStore(paths, actor="tester") as store:
        for name, data in files.items():
            if name.endswith("_platemap.csv"):
                continue
            siblings = {k: v for k, v in files.items() if k != name}
            sha = hashlib.sha256(data).hexdigest()
            store.load(process_file(FileInput(name, data, siblings), sha, config, manifest), "run-1")
        assert publish(store, config=config) is not None
    return paths


def _withheld(r: dict[str, Any]) -> bool:
    """The rule, written independently of warehouse/blinding.py."""
    return (
        r["analyte"] in WITHHELD_ANALYTES
        and r["matrix"] in ("CSF", None)
        and r["visit"] not in VISIBLE_VISITS
    )


def _frame(con: duckdb.DuckDBPyConnection, sql: str) -> pl.DataFrame:
    return con.sql(sql).pl()


def _store_frames(paths: WarehousePaths, *, full: bool) -> dict[str, pl.DataFrame]:
    """Every Parquet file under the store's folder and every table and view of its DuckDB file."""
    folder = paths.full_dir if full else paths.analyst_dir
    frames: dict[str, pl.DataFrame] = {}
    con = duckdb.connect()
    try:
        for p in sorted(folder.rglob("*.parquet")):
            frames[str(p.relative_to(folder))] = _frame(con, f"SELECT * FROM read_parquet('{p}')")
    finally:
        con.close()
    acon = connect_analyst(paths, full=full)
    try:
        names = [
            r[0]
            for r in acon.execute(
                "SELECT table_name FROM duckdb_tables() WHERE NOT internal UNION ALL "
                "SELECT view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        ]
        for n in names:
            frames[f"db:{n}"] = _frame(acon, f'SELECT * FROM "{n}"')
    finally:
        acon.close()
    return frames


def _mask(df: pl.DataFrame, values: list[bool]) -> pl.Series:
    return pl.Series(values, dtype=pl.Boolean)


def _secrets(paths: WarehousePaths) -> tuple[set[float], set[str]]:
    """The withheld numbers and texts (from the full store), minus values that also occur in the full store
    where nothing is withheld (a visible sample, a calibrator, a change from baseline): those cannot tell
    the withheld value apart."""
    frames = _store_frames(paths, full=True)
    res = frames["db:results_all"]
    hid = _mask(res, [_withheld(r) for r in res.iter_rows(named=True)])
    hidden, visible = res.filter(hid), res.filter(~hid)
    assert {"W08", "W16", "W20"} <= set(hidden["visit"].drop_nulls()), "the study must hold W08/W16 draws"
    hidden_ids = set(hidden["result_id"])
    hidden_samples = set(hidden["sample_id"])
    hidden_pairs = {(r[0], r[1]) for r in hidden.select("sample_id", "analyte").iter_rows()}
    key = ["source_sha256", "plate_id", "analyte", "sample_id"]
    vis_keys = {
        tuple(k) for k in visible.rename({"source_file_sha256": "source_sha256"}).select(key).iter_rows()
    }

    def hidden_wells(w: pl.DataFrame) -> pl.Series:
        return (
            (w["sample_type"] == "unknown")
            & (w["analyte"].is_null() | w["analyte"].is_in(list(WITHHELD_ANALYTES)))
            & _mask(w, [tuple(k) not in vis_keys for k in w.select(key).iter_rows()])
        )

    wells = frames["db:wells"]
    w_hidden = wells.filter(hidden_wells(wells))
    nums = set(hidden["conc_pg_ml"].drop_nulls()) | set(hidden["cv_pct"].drop_nulls())
    for c in ("signal", "value", "conc_pg_ml", "recomputed_conc"):
        nums |= set(w_hidden[c].drop_nulls())
    texts = {x for s in hidden["reported_texts"].drop_nulls() for x in _NUMBER.findall(s)}
    texts |= {x for s in w_hidden["reported_text"].drop_nulls() for x in _NUMBER.findall(s)}
    nums = {float(x) for x in nums}
    texts |= {_fmt(x) for x in nums}

    def visible_rows(df: pl.DataFrame) -> pl.DataFrame:
        cols = set(df.columns)
        if {"analyte", "visit", "matrix"} <= cols:
            return df.filter(_mask(df, [not _withheld(r) for r in df.iter_rows(named=True)]))
        if {"sample_type", "well", "signal"} <= cols:
            return df.filter(~hidden_wells(df))
        if {"rule", "message", "sample_id"} <= cols:  # quarantine
            pairs = [(r["sample_id"], r["analyte"]) for r in df.iter_rows(named=True)]
            return df.filter(
                _mask(df, [(s in hidden_samples and (a is None or (s, a) in hidden_pairs)) is False
                           for s, a in pairs])
            )  # fmt: skip
        if "entity_id" in cols:  # audit trail
            return df.filter(~df["entity_id"].is_in(list(hidden_ids)))
        if "result_id" in cols:
            return df.filter(~df["result_id"].is_in(list(hidden_ids)))
        return df

    seen_nums, seen_texts = _values({k: visible_rows(v) for k, v in frames.items()})
    return nums - seen_nums, {t for t in texts if re.search(r"\d", t)} - seen_texts


def _values(frames: dict[str, pl.DataFrame]) -> tuple[set[float], set[str]]:
    nums: set[float] = set()
    texts: set[str] = set()
    for df in frames.values():
        for col, dt in df.schema.items():
            s = df[col].drop_nulls()
            if dt.is_float():
                nums |= set(s)
            elif dt == pl.String:
                texts |= {t for v in s for t in _NUMBER.findall(v)}
    return nums, texts


_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")
"""A number written in a text (a message quoting a value), not digits inside a hash or an identifier."""


def _fmt(x: float) -> str:
    return f"{x:g}"


def _scan(frames: dict[str, pl.DataFrame], nums: set[float], texts: set[str]) -> list[str]:
    found = []
    for where, df in frames.items():
        for col, dt in df.schema.items():
            s = df[col].drop_nulls()
            if dt.is_float():
                hit = set(s) & nums
            elif dt == pl.String:
                hit = {t for v in s for t in _NUMBER.findall(v)} & texts
            else:
                continue  # counts, sequence numbers, row numbers: not a measurement
            if hit:
                found.append(f"{where}.{col}: {sorted(hit)[:3]}")
    return found


def test_the_blinded_store_holds_no_withheld_value_and_the_full_store_does(published: WarehousePaths) -> None:
    nums, texts = _secrets(published)
    assert len(nums) > 100 and len(texts) > 50  # a test that cannot fail is a defect: there are secrets
    blinded = _store_frames(published, full=False)
    assert "db:results" in blinded and "db:sample_lineage" in blinded
    assert len([k for k in blinded if k.endswith(".parquet")]) >= 10
    found = _scan(blinded, nums, texts)
    assert found == [], "\n".join(found)
    full = connect_analyst(published, full=True)
    try:
        frames = {n: _frame(full, f"SELECT * FROM {n}") for n in ("results_all", "wells", "sample_lineage")}
    finally:
        full.close()
    hits = _scan(frames, nums, texts)
    assert any(h.startswith("results_all.conc_pg_ml") for h in hits)
    assert any(h.startswith("wells.signal") for h in hits)
    assert any(
        h.startswith("sample_lineage.well_value") or h.startswith("sample_lineage.signal") for h in hits
    )


def _sorted(df: pl.DataFrame, masked: list[str]) -> pl.DataFrame:
    keys = [c for c in df.columns if c not in masked] + [c for c in masked if c in df.columns]
    return df.sort(keys, nulls_last=True, maintain_order=True)


def test_every_other_value_of_the_blinded_store_equals_the_full_stores(published: WarehousePaths) -> None:
    full_snap = current_snapshot(published, full=True)
    blind_snap = current_snapshot(published)
    assert full_snap is not None and blind_snap is not None
    full_files = sorted(p.relative_to(full_snap) for p in full_snap.rglob("*.parquet"))
    assert full_files == sorted(p.relative_to(blind_snap) for p in blind_snap.rglob("*.parquet"))
    n_masked = 0
    for rel in full_files:
        table = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        f = pl.read_parquet(full_snap / rel)
        b = pl.read_parquet(blind_snap / rel)
        assert f.columns == b.columns and f.height == b.height, rel
        masked = MASKED.get(table, [])
        if table in ("results_current", "results_wide"):
            masked = list(f.columns)  # computed from results_all: checked through the analyst views below
        unmasked = [c for c in f.columns if c not in masked]
        assert _sorted(f, masked).select(unmasked).equals(_sorted(b, masked).select(unmasked)), rel
        fs, bs = _sorted(f, masked), _sorted(b, masked)
        for c in [c for c in masked if c in f.columns and table not in ("results_current", "results_wide")]:
            differ = (fs[c].cast(pl.String) != bs[c].cast(pl.String)).fill_null(
                fs[c].is_null() != bs[c].is_null()
            )
            changed = bs.filter(differ)[c].drop_nulls().cast(pl.String)
            n_masked += int(differ.sum())
            # a changed cell is a placeholder, never another value
            assert all(v in PLACEHOLDERS or "withheld" in v for v in changed), (rel, c, changed.head(3))
            if table == "results_all":
                matrix = rel.parts[1].split("=", 1)[1]  # the Hive partition: matrix=CSF
                rows = fs.filter(differ).with_columns(pl.lit(matrix).alias("matrix"))
                assert all(_withheld(r) for r in rows.iter_rows(named=True)), (rel, c)
    assert n_masked > 100
    # the analyst views: a result that is not withheld reads the same in both stores
    con_b, con_f = connect_analyst(published), connect_analyst(published, full=True)
    try:
        q = "SELECT * FROM results ORDER BY result_id"
        rb, rf = con_b.sql(q).pl(), con_f.sql(q).pl()
    finally:
        con_b.close()
        con_f.close()
    keep = pl.Series([not _withheld(r) for r in rf.iter_rows(named=True)], dtype=pl.Boolean)
    assert rb.filter(keep).equals(rf.filter(keep))
    assert set(rb.filter(~keep)["qualifier"]) == {"WITHHELD"} and rb.filter(~keep)[
        "conc_pg_ml"
    ].null_count() == (rb.filter(~keep).height)


def test_each_store_is_its_own_folder_closed_to_others(published: WarehousePaths) -> None:
    assert published.analyst_db.parent != published.full_db.parent
    assert not published.full_dir.is_relative_to(published.analyst_dir)
    for d in (published.analyst_dir, published.full_dir):
        assert stat.S_IMODE(d.stat().st_mode) == 0o750, d
        for p in d.rglob("*"):
            want = 0o750 if p.is_dir() else 0o640
            assert stat.S_IMODE(p.stat().st_mode) == want, p
    assert not (published.root / "analyst.duckdb").exists() and not (published.root / "published").exists()


def test_status_prints_each_store_path(published: WarehousePaths) -> None:
    from typer.testing import CliRunner

    from biomarkers.cli import app

    r = CliRunner().invoke(app, ["status", "--analyst-db-path", "--warehouse", str(published.root)])
    assert r.exit_code == 0 and Path(r.stdout.strip()) == published.analyst_db
    r = CliRunner().invoke(app, ["status", "--full-db-path", "--warehouse", str(published.root)])
    assert r.exit_code == 0 and Path(r.stdout.strip()) == published.full_db
