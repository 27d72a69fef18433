"""Load and check the biorepository's sample manifests (sample ID → participant, visit, matrix...).

``load_manifest`` takes one CSV file or a folder of shipment manifests (every ``*.csv`` in it, in name
order). Every problem found is collected and raised together as one :class:`ManifestError` naming the
file, line, value, the rule broken and what to do — a manifest with a bad row is not half-used, because it
decides whose result is whose.

Rules: the columns of ``schemas.manifest.MANIFEST_COLUMNS`` are present; required values are filled;
``collection_date`` is a date (YYYY-MM-DD, or DD-Mon-YYYY); ``collection_time`` is HH:MM[:SS];
``freeze_thaw_count`` is a whole number ≥ 0; visit codes, matrices and sites are those of study.yaml; a
sample ID is listed once — listing it again with the same content (e.g. in a later shipment) is fine,
with different content it is an error naming both places and the fields that differ.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import pandera.polars as pa
import polars as pl

from readers.text import decode
from schemas.config import Config
from schemas.manifest import (
    CONTENT_COLUMNS,
    MANIFEST_COLUMNS,
    MANIFEST_SCHEMA,
    Manifest,
    ManifestModel,
    ManifestSource,
)

_DATE_FORMATS = ("%Y-%m-%d", "%d-%b-%Y", "%d%b%Y")
_MAX_LISTED = 50


@dataclass(frozen=True)
class ManifestProblem:
    file: str
    line: int | None
    column: str | None
    value: str | None
    rule: str
    message: str  # a plain sentence ending in what to do

    def __str__(self) -> str:
        where = self.file + (f", line {self.line}" if self.line else "")
        return f"{where}: {self.message}"


class ManifestError(Exception):
    """The sample manifest cannot be used; ``problems`` lists every problem found."""

    def __init__(self, problems: list[ManifestProblem]) -> None:
        self.problems = problems
        shown = problems[:_MAX_LISTED]
        more = len(problems) - len(shown)
        head = f"the sample manifest has {len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = [f"  {p}" for p in shown]
        if more:
            lines.append(f"  ... and {more} more")
        super().__init__(head + ":\n" + "\n".join(lines))


def load_manifest(path: Path, config: Config) -> Manifest:
    """Read one manifest CSV, or every ``*.csv`` in a folder (sorted by name), and check it against the
    study configuration. Raises :class:`ManifestError` listing every problem found."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    elif path.is_file():
        files = [path]
    else:
        raise ManifestError(
            [
                ManifestProblem(
                    str(path),
                    None,
                    None,
                    None,
                    "missing_manifest",
                    "no such file or folder; check the manifest path in the configuration or command line.",
                )
            ]
        )
    problems: list[ManifestProblem] = []
    frames: list[pl.DataFrame] = []
    sources: list[ManifestSource] = []
    for f in files:
        data = f.read_bytes()
        df = _read_one(f.name, data, problems)
        sources.append(
            ManifestSource(f.name, hashlib.sha256(data).hexdigest(), 0 if df is None else df.height)
        )
        if df is not None:
            frames.append(df)
    raw = pl.concat(frames, how="vertical") if frames else _raw_empty()
    typed = _typed(raw, problems)
    _check_structure(typed, problems)
    _check_config(typed, config, problems)
    samples = _deduplicate(typed, problems)
    if problems:
        raise ManifestError(problems)
    return Manifest(samples.select(list(MANIFEST_SCHEMA)), tuple(sources), path.resolve())


def _raw_empty() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            **{c: pl.String() for c in MANIFEST_COLUMNS},
            "manifest_file": pl.String(),
            "manifest_line": pl.Int64(),
        }
    )


def _header_key(text: str) -> str:
    return "_".join(text.strip().lower().replace("-", " ").split())


def _read_one(name: str, data: bytes, problems: list[ManifestProblem]) -> pl.DataFrame | None:
    text = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[list[str | None]] = []
    lines: list[int] = []
    for rec in reader:
        if not any(cell.strip() for cell in rec):
            continue
        if header is None:
            header = [_header_key(h) for h in rec]
            missing = [c for c in MANIFEST_COLUMNS if c not in header]
            if missing:
                problems.append(
                    ManifestProblem(
                        name,
                        reader.line_num,
                        None,
                        ",".join(rec),
                        "missing_columns",
                        f"the header lacks the column(s) {', '.join(missing)} (found: {', '.join(header)}); "
                        "ask the biorepository for a manifest with the agreed columns.",
                    )
                )
                return None
            continue
        cells = [c.strip() or None for c in rec]
        cells += [None] * (len(header) - len(cells))
        rows.append([cells[header.index(c)] for c in MANIFEST_COLUMNS])
        lines.append(reader.line_num)
    if header is None:
        problems.append(
            ManifestProblem(
                name, None, None, None, "empty_manifest", "the file is empty; send the manifest again."
            )
        )
        return None
    df = pl.DataFrame(rows, schema=dict.fromkeys(MANIFEST_COLUMNS, pl.String()), orient="row")
    return df.with_columns(manifest_file=pl.lit(name), manifest_line=pl.Series(lines, dtype=pl.Int64()))


