"""The toolkit modules the Luminex-family readers share: dilution cells, sample-type codes, delimited
lines, Bio-Plex sampling-error codes and the reader shell."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from readers.base import FileInput, ReaderError, ReadResult, Sniff
from readers.toolkit.delimited import is_blank, norm_key, trim_cells, uses_decimal_comma
from readers.toolkit.dilution import (
    DILUTION_MISSING,
    DilutionError,
    missing_dilution_flag,
    missing_dilution_warning,
    parse_dilution,
)
from readers.toolkit.guarded_reader import GuardedReader, ParseRun, ReaderTexts
from readers.toolkit.sample_codes import sample_type_from_code, sample_type_from_name
from readers.toolkit.sampling_errors import sampling_error_flag


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", None), ("  ", None), ("NaN", None), ("N/A", None), (None, None), ("4", 4.0), ("1.2E+03", 1200.0)],
)
def test_parse_dilution(text: str | None, expected: float | None) -> None:
    assert parse_dilution(text, column="Dilution", software="X") == expected


def test_parse_dilution_decimal_comma_and_errors() -> None:
    assert parse_dilution("2,5", column="Dilution", software="X", decimal_comma=True) == 2.5
    with pytest.raises(
        DilutionError, match=r"^Dilution Factor '0' is not a positive number\. Correct .* xPONENT"
    ):
        parse_dilution("0", column="Dilution Factor", software="xPONENT")


@given(st.floats(min_value=1e-6, max_value=1e9, allow_nan=False))
def test_property_every_positive_number_is_read_back(v: float) -> None:
    assert parse_dilution(repr(v), column="D", software="X") == v


@given(st.text(max_size=12))
def test_property_any_text_is_a_number_none_or_dilution_error(text: str) -> None:
    try:
        v = parse_dilution(text, column="D", software="X")
    except DilutionError as exc:
        assert repr(text.strip()) in str(exc)
        return
    assert v is None or v > 0


def test_missing_dilution_flag_only_for_study_samples() -> None:
    assert missing_dilution_flag("unknown") == DILUTION_MISSING
    assert [missing_dilution_flag(t) for t in ("standard", "blank", "qc", "control")] == [None] * 4
    assert missing_dilution_warning(0, 0) is None
    warning = missing_dilution_warning(2, 3)
    assert warning is not None and "3 standard/blank/control" in warning and "2 study sample" in warning


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Standard1", "standard"),
        ("S", "standard"),
        ("S3", "standard"),
        ("Background0", "blank"),
        ("B", "blank"),
        ("Control2", "qc"),
        ("QC-low", "qc"),
        ("P-1001", "unknown"),
        ("Sample_001", "unknown"),
        ("", "unknown"),
    ],
)
def test_sample_type_from_name(name: str, kind: str) -> None:
    assert sample_type_from_name(name) == kind


def test_sample_type_from_code() -> None:
    assert [sample_type_from_code(c) for c in ("B", "S1", "ES2", "C1", "X4")] == [
        "blank",
        "standard",
        "standard",
        "qc",
        "unknown",
    ]
    assert sample_type_from_code("U1") is None  # not a Bio-Plex code …
    assert sample_type_from_code("U1", unknown_letters="UX") == "unknown"  # … an INTELLIFLEX one
    assert sample_type_from_code("Q7") is None


def test_delimited_helpers() -> None:
    assert trim_cells(["a", "b", "", " "]) == ["a", "b"] and trim_cells(["", ""]) == []
    assert is_blank(["", " "]) and not is_blank(["", "x"])
    assert norm_key("  Dilution   Factor ") == "dilution factor" and norm_key("Analyte:") == "analyte:"
    assert uses_decimal_comma('"1";"10921,5";"3,2"\n', ";")
    assert not uses_decimal_comma('"1";"10921.5";"3,2";"1.5"\n', ";")
    assert not uses_decimal_comma('"10921,5","3,2"\n', ",")  # comma-delimited: never


def test_sampling_error_flags() -> None:
    assert sampling_error_flag("1") == "low_bead_count"
    assert sampling_error_flag(" 3 ") == "sampling_error: 3 classify efficiency"
    assert sampling_error_flag("7;x") == "sampling_error: 7,x"


class _Boom(ParseRun):
    def run(self) -> ReadResult:
        raise KeyError("boom")


def _recognise(text_head: str, file: FileInput) -> Sniff:
    raise RuntimeError("a sniff bug")


class _Reader(
    GuardedReader,
    texts=ReaderTexts("looked for X", "this file as X", "Export again."),
    recognise=_recognise,
    parser=_Boom,
):
    name = "x"
    label = "X"


def test_guarded_reader_never_lets_a_raw_exception_escape() -> None:
    f = FileInput("f.csv", b"data")
    assert _Reader().sniff("data", f) == Sniff(False, "looked for X")
    with pytest.raises(
        ReaderError, match=r"could not read this file as X \(KeyError: 'boom'\)\. Export again\."
    ):
        _Reader().read(f)
