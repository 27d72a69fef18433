"""Typed study configuration, loaded from the YAML files in ``config/``.

Limits, schedules and catalogues are data a lab must be able to change without touching code, so they are
validated here at load time: a bad file fails with the file and the key named, before any plate is read.
"""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from schemas.settings import package_path

# The shipped configuration (package data): in a checkout `schemas/default_config` is a symlink to the
# project's `config/` (the documented, editable folder: one copy of each file); the wheel build follows it,
# so an installed wheel carries the same files. `--config DIR` points at another folder.
DEFAULT_CONFIG_DIR = package_path("schemas", "default_config").resolve()

AnalyteClass = Literal["neurotrophic", "inflammatory", "cytokine", "neurodegeneration"]
Platform = Literal["luminex", "bioplex", "msd", "simoa", "ella", "plate_reader", "other"]


class ConfigError(Exception):
    """A configuration file is missing, malformed, or inconsistent; the message names file and key."""


class _Strict(BaseModel):
    # A typo in a key must fail loudly rather than be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Site(_Strict):
    site_id: str
    name: str


class Matrix(_Strict):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    name: str
    cdisc_specimen: str


class Visit(_Strict):
    code: str
    name: str
    visitnum: float
    nominal_week: float
    window_days: int = Field(ge=0)
    dosing_visit: bool
    sampling: Literal["pre-dose", "post-dose"]
    matrices: list[str]


class WithheldGroup(_Strict):
    """Post-dose values of these analytes in this matrix can reveal the arm (domain.md §1: active treatment
    raised CSF VEGF ~4.7-fold and lowered NfL at week 20): the blinded view withholds them."""

    matrix: str
    analytes: list[str] = Field(min_length=1)


class Blinding(_Strict):
    withhold_post_dose: list[WithheldGroup] = Field(default_factory=list)


class BaselineRule(_Strict):
    """Which value is a participant's baseline (ADaM ABLFL): the last non-missing value among the candidate
    visits, ordered by VISITNUM. The candidates default to the visits sampled pre-dose at or before the first
    dose; a protocol with a screening draw that may stand in for a missing week-0 sample lists them here."""

    first_dose_visit: str
    visits: list[str] | None = None


class StudySdtm(_Strict):
    """Study-level values of the SDTM LB export that no result carries."""

    lbnam: str = Field(min_length=1)  # the laboratory that ran the assays (LBNAM)


class PlannedAssay(_Strict):
    """An assay the protocol plans on every sample of these matrices (at these visits; default: every visit
    that collects the matrix): what ``sample_status`` expects, ``biomarkers reconcile`` checks (issue 20)."""

    assay_id: str
    matrices: list[str] = Field(min_length=1)
    visits: list[str] | None = None

    def planned(self, study: Study) -> list[tuple[str, str]]:
        """(visit, matrix) pairs this assay is planned at."""
        return [
            (v.code, m)
            for v in study.visits
            if self.visits is None or v.code in self.visits
            for m in self.matrices
            if m in v.matrices
        ]


