"""One file in, one :class:`FileOutcome` out: detect → read → per plate match assay, prepare, check wells,
aggregate replicates → resolve samples → check and validate results → plate records, status, message.

A pure function of the bytes, the configuration and the manifest: no file system, no Prefect, no DuckDB.
It never raises for bad data — an unreadable file, an unknown format or assay becomes a ``quarantined``
outcome with the reason; bad rows become quarantine rows. Only a programming error raises.

The well table returned has the canonical columns (schemas/wells.py) with ``source_sha256`` right after
``source_file``; wells that break the well-table rules are left out of it (each has a quarantine row).
Pipeline remarks are appended to ``flags`` (``limit_from_standards``, ``unknown_analyte``, ...).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from pipeline.prepare import (
    FACTOR,
    LIMIT_FILLED,
    RECOMPUTED_SCHEMA,
    analyte_from_assay,
    match_assay,
    no_assay_message,
    prepare_plate,
    resolve_analytes,
    select_signal,
)
from pipeline.replicates import ROW_NUMBER, aggregate, empty_results
from pipeline.resolve import Resolution, resolve
from pipeline.runqc import PlateQc, assess_plate
from pipeline.validate import (
    HOLD,
    REJECT_RULES,
    check_results,
    check_wells,
    quarantine_frame,
    set_status,
    validate_results,
)
from readers.base import FileInput, PlateInfo, ReaderError, ReadResult
from readers.refusal import FileRefused, ManifestInInboxError
from schemas.config import Assay, Config
from schemas.manifest import Manifest
from schemas.outcome import FileOutcome, PlateRecord
from schemas.results import QUARANTINE_SCHEMA, RESULT_SCHEMA, UNRESOLVED_SCHEMA
from schemas.wells import WELL_COLUMNS, conform

WELL_OUTPUT_COLUMNS = ["source_file", "source_sha256", *WELL_COLUMNS[1:], *RECOMPUTED_SCHEMA]
"""Column order of ``FileOutcome.wells``: the canonical columns, then our curve's recomputation of the
instrument's concentration (``recomputed_conc``, ``recomputed_diff_pct``; pipeline/prepare)."""

_WHY = {
    "plausible_range": "plausibility",
    "unit_unknown": "unit unknown",
    "dilution_missing": "no dilution factor",
    "limit_unknown": "limit unknown",
    "negative_value": "negative value",
    "non_finite_value": "infinite value",
    "id_not_exportable": "ID not exportable",
    "reader_warning": "reader warning",
    "mixed_matrix": "matrix differs from the plate",
    "conflicting_censoring": "replicates disagree",
    "mixed_dilution": "mixed dilutions",
    "unknown_analyte": "unknown analyte",
    "analyte_not_in_assay": "analyte not in the assay",
    "well_schema": "unreadable values",
    "missing_sample_id": "no sample ID",
    "high_cv": "replicate CV",
    "curve_failed": "no standard curve",
    "standards_off_scale": "standards off scale",
    "result_schema": "result rules",
    "result_rule": "result rules",
}


def process_file(
    file: FileInput, sha256: str, config: Config, manifest: Manifest, *, assay: str | None = None
) -> FileOutcome:
    """Read, check and resolve one export (see the module doc). ``assay`` (an assay_id: `--assay`, the
    upload's assay field) says which assay the file is when its content does not (no protocol name, no
    analyte: plate readers); a file that names its own keeps it."""
    from readers.detect import UnknownFormatError, detect, is_companion

    base = {"source_file": file.name, "source_sha256": sha256, "size_bytes": len(file.data)}
    try:
        if is_companion(file):
            return FileOutcome(
                **base,  # type: ignore[arg-type]
                format="platemap",
                status="companion",
                message=f"{file.name} is a plate map: it is read together with the export it describes, "
                "not on its own.",
            )
        reader = detect(file)
    except FileRefused as exc:  # an empty file, a PDF, a manifest…: refused for what it is
        message = str(exc) + (_manifest_home(manifest) if isinstance(exc, ManifestInInboxError) else "")
        return _quarantined(file, sha256, None, exc.rule, message, details=exc.details)
    except UnknownFormatError as exc:
        return _quarantined(file, sha256, None, "unknown_format", str(exc), details=exc.details)
    except ReaderError as exc:
        return _quarantined(file, sha256, None, "unreadable_file", str(exc), details=exc.details)
    try:
        rr = reader.read(file)
    except UnknownFormatError as exc:  # the allotropy fallback could not read it either
        return _quarantined(file, sha256, None, "unknown_format", str(exc), details=exc.details)
    except ReaderError as exc:
        return _quarantined(file, sha256, reader.name, "unreadable_file", str(exc), details=exc.details)
    return _process_read(file, sha256, rr, config, manifest, assay)


