"""The verdict a lab sees seconds after an upload: the pure pipeline's :class:`FileOutcome`, retold for
lab staff — what was accepted, and each problem pointing at plate, well, sample and analyte with what to
do about it.

The verdict is computed with the same ``process_file`` the ingestion flow runs, against the configured
study and the current sample manifest, so what the page promises is what the warehouse will hold (unless
the manifest changes in between: an unresolved sample then resolves at load time).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, Field, model_validator

from pipeline.manifest import ManifestError, load_manifest
from pipeline.process import process_file
from readers.allotropy_fallback import FORMAT_PREFIX as _FALLBACK
from readers.base import FileInput
from schemas.config import Config
from schemas.manifest import Manifest
from schemas.outcome import FileOutcome

Outcome = Literal["accepted", "accepted_with_problems", "not_accepted", "not_an_export"]
ProblemKind = Literal["not_loaded", "held", "unresolved", "flagged"]
Light = Literal["green", "amber", "red"]

KIND_LABEL: dict[str, str] = {  # in the order a lab should act on them
    "not_loaded": "Not loaded",
    "unresolved": "Sample ID not found",
    "held": "Held for review",
    "flagged": "Loaded, flagged",
}
_KIND_ORDER = {k: i for i, k in enumerate(KIND_LABEL)}
_SEVERITY_KIND: dict[str, ProblemKind] = {"reject": "not_loaded", "hold": "held", "warning": "flagged"}


class Problem(BaseModel):
    kind: ProblemKind = Field(description="not_loaded | held | unresolved | flagged")
    plate: str | None = None
    well: str | None = Field(None, description="Well(s) as on the plate, e.g. 'G3,H3' for a duplicate")
    sample: str | None = None
    analyte: str | None = None
    value: str | None = Field(None, description="The value as written in the file")
    rule: str = Field(
        description="Stable code of the rule broken, e.g. plausible_range, sample_not_in_manifest"
    )
    message: str = Field(description="One plain sentence for lab staff, ending with what to do")


class Counts(BaseModel):
    accepted: int = Field(description="Sample results that will be reported")
    held: int = Field(description="Loaded but held for review (plausibility, failed run acceptance...)")
    rejected: int = Field(description="Values, rows or whole files that will not be loaded")
    unresolved: int = Field(description="Results whose sample ID is not in the sample manifest (yet)")
    flagged: int = Field(description="Accepted results carrying a warning (e.g. replicate CV)")


class ProblemGroup(BaseModel):
    """Identical problems told once ("8 wells: …"): same kind, rule, plate and analyte."""

    kind: ProblemKind
    rule: str
    plate: str | None = None
    analyte: str | None = None
    count: int = Field(description="How many problems of the list this group stands for")
    noun: str = Field(description="What is counted: 'sample', 'well' or 'file'")
    wells: list[str] = Field(default_factory=list)
    samples: list[str] = Field(default_factory=list)
    message: str = Field(description="What is wrong and what to do (the first of the group when they differ)")


class PlateVerdict(BaseModel):
    plate_id: str
    assay: str | None
    matrix: str | None
    wells: int
    concentrations: str | None = Field(None, description="Where the concentrations come from")


class Verdict(BaseModel):
    outcome: Outcome = Field(
        description="What happens to the file: accepted / accepted_with_problems (it goes on to the "
        "warehouse, held and flagged results included) / not_accepted / not_an_export (nothing loaded); "
        "see `light` for how well it went"
    )
    light: Light = Field(
        "red",
        description="green: every result accepted, no warning; amber: every result accepted, some with a "
        "warning (e.g. replicate CV); red: not every result could be accepted (held, refused, sample ID not "
        "found) or nothing could",
    )
    headline: str = Field("", description="The verdict in a few words, e.g. 'Partly accepted: 288 of 296'")
    first_step: str = Field("", description="The one thing to do first (empty when there is nothing to do)")
    summary: str = Field(description="One or two plain sentences: what happened")
    what_to_do: str = Field(description="What the lab should do next")
    format: str | None = Field(None, description="Detected format (reader name), None when not recognised")
    format_label: str | None = Field(None, description="The format as a lab calls it")
    plates: list[PlateVerdict]
    counts: Counts
    problems: list[Problem]
    groups: list[ProblemGroup] = Field(
        default_factory=list, description="The problems with identical ones told once, in the order to act"
    )
    notes: list[str] = Field(default_factory=list, description="Remarks that need no action")
    details: str | None = Field(
        None,
        description="A refusal's particulars: each format tried and why it declined (not for a first read)",
    )
    assay: str | None = Field(
        None,
        description="The assay (assay_id in assays.yaml) the file was uploaded with, for exports that do not "
        "name their analyte; None when none was given",
    )

    @model_validator(mode="after")
    def _told(self) -> Verdict:
        """Verdicts stored before `light` existed get it from their outcome and counts."""
        if not self.headline:
            self.light, self.headline = _light(self.outcome, self.counts)
        return self

    @property
    def loadable(self) -> bool:
        return self.outcome in ("accepted", "accepted_with_problems")


class ManifestUnavailableError(Exception):
    """The sample manifest cannot be read: verdicts would call every sample unknown."""


class ManifestCache:
    """The parsed sample manifest, re-read only when a manifest file changes (by name, size, mtime)."""

    def __init__(self, path: Path, config: Config) -> None:
        self.path = path
        self.config = config
        self._lock = threading.Lock()
        self._key: tuple[tuple[str, int, int], ...] | None = None
        self._manifest: Manifest | None = None

    def _signature(self) -> tuple[tuple[str, int, int], ...]:
        if self.path.is_dir():
            files = sorted(p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
        elif self.path.is_file():
            files = [self.path]
        else:
            raise ManifestUnavailableError(
                f"the sample manifest {self.path} is missing; the data team must restore it before uploads "
                "can be checked (your file is kept)"
            )
        return tuple((p.name, (st := p.stat()).st_size, st.st_mtime_ns) for p in files)

    def get(self) -> Manifest:
        with self._lock:
            key = self._signature()
            if key != self._key or self._manifest is None:
                try:
                    self._manifest = load_manifest(self.path, self.config)
                except ManifestError as exc:
                    raise ManifestUnavailableError(
                        f"the sample manifest cannot be used ({exc}); the data team must fix it before "
                        "uploads can be checked (your file is kept)"
                    ) from None
                self._key = key
            return self._manifest


def format_labels() -> dict[str, str]:
    from readers.allotropy_fallback import AllotropyFallbackReader
    from readers.detect import all_readers

    labels = {r.name: r.label for r in all_readers()}
    labels[AllotropyFallbackReader.name] = AllotropyFallbackReader.label
    labels["platemap"] = "plate map"
    return labels


def judge(
    name: str,
    data: bytes,
    sha256: str,
    config: Config,
    manifest: Manifest,
    siblings: dict[str, bytes] | None = None,
    assay: str | None = None,
) -> tuple[Verdict, FileOutcome]:
    """Run the pure pipeline over one upload and retell its outcome as a verdict. ``assay``: the assay_id
    the lab chose with the upload, for an export that does not name its analyte (ingestion gets the same)."""
    file = FileInput(name=name, data=data, siblings=siblings or {})
    outcome = process_file(file, sha256, config, manifest, assay=assay)
    return build_verdict(outcome, assay), outcome


def build_verdict(o: FileOutcome, assay: str | None = None) -> Verdict:
    labels = format_labels()
    problems = _problems(o)
    counts = _counts(o)
    plates = [
        PlateVerdict(
            plate_id=p.plate_id,
            assay=p.assay_id,
            matrix=p.matrix,
            wells=p.n_wells,
            concentrations=p.curve_note,
        )
        for p in o.plates
    ]
    label = labels.get(o.format or "", o.format)
    if o.format and o.format.startswith(_FALLBACK + ":"):  # read through allotropy: name the instrument too
        label = f"{labels[_FALLBACK]}: {o.format.split(':', 1)[1]}"
    if o.status == "quarantined" and o.format == _FALLBACK:  # no native reader, nor allotropy, read it
        o.format = label = None
    groups = group_problems(problems)
    if o.status == "companion":
        outcome: Outcome = "not_an_export"
        summary = f"{o.source_file} is a plate map, not a plate export."
        todo = (
            "Upload the plate-reader export in the 'file' field and this plate map in the 'plate map' field, "
            "together."
        )
    elif o.format is None:
        outcome = "not_an_export"
        summary = (
            f"{o.source_file} is not a plate export this pipeline reads: no reader recognised its content "
            "(what each one looked for is under details)."
        )
        readable = ", ".join(v for k, v in labels.items() if k not in ("platemap", _FALLBACK))
        todo = (
            f"Nothing was loaded. Export the plate again from the instrument software as one of: {readable}; "
            "or fill in the canonical CSV template (ask the data team) — and upload that file."
        )
    elif o.status == "quarantined":
        outcome = "not_accepted"
        # a grid refused for want of its plate map was not read "with plate map": say what it is
        shown = (label or "").removesuffix(" with plate map")
        summary = f"Recognised as {shown}, but nothing can be loaded: {for_lab(o.message)}"
        todo = "Nothing was loaded. Fix what the problems below say and upload the corrected file."
    else:
        clean = not problems
        outcome = "accepted" if clean else "accepted_with_problems"
        summary = for_lab(o.message)
        if clean:
            todo = "Nothing to do: every result was accepted and goes to the warehouse now."
        else:
            todo = _todo(counts)
    if assay and o.format is not None and o.status != "companion":
        summary = f"Read as {assay} (the assay chosen with the upload). {summary}"
    light, headline = _light(outcome, counts)
    return Verdict(
        outcome=outcome,
        light=light,
        headline=headline,
        first_step=_first_step(outcome, groups, todo),
        summary=summary,
        what_to_do=todo,
        format=o.format if o.status != "companion" else "platemap",
        format_label=label,
        plates=plates,
        counts=counts,
        problems=problems,
        groups=groups,
        notes=list(dict.fromkeys(for_lab(w) for w in o.warnings)),
        details=o.details,
        assay=assay,
    )


def _light(outcome: Outcome, c: Counts) -> tuple[Light, str]:
    """Green only when everything loaded cleanly; amber when every result loaded but some with a warning;
    red when not every result (or none) could be accepted."""
    if outcome == "not_an_export":
        return "red", "Not a plate export we can read"
    if outcome == "not_accepted":
        return "red", "Not accepted: nothing was loaded"
    total = c.accepted + c.held + c.unresolved
    if c.accepted == 0:
        return "red", "Nothing accepted" + (f": {total:,} results not reported yet" if total else "")
    if c.held or c.unresolved or c.rejected:
        return "red", f"Partly accepted: {c.accepted:,} of {total:,} results"
    if c.flagged:
        warned = f"{c.flagged:,} with a warning"
        return "amber", f"Accepted with warnings: all {c.accepted:,} results, {warned}"
    return "green", f"Accepted: all {c.accepted:,} results"


def _first_step(outcome: Outcome, groups: list[ProblemGroup], todo: str) -> str:
    """The one thing to do first: the first group's message (groups are in the order to act), counted."""
    if outcome == "accepted" or not groups:
        return "" if outcome == "accepted" else todo.split(". ")[0].rstrip(".") + "."
    g = groups[0]
    where = f"{g.count} {g.noun}{'s' * (g.count != 1)}" if g.count > 1 else ""
    return f"{where}: {g.message}" if where else g.message


