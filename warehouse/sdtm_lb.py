"""The CDISC SDTM LB export: current results → an LB dataset (CSV + SAS transport v5 XPT) and a
define-style listing of its variables and test codes.

Only what the ``results`` view holds leaves: current, resolved results (never superseded, held, rejected or
excluded ones), and nothing about treatment allocation (the analyst store never has it). Test codes come
from ``config/analytes.yaml`` (``sdtm:``), never from the analyte's name: an analyte without one stops the
export with its name. Censoring travels as SDTM wants it (domain.md §7): "<x" in LBORRES/LBSTRESC, LBSTRESN
empty, LBLLOQ set; a result not reported has LBSTAT "NOT DONE" and the reason in LBREASND. The frame must
pass ``schemas.sdtm.LbModel`` before anything is written, and the files are written beside each other
under temporary names and then renamed, so a failed export never leaves a half-written dataset.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandera.errors as pa_errors
import polars as pl
import pyreadstat

from readers.units import factor_to_pg_ml
from schemas.config import Config, SdtmTest
from schemas.sdtm import LB_COLUMNS, LbModel
from warehouse.csv_safe import neutralise

STANDARD_UNIT = "pg/mL"
SIGNIFICANT_DIGITS = 6
"""Results are replicate means carried at full float precision; six significant digits keep every digit a
plate reader or bead array can resolve without printing float noise (12.309999999999999)."""


class SdtmExportError(Exception):
    """The LB dataset cannot be produced as it stands; the message says what to fix and where."""


@dataclass(frozen=True)
class Variable:
    name: str
    label: str  # at most 40 characters (SAS transport v5)
    role: str
    core: str
    origin: str


VARIABLES = (
    Variable("STUDYID", "Study Identifier", "Identifier", "Req", "config/study.yaml study_id"),
    Variable("DOMAIN", "Domain Abbreviation", "Identifier", "Req", "Assigned: LB"),
    Variable("USUBJID", "Unique Subject Identifier", "Identifier", "Req", "STUDYID-participant_id"),
    Variable(
        "LBSEQ", "Sequence Number", "Identifier", "Req", "Derived: per USUBJID by visit, specimen, test"
    ),
    Variable("LBREFID", "Specimen ID", "Identifier", "Perm", "results.sample_id (biorepository manifest)"),
    Variable("LBTESTCD", "Lab Test or Examination Short Name", "Topic", "Req", "config/analytes.yaml sdtm"),
    Variable("LBTEST", "Lab Test or Examination Name", "Synonym Qualifier", "Req", "config/analytes.yaml"),
    Variable("LBCAT", "Category for Lab Test", "Grouping Qualifier", "Exp", "analytes.yaml sdtm_category"),
    Variable(
        "LBORRES", "Result or Finding in Original Units", "Result Qualifier", "Exp", "results, file unit"
    ),
    Variable("LBORRESU", "Original Units", "Variable Qualifier", "Exp", "results.unit_as_written"),
    Variable("LBSTRESC", "Character Result/Finding in Std Format", "Result Qualifier", "Exp", "results"),
    Variable("LBSTRESN", "Numeric Result/Finding in Standard Units", "Result Qualifier", "Exp", "results"),
    Variable("LBSTRESU", "Standard Units", "Variable Qualifier", "Exp", "Assigned: pg/mL"),
    Variable("LBSTAT", "Completion Status", "Record Qualifier", "Perm", "NOT DONE when not reported"),
    Variable("LBREASND", "Reason Test Not Done", "Record Qualifier", "Perm", "results.reported_texts"),
    Variable("LBNAM", "Vendor Name", "Record Qualifier", "Perm", "config/study.yaml sdtm.lbnam"),
    Variable("LBSPEC", "Specimen Type", "Record Qualifier", "Perm", "study.yaml matrices.cdisc_specimen"),
    Variable("LBSPCCND", "Specimen Condition", "Record Qualifier", "Perm", "results.sample_condition"),
    Variable("LBMETHOD", "Method of Test or Examination", "Record Qualifier", "Perm", "assays.yaml method"),
    Variable("LBLLOQ", "Lower Limit of Quantitation", "Variable Qualifier", "Perm", "results.lloq (pg/mL)"),
    Variable("VISITNUM", "Visit Number", "Timing", "Exp", "study.yaml visits.visitnum"),
    Variable("VISIT", "Visit Name", "Timing", "Perm", "study.yaml visits.name"),
    Variable("LBDTC", "Date/Time of Specimen Collection", "Timing", "Exp", "manifest collection_date"),
)
assert tuple(v.name for v in VARIABLES) == LB_COLUMNS

_RESULTS_SQL = """
SELECT participant_id, visit, visitnum, matrix, collection_date, sample_id, sample_condition, analyte,
    assay_id, conc_pg_ml, qualifier, lloq, unit_as_written, reported_texts
