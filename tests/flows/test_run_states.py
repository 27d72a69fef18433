"""What the Prefect server shows of a run, read back from a real (temporary) server: a run with a quarantined
file ends Completed but named "Needs attention" with the counts as its message; the file's task says
"Quarantined"; the run has a readable name; its artifacts have headings in words, reasons on one line, and
the quarantine table starts with rule and message."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.client.schemas.objects import StateType

from flows.ingest import ingest_flow

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

GOOD = "BCT011-LX-CYT-CSF-P002_20210113.csv"  # every result accepted (tests/service uses it too)


def _run(inbox: Path, study: Path, wh: Path) -> Any:
    return ingest_flow(
        inbox=str(inbox),
        manifest=str(study / "manifest.csv"),
        warehouse=str(wh),
        trigger="test",
        return_state=True,
    )


def _server_view(state: Any) -> tuple[Any, list[Any], list[Any]]:
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as c:
        run = c.read_flow_run(run_id)
        tasks = c.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
        artifacts = c.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    return run, tasks, artifacts


def test_a_run_with_a_quarantined_file_says_needs_attention(small_study: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(small_study / "inbox" / GOOD, inbox / GOOD)
    (inbox / "notes.txt").write_text("Plate 3 was run on Tuesday; results to follow.\n")
    state = _run(inbox, small_study, tmp_path / "wh")

    run, tasks, artifacts = _server_view(state)
    assert run.state.type == StateType.COMPLETED
    assert run.state.name == "Needs attention"
    assert run.state.message == "2 new files, 1 quarantined, 296 results accepted"
    assert re.fullmatch(r"test \d{4}-\d\d-\d\d \d\d:\d\d", run.name), run.name

    # one task per batch of files (group commit): named after its file, or its first and last files
    by_name = {t.name: t.state for t in tasks if t.name.startswith("ingest ")}
    notes = [
        st for n, st in by_name.items() if n in ("ingest notes.txt", f"ingest 2 files: {GOOD} … notes.txt")
    ]
    assert len(notes) == 1 and notes[0].name == "Quarantined" and notes[0].type == StateType.COMPLETED
    assert "\n" not in notes[0].message and len(notes[0].message) <= 200
    if f"ingest {GOOD}" in by_name:  # its batch had closed (time window) before notes.txt was ready
        assert by_name[f"ingest {GOOD}"].name == "Completed"
    else:
        assert notes[0].message == "2 files: 1 loaded, 1 quarantined"

    keyed = {a.key: a for a in artifacts}
    assert set(keyed) == {
        "ingest-summary",
        "ingest-quarantine",
        "ingest-files",
        "ingest-files-needing-attention",
    }
    summary = keyed["ingest-summary"].data
    heading = summary.splitlines()[0]
    assert heading == f"# Ingestion run {run.name}: needs attention"
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", summary), "a UUID in the summary"
    attention = [line for line in summary.splitlines() if line.startswith("| notes.txt |")]
    assert len(attention) == 1 and len(attention[0]) < 260  # one line, cut; the detail is in the table
    table = json.loads(keyed["ingest-quarantine"].data)
    assert list(table[0])[:2] == ["rule", "message"]
    assert table[0]["source_file"] == "notes.txt" and "Tried" in table[0]["message"]


def test_a_clean_run_and_a_no_op_run_are_plain_completed(small_study: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(small_study / "inbox" / GOOD, inbox / GOOD)
    first = _run(inbox, small_study, tmp_path / "wh")
    assert (first.type, first.name) == (StateType.COMPLETED, "Completed")
    assert first.message == "1 new file, 296 results accepted"
    again = _run(inbox, small_study, tmp_path / "wh")
    assert (again.name, again.message) == ("Completed", "0 new files, 0 results accepted")
    _, _, artifacts = _server_view(again)
    assert {a.key for a in artifacts} == {"ingest-summary"}
    assert artifacts[0].data.splitlines()[0].endswith(": completed")