_FOR_LAB = (  # messages written for the data team, retold to the lab that made the export
    (
        "Check the unit with the lab and re-export.",
        "Check the unit in your export and export the plate again.",
    ),
    ("ask the lab to re-export", "export the plate again"),
    ("Ask the lab to re-export", "Export the plate again"),
    ("ask the lab to ", ""),
    ("Ask the lab to ", ""),
    ("with the lab", "in your export"),
)


def for_lab(message: str) -> str:
    """A message addressed to its reader, the lab: "ask the lab to re-export" becomes "export the plate
    again". The data team reads the original in the warehouse's quarantine view."""
    for said, retold in _FOR_LAB:
        message = message.replace(said, retold)
    return message


def group_problems(problems: list[Problem]) -> list[ProblemGroup]:
    """Identical problems (same kind and rule on the same plate) told once, in the order to act on them;
    the analytes, wells and samples concerned are listed with the group."""
    groups: dict[tuple[str, str, str], list[Problem]] = {}
    for p in problems:
        groups.setdefault((p.kind, p.rule, p.plate or ""), []).append(p)
    out = []
    for (_, rule, plate), ps in groups.items():
        samples = list(dict.fromkeys(p.sample for p in ps if p.sample))
        wells = list(dict.fromkeys(p.well for p in ps if p.well))
        analytes = list(dict.fromkeys(p.analyte for p in ps if p.analyte))
        noun = "sample" if samples else ("well" if wells else "file")
        out.append(
            ProblemGroup(
                kind=ps[0].kind,
                rule=rule,
                plate=plate or None,
                analyte=", ".join(analytes) or None,
                count=len(ps),
                noun=noun,
                wells=wells,
                samples=samples,
                message=_group_message(rule, ps, samples),
            )
        )
    return out