FROM results
WHERE participant_id IS NOT NULL AND visit IS NOT NULL
ORDER BY participant_id, visitnum, matrix, analyte, assay_id
"""


def fmt_number(x: float) -> str:
    """A result as SDTM text: at most SIGNIFICANT_DIGITS significant digits, never in exponent form."""
    return np.format_float_positional(
        x, precision=SIGNIFICANT_DIGITS, unique=False, fractional=False, trim="-"
    )


def _ascii_unit(unit: str) -> str:
    return unit.replace("µ", "u").replace("μ", "u").strip()


def build_lb(con: duckdb.DuckDBPyConnection, config: Config) -> pl.DataFrame:
    """The LB dataset of the analyst store's current results, validated against LbModel."""
    rows = con.sql(_RESULTS_SQL).pl()
    study = config.study
    if study.sdtm is None:
        raise SdtmExportError(
            "config/study.yaml has no `sdtm: {lbnam: ...}`: LBNAM (the laboratory) is needed"
        )
    missing = sorted({a for a in rows["analyte"].unique().to_list() if _sdtm(config, a) is None})
    if missing:
        raise SdtmExportError(
            f"no SDTM test code for analyte(s) {', '.join(missing)}: add `sdtm: {{testcd: ..., test: ...}}` "
            "to each in config/analytes.yaml, taken from the NCI-EVS SDTM terminology (LBTESTCD/LBTEST)"
        )
    classes = {a.name: a.analyte_class for a in config.catalogue.analytes}
    no_cat = sorted(
        {classes[a] for a in rows["analyte"].unique().to_list()} - set(config.catalogue.sdtm_category)
    )
    if no_cat:
        raise SdtmExportError(f"config/analytes.yaml sdtm_category lacks LBCAT for class(es) {no_cat}")
    specimen = {m.code: m.cdisc_specimen for m in study.matrices}
    visit_name = {v.code: v.name for v in study.visits}
    method = {a.assay_id: a.method for a in config.assays.assays}
    records = []
    for r in rows.iter_rows(named=True):
        test = _sdtm(config, r["analyte"])
        assert test is not None
        q, conc = r["qualifier"], r["conc_pg_ml"]
        unit = r["unit_as_written"]
        factor = factor_to_pg_ml(unit)
        if factor is None:  # no unit in the file: the value is in the assay's configured unit, as pg/mL
            unit, factor = STANDARD_UNIT, 1.0
        orres: str | None
        stresc: str | None
        orresu: str | None
        stresu: str | None
        stresn: float | None
        stat: str | None
        reasnd: str | None
        if q == "NR" or conc is None:
            orres = stresc = orresu = stresu = None
            stresn = None
            stat = "NOT DONE"
            why = (r["reported_texts"] or "").replace("|", ", ").strip() or "no value"
            reasnd = f"NOT REPORTED BY THE INSTRUMENT ({why})"[:200]
            if q == "WITHHELD":  # the blinded store (warehouse/blinding.py): export from the full store
                reasnd = "WITHHELD FROM THE BLINDED STORE (POST-DOSE VALUE THAT CAN REVEAL THE ARM)"
        else:
            prefix = "" if q == "=" else q
            orres = prefix + fmt_number(conc / factor)
            stresc = prefix + fmt_number(conc)
            stresn = float(stresc) if q == "=" else None
            orresu, stresu = _ascii_unit(unit), STANDARD_UNIT
            stat = reasnd = None
        if r["matrix"] not in specimen or r["visit"] not in visit_name or r["assay_id"] not in method:
            what = f"{r['participant_id']} {r['visit']} {r['matrix']} {r['analyte']} ({r['assay_id']})"
            raise SdtmExportError(
                f"result of {what} names a matrix, visit or assay not in config: the configuration changed "
                "after loading"
            )
        records.append(
            {
                "STUDYID": study.study_id,
                "DOMAIN": "LB",
                "USUBJID": f"{study.study_id}-{r['participant_id']}",
                "LBSEQ": 0,
                "LBREFID": r["sample_id"],
                "LBTESTCD": test.testcd,
                "LBTEST": test.test,
                "LBCAT": config.catalogue.sdtm_category[classes[r["analyte"]]],
                "LBORRES": orres,
                "LBORRESU": orresu,
                "LBSTRESC": stresc,
                "LBSTRESN": stresn,
                "LBSTRESU": stresu,
                "LBSTAT": stat,
                "LBREASND": reasnd,
                "LBNAM": study.sdtm.lbnam,
                "LBSPEC": specimen[r["matrix"]],
                "LBSPCCND": (r["sample_condition"] or None) and r["sample_condition"].upper(),
                "LBMETHOD": method[r["assay_id"]],
                "LBLLOQ": r["lloq"],
                "VISITNUM": float(r["visitnum"]),
                "VISIT": visit_name[r["visit"]],
                "LBDTC": None if r["collection_date"] is None else r["collection_date"].isoformat(),
            }
        )
    schema = {
        c: (
            pl.Int64 if c == "LBSEQ" else pl.Float64 if c in ("LBSTRESN", "LBLLOQ", "VISITNUM") else pl.String
        )
        for c in LB_COLUMNS
    }
    lb = pl.DataFrame(records, schema=schema, orient="row") if records else pl.DataFrame(schema=schema)
    lb = lb.sort(["USUBJID", "VISITNUM", "LBSPEC", "LBTESTCD", "LBMETHOD", "LBREFID"], nulls_last=True)
    lb = lb.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("USUBJID").alias("LBSEQ"))
    return validate_lb(lb)


