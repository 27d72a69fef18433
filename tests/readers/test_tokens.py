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