def _group_message(rule: str, ps: list[Problem], samples: list[str]) -> str:
    messages = list(dict.fromkeys(p.message for p in ps))
    if len(messages) == 1:
        return messages[0]
    if rule == "sample_not_in_manifest":
        shown = ", ".join(samples[:4]) + (" …" if len(samples) > 4 else "")
        return (
            f"{len(samples)} sample IDs are not in any sample manifest received so far ({shown}). Check each "
            "ID on the plate map against the tube label; if they are right, ask the biorepository to send "
            "its manifest — the results are kept and load as soon as the IDs are known."
        )
    return f"{messages[0]} (and {len(ps) - 1} more like it)"


def _todo(c: Counts) -> str:
    bits = (
        ["The accepted results go to the warehouse now; upload again only what the problems below ask for."]
        if c.accepted
        else ["No result was accepted yet."]
    )
    if c.rejected:
        bits.append(
            "Values marked 'Not loaded' were refused: correct them in the export (or re-assay) and upload "
            "the corrected file."
        )
    if c.unresolved:
        bits.append(
            "For each 'Sample ID not found', check the ID on the plate map against the tube label; if it is "
            "right, ask the biorepository to send its manifest — the results load as soon as the ID is known."
        )
    if c.held:
        bits.append("Results 'Held for review' are kept but not reported until the data team reviews them.")
    if c.flagged:
        bits.append("'Loaded, flagged' results are reported with a warning: review the wells named.")
    return " ".join(bits)