def _manifest_home(manifest: Manifest) -> str:
    """Where a manifest dropped into the inbox belongs: the run's manifests folder, when it has one."""
    where = manifest.location
    if where is None:
        return " Put it in the manifests folder (BIOMARKERS_MANIFEST; data/manifests by default)."
    if where.is_dir():
        return f" Put it in the manifests folder {where}, and remove it from the inbox."
    return (
        f" This run reads one manifest file, {where}: add its rows there (or make that a manifests folder "
        "and put this file in it), and remove it from the inbox."
    )


def _quarantined(
    file: FileInput,
    sha256: str,
    fmt: str | None,
    rule: str,
    message: str,
    plates: list[PlateRecord] | None = None,
    details: str | None = None,
) -> FileOutcome:
    """A file not loaded at all. ``details`` (each format tried and why it declined) is kept on the
    quarantine row after the message, and on the outcome for the upload API; never in ``message``."""
    q = quarantine_frame(
        [
            {
                "source_file": file.name,
                "source_sha256": sha256,
                "rule": rule,
                "severity": "reject",
                "message": message + (" Details: " + "; ".join(details.splitlines()) if details else ""),
            }
        ]
    )
    return FileOutcome(
        source_file=file.name,
        source_sha256=sha256,
        size_bytes=len(file.data),
        format=fmt,
        status="quarantined",
        message=message,
        details=details,
        plates=plates or [],
        quarantine=q,
        results=pl.DataFrame(schema=RESULT_SCHEMA),
        unresolved=pl.DataFrame(schema=UNRESOLVED_SCHEMA),
    )


