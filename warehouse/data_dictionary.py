"""The data dictionary (issue 20): every analyst view and its columns, with the ``COMMENT ON`` text the
views carry (analyst_views.sql, sample_views.sql, analyst_sql.py, blinding.py), written as Markdown to
``docs/data-dictionary.md``.

The comments live with the SQL that defines the columns, so the dictionary is generated, never edited by
hand: ``python -m warehouse.data_dictionary`` rewrites it from the analyst store, and a test fails when the
file is out of date or when any column of any view has no comment.

A column a view passes through unchanged from another view (``results_all`` and ``results_blinded`` from
``results``, ``sample_lineage`` from the views it joins...) takes that view's comment (:data:`INHERIT`,
:func:`inherit_comments`, run when the views are installed), so one meaning is written once; a comment the
view's own SQL gives wins.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

INHERIT: dict[str, tuple[str, ...]] = {
    "results_all": ("results",),
    "results_blinded": ("results",),
    "baseline_change": ("results",),
    "censoring_summary": ("results",),
    "sample_lineage": ("results_all", "results", "wells", "plates", "curves"),
}
"""View → the views whose comment a same-named column without its own takes (first that has one)."""

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
(do not edit by hand: change the comment beside the view's SQL and regenerate). Every column of every
view has one (a test checks it); a column passed through unchanged from another view carries that view's
comment. Censored values: `qualifier` `<`/`>` with the limit as the value, never an imputed number.
The blinded store (`analyst/analyst.duckdb`) and the full store (`full/full.duckdb`) have the same views
and columns ([access.md](access.md)); `results_wide` has one column triple per analyte × assay of the
configuration.
"""


def _cell(text: str | None) -> str:
    return (text or "*(no comment yet)*").replace("|", "\\|").replace("\n", " ")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def inherit_comments(con: duckdb.DuckDBPyConnection) -> None:
    """Give each column of an :data:`INHERIT` view that has no comment the comment of the same-named column
    of its first source view that has one, as the views' own SQL comments them (one pass: a view inheriting
    through another lists the origin too). One catalogue read, one batch of statements: it runs at every
    publish."""
    pairs = [(view, src, i) for view, sources in INHERIT.items() for i, src in enumerate(sources)]
    rows = con.execute(
        "WITH inherit AS (SELECT unnest(?::VARCHAR[]) AS view, unnest(?::VARCHAR[]) AS src, "
        "unnest(?::INTEGER[]) AS pos), "
        "cols AS (SELECT table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal) "
        "SELECT i.view, t.column_name, arg_min(s.comment, i.pos) FROM inherit i "
        "JOIN cols t ON t.table_name = i.view AND t.comment IS NULL "
        "JOIN cols s ON s.table_name = i.src AND s.column_name = t.column_name AND s.comment IS NOT NULL "
        "GROUP BY ALL ORDER BY ALL",
        [[v for v, _, _ in pairs], [s for _, s, _ in pairs], [i for _, _, i in pairs]],
    ).fetchall()
    statements = []
    for view, column, comment in rows:
        text = "'" + comment.replace("'", "''") + "'"
        statements.append(f"COMMENT ON COLUMN {_quote(view)}.{_quote(column)} IS {text};")
    if statements:
        con.execute("BEGIN TRANSACTION;\n" + "\n".join(statements) + "\nCOMMIT;")


def undocumented(con: duckdb.DuckDBPyConnection) -> list[str]:
    """``view.column`` of every column of every view without a comment (a test keeps this empty)."""
    rows = con.execute(
        "SELECT c.table_name, c.column_name FROM duckdb_columns() c "
        "JOIN duckdb_views() v ON v.view_name = c.table_name AND NOT v.internal "
        "WHERE NOT c.internal AND c.comment IS NULL ORDER BY c.table_name, c.column_index"
    ).fetchall()
    return [f"{t}.{c}" for t, c in rows]


def markdown(con: duckdb.DuckDBPyConnection) -> str:
    """The dictionary of every view (and table macro) of the store ``con`` is connected to."""
    views = dict(con.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall())
    order = [v for v in FIRST if v in views] + sorted(v for v in views if v not in FIRST)
    parts = [_HEAD, "Views: " + ", ".join(f"[`{v}`](#{v})" for v in order) + ".\n"]
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