def _counts(o: FileOutcome) -> Counts:
    def n(*statuses: str) -> int:
        if o.results is None or o.results.height == 0:
            return 0
        return int(o.results.filter(pl.col("status").is_in(list(statuses))).height)

    q = o.quarantine
    rejected = flagged = 0
    if q is not None and q.height:
        rejected = int(q.filter(pl.col("severity") == "reject").height)
        # a warning on a result that did not load (its sample ID unknown, held) is told with that result
        warnings = q.filter(pl.col("severity") == "warning").iter_rows(named=True)
        flagged = sum(1 for r in warnings if _status_of(o, r) == "loaded")
    return Counts(
        accepted=n("loaded"),
        held=n("held", "run_rejected"),
        rejected=rejected,
        unresolved=n("unresolved"),
        flagged=flagged,
    )


def _status_of(o: FileOutcome, q: dict[str, object]) -> str:
    """The status of the result a quarantine row is about ("loaded" when the file has no result rows)."""
    if o.results is None or o.results.height == 0:
        return "loaded"
    hit = o.results.filter(
        (pl.col("plate_id") == q["plate_id"])
        & (pl.col("sample_id") == q["sample_id"])
        & (pl.col("analyte") == q["analyte"])
    )
    return str(hit["status"][0]) if hit.height else "loaded"


