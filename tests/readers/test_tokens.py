"""The censoring vocabulary: every token → qualifier + limit, never a bare string or a silent null."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from readers.tokens import parse_conc, parse_number
from readers.units import factor_to_pg_ml


@pytest.mark.parametrize(
    ("text", "qualifier", "value", "extrapolated"),
    [
        ("12.3", "=", 12.3, False),
        ("1,234.5", "=", 1234.5, False),
        ("1.2E+03", "=", 1200.0, False),
        ("*7.17", "=", 7.17, True),
        ("OOR <", "<", None, False),
        ("OOR >", ">", None, False),
        ("< 0.105", "<", 0.105, False),
        (">3450", ">", 3450.0, False),
        ("Below Fit Curve Range", "<", None, False),
        ("Above Detection Range", ">", None, False),
        ("***", "NR", None, False),
        ("---", "NR", None, False),
        ("NaN", "NR", None, False),
        ("", "NR", None, False),
        ("Range?", "NR", None, False),
        ("?????", "NR", None, False),
    ],
)
def test_tokens(text: str, qualifier: str, value: float | None, extrapolated: bool) -> None:
    p = parse_conc(text)
    assert (p.qualifier, p.value, p.extrapolated) == (qualifier, value, extrapolated)
    if qualifier != "=":
        assert p.note  # the reason is kept


def test_nan_and_empty_are_both_not_reported_but_say_different_things() -> None:
    assert parse_conc("NaN").note != parse_conc("").note


def test_decimal_comma() -> None:
    assert parse_number("1.234,5", decimal_comma=True) == 1234.5
    assert parse_conc("< 0,5", decimal_comma=True).value == 0.5


@pytest.mark.parametrize(
    ("text", "decimal_comma", "value"),
    [
        ("0,02", False, 0.02),  # a decimal-comma cell in a dot-decimal file (issue 13): not an empty value
        ("12,5", False, 12.5),
        ("0,020", False, 0.02),  # a leading 0 cannot start a thousands group
        ("1,234", False, 1234.0),  # three digits after one comma in a dot-decimal file: thousands
        ("1,234,567", False, 1234567.0),
        ("1.234,5", False, 1234.5),  # both marks: the last one is the decimal mark
        ("1,2E+03", False, 1200.0),
        ("1.2E+03", True, 1200.0),
        ("0.5", True, 0.5),  # a dot-decimal cell in a decimal-comma file (was read as 5)
        ("1.234", True, 1234.0),
        ("12 345,5", True, 12345.5),
        ("-.5", False, -0.5),
        ("1,23,4", False, None),
        ("1.2.3", False, None),
        (".", False, None),
        ("1,234.5.6", False, None),
    ],
)
def test_numbers_as_labs_print_them(text: str, decimal_comma: bool, value: float | None) -> None:
    assert parse_number(text, decimal_comma=decimal_comma) == value


_amounts = st.decimals(min_value=0, max_value=10**9, places=4, allow_nan=False, allow_infinity=False)


@given(_amounts)
def test_thousands_separated_numbers_round_trip_in_both_conventions(x: object) -> None:
    dot = f"{x:,.4f}"  # 1,234,567.8900
    comma = dot.translate(str.maketrans(",.", ".,"))  # 1.234.567,8900
    assert parse_number(dot) == pytest.approx(float(str(x)))
    assert parse_number(comma, decimal_comma=True) == pytest.approx(float(str(x)))
    assert parse_number(comma) == pytest.approx(float(str(x)))  # both marks: the last is the decimal


@given(st.floats(min_value=0, max_value=0.999, allow_nan=False), st.integers(min_value=1, max_value=6))
def test_a_decimal_comma_cell_in_a_dot_decimal_file_is_read(x: float, places: int) -> None:
    text = f"{x:.{places}f}".replace(".", ",")  # 0,02 as Excel on a European locale prints one cell
    assert parse_number(text) == pytest.approx(float(f"{x:.{places}f}"))
    assert parse_conc(text).qualifier == "="


@given(st.floats(min_value=1e-12, max_value=1e12, allow_nan=False), st.sampled_from(["E", "e"]))
def test_exponents_in_either_convention(x: float, e: str) -> None:
    text = f"{x:.3{e}}"
    assert parse_number(text) == pytest.approx(float(text))
    assert parse_number(text.replace(".", ","), decimal_comma=True) == pytest.approx(float(text))


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False))
def test_any_printed_number_round_trips(x: float) -> None:
    for text in (repr(x), f"{x:.6g}", f"{x:.3E}"):
        p = parse_conc(text)
        assert p.qualifier == "="
        assert p.value == pytest.approx(float(text))


@given(st.text(max_size=30))
def test_never_raises_and_never_a_censored_value_without_its_qualifier(text: str) -> None:
    p = parse_conc(text)
    assert p.qualifier in {"=", "<", ">", "NR"}
    assert (p.qualifier == "=") <= (p.value is not None)
    assert (p.qualifier == "NR") <= (p.value is None)


@pytest.mark.parametrize(
    ("unit", "factor"),
    [
        ("pg/mL", 1.0),
        ("pg/ml", 1.0),
        ("ng/L", 1.0),
        ("ng/mL", 1e3),
        ("µg/L", 1e3),
        ("ug/mL", 1e6),
        ("bead", None),
    ],
)
def test_units(unit: str, factor: float | None) -> None:
    assert factor_to_pg_ml(unit) == factor


def test_marks_without_digits_are_no_number() -> None:
    for text in (",", ".", "+", "-", ",,", "-,", "+."):
        assert parse_number(text) is None and parse_number(text, decimal_comma=True) is None, text