class _Refused(Exception):
    """A step found the whole file unusable: ``outcome`` is its quarantined verdict (never leaves this
    module — process_file returns it, as it never raises for bad data)."""

    def __init__(self, outcome: FileOutcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


def _process_read(
    file: FileInput, sha256: str, rr: ReadResult, config: Config, manifest: Manifest, assay_id: str | None
) -> FileOutcome:
    """The story of one read file: its wells → its plates prepared → samples resolved → results validated
    → the outcome assembled. Each step is a function of its own (below) so that each can be read, and
    tested, alone; a step that finds the whole file unusable raises :class:`_Refused` with its verdict."""
    try:
        read = read_wells(file, sha256, rr, config, assay_id)
        plates = prepare_plates(file, sha256, read, config)
    except _Refused as refused:
        return refused.outcome
    if len(plates.no_assay) == len(read.plate_ids):
        return no_plate_usable(file, sha256, rr, read, plates)
    resolution = resolve(plates.all_results(), manifest, config)
    plates.quarantine.append(resolution.quarantine)
    final, unresolved = validate_resolved(resolution, plates, config)
    return assemble(file, sha256, rr, read, plates, resolution, final, unresolved)


@dataclass(frozen=True)
class ReadWells:
    """What the reader gave, conformed: the canonical well table with analytes named from the catalogue,
    the plates in the order the file has them, and the assay the file was given or named for."""

    wells: pl.DataFrame
    infos: dict[str, PlateInfo]
    plate_ids: list[str]
    named: Assay | None  # the assay given with the file (--assay, upload), else its name's only pattern
    by_name: list[Assay]  # the assays whose file-name pattern the name matches (for the messages)
    format: str  # the reader's name for the format
    warnings: list[str]  # what the reader said about the file


def read_wells(
    file: FileInput, sha256: str, rr: ReadResult, config: Config, assay_id: str | None
) -> ReadWells:
    """Conform the reader's wells and name their analytes. Why here and not in the readers: the
    catalogue's aliases and the assay a file was uploaded with are configuration, which readers never see.
    Refuses a file given an assay that is not configured (the lab picked a wrong one: say which exist) and
    a file without a single well value (nothing to load: re-export)."""
    given = config.assays.get(assay_id) if assay_id else None
    if assay_id and given is None:
        ids = ", ".join(a.assay_id for a in config.assays.assays)
        raise _Refused(
            _quarantined(
                file,
                sha256,
                rr.format,
                "unknown_assay",
                f"{file.name}: the assay given with the file, {assay_id!r}, is not configured (assays.yaml "
                f"has {ids}); upload the file again choosing one of those.",
            )
        )
    by_name = config.assays.by_file_name(file.name)
    named = given or (by_name[0] if len(by_name) == 1 else None)
    wells = resolve_analytes(conform(rr.wells), config)
    if wells.height == 0:
        raise _Refused(
            _quarantined(
                file,
                sha256,
                rr.format,
                "no_wells",
                f"{file.name}: the {rr.format} reader found no wells with values; re-export the plate with "
                "its results and upload it again.",
            )
        )
    infos = {p.plate_id: p for p in rr.plates}
    plate_ids = list(dict.fromkeys(wells["plate_id"].to_list()))
    for pid in plate_ids:
        infos.setdefault(pid, PlateInfo(plate_id=pid))
    return ReadWells(
        wells=wells,
        infos=infos,
        plate_ids=plate_ids,
        named=named,
        by_name=by_name,
        format=rr.format,
        warnings=list(rr.warnings),
    )


@dataclass
class PreparedPlates:
    """Every plate of a file after preparation, in the file's order: what each step after it needs. The
    lists grow plate by plate; ``quarantine`` keeps its rows in the order they were found."""

    quarantine: list[pl.DataFrame] = field(default_factory=list)
    wells: list[pl.DataFrame] = field(default_factory=list)  # checked wells of the plates with an assay
    results: list[pl.DataFrame] = field(default_factory=list)  # aggregated results, per plate
    assays: dict[str, Assay | None] = field(default_factory=dict)
    curve_notes: dict[str, str | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # the reader's, then each plate's preparation's
    no_assay: list[str] = field(default_factory=list)  # why each plate without a usable assay has none
    qc: list[PlateQc] = field(default_factory=list)
    rejected_runs: dict[tuple[str, str], str] = field(default_factory=dict)  # (plate, analyte) → why
    other_reads: list[pl.DataFrame] = field(default_factory=list)  # reads the assay does not fit (kept)

    def all_results(self) -> pl.DataFrame:
        return pl.concat(self.results, how="vertical") if self.results else empty_results()

    def refuse_plate(self, file: FileInput, sha256: str, pid: str, rule: str, msg: str) -> None:
        """A plate that cannot be used (no sample names, no assay, no signal chosen): said once, as a
        quarantine row naming the plate; the file's other plates go on."""
        self.no_assay.append(msg)
        self.quarantine.append(
            quarantine_frame(
                [
                    {
                        "source_file": file.name,
                        "source_sha256": sha256,
                        "plate_id": pid,
                        "rule": rule,
                        "severity": "reject",
                        "message": msg,
                    }
                ]
            )
        )


def prepare_plates(file: FileInput, sha256: str, read: ReadWells, config: Config) -> PreparedPlates:
    """Each plate alone (a file may hold several, of different assays): why per plate — one plate
    without a plate map or an assay must not cost the file its other plates."""
    out = PreparedPlates(warnings=list(read.warnings))
    for pid in read.plate_ids:
        prepare_one_plate(file, sha256, pid, read, config, out)
    return out


def prepare_one_plate(
    file: FileInput, sha256: str, pid: str, read: ReadWells, config: Config, out: PreparedPlates
) -> None:
    """One plate: match its assay, choose its signal, prepare (curve, limits, concentrations), check its
    wells, judge its runs (acceptance) and aggregate replicates into results — appended to ``out``.
    Refuses the whole file (:class:`_Refused`) when its wells break the well table's schema: the file
    itself is unreadable then, not one plate."""
    plate = read.infos[pid]
    pw = read.wells.filter(pl.col("plate_id") == pid)
    if pw["sample_id"].null_count() == pw.height:
        out.refuse_plate(
            file,
            sha256,
            pid,
            "no_sample_identities",
            f"Plate {pid}: no well names a sample (a grid without its plate map, or an export without "
            "sample names); upload the plate map together with the export (named "
            f"'<export name>_platemap.csv'), or re-export with sample names.",
        )
        out.assays[pid] = None
        return
    # the file's own protocol/analytes first; the assay given with it, or its name's pattern, for
    # exports that name neither
    assay = match_assay(plate, pw, config) or read.named
    out.assays[pid] = assay
    if assay is None:
        out.refuse_plate(
            file, sha256, pid, "unknown_assay", no_assay_message(plate, pw, config, read.by_name)
        )
        return
    pw = analyte_from_assay(pw, assay)
    pw, others, why_not = select_signal(pw, assay)
    if why_not is not None:
        out.refuse_plate(file, sha256, pid, "signal_kind_unset", f"Plate {pid}: {why_not}")
        out.assays[pid] = None
        return
    if others.height:
        out.other_reads.append(others)
    prep = prepare_plate(pw, plate, assay, config, sha256)
    out.warnings += prep.warnings
    out.curve_notes[pid] = prep.curve_note
    out.quarantine.append(prep.quarantine)
    checked = check_wells(prep.wells, sha256)
    if checked.whole_file is not None:
        raise _Refused(
            _quarantined(file, sha256, read.format, "well_schema", str(checked.quarantine["message"][0]))
        )
    out.quarantine.append(checked.quarantine)
    out.wells.append(checked.wells)
    qc = assess_plate(checked.wells, plate, assay, sha256, prep.curves, prep.comparisons)
    out.qc.append(qc)
    for analyte, why in qc.rejected.items():
        out.rejected_runs[(pid, analyte)] = why
        out.quarantine.append(
            quarantine_frame(
                [
                    {
                        "source_file": file.name,
                        "source_sha256": sha256,
                        "plate_id": pid,
                        "analyte": analyte,
                        "rule": "run_rejected",
                        "severity": "hold",
                        "message": f"Plate {pid}, {analyte}: the run failed acceptance — {why}. Its "
                        "results are kept but not reported; re-assay these samples on a new plate.",
                    }
                ]
            )
        )
    res, q = aggregate(checked.wells, prep.limits, plate, assay, config, sha256, prep.analyte_holds)
    out.results.append(res)
    out.quarantine.append(q)


def no_plate_usable(
    file: FileInput, sha256: str, rr: ReadResult, read: ReadWells, plates: PreparedPlates
) -> FileOutcome:
    """No plate of the file has a usable assay: the file is quarantined with every plate's reason, and
    its plates are still recorded (what was in it, for the person who fixes the configuration)."""
    message = " ".join(plates.no_assay) if len(plates.no_assay) > 1 else plates.no_assay[0]
    records = [_plate_record(read.infos[p], None, None, read.wells, None) for p in read.plate_ids]
    out = _quarantined(file, sha256, rr.format, "unknown_assay", message, records)
    out.quarantine = pl.concat([q for q in plates.quarantine if q.height], how="vertical")
    return out


def validate_resolved(
    resolution: Resolution, plates: PreparedPlates, config: Config
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Check and validate the resolved results (rules, then the result contract), hold the results of
    runs that failed acceptance, and keep in the unresolved queue only samples whose results survived:
    validation comes after resolution because rules depend on the sample (its matrix, its visit).
    Returns the final results and the unresolved queue; the refused rows join ``plates.quarantine``."""
    checked_results, q = check_results(resolution.results, config)
    plates.quarantine.append(q)
    final, q = validate_results(set_status(checked_results))
    plates.quarantine.append(q)
    final = reject_failed_runs(final.drop(ROW_NUMBER), plates.rejected_runs)
    unresolved = resolution.unresolved
    if unresolved.height:
        kept = final.filter(pl.col("status") == "unresolved").select("plate_id", "sample_id").unique()
        unresolved = unresolved.join(kept, on=["plate_id", "sample_id"], how="semi", maintain_order="left")
    return final, unresolved


def assemble(
    file: FileInput,
    sha256: str,
    rr: ReadResult,
    read: ReadWells,
    plates: PreparedPlates,
    resolution: Resolution,
    final: pl.DataFrame,
    unresolved: pl.DataFrame,
) -> FileOutcome:
    """The file's outcome: its wells, results, quarantine (the reader's warnings last), plate records, a
    status and the one-sentence message a lab person reads. Kept apart from the steps that decide, so that
    what is loaded is put together in one place."""
    out_wells = _output_wells(read.wells, plates.wells, sha256, plates.other_reads)
    noted = list(dict.fromkeys(plates.warnings))
    plates.quarantine.append(_warning_rows(file.name, sha256, noted))
    q_all = [q for q in plates.quarantine if q.height]
    quarantine_df = pl.concat(q_all, how="vertical") if q_all else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    records = [
        _plate_record(
            read.infos[p],
            plates.assays[p],
            resolution.plate_matrix.get(p),
            read.wells,
            plates.curve_notes.get(p),
        )
        for p in read.plate_ids
    ]
    clean = (
        quarantine_df.filter(pl.col("rule") != "reader_warning").height == 0
        and unresolved.height == 0
        and final.filter(pl.col("status") != "loaded").height == 0
    )
    return FileOutcome(
        source_file=file.name,
        source_sha256=sha256,
        size_bytes=len(file.data),
        format=rr.format,
        status="loaded" if clean else "loaded_with_issues",
        message=summarise(
            read.plate_ids, final, quarantine_df, unresolved, _rejects(plates.wells, quarantine_df)
        )
        + ("" if not noted else f" Reader warnings: {'; '.join(noted)}."),
        plates=records,
        wells=out_wells,
        results=final.select(list(RESULT_SCHEMA)),
        quarantine=quarantine_df,
        unresolved=unresolved,
        companions=list(rr.companions),
        warnings=plates.warnings + [n for qc in plates.qc for n in qc.notes],
        curves=_concat([qc.curves for qc in plates.qc]),
        calibrators=_concat([qc.calibrators for qc in plates.qc]),
        acceptance=_concat([qc.acceptance for qc in plates.qc]),
    )


def _warning_rows(name: str, sha256: str, notes: list[str]) -> pl.DataFrame:
    """What the reader (or preparation) said about the file while reading it — "no Dilution Factor
    section: dilution 1 assumed" — reaches the quarantine table as warnings (issue 14: ``inspect`` printed
    them, ingestion lost them)."""
    return quarantine_frame(
        [
            {
                "source_file": name,
                "source_sha256": sha256,
                "rule": "reader_warning",
                "severity": "warning",
                "message": f"{name}: {n}. The values are loaded; check the export if this is unexpected.",
            }
            for n in notes
        ]
    )


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame | None:
    frames = [f for f in frames if f.height]
    return pl.concat(frames, how="vertical") if frames else None


def reject_failed_runs(results: pl.DataFrame, rejected: dict[tuple[str, str], str]) -> pl.DataFrame:
    """Results of a run (plate × analyte) that failed acceptance: kept, never current, with the reason."""
    if not rejected or results.height == 0:
        return results
    keys = pl.DataFrame(
        [
            {"plate_id": p, "analyte": a, "_why": f"run failed acceptance: {w}"}
            for (p, a), w in rejected.items()
        ]
    )
    out = results.join(keys, on=["plate_id", "analyte"], how="left", maintain_order="left")
    hit = pl.col("_why").is_not_null()
    return out.with_columns(
        status=pl.when(hit).then(pl.lit("run_rejected")).otherwise(pl.col("status")),
        hold_reason=pl.when(hit).then(pl.col("_why")).otherwise(pl.col("hold_reason")),
    ).drop("_why")


def _output_wells(
    read: pl.DataFrame, prepared: list[pl.DataFrame], sha256: str, other_reads: list[pl.DataFrame]
) -> pl.DataFrame:
    """The well table to load: prepared wells (pipeline remarks appended to ``flags``), the reads the assay
    does not fit (flagged ``not_fitted``), plus the wells of plates without an assay as read; wells
    rejected by the well-table rules are left out."""
    done = {p for df in prepared for p in df["plate_id"].unique().to_list()}
    none = [pl.lit(None, t).alias(c) for c, t in RECOMPUTED_SCHEMA.items()]
    parts = [df.select(*WELL_COLUMNS, *none) for df in other_reads if df["plate_id"][0] in done]
    for df in prepared:
        f = pl.col("flags")
        remark = pl.col(HOLD)
        flags = (
            pl.when(remark.is_null())
            .then(f)
            .when(f.is_null() | (f == ""))
            .then(remark)
            .otherwise(pl.concat_str([f, pl.lit(";"), remark]))
        )
        kept = df.filter(pl.col(HOLD).is_null() | (pl.col(HOLD) != "well_schema"))
        parts.append(
            kept.with_columns(flags=flags)
            .drop(HOLD, FACTOR, LIMIT_FILLED, strict=False)
            .select(*WELL_COLUMNS, *RECOMPUTED_SCHEMA)
        )
    rest = read.filter(~pl.col("plate_id").is_in(list(done)))
    if rest.height:
        parts.append(rest.select(*WELL_COLUMNS, *none))
    wells = pl.concat(parts, how="vertical") if parts else read.clear().select(*WELL_COLUMNS, *none)
    return wells.with_columns(source_sha256=pl.lit(sha256)).select(WELL_OUTPUT_COLUMNS)


def _rejects(prepared: list[pl.DataFrame], quarantine: pl.DataFrame) -> dict[str, Counter[str]]:
    """Per plate, how many well values were rejected, by rule (wells) plus rejected results."""
    out: dict[str, Counter[str]] = {}
    for df in prepared:
        bad = df.filter(pl.col(HOLD).is_in(list(REJECT_RULES)))
        for (pid, rule), g in bad.group_by("plate_id", HOLD):
            out.setdefault(str(pid), Counter())[str(rule)] += g.height
    res = quarantine.filter(
        pl.col("rule").is_in(["result_schema", "result_rule"]) & pl.col("plate_id").is_not_null()
    )
    for (pid, rule), g in res.group_by("plate_id", "rule"):
        out.setdefault(str(pid), Counter())[str(rule)] += g.height
    return out


def _plate_record(
    plate: PlateInfo, assay: Assay | None, matrix: str | None, wells: pl.DataFrame, curve_note: str | None
) -> PlateRecord:
    pw = wells.filter(pl.col("plate_id") == plate.plate_id)
    physical = {w for cell in pw["well"].to_list() if cell for w in cell.split(",")}
    if assay is None:
        note = None
    elif curve_note:
        note = curve_note
    else:
        note = "concentrations as reported by the instrument software"
    return PlateRecord(
        plate_id=plate.plate_id,
        assay_id=assay.assay_id if assay else None,
        platform=assay.platform if assay else None,
        matrix=matrix,
        protocol=plate.protocol,
        instrument=plate.instrument,
        acquired_at=plate.acquired_at,
        kit_lot=plate.kit_lot or (assay.kit_lot if assay else None),
        n_wells=len(physical),
        curve_note=note,
    )


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def summarise(
    plate_ids: list[str],
    results: pl.DataFrame,
    quarantine: pl.DataFrame,
    unresolved: pl.DataFrame,
    rejects: dict[str, Counter[str]],
) -> str:
    """One sentence per file: 'Plate NTF-001: 296 results accepted, 2 held (plausibility), 1 sample not in
    the manifest.' (plates joined with '; ')."""
    parts = []
    for pid in plate_ids:
        r = results.filter(pl.col("plate_id") == pid)
        q = quarantine.filter(pl.col("plate_id") == pid)
        bits: list[str] = []
        if q.filter(pl.col("rule") == "unknown_assay").height:
            parts.append(f"Plate {pid}: not loaded (no configured assay matches)")
            continue
        accepted = r.filter(pl.col("status") == "loaded").height
        bits.append(f"{_count(accepted, 'result')} accepted")
        held = r.filter(pl.col("status") == "held")
        if held.height:
            why: Counter[str] = Counter()
            for flags in held["flags"].to_list():
                for code in (flags or "").split(";"):
                    if code in _WHY and code not in ("high_cv",):
                        why[_WHY[code]] += 1
            detail = ", ".join(k for k, _ in why.most_common())
            bits.append(f"{held.height} held" + (f" ({detail})" if detail else ""))
        failed = r.filter(pl.col("status") == "run_rejected")
        if failed.height:
            runs = ", ".join(sorted(set(failed["analyte"].to_list())))
            bits.append(f"{failed.height} not reported because the run failed acceptance ({runs})")
        n_unres = unresolved.filter(pl.col("plate_id") == pid)["sample_id"].n_unique()
        if n_unres:
            bits.append(f"{_count(n_unres, 'sample')} not in the manifest")
        warned = q.filter(pl.col("severity") == "warning")
        if warned.height:
            kinds = ", ".join(sorted({_WHY.get(x, x) for x in warned["rule"].to_list()}))
            bits.append(f"{warned.height} flagged ({kinds})")
        rejected = rejects.get(pid, Counter())
        if rejected:
            kinds = ", ".join(_WHY.get(k, k) for k, _ in rejected.most_common())
            bits.append(f"{_count(sum(rejected.values()), 'value')} rejected ({kinds})")
        if r.height == 0 and not rejected:
            bits = ["no sample results (standards and controls only)"]
        parts.append(f"Plate {pid}: " + ", ".join(bits))
    return "; ".join(parts) + "."