def _sdtm(config: Config, analyte: str) -> SdtmTest | None:
    a = config.catalogue.get(analyte)
    return None if a is None else a.sdtm


def validate_lb(lb: pl.DataFrame) -> pl.DataFrame:
    """LbModel or an SdtmExportError listing each broken rule with a few example rows."""
    try:
        return LbModel.validate(lb, lazy=True)
    except pa_errors.SchemaErrors as exc:
        fc = exc.failure_cases
        lines = []
        for (check, column), g in fc.group_by(["check", "column"], maintain_order=True):
            rows = [i for i in g["index"].to_list() if i is not None][:3]
            examples = "; ".join(
                ", ".join(f"{k}={v}" for k, v in lb.row(i, named=True).items() if k in _EXAMPLE_COLS)
                for i in rows
            )
            lines.append(
                f"  {check} ({column or 'dataset'}): {g.height} row(s){': ' + examples if rows else ''}"
            )
        raise SdtmExportError("the LB dataset breaks SDTM rules:\n" + "\n".join(lines)) from None


_EXAMPLE_COLS = ("USUBJID", "LBSEQ", "LBTESTCD", "LBTEST", "LBORRES", "LBSTRESC", "LBSTAT", "VISIT")


@dataclass(frozen=True)
class LbExport:
    rows: int
    csv: Path
    xpt: Path
    define: Path
    tests: Path


def write_lb(lb: pl.DataFrame, config: Config, out_dir: Path) -> LbExport:
    """Write lb.csv, lb.xpt (SAS transport v5), define_lb.csv (variables) and define_lb_tests.csv."""
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = {n: out_dir / n for n in ("lb.csv", "lb.xpt", "define_lb.csv", "define_lb_tests.csv")}
    tmp = {n: p.with_name(f".{p.name}.{os.getpid()}.tmp") for n, p in targets.items()}
    try:
        neutralise(lb).write_csv(tmp["lb.csv"])  # text that a spreadsheet would run: escaped
        pyreadstat.write_xport(
            lb,
            str(tmp["lb.xpt"]),
            file_label="Laboratory Test Results",
            column_labels={v.name: v.label for v in VARIABLES},
            table_name="LB",
            file_format_version=5,
        )
        _write_define(lb, tmp["define_lb.csv"])
        _write_tests(lb, config, tmp["define_lb_tests.csv"])
        for n, p in tmp.items():
            os.replace(p, targets[n])
    finally:
        for p in tmp.values():
            p.unlink(missing_ok=True)
    return LbExport(
        rows=lb.height,
        csv=targets["lb.csv"],
        xpt=targets["lb.xpt"],
        define=targets["define_lb.csv"],
        tests=targets["define_lb_tests.csv"],
    )


def _write_define(lb: pl.DataFrame, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Dataset", "Variable", "Label", "Type", "Length", "Role", "Core", "Origin", "Codelist"])
        for v in VARIABLES:
            col = lb[v.name]
            numeric = col.dtype.is_numeric()
            longest = col.str.len_bytes().max() if not numeric else None
            length = 8 if numeric else max(1, int(longest) if isinstance(longest, int) else 1)
            codelist = {
                "LBTESTCD": "define_lb_tests.csv (NCI-EVS LBTESTCD C65047)",
                "LBTEST": "define_lb_tests.csv (NCI-EVS LBTEST C67154)",
                "LBSTAT": "ND (NOT DONE)",
                "LBSPEC": "SPECTYPE",
                "LBORRESU": "UNIT",
                "LBSTRESU": "UNIT",
                "LBDTC": "ISO 8601",
            }.get(v.name, "")
            w.writerow(["LB", v.name, v.label, "Num" if numeric else "Char", length, v.role, v.core, v.origin,
                        codelist])  # fmt: skip


def _write_tests(lb: pl.DataFrame, config: Config, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["LBTESTCD", "LBTEST", "NCI code", "analyte (warehouse)", "LBCAT", "records"])
        used = dict(lb.group_by("LBTESTCD").len().iter_rows())
        for a in config.catalogue.analytes:
            if a.sdtm is not None and a.sdtm.testcd in used:
                cat = config.catalogue.sdtm_category.get(a.analyte_class, "")
                w.writerow(
                    [a.sdtm.testcd, a.sdtm.test, a.sdtm.nci_code or "", a.name, cat, used[a.sdtm.testcd]]
                )


def read_xpt(path: Path) -> pl.DataFrame:
    """An XPT file as a polars frame (what a reviewer's SAS or R session would see)."""
    df, _ = pyreadstat.read_xport(str(path), output_format="polars")
    return df if isinstance(df, pl.DataFrame) else pl.DataFrame(df)
