"""The synthetic BCT-002-US study: participants, a biorepository manifest, the sealed allocation, plate
exports as two instrument families write them, and the answer key of every defect injected on purpose.

Why synthetic: the real trial data are not public, and the pipeline must be demonstrated and tested on a
study of the real shape (196 participants, 6 sites, 7 visits, CSF and serum, three Luminex panels and two
ELISA kits) with the real difficulties: most CSF neurotrophic factors below the lowest standard, a
treatment effect that can unblind, typos in sample IDs, a unit mix-up, noisy duplicates. Every number the
writers print is decided here (``build_study``, pure and in memory); ``generate_study`` only lays it out on
disk. Parameters are data (``synth/profiles.yaml``); the study design comes from ``config/``.

Determinism: one seed drives independent numpy streams (one per concern, so adding a defect does not move
every concentration); nothing reads the clock. The seed is also embedded in every participant, sample,
plate and shipment ID, so studies generated with different seeds never share an ID.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.config import Assay, Config, load_config
from schemas.manifest import MANIFEST_COLUMNS
from schemas.settings import package_path
from synth.model import SynthCell, SynthPlate, SynthWell
from synth.signal import Curve4PL, add_noise, classify, geometric_middle, quantise, reported_texts

DEFAULT_PROFILES = package_path("synth", "profiles.yaml")  # package data: a wheel ships it

ALLOCATION_COLUMNS = ("participant_id", "site_id", "arm")

# Independent random streams (SeedSequence spawn keys): changing how one concern draws leaves the others.
_STREAMS = ("kit", "participants", "visits", "manifest", "truth", "plates", "signal", "defects")


# ---------------------------------------------------------------------------------------------------
# Profiles (synth/profiles.yaml)
# ---------------------------------------------------------------------------------------------------


class _P(BaseModel):
    # A typo in a profile key must fail by name, not silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class IdsProfile(_P):
    participant_prefix: str
    participant_digits: int = Field(ge=2, le=6)
    sample_prefix: dict[str, str]
    sample_serial_digits: int = Field(ge=5, le=10)
    plate_prefix: str
    shipment_prefix: str


class EnrolmentProfile(_P):
    first_dose_from: date
    first_dose_to: date
    site_weights: dict[str, float] = Field(default_factory=dict)
    arms: tuple[str, str]
    block_sizes: list[int] = Field(min_length=1)


class VisitsProfile(_P):
    missed: dict[str, float]
    dropout_per_visit: float = Field(ge=0, lt=1)
    matrix_not_obtained: dict[str, float] = Field(default_factory=dict)
    visit_time: tuple[str, str]
    collection_offset_min: dict[str, tuple[int, int]] = Field(default_factory=dict)


class ManifestProfile(_P):
    aliquots: dict[int, float]
    freeze_thaw: dict[int, float]
    condition: dict[str, dict[str, float]] = Field(default_factory=dict)
    shipment_every_days: int = Field(ge=1)


class LogNormal(_P):
    median: float = Field(gt=0)
    gsd: float = Field(ge=1)


class ConcentrationProfile(_P):
    default_icc: float = Field(ge=0, le=1)
    icc: dict[str, float] = Field(default_factory=dict)
    true_zero_fraction: dict[str, float] = Field(default_factory=dict)
    analytes: dict[str, dict[str, LogNormal]]


class TreatmentEffect(_P):
    analyte: str
    matrix: str
    fold: float = Field(gt=0)
    from_week: float


class LayoutProfile(_P):
    rows: int = Field(ge=1, le=16)
    columns: int = Field(ge=1, le=24)
    replicates: int = Field(ge=1)
    blanks: int = Field(ge=0)
    qc_low_x_lowest_standard: float = Field(gt=0)
    qc_high_fraction_of_top: float = Field(gt=0, le=1)


class RunsProfile(_P):
    lag_days: tuple[int, int]
    hours: tuple[int, int]
    operators: list[str] = Field(min_length=1)
    instrument: dict[str, dict[str, str]] = Field(default_factory=dict)


class PlateCv(_P):
    bottom: float = Field(ge=0)
    top: float = Field(ge=0)
    ec50: float = Field(ge=0)
    slope: float = Field(ge=0)


class SignalProfile(_P):
    kind: str
    bottom: tuple[float, float]
    top: tuple[float, float]
    ec50_below_top: tuple[float, float]
    slope: tuple[float, float]
    plate_cv: PlateCv
    replicate_cv: tuple[float, float]
    additive_sd: float = Field(ge=0)
    floor: float = Field(ge=0)
    resolution: float = Field(gt=0)
    ceiling: float | None = None


class ReportingProfile(_P):
    extrapolate_below_probability: float = Field(ge=0, le=1)
    extrapolate_above_probability: float = Field(ge=0, le=1)
    not_reported_rate: float = Field(ge=0, lt=1)
    decimals: int = Field(ge=0)
    decimals_below_one: int = Field(ge=0)


class Label(_P):
    name: str
    region: int | None = None


class CountDefect(_P):
    count: int = Field(ge=0)


class HighCvDefect(_P):
    count: int = Field(ge=0)
    off_by: tuple[float, float]


class UnitMislabelDefect(_P):
    assay: str
    matrix: str
    analyte: str
    written_unit: str
    factor: float = Field(gt=0)
    plates: int = Field(ge=0)


class DefectsProfile(_P):
    sample_id_typo: CountDefect
    high_cv_duplicate: HighCvDefect
    unit_mislabel: UnitMislabelDefect
    record_sample_conditions: bool = True
    record_not_reported: bool = True


class Profiles(_P):
    plates: dict[str, list[str]]
    ids: IdsProfile
    enrolment: EnrolmentProfile
    visits: VisitsProfile
    manifest: ManifestProfile
    concentrations: ConcentrationProfile
    treatment_effects: list[TreatmentEffect] = Field(default_factory=list)
    assay_bias: dict[str, dict[str, float]] = Field(default_factory=dict)
    layout: LayoutProfile
    runs: RunsProfile
    signal: dict[str, SignalProfile]
    reporting: ReportingProfile
    labels: dict[str, dict[str, Label]]
    defects: DefectsProfile


def load_profiles(path: Path | None = None) -> Profiles:
    """Read and validate the generator parameters; a bad key or value fails naming the key."""
    p = path or DEFAULT_PROFILES
    raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    try:
        return Profiles.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{p.name} is not valid:\n{exc}") from None


def check_profiles(profiles: Profiles, config: Config) -> None:
    """Cross-check the profiles against the study configuration, listing every gap at once: an assay or
    matrix the plan names that config lacks, an analyte with no concentration profile or no label, a label
    the analyte catalogue would not resolve back to its analyte."""
    problems: list[str] = []
    matrices = {m.code for m in config.study.matrices}
    for assay_id, plan_matrices in profiles.plates.items():
        assay = config.assays.get(assay_id)
        if assay is None:
            problems.append(f"plates: assay {assay_id} is not in assays.yaml")
            continue
        if assay.platform not in profiles.signal:
            problems.append(f"signal: no profile for platform {assay.platform} (assay {assay_id})")
        labels = profiles.labels.get(assay_id, {})
        for m in plan_matrices:
            if m not in matrices:
                problems.append(f"plates.{assay_id}: unknown matrix {m}")
            if m not in profiles.ids.sample_prefix:
                problems.append(f"ids.sample_prefix: no prefix for matrix {m}")
            for a in assay.analytes:
                if m not in profiles.concentrations.analytes.get(a, {}):
                    problems.append(f"concentrations.analytes.{a}: no {m} profile (needed by {assay_id})")
        for a in assay.analytes:
            lab = labels.get(a)
            if lab is None:
                problems.append(f"labels.{assay_id}: no label for {a}")
            elif config.catalogue.resolve(lab.name) != a:
                problems.append(
                    f"labels.{assay_id}.{a}: {lab.name!r} does not resolve to {a} in analytes.yaml"
                )
    for s in profiles.enrolment.site_weights:
        if s not in {x.site_id for x in config.study.sites}:
            problems.append(f"enrolment.site_weights: unknown site {s}")
    um = profiles.defects.unit_mislabel
    if um.plates and um.matrix not in profiles.plates.get(um.assay, []):
        problems.append(f"defects.unit_mislabel: {um.assay} is not run on {um.matrix} (plates)")
    if problems:
        raise ValueError("synth profiles do not fit the configuration:\n  " + "\n  ".join(problems))


# ---------------------------------------------------------------------------------------------------
# What the generator produces
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Participant:
    participant_id: str
    site_id: str
    arm: str
    first_dose: date


@dataclass(frozen=True)
class Sample:
    """One manifest row (plus the indexes the generator needs)."""

    sample_id: str
    participant_id: str
    site_id: str
    visit: str
    matrix: str
    collection_date: date
    collection_time: str
    aliquot: int
    freeze_thaw_count: int
    condition: str
    shipment_id: str
    nominal_week: float

    def manifest_row(self) -> list[str]:
        return [
            self.sample_id,
            self.participant_id,
            self.site_id,
            self.visit,
            self.matrix,
            self.collection_date.isoformat(),
            self.collection_time,
            str(self.aliquot),
            str(self.freeze_thaw_count),
            self.condition,
            self.shipment_id,
        ]


@dataclass(frozen=True)
class Defect:
    """One injected defect: where it is and what a correct pipeline must do about it (``detail``)."""

    id: str
    kind: str  # sample_id_typo | high_cv_duplicate | unit_mislabel | sample_condition | not_reported
    plate_id: str
    wells: list[str]
    sample_id: str | None
    analyte: str | None
    detail: dict[str, Any]
    file: str | None = None  # export file name, known once written

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "file": self.file,
            "plate_id": self.plate_id,
            "wells": self.wells,
            "sample_id": self.sample_id,
            "analyte": self.analyte,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class SynthStudy:
    """The whole study in memory: what ``generate_study`` writes, plus the truth tests compare against."""

    seed: int
    participants: list[Participant]
    samples: list[Sample]
    plates: list[SynthPlate]
    defects: list[Defect]
    # (matrix, analyte) → sample_id → true neat concentration (pg/mL), treatment effect included, before
    # any platform bias (profiles ``assay_bias``). A plate cell's ``true_conc_pg_ml`` is the in-well value
    # that platform reads: truth × bias / dilution (standards and QCs: their nominal).
    truth: dict[tuple[str, str], dict[str, float]]


@dataclass(frozen=True)
class StudySummary:
    seed: int
    participants: int
    samples: int
    plates: int
    files: int
    wells: int
    defects: int
    out: Path
    inbox: Path
    manifest: Path
    allocation: Path
    defects_json: Path
    files_written: list[Path] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------
# Participants, visits, manifest
# ---------------------------------------------------------------------------------------------------


def _streams(seed: int) -> dict[str, np.random.Generator]:
    ss = np.random.SeedSequence(seed)
    return {
        name: np.random.default_rng(child)
        for name, child in zip(_STREAMS, ss.spawn(len(_STREAMS)), strict=True)
    }


def _weighted_choice(rng: np.random.Generator, table: dict[int, float], n: int) -> list[int]:
    keys = list(table)
    p = np.asarray(list(table.values()), dtype=np.float64)
    idx = rng.choice(len(keys), size=n, p=p / p.sum())
    return [keys[i] for i in idx.tolist()]


def _participants(
    config: Config, prof: Profiles, seed: int, n: int, rng: np.random.Generator
) -> list[Participant]:
    """Enrol ``n`` participants over the sites (weighted), number them per site in order of first dose, and
    randomise 1:1 in permuted blocks within each site (the sealed list ingestion never reads)."""
    sites = [s.site_id for s in config.study.sites]
    w = np.asarray([prof.enrolment.site_weights.get(s, 1.0) for s in sites], dtype=np.float64)
    site_of = rng.choice(len(sites), size=n, p=w / w.sum())
    lo, hi = prof.enrolment.first_dose_from, prof.enrolment.first_dose_to
    offsets = rng.integers(0, (hi - lo).days + 1, size=n)
    ids = prof.ids
    out: list[Participant] = []
    active, placebo = prof.enrolment.arms
    for si, site in enumerate(sites):
        days = sorted(int(d) for d in offsets[site_of == si])
        if len(days) >= 10**ids.participant_digits:
            raise ValueError(
                f"site {site}: {len(days)} participants do not fit {ids.participant_digits} digits"
            )
        arms: list[str] = []
        while len(arms) < len(days):
            size = int(rng.choice(prof.enrolment.block_sizes))
            block = [active] * (size // 2) + [placebo] * (size - size // 2)
            arms.extend(block[i] for i in rng.permutation(len(block)).tolist())
        for k, d in enumerate(days, start=1):
            pid = f"{ids.participant_prefix}-{site}-{seed}{k:0{ids.participant_digits}d}"
            out.append(Participant(pid, site, arms[k - 1], lo + timedelta(days=d)))
    return out


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _samples(
    config: Config,
    prof: Profiles,
    seed: int,
    participants: Sequence[Participant],
    rng_visits: np.random.Generator,
    rng_manifest: np.random.Generator,
) -> list[Sample]:
    """Visits attended (sporadic misses, dropout, a matrix not obtained), collection date/time within the
    visit window, and the manifest's aliquot, freeze–thaw, condition and shipment per sample."""
    vp = prof.visits
    drawn: list[tuple[Participant, int, str, date, int]] = []  # participant, visit idx, matrix, date, minute
    t_lo, t_hi = (_minutes(t) for t in vp.visit_time)
    for p in participants:
        dropped = False
        for vi, v in enumerate(config.study.visits):
            miss = rng_visits.random() < vp.missed.get(v.code, 0.0)
            shift = int(rng_visits.integers(-v.window_days, v.window_days + 1))
            visit_min = int(rng_visits.integers(t_lo, t_hi + 1))
            offset = {
                m: int(rng_visits.integers(lo, hi + 1))
                for m in v.matrices
                for lo, hi in [vp.collection_offset_min.get(m, (0, 0))]
            }
            not_obtained = {m: rng_visits.random() < vp.matrix_not_obtained.get(m, 0.0) for m in v.matrices}
            if vi > 0 and not dropped and rng_visits.random() < vp.dropout_per_visit:
                dropped = True
            if dropped or miss:
                continue
            day = p.first_dose + timedelta(days=round(7 * v.nominal_week) + shift)
            for m in v.matrices:
                if not not_obtained[m]:
                    drawn.append((p, vi, m, day, visit_min + offset[m]))
    n = len(drawn)
    digits = prof.ids.sample_serial_digits
    serials = rng_manifest.choice(10**digits, size=n, replace=False)
    aliquots = _weighted_choice(rng_manifest, prof.manifest.aliquots, n)
    thaws = _weighted_choice(rng_manifest, prof.manifest.freeze_thaw, n)
    u_condition = rng_manifest.random(n)
    site_start: dict[str, date] = {}
    for p in participants:
        site_start[p.site_id] = min(site_start.get(p.site_id, p.first_dose), p.first_dose)
    out: list[Sample] = []
    for i, (p, vi, m, day, minute) in enumerate(drawn):
        v = config.study.visits[vi]
        condition = ""
        acc = 0.0
        for cond, rate in prof.manifest.condition.get(m, {}).items():
            acc += rate
            if u_condition[i] < acc:
                condition = cond
                break
        ship_no = (day - site_start[p.site_id]).days // prof.manifest.shipment_every_days + 1
        out.append(
            Sample(
                sample_id=f"{prof.ids.sample_prefix[m]}{seed:03d}{int(serials[i]):0{digits}d}",
                participant_id=p.participant_id,
                site_id=p.site_id,
                visit=v.code,
                matrix=m,
                collection_date=day,
                collection_time=_hhmm(minute),
                aliquot=int(aliquots[i]),
                freeze_thaw_count=int(thaws[i]),
                condition=condition,
                shipment_id=f"{prof.ids.shipment_prefix}{seed:03d}-{p.site_id}-{ship_no:03d}",
                nominal_week=v.nominal_week,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------------
# True concentrations
# ---------------------------------------------------------------------------------------------------


def _truth(
    prof: Profiles,
    participants: Sequence[Participant],
    samples: Sequence[Sample],
    needed: Iterable[tuple[str, str]],
    rng: np.random.Generator,
) -> dict[tuple[str, str], dict[str, float]]:
    """Neat concentration per sample: lognormal around the matrix median with a participant random effect
    (share ``icc`` of the log-variance, so a participant's visits correlate), a participant-level true zero
    where the profile has one (CHIT1), and the treatment effect in the active arm after the first dose."""
    cp = prof.concentrations
    pindex = {p.participant_id: i for i, p in enumerate(participants)}
    active = np.asarray([p.arm == prof.enrolment.arms[0] for p in participants])
    zero_draw = {a: rng.random(len(participants)) < f for a, f in sorted(cp.true_zero_fraction.items())}
    out: dict[tuple[str, str], dict[str, float]] = {}
    for matrix, analyte in sorted(set(needed)):
        sel = [s for s in samples if s.matrix == matrix]
        ln = cp.analytes[analyte][matrix]
        sd = math.log(ln.gsd)
        icc = cp.icc.get(analyte, cp.default_icc)
        u = rng.normal(0.0, sd * math.sqrt(icc), len(participants))
        e = rng.normal(0.0, sd * math.sqrt(1.0 - icc), len(sel))
        pi = np.asarray([pindex[s.participant_id] for s in sel], dtype=np.int64)
        conc = ln.median * np.exp(u[pi] + e)
        weeks = np.asarray([s.nominal_week for s in sel], dtype=np.float64)
        for te in prof.treatment_effects:
            if te.analyte == analyte and te.matrix == matrix:
                conc = np.where(active[pi] & (weeks >= te.from_week), conc * te.fold, conc)
        if analyte in zero_draw:
            conc = np.where(zero_draw[analyte][pi], 0.0, conc)
        out[(matrix, analyte)] = {s.sample_id: float(c) for s, c in zip(sel, conc.tolist(), strict=True)}
    return out


# ---------------------------------------------------------------------------------------------------
# Plates
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slot:
    """A control well of the layout (standards, blanks, QCs) before any number is drawn."""

    sample_id: str
    sample_type: str
    level: str | None
    expected: dict[str, float]


@dataclass
class _Draft:
    """A plate before its texts are printed: mutable so defects can be injected into its arrays."""

    plate_id: str
    assay: Assay
    matrix: str
    analytes: list[str]
    wells: list[str]
    sample_ids: list[str]  # as written on the plate
    sample_types: list[str]
    levels: list[str | None]
    expected: list[dict[str, float]]
    dilution: NDArray[np.float64]
    sample_ref: list[Sample | None]  # the manifest sample behind an unknown well
    conc: NDArray[np.float64]  # in-well truth, wells × analytes (pg/mL)
    curves: list[Curve4PL]
    signal: NDArray[np.float64]
    failed: NDArray[np.bool_]
    extrapolate_below: bool
    extrapolate_above: bool
    run_started: datetime
    operator: str
    unit_factor: dict[str, float] = field(default_factory=dict)


def well_names(rows: int, columns: int) -> list[str]:
    """Wells in column-wise order (A1, B1, … H1, A2, …), the order a lab fills a plate."""
    return [f"{chr(ord('A') + r)}{c + 1}" for c in range(columns) for r in range(rows)]


def _control_slots(assay: Assay, prof: Profiles) -> list[_Slot]:
    """Standards S1..Sn, blanks, then low/mid/high QCs, each in replicate, as xPONENT names them."""
    lay = prof.layout
    reps = lay.replicates
    slots: list[_Slot] = []
    series = {a: assay.standards.series(a) for a in assay.analytes}
    for i in range(assay.standards.levels):
        exp = {a: s[i] for a, s in series.items()}
        slots += [_Slot(f"Standard{i + 1}", "standard", f"S{i + 1}", exp)] * reps
    slots += [_Slot("Background0", "blank", None, {})] * lay.blanks
    qc = {
        "QC-L": {a: min(s) * lay.qc_low_x_lowest_standard for a, s in series.items()},
        "QC-M": {a: geometric_middle(s) for a, s in series.items()},
        "QC-H": {a: max(s) * lay.qc_high_fraction_of_top for a, s in series.items()},
    }
    for k, (level, exp) in enumerate(qc.items(), start=1):
        slots += [_Slot(f"Control{k}", "qc", level, exp)] * reps
    return slots


def plate_capacity(assay: Assay, prof: Profiles) -> int:
    """Samples (in replicate) that fit beside the controls on one plate."""
    n = len(_control_slots(assay, prof))
    n += (-n) % prof.layout.replicates  # samples start on a replicate boundary
    return (prof.layout.rows * prof.layout.columns - n) // prof.layout.replicates


def _plate_order(samples: Sequence[Sample], matrix: str) -> list[Sample]:
    """Samples of one matrix in the order the lab plates them: all visits of a participant together (so
    longitudinal comparisons are mostly within a plate), participants in order of their last visit."""
    by_p: dict[str, list[Sample]] = {}
    for s in samples:
        if s.matrix == matrix:
            by_p.setdefault(s.participant_id, []).append(s)
    groups = sorted(by_p.values(), key=lambda g: (max(x.collection_date for x in g), g[0].participant_id))
    return [s for g in groups for s in sorted(g, key=lambda x: (x.collection_date, x.sample_id))]


@dataclass(frozen=True)
class _Kit:
    """Kit-level (lot-level) curve parameters of one analyte, around which each plate varies."""

    bottom: float
    top: float
    ec50_below_top: float
    slope: float


def _plan(config: Config, prof: Profiles) -> list[Assay]:
    """The assays the lab runs (profiles ``plates``), in a fixed order; check_profiles vouched for them."""
    out = []
    for assay_id in sorted(prof.plates):
        assay = config.assays.get(assay_id)
        if assay is None:
            raise ValueError(f"profiles plates: assay {assay_id} is not in assays.yaml")
        out.append(assay)
    return out


def _kits(config: Config, prof: Profiles, rng: np.random.Generator) -> dict[tuple[str, str], _Kit]:
    out: dict[tuple[str, str], _Kit] = {}
    for assay in _plan(config, prof):
        sp = prof.signal[assay.platform]
        for a in assay.analytes:
            out[(assay.assay_id, a)] = _Kit(
                bottom=float(rng.uniform(*sp.bottom)),
                top=float(rng.uniform(*sp.top)),
                ec50_below_top=float(rng.uniform(*sp.ec50_below_top)),
                slope=float(rng.uniform(*sp.slope)),
            )
    return out


def _plate_curve(kit: _Kit, top_std: float, sp: SignalProfile, rng: np.random.Generator) -> Curve4PL:
    cv = sp.plate_cv
    return Curve4PL(
        bottom=kit.bottom * float(np.exp(rng.normal(0.0, cv.bottom))),
        top=kit.top * float(np.exp(rng.normal(0.0, cv.top))),
        ec50=top_std / kit.ec50_below_top * float(np.exp(rng.normal(0.0, cv.ec50))),
        slope=kit.slope * float(np.exp(rng.normal(0.0, cv.slope))),
    )


def _drafts(
    config: Config,
    prof: Profiles,
    seed: int,
    samples: Sequence[Sample],
    truth: dict[tuple[str, str], dict[str, float]],
    rngs: dict[str, np.random.Generator],
) -> list[_Draft]:
    """Lay out every plate of the plan and draw its curves and noisy signals (vectorised per analyte)."""
    kits = _kits(config, prof, rngs["kit"])
    rng_plates, rng_signal = rngs["plates"], rngs["signal"]
    lay, rep, runs = prof.layout, prof.reporting, prof.runs
    names = well_names(lay.rows, lay.columns)
    drafts: list[_Draft] = []
    for assay in _plan(config, prof):
        assay_id = assay.assay_id
        sp = prof.signal[assay.platform]
        controls = _control_slots(assay, prof)
        first_sample_well = len(controls) + (-len(controls)) % lay.replicates
        cap = plate_capacity(assay, prof)
        bias = prof.assay_bias.get(assay_id, {})
        analytes = list(assay.analytes)
        for matrix in prof.plates[assay_id]:
            order = _plate_order(samples, matrix)
            dil = float(assay.sample_dilution.get(matrix, 1.0))
            for k, start in enumerate(range(0, len(order), cap), start=1):
                chunk = order[start : start + cap]
                wells = names[: first_sample_well + len(chunk) * lay.replicates]
                n = len(wells)
                sids = [c.sample_id for c in controls] + [""] * (n - len(controls))
                types = [c.sample_type for c in controls] + ["unknown"] * (n - len(controls))
                levels: list[str | None] = [c.level for c in controls] + [None] * (n - len(controls))
                expected = [dict(c.expected) for c in controls] + [{} for _ in range(n - len(controls))]
                ref: list[Sample | None] = [None] * n
                dilution = np.ones(n)
                conc = np.zeros((n, len(analytes)))
                for i, c in enumerate(controls):
                    conc[i] = [c.expected.get(a, 0.0) for a in analytes]
                for j, s in enumerate(chunk):
                    for r in range(lay.replicates):
                        i = first_sample_well + j * lay.replicates + r
                        sids[i], ref[i], dilution[i] = s.sample_id, s, dil
                        conc[i] = [truth[(matrix, a)][s.sample_id] * bias.get(a, 1.0) / dil for a in analytes]
                # A spare well between controls and samples (odd control count) is left empty: drop it.
                keep = [i for i in range(n) if types[i] != "unknown" or ref[i] is not None]
                latest = max(s.collection_date for s in chunk)
                run_day = latest + timedelta(
                    days=int(rng_plates.integers(runs.lag_days[0], runs.lag_days[1] + 1))
                )
                run_started = datetime.combine(
                    run_day,
                    time(
                        int(rng_plates.integers(runs.hours[0], runs.hours[1])),
                        int(rng_plates.integers(0, 60)),
                        int(rng_plates.integers(0, 60)),
                    ),
                )
                operator = runs.operators[int(rng_plates.integers(len(runs.operators)))]
                extrap_below = bool(rng_plates.random() < rep.extrapolate_below_probability)
                extrap_above = bool(rng_plates.random() < rep.extrapolate_above_probability)
                curves = [
                    _plate_curve(kits[(assay_id, a)], assay.standards.top_pg_ml[a], sp, rng_signal)
                    for a in analytes
                ]
                conc = conc[keep]
                cv = float(rng_signal.uniform(*sp.replicate_cv))
                signal = np.column_stack(
                    [
                        add_noise(
                            curves[j].signal(conc[:, j]),
                            rng_signal,
                            cv=cv,
                            additive_sd=sp.additive_sd,
                            floor=sp.floor,
                            resolution=sp.resolution,
                            ceiling=sp.ceiling,
                        )
                        for j in range(len(analytes))
                    ]
                )
                failed = (
                    rng_signal.random(signal.shape) < rep.not_reported_rate
                    if assay.platform != "plate_reader"
                    else np.zeros(signal.shape, dtype=bool)
                )
                drafts.append(
                    _Draft(
                        plate_id=f"{prof.ids.plate_prefix}{seed:03d}-{assay_id}-{matrix}-P{k:03d}",
                        assay=assay,
                        matrix=matrix,
                        analytes=analytes,
                        wells=[wells[i] for i in keep],
                        sample_ids=[sids[i] for i in keep],
                        sample_types=[types[i] for i in keep],
                        levels=[levels[i] for i in keep],
                        expected=[expected[i] for i in keep],
                        dilution=dilution[keep],
                        sample_ref=[ref[i] for i in keep],
                        conc=conc,
                        curves=curves,
                        signal=signal,
                        failed=failed,
                        extrapolate_below=extrap_below,
                        extrapolate_above=extrap_above,
                        run_started=run_started,
                        operator=operator,
                    )
                )
    return drafts


# ---------------------------------------------------------------------------------------------------
# Defects
# ---------------------------------------------------------------------------------------------------


def _transpose_typo(
    sample_id: str, serial_digits: int, taken: set[str], rng: np.random.Generator
) -> str | None:
    """The ID with two adjacent, different serial digits swapped (the commonest keying error), or None
    when every such swap gives an ID that exists."""
    start = len(sample_id) - serial_digits
    spots = [i for i in range(start, len(sample_id) - 1) if sample_id[i] != sample_id[i + 1]]
    for i in rng.permutation(len(spots)).tolist() if spots else []:
        j = spots[i]
        typo = sample_id[:j] + sample_id[j + 1] + sample_id[j] + sample_id[j + 2 :]
        if typo not in taken:
            return typo
    return None


def _unknown_pairs(d: _Draft) -> list[list[int]]:
    """Row indexes of each unknown's replicate wells, in plate order."""
    groups: dict[str, list[int]] = {}
    for i, (t, s) in enumerate(zip(d.sample_types, d.sample_ref, strict=True)):
        if t == "unknown" and s is not None:
            groups.setdefault(s.sample_id, []).append(i)
    return list(groups.values())


def _inject_defects(
    drafts: list[_Draft], samples: Sequence[Sample], prof: Profiles, rng: np.random.Generator
) -> list[tuple[str, _Draft, list[int], str | None, dict[str, Any]]]:
    """Choose and apply defects (a)–(c) on the drafts; returns (kind, draft, rows, analyte, detail)."""
    dp = prof.defects
    found: list[tuple[str, _Draft, list[int], str | None, dict[str, Any]]] = []
    touched: set[tuple[str, int]] = set()  # (plate, row) already carrying a defect

    # (c) a unit mix-up: the lab typed this analyte's standards in ng/mL; the export still says pg/mL.
    um = dp.unit_mislabel
    mislabelled: set[str] = set()
    cands = [
        d
        for d in drafts
        if d.assay.assay_id == um.assay and d.matrix == um.matrix and um.analyte in d.analytes
    ]
    for i in sorted(rng.choice(len(cands), size=min(um.plates, len(cands)), replace=False).tolist()):
        d = cands[i]
        d.unit_factor[um.analyte] = um.factor
        for exp in d.expected:
            if um.analyte in exp:
                exp[um.analyte] *= um.factor
        mislabelled.add(d.plate_id)
        detail = {
            "written_unit": um.written_unit,
            "header_unit": d.assay.unit or "pg/mL",
            "factor_to_written": um.factor,
            "note": f"{um.analyte} standards, QCs and results entered in {um.written_unit}; values are "
            f"{um.factor:g}× the pg/mL the header claims",
        }
        found.append(("unit_mislabel", d, [], um.analyte, detail))

    # (a) sample ID typos: the same sample is keyed correctly on its other plates.
    taken = {s.sample_id for s in samples}
    plain = [d for d in drafts if d.plate_id not in mislabelled and _unknown_pairs(d)]
    n_typo = min(dp.sample_id_typo.count, len(plain))
    for i in sorted(rng.choice(len(plain), size=n_typo, replace=False).tolist()):
        d = plain[i]
        pairs = _unknown_pairs(d)
        rows = pairs[int(rng.integers(len(pairs)))]
        ref = d.sample_ref[rows[0]]
        assert ref is not None
        typo = _transpose_typo(ref.sample_id, prof.ids.sample_serial_digits, taken, rng)
        if typo is None:
            continue
        taken.add(typo)
        for r in rows:
            d.sample_ids[r] = typo
            touched.add((d.plate_id, r))
        found.append(("sample_id_typo", d, rows, None, {"manifest_sample_id": ref.sample_id}))

    # (b) high-CV duplicates: one replicate's signal off by 50–80% on a sample well inside the curve,
    # checked so that both replicates still back-calculate in range (the CV is computable) and exceed the
    # assay's replicate CV limit.
    hc = dp.high_cv_duplicate
    pool = [d for d in drafts if d.plate_id not in mislabelled]
    done = 0
    for _ in range(200 * max(hc.count, 1)):
        if done >= hc.count or not pool:
            break
        d = pool[int(rng.integers(len(pool)))]
        j = int(rng.integers(len(d.analytes)))
        a = d.analytes[j]
        series = d.assay.standards.series(a)
        lo, hi = min(series), max(series)
        pairs = [
            p
            for p in _unknown_pairs(d)
            if len(p) >= 2
            and all((d.plate_id, r) not in touched and not d.failed[r, j] for r in p)
            and all(lo * 10 <= d.conc[r, j] <= hi / 10 for r in p)
        ]
        if not pairs:
            continue
        rows = pairs[int(rng.integers(len(pairs)))]
        off_row = rows[int(rng.integers(len(rows)))]
        off = float(rng.uniform(*hc.off_by))
        factor = 1.0 + off if rng.random() < 0.5 else 1.0 - off
        sp = prof.signal[d.assay.platform]
        new = float(quantise(d.signal[off_row, j] * factor, sp.resolution))
        if sp.ceiling is not None:
            new = min(new, sp.ceiling)
        sig = d.signal[rows, j].copy()
        sig[rows.index(off_row)] = new
        conc, cls = classify(sig, d.curves[j], lo, hi)
        cv = float(np.std(conc, ddof=1) / np.mean(conc) * 100) if np.all(cls == 0) else float("nan")
        if not (cv > d.assay.replicate_cv_max_pct.unknown * 1.25):
            continue
        before = [float(x) for x in d.signal[rows, j]]
        d.signal[off_row, j] = new
        touched.update((d.plate_id, r) for r in rows)
        detail = {
            "off_well": d.wells[off_row],
            "signal_factor": round(factor, 4),
            "signals_before": before,
            "signals_after": [float(x) for x in d.signal[rows, j]],
            "cv_pct_conc": round(cv, 1),
        }
        found.append(("high_cv_duplicate", d, rows, a, detail))
        done += 1
    return found


# ---------------------------------------------------------------------------------------------------
# Building the study
# ---------------------------------------------------------------------------------------------------


def _finish(d: _Draft, prof: Profiles) -> SynthPlate:
    """Print the texts (Luminex) and freeze the draft into the writers' SynthPlate."""
    rep = prof.reporting
    luminex = d.assay.platform != "plate_reader"
    texts: list[list[str] | None] = []
    is_standard = np.asarray([t == "standard" for t in d.sample_types])
    for j, a in enumerate(d.analytes):
        if not luminex:
            texts.append(None)
            continue
        series = d.assay.standards.series(a)
        texts.append(
            reported_texts(
                d.signal[:, j],
                d.curves[j],
                lowest_std=min(series),
                highest_std=max(series),
                multiplier=d.dilution * d.unit_factor.get(a, 1.0),
                extrapolate_below=d.extrapolate_below,
                extrapolate_above=d.extrapolate_above,
                failed=d.failed[:, j],
                standard=is_standard,
                decimals=rep.decimals,
                decimals_below_one=rep.decimals_below_one,
            )
        )
    signal = d.signal.tolist()
    conc = d.conc.tolist()
    wells: list[SynthWell] = []
    for i, w in enumerate(d.wells):
        cells = {}
        for j, a in enumerate(d.analytes):
            t = texts[j]
            cells[a] = SynthCell(signal[i][j], None if t is None else t[i], conc[i][j])
        wells.append(
            SynthWell(
                well=w,
                sample_id=d.sample_ids[i],
                sample_type=d.sample_types[i],
                dilution=float(d.dilution[i]),
                cells=cells,
                expected_conc=d.expected[i],
                level=d.levels[i],
            )
        )
    labels = {}
    for a in d.analytes:
        lab = prof.labels[d.assay.assay_id][a]
        labels[a] = lab.name if lab.region is None or not luminex else f"{lab.name} ({lab.region})"
    return SynthPlate(
        plate_id=d.plate_id,
        assay=d.assay,
        matrix=d.matrix,
        wells=wells,
        run_started=d.run_started,
        operator=d.operator,
        labels=labels,
        unit_label=d.assay.unit or "pg/mL",
        file_stem=f"{d.plate_id}_{d.run_started:%Y%m%d}",
        extra=dict(prof.runs.instrument.get(d.assay.platform, {})),
    )


def build_study(
    *, seed: int = 1, participants: int = 196, config: Config | None = None, profiles: Profiles | None = None
) -> SynthStudy:
    """The whole synthetic study in memory (no files): participants, manifest samples, plates with every
    signal and text decided, the injected defects (file names not yet known) and the truth."""
    if seed < 0:
        raise ValueError("seed must be ≥ 0 (it is embedded in the IDs)")
    if participants < 1:
        raise ValueError("participants must be ≥ 1")
    return _build(seed, participants, config, profiles)[0]


def _build(
    seed: int, participants: int, config: Config | None, profiles: Profiles | None
) -> tuple[SynthStudy, list[_Draft], Profiles]:
    """build_study, also returning the drafts (curves and signals) a repeat run is made from."""
    cfg = config or load_config()
    prof = profiles or load_profiles()
    check_profiles(prof, cfg)
    rngs = _streams(seed)
    people = _participants(cfg, prof, seed, participants, rngs["participants"])
    samples = _samples(cfg, prof, seed, people, rngs["visits"], rngs["manifest"])
    needed = {
        (m, a) for assay in _plan(cfg, prof) for m in prof.plates[assay.assay_id] for a in assay.analytes
    }
    truth = _truth(prof, people, samples, needed, rngs["truth"])
    drafts = _drafts(cfg, prof, seed, samples, truth, rngs)
    injected = _inject_defects(drafts, samples, prof, rngs["defects"])
    plates = [_finish(d, prof) for d in drafts]
    defects = _defect_records(injected, drafts, plates, prof)
    return SynthStudy(seed, people, samples, plates, defects, truth), drafts, prof


def _defect_records(
    injected: list[tuple[str, _Draft, list[int], str | None, dict[str, Any]]],
    drafts: Sequence[_Draft],
    plates: Sequence[SynthPlate],
    prof: Profiles,
) -> list[Defect]:
    """The answer key: the injected defects (a)–(c) in the order injected, then (d) every measurement of a
    sample with a manifest condition and every ``***`` cell, in plate order."""
    by_id = {p.plate_id: p for p in plates}
    out: list[Defect] = []

    def add(
        kind: str,
        plate_id: str,
        wells: list[str],
        sid: str | None,
        analyte: str | None,
        detail: dict[str, Any],
    ) -> None:
        out.append(Defect(f"D{len(out) + 1:04d}", kind, plate_id, wells, sid, analyte, detail))

    for kind, d, rows, analyte, detail in injected:
        plate = by_id[d.plate_id]
        if kind == "unit_mislabel":
            assert analyte is not None
            wells = [
                w.well
                for w in plate.wells
                if w.sample_type == "unknown" and _is_number(w.cells[analyte].reported_text)
            ]
            add(kind, d.plate_id, wells, None, analyte, detail)
        else:
            sid = plate.wells[rows[0]].sample_id
            add(kind, d.plate_id, [plate.wells[r].well for r in rows], sid, analyte, detail)
    if prof.defects.record_sample_conditions:
        for d, plate in zip(drafts, plates, strict=True):
            seen: dict[str, list[str]] = {}
            cond: dict[str, str] = {}
            for w, s in zip(plate.wells, d.sample_ref, strict=True):
                if s is not None and s.condition and w.sample_id == s.sample_id:
                    seen.setdefault(s.sample_id, []).append(w.well)
                    cond[s.sample_id] = s.condition
            for sid, wells in seen.items():
                add("sample_condition", plate.plate_id, wells, sid, None, {"condition": cond[sid]})
    if prof.defects.record_not_reported:
        for plate in plates:
            for w in plate.wells:
                for a, c in w.cells.items():
                    if c.reported_text == "***":
                        add("not_reported", plate.plate_id, [w.well], w.sample_id, a, {"text": "***"})
    return out


def _is_number(text: str | None) -> bool:
    if text is None or text.startswith("OOR") or text == "***":
        return False
    try:
        float(text.lstrip("*"))
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------


def _csv_bytes(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _write_plates(plates: Sequence[SynthPlate], inbox: Path) -> dict[str, list[Path]]:
    """Hand each plate to its instrument's writer (imported here: the writers are separate modules)."""
    from synth.writers.platereader import write_platereader
    from synth.writers.xponent import write_xponent

    written: dict[str, list[Path]] = {}
    for plate in plates:
        if plate.assay.platform == "plate_reader":
            written[plate.plate_id] = list(write_platereader(plate, inbox))
        else:
            written[plate.plate_id] = [write_xponent(plate, inbox)]
    return written


def generate_study(
    out: Path,
    *,
    seed: int = 1,
    participants: int = 196,
    config: Config | None = None,
    overwrite: bool = False,
) -> StudySummary:
    """Generate the study and write it under ``out``: ``inbox/`` (plate exports), ``manifest.csv``,
    ``allocation.csv`` (sealed; ingestion never reads it) and ``defects.json`` (the answer key).

    Refuses a non-empty ``out/inbox`` unless ``overwrite`` (two studies in one inbox would silently mix);
    with ``overwrite`` the inbox is emptied first. Same seed → byte-identical files.
    """
    out = Path(out)
    inbox = out / "inbox"
    if inbox.exists() and any(inbox.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{inbox} is not empty: pass overwrite=True or use another directory")
        shutil.rmtree(inbox)
    inbox.mkdir(parents=True, exist_ok=True)
    study = build_study(seed=seed, participants=participants, config=config)
    written = _write_plates(study.plates, inbox)
    defects = [replace(d, file=written[d.plate_id][0].name) for d in study.defects]

    manifest = out / "manifest.csv"
    rows = sorted(study.samples, key=lambda s: (s.participant_id, s.collection_date, s.matrix, s.sample_id))
    manifest.write_bytes(_csv_bytes(MANIFEST_COLUMNS, (s.manifest_row() for s in rows)))
    allocation = out / "allocation.csv"
    allocation.write_bytes(
        _csv_bytes(ALLOCATION_COLUMNS, ([p.participant_id, p.site_id, p.arm] for p in study.participants))
    )
    defects_json = out / "defects.json"
    doc = {"seed": seed, "defects": [d.as_json() for d in defects]}
    defects_json.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    files = [p for ps in written.values() for p in ps]
    return StudySummary(
        seed=seed,
        participants=len(study.participants),
        samples=len(study.samples),
        plates=len(study.plates),
        files=len(files),
        wells=sum(len(p.wells) for p in study.plates),
        defects=len(defects),
        out=out,
        inbox=inbox,
        manifest=manifest,
        allocation=allocation,
        defects_json=defects_json,
        files_written=files,
    )


def reassay_plate(
    out_dir: Path, plate_id: str, *, seed: int = 1, participants: int = 196, days_later: int = 7
) -> list[Path]:
    """Write a re-assay of one plate of the study (same seed and size): the same samples measured again
    on a new run ``<plate_id>-RA``, ``days_later`` days after the first. Ingested after the study, its
    results supersede exactly those of the original plate (re-assay rule). Returns the files written."""
    study = build_study(seed=seed, participants=participants)
    plate = next((p for p in study.plates if p.plate_id == plate_id), None)
    if plate is None:
        known = ", ".join(sorted(p.plate_id for p in study.plates)[:5])
        raise ValueError(f"no plate {plate_id} in the study of seed {seed} ({known}, …)")
    when = plate.run_started + timedelta(days=days_later)
    again = replace(
        plate, plate_id=f"{plate_id}-RA", run_started=when, file_stem=f"{plate_id}-RA_{when:%Y%m%d}"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    return _write_plates([again], out_dir)[again.plate_id]


@functools.lru_cache(maxsize=2)
def _shipped_build(seed: int, participants: int) -> tuple[SynthStudy, list[_Draft], Profiles]:
    """The study of the shipped configuration, built once per (seed, size) for several repeat plates;
    callers copy what they change (``dataclasses.replace``), never mutate it."""
    return _build(seed, participants, None, None)


def isr_plate(
    out_dir: Path,
    plate_id: str,
    sample_ids: Sequence[str],
    *,
    seed: int = 1,
    participants: int = 196,
    bad_fraction: float = 0.0,
    bad_factor: float = 0.6,
    days_later: int = 14,
) -> list[Path]:
    """Write an incurred-sample reanalysis run of ``sample_ids`` of one plate of the study (same seed and
    size): the plate's calibrators and QCs as they were, those samples' wells only, on a new plate
    ``<plate_id>-ISR`` ``days_later`` days after the first run. Each repeat reads within ±10 % of the
    original measurement (a fixed draw); ``bad_fraction`` of the samples (the first ones, in plate order)
    read ``bad_factor`` × the original instead — a seeded bad repeat (0.6: 50 % off the mean of the two,
    beyond ICH M10's 30 %). Returns the files written."""
    if not 0.0 <= bad_fraction <= 1.0:
        raise ValueError("bad_fraction must be between 0 and 1")
    _study, drafts, prof = _shipped_build(seed, participants)
    d = next((x for x in drafts if x.plate_id == plate_id), None)
    if d is None:
        known = ", ".join(sorted(x.plate_id for x in drafts)[:5])
        raise ValueError(f"no plate {plate_id} in the study of seed {seed} ({known}, …)")
    wanted = set(sample_ids)
    keep = [
        i
        for i, (t, ref) in enumerate(zip(d.sample_types, d.sample_ref, strict=True))
        if t != "unknown" or (ref is not None and d.sample_ids[i] in wanted)
    ]
    on_plate = list(dict.fromkeys(d.sample_ids[i] for i in keep if d.sample_types[i] == "unknown"))
    missing = sorted(wanted - set(on_plate))
    if missing:
        raise ValueError(f"plate {plate_id} did not measure {', '.join(missing[:5])}")
    n_bad = math.ceil(bad_fraction * len(on_plate) - 1e-9)
    rng = np.random.default_rng([seed, 4_3_0])  # ISR: its own stream, the study's draws stay as they were
    factor = {sid: float(rng.uniform(0.9, 1.1)) for sid in on_plate}
    factor.update({sid: bad_factor for sid in on_plate[:n_bad]})
    signal = d.signal[keep].copy()
    sp = prof.signal[d.assay.platform]
    for j, curve in enumerate(d.curves):
        for row, i in enumerate(keep):
            if d.sample_types[i] != "unknown":
                continue
            read = curve.conc(signal[row, j])  # what the first run measured, in the well
            if np.isfinite(read):
                value = float(curve.signal(read * factor[d.sample_ids[i]]))
                signal[row, j] = float(quantise(value, sp.resolution))
    when = d.run_started + timedelta(days=days_later)
    again = replace(
        d,
        plate_id=f"{plate_id}-ISR",
        wells=[d.wells[i] for i in keep],
        sample_ids=[d.sample_ids[i] for i in keep],
        sample_types=[d.sample_types[i] for i in keep],
        levels=[d.levels[i] for i in keep],
        expected=[d.expected[i] for i in keep],
        dilution=d.dilution[keep],
        sample_ref=[d.sample_ref[i] for i in keep],
        conc=d.conc[keep],
        signal=signal,
        failed=np.zeros_like(d.failed[keep]),
        run_started=when,
    )
    plate = _finish(again, prof)
    out_dir.mkdir(parents=True, exist_ok=True)
    return _write_plates([plate], out_dir)[plate.plate_id]