class IsrRule(_Strict):
    """Incurred-sample reanalysis (ICH M10 §4.3): which samples are picked for a repeat, how a repeat is
    recognised (its plate ID), and the acceptance rule — for ligand-binding assays at least 2/3 of the
    repeats within 30 % of the mean of original and repeat. An ISR repeat never replaces the original."""

    fraction: float = Field(default=0.10, gt=0, le=1)  # of the samples with an in-range result, per assay
    # which of them: near_cmax — each participant's highest-concentration samples first (per matrix x analyte;
    # a sample counts by its best rank over the assay's analytes), ties in a stable pseudo-random order
    # (md5 of the sample ID); random — that stable pseudo-random order alone
    prefer: Literal["near_cmax", "random"] = "near_cmax"
    plate_id_pattern: str = Field(default="(^|[-_ ])ISR([-_ 0-9]|$)", min_length=1)  # regex on the plate ID
    max_pct_difference: float = Field(default=30.0, gt=0)
    min_pass_fraction: float = Field(default=2 / 3, gt=0, le=1)

    @field_validator("plate_id_pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"plate_id_pattern {v!r} is not a regular expression: {exc}") from None
        return v


class ReviewRule(_Strict):
    """Second-person review of each run before release (21 CFR Part 11 §11.50/§11.70/§11.200, GCLP).

    ``release``: ``on_load`` — a run's results are current for analysts as soon as it passes the automatic
    acceptance (reviews are recorded but release nothing); ``on_approval`` — a run's results become current
    only once a reviewer has signed it ``approved`` (warehouse/review.py). A run signed ``rejected`` is never
    current in either mode. ``two_person``: a reviewer affiliated with the lab that uploaded the run's file
    cannot sign it."""

    release: Literal["on_load", "on_approval"] = "on_load"
    two_person: bool = True


class Study(_Strict):
    study_id: str
    title: str
    registry_id: str
    sites: list[Site] = Field(min_length=1)
    matrices: list[Matrix] = Field(min_length=1)
    visits: list[Visit] = Field(min_length=1)
    blinding: Blinding = Field(default_factory=Blinding)

    baseline: BaselineRule | None = None
    sdtm: StudySdtm | None = None
    assay_plan: list[PlannedAssay] = Field(default_factory=list)
    isr: IsrRule = Field(default_factory=IsrRule)
    review: ReviewRule = Field(default_factory=ReviewRule)

    @model_validator(mode="after")
    def _consistent(self) -> Study:
        codes = {m.code for m in self.matrices}
        for g in self.blinding.withhold_post_dose:
            if g.matrix not in codes:
                raise ValueError(
                    f"blinding.withhold_post_dose names unknown matrix {g.matrix!r}; known: {sorted(codes)}"
                )
        for i, v in enumerate(self.visits):
            unknown = set(v.matrices) - codes
            if unknown:
                raise ValueError(
                    f"visits[{i}] ({v.code}) names unknown matrices {sorted(unknown)}; known: {sorted(codes)}"
                )
        dup = _duplicates([v.code for v in self.visits])
        if dup:
            raise ValueError(f"visit codes repeated: {dup}")
        visit_codes = {v.code for v in self.visits}
        for i, plan in enumerate(self.assay_plan):
            unknown = (set(plan.matrices) - codes) | (set(plan.visits or []) - visit_codes)
            if unknown:
                raise ValueError(
                    f"assay_plan[{i}] ({plan.assay_id}) names unknown visits or matrices {sorted(unknown)}; "
                    f"known: {sorted(visit_codes)}, {sorted(codes)}"
                )
            if not plan.planned(self):
                raise ValueError(
                    f"assay_plan[{i}] ({plan.assay_id}): no listed visit collects {plan.matrices} "
                    "(visits[].matrices); fix the plan or the visit schedule"
                )
        if self.baseline is not None:
            first = self.visit(self.baseline.first_dose_visit)
            if first is None:
                raise ValueError(
                    f"baseline.first_dose_visit {self.baseline.first_dose_visit!r} is not a visit code"
                )
            for code in self.baseline.visits or []:
                cand = self.visit(code)
                if cand is None:
                    raise ValueError(f"baseline.visits names unknown visit {code!r}")
                if cand.visitnum > first.visitnum or (
                    cand.visitnum == first.visitnum and cand.sampling != "pre-dose"
                ):
                    raise ValueError(
                        f"baseline.visits: {code} is after the first dose ({first.code}); a baseline must "
                        "be drawn before treatment"
                    )
        return self

    def visit(self, code: str) -> Visit | None:
        return next((v for v in self.visits if v.code == code), None)

    def first_dose_visit(self) -> Visit:
        """The first-dose visit: as configured, else the first dosing visit by VISITNUM."""
        if self.baseline is not None:
            v = self.visit(self.baseline.first_dose_visit)
            assert v is not None  # checked at load
            return v
        dosing = sorted((v for v in self.visits if v.dosing_visit), key=lambda v: v.visitnum)
        if not dosing:
            raise ConfigError("study.yaml: no dosing visit, so no baseline: set baseline.first_dose_visit")
        return dosing[0]

    def baseline_visits(self) -> list[str]:
        """Visit codes whose values may be a baseline (before the first dose), in VISITNUM order."""
        if self.baseline is not None and self.baseline.visits:
            codes = set(self.baseline.visits)
        else:
            first = self.first_dose_visit()
            codes = {
                v.code
                for v in self.visits
                if v.visitnum < first.visitnum or (v.visitnum == first.visitnum and v.sampling == "pre-dose")
            }
        return [v.code for v in sorted(self.visits, key=lambda v: v.visitnum) if v.code in codes]


def normalise_analyte_name(text: str) -> str:
    """Key used to match an analyte name as a lab wrote it against the catalogue.

    Drops a Bio-Plex/Luminex bead region suffix ("Hu VEGF (45)"), a "Hu"/"Human" prefix, Greek letters
    spelled or not, case, and punctuation, so that "TNF-α", "TNF alpha" and "tnfa" meet.
    """
    s = unicodedata.normalize("NFKC", text).strip()
    s = re.sub(r"\s*\(\d+\)\s*$", "", s)  # bead region
    s = s.replace("α", "a").replace("β", "b").replace("γ", "g").replace("µ", "u")
    s = s.lower()
    s = re.sub(r"\balpha\b", "a", s)
    s = re.sub(r"\bbeta\b", "b", s)
    s = re.sub(r"\bgamma\b", "g", s)
    s = re.sub(r"^(hu|human)\s+", "", s)
    return re.sub(r"[^a-z0-9]", "", s)


class SdtmTest(_Strict):
    """An analyte's CDISC SDTM LB test: LBTESTCD and LBTEST as published in the NCI-EVS SDTM terminology
    (codelists C65047/C67154). Never derived from the analyte name: a wrong code is a wrong submission."""

    testcd: str = Field(pattern=r"^[A-Z][A-Z0-9]{0,7}$")
    test: str = Field(min_length=1, max_length=40)
    nci_code: str | None = Field(default=None, pattern=r"^C[0-9]+$")


class Analyte(_Strict):
    name: str
    aliases: list[str] = Field(default_factory=list)
    analyte_class: AnalyteClass = Field(alias="class")
    plausible_pg_ml: dict[str, tuple[float | None, float | None]]
    sdtm: SdtmTest | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AnalyteCatalogue(_Strict):
    canonical_unit: Literal["pg/mL"]
    sdtm_category: dict[AnalyteClass, str] = Field(default_factory=dict)  # LBCAT by analyte class
    analytes: list[Analyte] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> AnalyteCatalogue:
        dup = _duplicates([a.name for a in self.analytes])
        if dup:
            raise ValueError(f"analyte names repeated: {dup}")
        dup = _duplicates([a.sdtm.testcd for a in self.analytes if a.sdtm is not None])
        if dup:
            raise ValueError(f"SDTM test codes (sdtm.testcd) repeated: {dup}")
        seen: dict[str, str] = {}
        for a in self.analytes:
            for alias in [a.name, *a.aliases]:
                key = normalise_analyte_name(alias)
                if key in seen and seen[key] != a.name:
                    raise ValueError(f"alias {alias!r} of {a.name} also matches {seen[key]}")
                seen[key] = a.name
        return self

    @cached_property
    def _by_key(self) -> dict[str, str]:
        return {normalise_analyte_name(al): a.name for a in self.analytes for al in [a.name, *a.aliases]}

    def resolve(self, as_written: str) -> str | None:
        """Canonical analyte name for a name as written in an export, or None when unknown."""
        return self._by_key.get(normalise_analyte_name(as_written))

    def get(self, name: str) -> Analyte | None:
        return next((a for a in self.analytes if a.name == name), None)

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.analytes]


