"""The SDTM LB model rejects what a reviewer would (one valid record, then one broken rule at a time)."""

from __future__ import annotations

from typing import Any

import pandera.errors as pa_errors
import polars as pl
import pytest

from schemas.sdtm import LB_COLUMNS, LbModel
from warehouse.sdtm_lb import SdtmExportError, fmt_number, validate_lb

NUMERIC = {"LBSEQ": pl.Int64, "LBSTRESN": pl.Float64, "LBLLOQ": pl.Float64, "VISITNUM": pl.Float64}


def record(**change: Any) -> pl.DataFrame:
    row: dict[str, Any] = {
        "STUDYID": "BCT-002-US", "DOMAIN": "LB", "USUBJID": "BCT-002-US-BCT-01-11001", "LBSEQ": 1,
        "LBREFID": "CSF0001", "LBTESTCD": "INTLK6", "LBTEST": "Interleukin 6", "LBCAT": "CYTOKINES",
        "LBORRES": "3.2", "LBORRESU": "pg/mL", "LBSTRESC": "3.2", "LBSTRESN": 3.2, "LBSTRESU": "pg/mL",
        "LBSTAT": None, "LBREASND": None, "LBNAM": "Central lab", "LBSPEC": "CEREBROSPINAL FLUID",
        "LBSPCCND": None, "LBMETHOD": "MULTIPLEX BEAD IMMUNOASSAY", "LBLLOQ": 1.22, "VISITNUM": 1.0,
        "VISIT": "Week 0", "LBDTC": "2018-10-01",
    }  # fmt: skip
    row.update(change)
    schema = {c: NUMERIC.get(c, pl.String) for c in LB_COLUMNS}
    return pl.DataFrame([row], schema=schema, orient="row")


def test_a_valid_record_passes() -> None:
    LbModel.validate(record())
    LbModel.validate(record(LBORRES="<1.22", LBSTRESC="<1.22", LBSTRESN=None))
    LbModel.validate(
        record(LBORRES=None, LBORRESU=None, LBSTRESC=None, LBSTRESN=None, LBSTRESU=None, LBSTAT="NOT DONE",
               LBREASND="NOT REPORTED BY THE INSTRUMENT (***)")
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"LBTESTCD": "INTERLEUK6"}, "str_matches"),  # more than 8 characters
        ({"LBTESTCD": "il6"}, "str_matches"),
        ({"LBTEST": "CSF Interleukin 6"}, "no_specimen_unit_method_or_timing"),
        ({"LBTEST": "Interleukin 6 pg/mL"}, "no_specimen_unit_method_or_timing"),
        ({"LBTEST": "Interleukin 6 ELISA"}, "no_specimen_unit_method_or_timing"),
        ({"LBSTAT": "NOT DONE", "LBREASND": "lost"}, "lbstat_only_when_no_result"),
        ({"LBSTAT": "NOT DONE"}, "lbreasnd_only_with_lbstat"),
        ({"LBORRES": "<1.22", "LBSTRESC": "<1.22", "LBSTRESN": 1.22}, "censored_result_has_no_numeric_value"),
        ({"LBORRES": "<1.22", "LBSTRESC": "<1.22", "LBSTRESN": None, "LBLLOQ": None}, "below_lloq_has_lbllq"),
        ({"LBSTRESN": None}, "exact_result_has_numeric_value"),
        ({"USUBJID": "BCT-01-11001"}, "usubjid_starts_with_studyid"),
        ({"DOMAIN": "LX"}, "isin"),
        ({"LBDTC": "01/10/2018"}, "str_matches"),
        ({"VISIT": "Semaine 0 é"}, "ascii_only_for_sas_transport_v5"),
    ],
)
def test_each_rule_rejects(change: dict[str, Any], rule: str) -> None:
    with pytest.raises(pa_errors.SchemaErrors) as exc:
        LbModel.validate(record(**change), lazy=True)
    assert rule in str(exc.value.failure_cases["check"].to_list())


def test_duplicate_sequence_numbers_are_refused_with_the_rows_named() -> None:
    two = pl.concat([record(), record(LBTESTCD="TNFA", LBTEST="Tumor Necrosis Factor Alpha")])
    with pytest.raises(
        SdtmExportError, match=r"lbseq_unique_within_usubjid.*USUBJID=BCT-002-US-BCT-01-11001"
    ):
        validate_lb(two)


@pytest.mark.parametrize(
    ("x", "text"), [(12.309999999999999, "12.31"), (1234567.891, "1234570"), (0.000123456789, "0.000123457"),
                    (4100.0, "4100"), (1.220703125, "1.2207")],
)  # fmt: skip
def test_numbers_are_written_without_float_noise_or_exponents(x: float, text: str) -> None:
    assert fmt_number(x) == text