def _typed(raw: pl.DataFrame, problems: list[ManifestProblem]) -> pl.DataFrame:
    date = pl.coalesce(*[pl.col("collection_date").str.to_date(f, strict=False) for f in _DATE_FORMATS])
    out = raw.with_columns(
        collection_date=date,
        freeze_thaw_count=pl.col("freeze_thaw_count")
        .str.to_integer(strict=False)
        .cast(pl.Int32(), strict=False),
    )
    for col, rule, what in (
        ("collection_date", "bad_date", "is not a date in YYYY-MM-DD form; correct it in the manifest"),
        ("freeze_thaw_count", "bad_number", "is not a whole number; correct it in the manifest"),
    ):
        bad = raw.with_columns(typed=out[col]).filter(pl.col(col).is_not_null() & pl.col("typed").is_null())
        for r in bad.iter_rows(named=True):
            problems.append(
                ManifestProblem(
                    r["manifest_file"],
                    r["manifest_line"],
                    col,
                    r[col],
                    rule,
                    f"{col} {r[col]!r} (sample {r['sample_id']}) {what} and send it again.",
                )
            )
    return out.select([pl.col(c).cast(t) for c, t in MANIFEST_SCHEMA.items()])


_RULE_TEXT = {
    "not_nullable": ("missing_value", "is empty; fill it in"),
    "str_length": ("missing_value", "is empty; fill it in"),
    "str_matches": ("bad_format", "is not a time as HH:MM; correct it"),
    "greater_than_or_equal_to": ("bad_number", "is negative; correct it"),
}


def _check_structure(typed: pl.DataFrame, problems: list[ManifestProblem]) -> None:
    already = {(p.file, p.line, p.column) for p in problems}
    try:
        ManifestModel.validate(typed, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        for r in fc.iter_rows(named=True):
            idx = r["index"]
            if idx is None:
                problems.append(
                    ManifestProblem(
                        "(all files)",
                        None,
                        r["column"],
                        r["failure_case"],
                        "schema",
                        f"the manifest table fails {r['check']} on {r['column']}; this is a pipeline bug, "
                        "report it with the manifest files.",
                    )
                )
                continue
            row = typed.row(int(idx), named=True)
            key = (row["manifest_file"], row["manifest_line"], r["column"])
            if key in already:
                continue
            already.add(key)
            check = str(r["check"]).split("(")[0]
            rule, what = _RULE_TEXT.get(check, ("bad_value", f"fails the rule {r['check']}; correct it"))
            problems.append(
                ManifestProblem(
                    row["manifest_file"],
                    row["manifest_line"],
                    r["column"],
                    r["failure_case"],
                    rule,
                    f"{r['column']} {_show(r['failure_case'])} (sample {row['sample_id']}) {what} "
                    "in the manifest and send it again.",
                )
            )


def _show(value: object) -> str:
    return "(empty)" if value is None else repr(str(value))


def _check_config(typed: pl.DataFrame, config: Config, problems: list[ManifestProblem]) -> None:
    study = config.study
    for col, known, rule, where in (
        ("visit", [v.code for v in study.visits], "unknown_visit", "a visit code in study.yaml"),
        ("matrix", [m.code for m in study.matrices], "unknown_matrix", "a matrix in study.yaml"),
        ("site_id", [s.site_id for s in study.sites], "unknown_site", "a site in study.yaml"),
    ):
        bad = typed.filter(pl.col(col).is_not_null() & ~pl.col(col).is_in(known))
        for r in bad.iter_rows(named=True):
            problems.append(
                ManifestProblem(
                    r["manifest_file"],
                    r["manifest_line"],
                    col,
                    r[col],
                    rule,
                    f"{col} {r[col]!r} (sample {r['sample_id']}) is not {where} (known: {', '.join(known)}); "
                    "correct the manifest, or add it to study.yaml if the study really has it.",
                )
            )


def _deduplicate(typed: pl.DataFrame, problems: list[ManifestProblem]) -> pl.DataFrame:
    ids = typed.filter(pl.col("sample_id").is_not_null())
    repeated = ids.filter(pl.col("sample_id").is_duplicated())
    for (sid,), group in repeated.group_by("sample_id", maintain_order=True):
        rows = group.sort("manifest_file", "manifest_line").to_dicts()
        first = rows[0]
        for other in rows[1:]:
            diff = [c for c in CONTENT_COLUMNS if first[c] != other[c]]
            if not diff:
                continue
            what = " and ".join(f"{c} ({_fmt(first[c])} vs {_fmt(other[c])})" for c in diff)
            problems.append(
                ManifestProblem(
                    other["manifest_file"],
                    other["manifest_line"],
                    ",".join(diff),
                    str(sid),
                    "conflicting_sample",
                    f"sample {sid} is listed in {first['manifest_file']} (line {first['manifest_line']}) "
                    f"and in {other['manifest_file']} (line {other['manifest_line']}) with different "
                    f"{what}; ask the biorepository which is right and send a corrected manifest.",
                )
            )
    return ids.sort("manifest_file", "manifest_line").unique("sample_id", keep="first", maintain_order=True)


def _fmt(v: object) -> str:
    return "empty" if v is None else repr(str(v))