class Standards(_Strict):
    levels: int = Field(ge=3)
    step: float = Field(gt=1)
    top_pg_ml: dict[str, float]

    def series(self, analyte: str) -> list[float]:
        """Nominal concentrations of the standard levels, highest first (S1 = top)."""
        top = self.top_pg_ml[analyte]
        return [top / self.step**i for i in range(self.levels)]


class CvLimits(_Strict):
    unknown: float = Field(gt=0)
    standard: float = Field(gt=0)


def _fraction(value: object) -> object:
    """A fraction written as a number (0.75) or as a ratio ("2/3", which YAML cannot hold as a number)."""
    if isinstance(value, str) and "/" in value:
        num, _, den = value.partition("/")
        try:
            return float(num) / float(den)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"not a fraction: {value!r} (write e.g. 0.75 or 2/3)") from None
    return value


Fraction01 = Annotated[float, BeforeValidator(_fraction), Field(gt=0, le=1)]
"""A proportion in (0, 1]; ``2/3`` may be written as the string "2/3" so that 2 of 3 is exactly enough."""


class CalibratorAcceptance(_Strict):
    """Run acceptance of a standard curve (ICH M10 §4.2.3/§4.4, ligand-binding assays)."""

    recovery_pct: float = Field(default=20.0, gt=0)  # back-calculated within ±this % of nominal
    recovery_pct_at_limits: float = Field(default=25.0, gt=0)  # … and ±this % at the LLOQ and ULOQ levels
    min_pass_fraction: Fraction01 = 0.75  # of the non-zero calibrator levels (anchor points excluded)
    min_levels: int = Field(default=6, ge=1)  # non-zero calibrator levels that must meet the criteria


