"""The data dictionary (issue 20): every analyst view and its columns, with the ``COMMENT ON`` text the
views carry (analyst_views.sql, sample_views.sql, analyst_sql.py, blinding.py), written as Markdown to
``docs/data-dictionary.md``.

The comments live with the SQL that defines the columns, so the dictionary is generated, never edited by
hand: ``python -m warehouse.data_dictionary`` rewrites it from the analyst store, and a test fails when the
file is out of date or when a column of a view in :data:`FULLY_DOCUMENTED` has no comment.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

FULLY_DOCUMENTED = ("results", "samples", "sample_status", "reassay_candidates")
"""Views whose every column must carry a comment (the test enforces it); add a view once it is done."""

FIRST = (
    "results",
    "results_all",
    "results_wide",
    "baseline_change",
    "censoring_summary",
    "samples",
    "sample_status",
    "reassay_candidates",
)
"""Views listed first, in this order (what analysts read most); the others follow by name."""

_HEAD = """# Data dictionary

Generated from the analyst store's own `COMMENT ON` texts by `python -m warehouse.data_dictionary`
(do not edit by hand: change the comment beside the view's SQL and regenerate). Columns without a
comment yet are marked *(no comment yet)*; every column of {done} has one (a test checks it).
The blinded store (`analyst/analyst.duckdb`) and the full store (`full/full.duckdb`) have the same views
and columns ([access.md](access.md)); `results_wide` has one column triple per analyte × assay of the
configuration.
"""


def _cell(text: str | None) -> str:
    return (text or "*(no comment yet)*").replace("|", "\\|").replace("\n", " ")


def undocumented(con: duckdb.DuckDBPyConnection, views: tuple[str, ...] = FULLY_DOCUMENTED) -> list[str]:
    """``view.column`` of every column of ``views`` without a comment."""
    rows = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE NOT internal AND comment IS NULL "
        "AND list_contains(?, table_name) ORDER BY table_name, column_index",
        [list(views)],
    ).fetchall()
    return [f"{t}.{c}" for t, c in rows]


def markdown(con: duckdb.DuckDBPyConnection) -> str:
    """The dictionary of every view (and table macro) of the store ``con`` is connected to."""
    views = dict(con.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall())
    order = [v for v in FIRST if v in views] + sorted(v for v in views if v not in FIRST)
    done = ", ".join(f"`{v}`" for v in FULLY_DOCUMENTED)
    parts = [_HEAD.format(done=done), "Views: " + ", ".join(f"[`{v}`](#{v})" for v in order) + ".\n"]
    for view in order:
        cols = con.execute(
            "SELECT column_name, data_type, comment FROM duckdb_columns() WHERE NOT internal "
            "AND table_name = ? ORDER BY column_index",
            [view],
        ).fetchall()
        parts.append(f"## {view}\n\n{_cell(views[view])}\n\n| column | type | meaning |\n|---|---|---|")
        parts.extend(f"| `{c}` | {t} | {_cell(m)} |" for c, t, m in cols)
        parts.append("")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """``python -m warehouse.data_dictionary [ANALYST_DB] [OUT]``: defaults to the configured warehouse's
    blinded store and docs/data-dictionary.md."""
    from schemas import settings
    from warehouse.paths import WarehousePaths

    args = sys.argv[1:] if argv is None else argv
    db = Path(args[0]) if args else WarehousePaths.at(settings.warehouse_dir()).analyst_db
    out = (
        Path(args[1])
        if len(args) > 1
        else Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"
    )
    con = duckdb.connect(str(db), read_only=True)
    try:
        out.write_text(markdown(con), encoding="utf-8")
    finally:
        con.close()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