_STATUS_KIND: dict[str, ProblemKind] = {"unresolved": "unresolved", "held": "held", "run_rejected": "held"}


def _kind(o: FileOutcome, r: dict[str, object]) -> ProblemKind:
    """A warning is "Loaded, flagged" only when its result loaded; on a result waiting for its sample ID
    or held, the problem is told as that (the flag comes with the result when it loads)."""
    kind = _SEVERITY_KIND.get(str(r["severity"]), "not_loaded")
    if kind == "flagged":
        return _STATUS_KIND.get(_status_of(o, r), "flagged")
    return kind


def _problems(o: FileOutcome) -> list[Problem]:
    out: list[Problem] = []
    if o.quarantine is not None and o.quarantine.height:
        for r in o.quarantine.iter_rows(named=True):
            kind = _kind(o, r)
            message = r["message"] if not o.details else r["message"].split(" Details: ", 1)[0]
            if r["severity"] == "warning" and kind != "flagged":
                message = message.replace("the result is loaded and flagged", "the result will be flagged")
            out.append(
                Problem(
                    kind=kind,
                    plate=r["plate_id"],
                    well=r["well"],
                    sample=r["sample_id"],
                    analyte=r["analyte"],
                    value=r["value_text"],
                    rule=r["rule"],
                    # a refusal's details (formats tried) are in Verdict.details, not in the problem list
                    message=for_lab(message),
                )
            )
    if o.unresolved is not None and o.unresolved.height:
        for r in o.unresolved.iter_rows(named=True):
            n = r["n_results"]
            out.append(
                Problem(
                    kind="unresolved",
                    plate=r["plate_id"],
                    well=r["wells"],
                    sample=r["sample_id"],
                    value=None,
                    rule="sample_not_in_manifest",
                    message=f"Plate {r['plate_id']}, wells {r['wells']}: {r['reason']} "
                    f"({n} result{'s' if n != 1 else ''} waiting).",
                )
            )
    out.sort(key=lambda p: (_KIND_ORDER[p.kind], p.plate or "", _well_key(p.well), p.analyte or ""))
    return out


def _well_key(well: str | None) -> tuple[int, int]:
    """A1, A2 … H12 in plate order (row, then column) so the list reads like the plate."""
    if not well:
        return (-1, -1)
    first = well.split(",")[0].strip()
    row = ord(first[0].upper()) - ord("A") if first[:1].isalpha() else 99
    digits = "".join(ch for ch in first[1:] if ch.isdigit())
    return (row, int(digits) if digits else 0)


class Judge:
    """Verdicts for the service: configuration and cached manifest, at most N computed at once."""

    def __init__(self, config: Config, manifest_path: Path, concurrent: int) -> None:
        self.config = config
        self.manifests = ManifestCache(manifest_path, config)
        self._slots = threading.BoundedSemaphore(concurrent)

    def __call__(
        self, name: str, data: bytes, sha256: str, siblings: dict[str, bytes] | None = None
    ) -> tuple[Verdict, float]:
        with self._slots:
            started = time.perf_counter()
            manifest = self.manifests.get()
            verdict, _ = judge(name, data, sha256, self.config, manifest, siblings)
            return verdict, time.perf_counter() - started
