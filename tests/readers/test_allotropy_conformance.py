"""Conformance with allotropy's own test exports (../shared/corpus/allotropy/, README there).

One case per input file. With allotropy's JSON beside it: every in-scope measurement (signal of its kind and
wavelength, calculated concentration) is in our read with an equal value — 0 different, 0 missing; files
that hold only spectra or kinetic traces (out of scope) are refused saying which read type they hold, or
read as named reduced values, never as endpoint OD. Without a JSON (allotropy refuses them: errors/,
exclude/): read as a valid well table, or refused in one short paragraph. The rules and the out-of-scope
list are in tests/readers/conformance.py; `python -m tests.readers.conformance_table` prints the per-family
table. Reads go through ``readers.detect.read`` (native readers, then the allotropy fallback).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CORPUS
from tests.readers.conformance import corpus_files, is_short_refusal, judge, nothing_to_read

pytestmark = pytest.mark.corpus

ROOT = CORPUS / "allotropy"
FILES = [str(p.relative_to(ROOT)) for p in corpus_files(ROOT)] if ROOT.is_dir() else []


@pytest.mark.parametrize("rel", FILES)
def test_allotropy_export_read_with_equal_values(corpus: Path, rel: str, allotropy_fallback: None) -> None:
    root = corpus / "allotropy"
    v = judge(root, root / rel)
    case = v.case
    assert v.schema_error is None, f"{rel}: the well table breaks the schema: {v.schema_error}"
    if case.json_path is None:
        if v.how == "refused":
            assert is_short_refusal(v.error or ""), f"refusal is not one short paragraph: {v.error!r}"
        return
    if case.out_of_scope and not case.expected:
        assert v.named_ok, (
            f"{rel} holds only {sorted(case.out_of_scope)} reads: it must be refused naming that read type, "
            f"or read as named reduced values, never as endpoint reads (got {v.how}: {v.error or v.format})"
        )
        return
    if v.how == "refused" and nothing_to_read(case):  # an empty plate: read as nothing, or refused clearly
        assert is_short_refusal(v.error or ""), f"refusal is not one short paragraph: {v.error!r}"
        return
    assert v.how != "refused", f"{rel} refused: {v.error}"
    assert (v.different, v.missing) == (0, 0), (
        f"{rel} ({v.format}): {v.equal} equal, {v.different} different, {v.missing} missing; e.g. "
        + "; ".join(v.problems)
    )
    assert v.equal == len(case.expected)


def test_the_corpus_has_the_documented_shape(corpus: Path) -> None:
    """58 exports, 45 with allotropy's JSON (README): a corpus change shows up here, not as silence."""
    files = corpus_files(corpus / "allotropy")
    assert len(files) == 58
    assert sum(p.with_suffix(".json").is_file() for p in files) == 45
