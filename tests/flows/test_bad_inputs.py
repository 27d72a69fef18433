"""Issue 14, item 10: the bad-input corpus (tests/badinput/make_corpus.py) in ONE inbox, ingested by one real
run. Per case: the outcome (loaded / held / unresolved / quarantined / waiting / refused …) and that what
the run says about the file names what is wrong (the rule, the value, the well). The good files in the same
inbox load exactly as they do in a run of their own."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from flows.ingest import ingest_flow
from pipeline.report import IngestSummary
from tests.badinput.make_corpus import GOOD, OUTCOMES, Case, make_corpus
from warehouse.analyst import connect_analyst
from warehouse.paths import WarehousePaths

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]


@dataclass
class Seen:
    outcome: str
    rules: set[str]
    text: str  # everything the run says about the file, lower-case


@dataclass
class BadRun:
    cases: list[Case]
    summary: IngestSummary
    wh: Path
    alone: Path  # a warehouse loaded with the good files only


@pytest.fixture(scope="module")
def bad_run(small_study: Path, corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> BadRun:
    inbox = tmp_path_factory.mktemp("badinbox")
    cases = make_corpus(inbox, small_study / "inbox", small_study / "manifest.csv", corpus)
    manifest = str(small_study / "manifest.csv")
    wh = tmp_path_factory.mktemp("badwh")
    summary = ingest_flow(inbox=str(inbox), manifest=manifest, warehouse=str(wh), trigger="test")
    good = tmp_path_factory.mktemp("goodinbox")
    for name in GOOD:
        shutil.copy(small_study / "inbox" / name, good / name)
    alone = tmp_path_factory.mktemp("goodwh")
    ingest_flow(inbox=str(good), manifest=manifest, warehouse=str(alone), trigger="test")
    return BadRun(cases, summary, wh, alone)


def observe(run: BadRun) -> dict[str, Seen]:
    """What the run did with each file and everything it said about it."""
    con = connect_analyst(WarehousePaths.at(run.wh))
    said: dict[str, list[str]] = {}
    rules: dict[str, set[str]] = {}
    for name, rule, message, value, well in con.execute(
        "select source_file, rule, message, coalesce(value_text, ''), coalesce(well, '') from quarantine"
    ).fetchall():
        said.setdefault(name, []).append(f"{rule}: {message} [{value}] [{well}]")
        rules.setdefault(name, set()).add(rule)
    unresolved = con.execute("select source_file, sample_id, reason from unresolved").fetchall()
    for name, sample, reason in unresolved:
        said.setdefault(name, []).append(f"unresolved {ascii(sample)[:80]}: {reason}")
    for name, flags in con.execute(
        "select source_file, string_agg(array_to_string(flags, ';'), ' ') from wells where len(flags) > 0 "
        "group by 1"
    ).fetchall():
        said.setdefault(name, []).append(flags)
    s = run.summary
    seen: dict[str, Seen] = {}
    for line in s.files:
        if line.status == "quarantined":
            outcome = "quarantined"
        elif line.held or line.rejected_rows:
            outcome = "held"
        elif line.unresolved:
            outcome = "unresolved"
        else:
            outcome = "loaded"
        text = " | ".join([line.message, *said.get(line.name, [])])
        seen[line.name] = Seen(outcome, rules.get(line.name, set()), text.lower())
    for name in s.waiting:
        seen[name] = Seen("waiting", set(), "waiting (hidden or still being copied, not read)")
    for message in s.refused:
        seen[message.split(":")[0]] = Seen("refused", set(), message.lower())
    for name, same in s.duplicates:
        seen.setdefault(name, Seen("duplicate", set(), f"same bytes as {same}".lower()))
    used = {f.name[: -len(".txt")] for f in s.files if f.name.endswith(".txt")}
    for c in run.cases:  # a plate map read with its export (FileOutcome status "companion")
        if c.name.endswith("_platemap.csv") and c.name[: -len("_platemap.csv")] in used:
            seen.setdefault(c.name, Seen("companion", set(), "read with its export"))
    for name in s.companions_waiting:
        seen[name] = Seen("companion_waiting", set(), f"plate map waiting for its export: {name}".lower())
    return seen


def table(cases: list[Case], seen: dict[str, Seen]) -> str:
    """The case → outcome → rule table for docs/integrity-faults.md."""
    rows = ["| Case | File | Outcome | Rule |", "|---|---|---|---|"]
    for c in cases:
        s = seen.get(c.name)
        outcome = s.outcome if s else "missing"
        rule = ", ".join(sorted(s.rules - {"high_cv", "westgard"})) if s else ""
        short = c.name if len(c.name) <= 48 else c.name[:45] + "…"
        rows.append(f"| {c.kind} | `{short}` | {outcome} | {rule} |")
    return "\n".join(rows) + "\n"


def test_every_bad_input_has_its_outcome_and_says_what_is_wrong(bad_run: BadRun) -> None:
    seen = observe(bad_run)
    out = os.environ.get("BIOMARKERS_BADINPUT_TABLE")
    if out:
        Path(out).write_text(table(bad_run.cases, seen))
    assert len(bad_run.cases) >= 60
    wrong: list[str] = []
    for c in bad_run.cases:
        assert c.expect in OUTCOMES, c
        s = seen.get(c.name)
        if s is None:
            wrong.append(f"{c.name}: not accounted for by the run")
            continue
        if s.outcome != c.expect:
            wrong.append(f"{c.name} ({c.kind}): {s.outcome}, expected {c.expect}: {s.text[:300]}")
        if c.rule and c.rule not in s.rules:
            wrong.append(f"{c.name} ({c.kind}): no {c.rule} row (rules: {sorted(s.rules)})")
        missing = [f for f in c.says if f not in s.text]
        if missing:
            wrong.append(f"{c.name} ({c.kind}): the message does not name {missing}: {s.text[:400]}")
        if c.specific and "none of the formats we read recognises" in s.text:
            wrong.append(f"{c.name} ({c.kind}): generic refusal")
    assert not wrong, "\n".join(wrong)


def _results(con: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> list[tuple[object, ...]]:
    return con.execute(
        "select source_file, plate_id, sample_id, participant_id, visit, analyte, qualifier, conc_pg_ml, "
        "lloq, uloq, cv_pct, n_replicates, wells, reported_texts, extrapolated, flags from results "
        "where source_file in (select unnest(?::VARCHAR[])) order by all",
        [list(names)],
    ).fetchall()


def test_good_files_load_in_a_bad_inbox_exactly_as_alone(bad_run: BadRun) -> None:
    mixed = connect_analyst(WarehousePaths.at(bad_run.wh))
    alone = connect_analyst(WarehousePaths.at(bad_run.alone))
    got, want = _results(mixed, GOOD), _results(alone, GOOD)
    assert want and got == want
    q = (
        "select source_file, rule, message from quarantine "
        "where source_file in (select unnest(?::VARCHAR[])) order by all"
    )
    assert mixed.execute(q, [list(GOOD)]).fetchall() == alone.execute(q, [list(GOOD)]).fetchall()