class QcAcceptance(_Strict):
    """Run acceptance of the quality controls (ICH M10: low/mid/high, usually in duplicate)."""

    recovery_pct: float = Field(default=20.0, gt=0)  # measured within ±this % of the nominal
    min_pass_fraction: Fraction01 = 2 / 3  # of all QC results
    min_level_pass_fraction: Fraction01 = 0.5  # of the QC results at each concentration level


class GuideSetSettings(_Strict):
    """Levey–Jennings guide set: the mean and SD a run metric is judged against (per analyte × kit lot).

    ``run-based``: mean and SD of the first ``n_runs`` accepted runs of the kit lot. ``value-based``: from
    ``values`` — ``{metric: {analyte: [mean, sd]}}``, the metric being a QC level name (``QC-H``) or a curve
    metric (``EC50``, ``max_signal``). EC50 is judged on log10 (pipeline/trend.py), so its values are
    ``[geometric mean in pg/mL, SD of log10(EC50)]``.
    """

    kind: Literal["run-based", "value-based"] = "run-based"
    n_runs: int = Field(default=20, ge=2)
    values: dict[str, dict[str, tuple[float, Annotated[float, Field(gt=0)]]]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _values_when_value_based(self) -> GuideSetSettings:
        if self.kind == "value-based" and not self.values:
            raise ValueError("a value-based guide set needs values: {metric: {analyte: [mean, sd]}}")
        return self


WestgardRule = Literal["1-2s", "1-3s", "2-2s", "R-4s", "4-1s", "10x"]
_DEFAULT_WESTGARD: tuple[WestgardRule, ...] = ("1-3s", "2-2s", "R-4s", "4-1s", "10x")


class WestgardSettings(_Strict):
    """Levey–Jennings trending when a run is loaded (assay/trending.py, pipeline/trend.py): which Westgard
    rules are applied to each run metric (QC level concentrations, EC50, max signal) and what a violation
    does. ``warning`` (default): the run is loaded and its results carry the flag; ``reject``: the run
    fails acceptance like a failed calibration (results kept, never current). ``1-2s`` is a screening rule
    (about 1 run in 20 trips it by chance): add it to ``rules`` only to review every such run."""

    rules: list[WestgardRule] = Field(default_factory=lambda: list(_DEFAULT_WESTGARD))
    action: Literal["warning", "reject"] = "warning"


class Acceptance(_Strict):
    """Run acceptance and QC trending rules of an assay; every field has the ICH M10 / LabKey default.

    ``replicate_cv_max_pct`` is the assay's own ``replicate_cv_max_pct`` (set it there, once): the unknown
    limit applies to unknowns, the standard limit to standards, QCs and controls. A replicate group is only
    flagged when its mean signal is above ``replicate_cv_min_mean_signal`` (LabKey: MFI > 100) or when its
    wells carry no signal; its CV is computed on ``replicate_cv_basis`` (the reported ``value``, or the raw
    ``signal``).
    """

    calibrators: CalibratorAcceptance = Field(default_factory=CalibratorAcceptance)
    qcs: QcAcceptance = Field(default_factory=QcAcceptance)
    replicate_cv_max_pct: CvLimits = Field(default_factory=lambda: CvLimits(unknown=15.0, standard=20.0))
    replicate_cv_basis: Literal["value", "signal"] = "value"
    replicate_cv_min_mean_signal: float | None = Field(default=100.0, ge=0)
    guide_set: GuideSetSettings = Field(default_factory=GuideSetSettings)
    westgard: WestgardSettings = Field(default_factory=WestgardSettings)


class Assay(_Strict):
    assay_id: str
    name: str
    platform: Platform
    method: str
    kit: str
    kit_lot: str
    protocol_names: list[str] = Field(default_factory=list)
    analytes: list[str] = Field(min_length=1)
    unit: str | None = None
    curve_model: Literal["4PL", "5PL"] = "5PL"  # the standard curve fitted to the calibrators
    curve_weighting: Literal["none", "1/y", "1/y2"] = "1/y2"
    standards: Standards
    limits_pg_ml: dict[str, tuple[float, float]] = Field(default_factory=dict)
    limits_from: Literal["standards", "kit"] = "standards"  # the run's accepted calibrators, or the kit's
    # Unknowns beyond the run's LLOQ/ULOQ are censored (< LLOQ, > ULOQ) whatever the instrument printed.
    # true: report the instrument's extrapolated number instead (marked extrapolated) — a deviation from
    # ICH M10 / the SAP that must be documented (docs/integrity-faults.md).
    report_extrapolated: bool = False
    # When an export carries the instrument's concentrations *and* the signals: which one the results
    # report. "instrument" (default): the instrument's, our curve's recomputation kept beside it in wells;
    # "recomputed": ours (the accepted curve, after masking), the instrument's kept in wells.reported_text
    # and the results flagged ``recomputed_conc``.
    reported_value: Literal["instrument", "recomputed"] = "instrument"
    replicate_cv_max_pct: CvLimits
    sample_dilution: dict[str, float] = Field(default_factory=dict)
    acceptance: Acceptance = Field(default_factory=Acceptance)
    # Which of several accepted runs of one sample x analyte is current: the latest, or an in-range result
    # over a censored one (a sample above ULOQ re-assayed at a higher dilution), then the latest.
    reassay_rule: Literal["latest", "in_range_first"] = "latest"
    # Exports that do not name their assay or analyte (plate-reader grids, SoftMax Pro, Gen5): file-name
    # patterns (shell globs, case-insensitive, on the file's base name, e.g. "*VEGF*ELISA*.txt") that say
    # this assay. Also given per file by `--assay` (inspect/ingest) or the upload's assay field.
    file_patterns: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    # When an export holds several reads per well (OD450 and OD650, two filters): the signal_kind that
    # feeds the standard curve (as the readers name it: "OD450", "RFU 485/528", "ECL", "MFI"). The other
    # reads are kept in the wells table, not fitted. Unset with several reads → the plate is held.
    signal_kind: Annotated[str, Field(min_length=1, pattern=r"^\S(.*\S)?$")] | None = None

    @model_validator(mode="before")
    @classmethod
    def _acceptance_takes_the_cv_limits(cls, data: Any) -> Any:
        # Replicate CV limits are set once, as replicate_cv_max_pct; the acceptance rules carry them.
        if not isinstance(data, dict) or "replicate_cv_max_pct" not in data:
            return data
        acc = data.get("acceptance")
        limits = data["replicate_cv_max_pct"]
        if acc is None:
            return {**data, "acceptance": {"replicate_cv_max_pct": limits}}
        if isinstance(acc, dict) and "replicate_cv_max_pct" not in acc:
            return {**data, "acceptance": {**acc, "replicate_cv_max_pct": limits}}
        if isinstance(acc, Acceptance) and "replicate_cv_max_pct" not in acc.model_fields_set:
            try:
                cv = CvLimits.model_validate(limits)
            except ValidationError:
                return data  # reported at replicate_cv_max_pct
            return {**data, "acceptance": acc.model_copy(update={"replicate_cv_max_pct": cv})}
        return data

    @model_validator(mode="after")
    def _acceptance_consistent(self) -> Assay:
        if self.acceptance.replicate_cv_max_pct != self.replicate_cv_max_pct:
            raise ValueError(
                "acceptance.replicate_cv_max_pct differs from replicate_cv_max_pct: set the limits once, "
                "as replicate_cv_max_pct"
            )
        for metric, by_analyte in self.acceptance.guide_set.values.items():
            unknown = sorted(set(by_analyte) - set(self.analytes))
            if unknown:
                raise ValueError(
                    f"acceptance.guide_set.values.{metric} names analytes not in this assay: {unknown}"
                )
        return self

    def kit_limits(self, analyte: str) -> tuple[float, float] | None:
        """In-well LLOQ/ULOQ (pg/mL) from configuration: explicit limits, else the standard series ends."""
        if analyte in self.limits_pg_ml:
            return self.limits_pg_ml[analyte]
        if analyte in self.standards.top_pg_ml:
            s = self.standards.series(analyte)
            return (min(s), max(s))
        return None


class AssayCatalogue(_Strict):
    assays: list[Assay] = Field(min_length=1)

    def get(self, assay_id: str) -> Assay | None:
        return next((a for a in self.assays if a.assay_id == assay_id), None)

    def by_file_name(self, name: str) -> list[Assay]:
        """Assays whose ``file_patterns`` match the file's base name (case-insensitive globs)."""
        base = re.split(r"[\\/]", name)[-1].casefold()
        return [
            a for a in self.assays if any(fnmatch.fnmatchcase(base, p.casefold()) for p in a.file_patterns)
        ]

    def match(self, protocol: str | None, analytes: set[str]) -> Assay | None:
        """The assay a plate belongs to: by protocol/panel name first, else the one assay whose panel
        holds every analyte of the plate (None when no single assay fits)."""
        if protocol:
            key = protocol.strip().casefold()
            for a in self.assays:
                if key in {p.casefold() for p in [a.assay_id, *a.protocol_names]}:
                    return a
        if analytes:
            fits = [a for a in self.assays if analytes <= set(a.analytes)]
            if len(fits) == 1:
                return fits[0]
        return None


class Config(_Strict):
    study: Study
    catalogue: AnalyteCatalogue
    assays: AssayCatalogue
    source_dir: Path

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        matrices = {m.code for m in self.study.matrices}
        known = set(self.catalogue.names)
        for an in self.catalogue.analytes:
            bad = set(an.plausible_pg_ml) - matrices
            if bad:
                raise ValueError(
                    f"analytes.yaml: {an.name}.plausible_pg_ml names unknown matrices {sorted(bad)}"
                )
        for g in self.study.blinding.withhold_post_dose:
            unknown = [x for x in g.analytes if x not in known]
            if unknown:
                raise ValueError(
                    f"study.yaml: blinding.withhold_post_dose lists analytes not in analytes.yaml: {unknown}"
                )
        for a in self.assays.assays:
            missing = [x for x in a.analytes if x not in known]
            if missing:
                raise ValueError(
                    f"assays.yaml: assay {a.assay_id} lists analytes not in analytes.yaml: {missing}"
                )
            no_std = [x for x in a.analytes if x not in a.standards.top_pg_ml and x not in a.limits_pg_ml]
            if no_std:
                raise ValueError(f"assays.yaml: assay {a.assay_id}.standards.top_pg_ml lacks {no_std}")
            bad = set(a.sample_dilution) - matrices
            if bad:
                raise ValueError(
                    f"assays.yaml: assay {a.assay_id}.sample_dilution names unknown matrices {sorted(bad)}"
                )
        assay_ids = {a.assay_id for a in self.assays.assays}
        for plan in self.study.assay_plan:
            if plan.assay_id not in assay_ids:
                raise ValueError(
                    f"study.yaml: assay_plan names assay {plan.assay_id!r}, not in assays.yaml "
                    f"(known: {sorted(assay_ids)})"
                )
        return self


def _duplicates(items: list[str]) -> list[str]:
    seen: set[str] = set()
    return sorted({x for x in items if x in seen or seen.add(x)})  # type: ignore[func-returns-value]


def _read_yaml(path: Path) -> object:
    if not path.is_file():
        raise ConfigError(f"configuration file {path} is missing")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: not valid YAML: {exc}") from exc


def _explain(path: Path, exc: ValidationError) -> ConfigError:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"]).replace(".[", "[")
        lines.append(f"  {loc or '(top level)'}: {err['msg']}")
    return ConfigError(f"{path.name} is not valid:\n" + "\n".join(lines))


def load_config(config_dir: Path | None = None) -> Config:
    """Load and cross-check ``study.yaml``, ``analytes.yaml`` and ``assays.yaml`` from ``config_dir``."""
    d = Path(config_dir) if config_dir else DEFAULT_CONFIG_DIR
    parts: dict[str, BaseModel] = {}
    for key, fname, model in (
        ("study", "study.yaml", Study),
        ("catalogue", "analytes.yaml", AnalyteCatalogue),
        ("assays", "assays.yaml", AssayCatalogue),
    ):
        path = d / fname
        try:
            parts[key] = model.model_validate(_read_yaml(path))
        except ValidationError as exc:
            raise _explain(path, exc) from None
    try:
        return Config(source_dir=d.resolve(), **parts)  # type: ignore[arg-type]
    except ValidationError as exc:
        msgs = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise ConfigError(f"configuration in {d} is inconsistent: {msgs}") from None
