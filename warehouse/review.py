"""Review and release of runs with electronic signatures (21 CFR Part 11 §11.50, §11.70, §11.200; GCLP).

A *run* is one plate × analyte of one file (``source_sha256``, ``plate_id``, ``analyte``): what a lab
reviewer looks at on the QC report (curve, QCs, flags). A reviewer signs it with a meaning — ``reviewed``,
``approved`` or ``rejected`` (with a reason) — after typing their password again (re-authentication at
each signing, §11.200(a)(1)). The signature records the signer, their full name, the UTC time and the
run's content: the file's SHA-256 and the SHA-256 of the run's result set (:data:`CONTENT_SQL`). A hash of
all of it (``binding_sha256``, :data:`BINDING_SQL`) is stored with the signature and repeated in its audit
entry, so a signature cannot be moved to another run, and a later change of the run's results voids it:
``verify`` (part of ``biomarkers audit verify``) reports both.

The run's review state is derived, never stored: ``pending_review`` (no signature), ``reviewed``,
``approved`` or ``rejected`` — the latest valid approved/rejected signature decides. A re-assay or a new
version of a file is a new run with its own state; the approved run keeps its signature.

An exclusion made (or lifted) after a run was approved or reviewed re-opens it (currency.REOPENED_SQL):
the signature stays in ``run_signatures`` but no longer counts — the run is ``pending_review`` again with
``review_reason`` "exclusion EX-… after approval", and under ``on_approval`` its results leave ``results``
until a reviewer signs again. The time of the exclusion decides, not the binding hash: the signature was
true to the results as measured, which an exclusion does not change (so ``verify`` still holds), but the
reviewer approved a different set of counted results. A rejection is not re-opened (never current).

Release (study.yaml ``review.release``): with ``on_approval`` a run's results take part in currency only
once approved (warehouse/currency.py reads the decision); a rejected run is never current in any mode.
Signing re-decides the run's result groups in the same transaction as the signature and its audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import duckdb

from schemas.config import Config
from warehouse import audit, currency, reviewers
from warehouse.audit import AuditEvent, AuditProblem
from warehouse.store import WriterStore, now_utc

Meaning = Literal["reviewed", "approved", "rejected"]
MEANINGS: tuple[Meaning, ...] = ("reviewed", "approved", "rejected")
MEANING_TEXT = {
    "reviewed": "Reviewed: I have reviewed this run (curve, QCs, flags)",
    "approved": "Approved: I approve this run's results for release",
    "rejected": "Rejected: this run's results must not be used",
}

# The content of each run: its results as measured (not the manifest's resolution of the samples, which a
# late-arriving manifest adds as new rows with the same measurement — DISTINCT keeps the set unchanged).
# One line of JSON per result, sorted: the SHA-256 of the lines is the run's result-set hash.
CONTENT_SQL = """
SELECT source_sha256, plate_id, analyte, count(*) AS n_results,
       sha256(string_agg(line, chr(10) ORDER BY line)) AS result_set_sha256
FROM (
    SELECT DISTINCT source_sha256, plate_id, analyte, CAST(to_json({
        'sample_id': sample_id, 'assay_id': assay_id, 'kit_lot': kit_lot, 'conc_pg_ml': conc_pg_ml,
        'qualifier': qualifier, 'lloq_pg_ml': lloq_pg_ml, 'uloq_pg_ml': uloq_pg_ml, 'cv_pct': cv_pct,
        'n_replicates': n_replicates, 'n_wells': n_wells, 'dilution': dilution, 'wells': wells,
        'reported_texts': reported_texts, 'unit_as_written': unit_as_written, 'extrapolated': extrapolated
    }) AS VARCHAR) AS line
    FROM results_all
    WHERE {where}
)
GROUP BY source_sha256, plate_id, analyte
"""

# What a signature binds together (alias s: a run_signatures row, or the values being inserted).
BINDING_SQL = """sha256(CAST(to_json({
    'signature_id': s.signature_id, 'source_sha256': s.source_sha256, 'plate_id': s.plate_id,
    'analyte': s.analyte, 'meaning': s.meaning, 'reason': s.reason, 'signer': s.signer,
    'signer_name': s.signer_name, 'signer_lab': s.signer_lab, 'signed_at_us': epoch_us(s.signed_at),
    'n_results': s.n_results, 'result_set_sha256': s.result_set_sha256
}) AS VARCHAR))"""

# The runs that carry a signature: only their content needs hashing (a publish, a verify), not every run's.
SIGNED = (
    "EXISTS (SELECT 1 FROM run_signatures g WHERE g.source_sha256 = results_all.source_sha256 "
    "AND g.plate_id = results_all.plate_id AND g.analyte = results_all.analyte)"
)

# Each run's review state now, from its valid signatures (binding intact, content unchanged).
STATE_SQL = f"""
WITH runs AS (
    SELECT source_sha256, plate_id, analyte, count(*) AS n_results
    FROM results_all GROUP BY source_sha256, plate_id, analyte
),
content AS ({CONTENT_SQL.replace("{where}", SIGNED)}),
sig AS (
    SELECT s.*, s.binding_sha256 = {BINDING_SQL} AND c.result_set_sha256 IS NOT DISTINCT FROM
           s.result_set_sha256 AS valid, o.reopened
    FROM run_signatures s
    LEFT JOIN content c USING (source_sha256, plate_id, analyte)
    LEFT JOIN ({currency.REOPENED_SQL}) o USING (signature_id)
),
agg AS (
    SELECT source_sha256, plate_id, analyte,
           arg_max(meaning, signature_id) FILTER (WHERE valid AND meaning <> 'reviewed') AS decision,
           arg_max_null(reopened, signature_id) FILTER (WHERE valid AND meaning <> 'reviewed')
               AS decision_reopened,
           arg_max(reopened, signature_id) FILTER (WHERE valid AND reopened IS NOT NULL) AS reopened,
           arg_max(signature_id, signature_id) FILTER (WHERE valid AND reopened IS NULL) AS last_signature,
           count(*) FILTER (WHERE valid AND reopened IS NULL) AS n_signatures,
           count(*) FILTER (WHERE NOT valid OR reopened IS NOT NULL) AS n_void_signatures
    FROM sig GROUP BY source_sha256, plate_id, analyte
)
SELECT c.source_sha256, c.plate_id, c.analyte, f.source_file, f.lab AS uploaded_by_lab, c.n_results,
       h.result_set_sha256,
       CASE WHEN a.decision IS NOT NULL AND a.decision_reopened IS NULL THEN a.decision
            WHEN coalesce(a.n_signatures, 0) > 0 THEN 'reviewed'
            ELSE 'pending_review' END AS review_state,
       l.meaning AS review_meaning, l.signer AS reviewed_by, l.signer_name AS reviewed_by_name,
       l.signed_at AS reviewed_at, CASE WHEN l.signature_id IS NULL THEN a.reopened ELSE l.reason END
       AS review_reason, l.signature_id,
       coalesce(a.n_signatures, 0) AS n_signatures, coalesce(a.n_void_signatures, 0) AS n_void_signatures
FROM runs c
LEFT JOIN content h USING (source_sha256, plate_id, analyte)
LEFT JOIN agg a USING (source_sha256, plate_id, analyte)
LEFT JOIN run_signatures l ON l.signature_id = a.last_signature
LEFT JOIN files f ON f.source_sha256 = c.source_sha256
ORDER BY f.load_seq, c.plate_id, c.analyte
"""


_NONE = "SELECT {} WHERE false"
EMPTY = {
    "run_review.parquet": _NONE.format(
        "NULL::VARCHAR AS source_sha256, NULL::VARCHAR AS plate_id, NULL::VARCHAR AS analyte, "
        "NULL::VARCHAR AS source_file, NULL::VARCHAR AS uploaded_by_lab, NULL::BIGINT AS n_results, "
        "NULL::VARCHAR AS result_set_sha256, NULL::VARCHAR AS review_state, NULL::VARCHAR AS review_meaning, "
        "NULL::VARCHAR AS reviewed_by, NULL::VARCHAR AS reviewed_by_name, NULL::TIMESTAMPTZ AS reviewed_at, "
        "NULL::VARCHAR AS review_reason, NULL::VARCHAR AS signature_id, NULL::BIGINT AS n_signatures, "
        "NULL::BIGINT AS n_void_signatures"
    ),
    "run_signatures.parquet": _NONE.format(
        "NULL::VARCHAR AS signature_id, NULL::VARCHAR AS source_sha256, NULL::VARCHAR AS plate_id, "
        "NULL::VARCHAR AS analyte, NULL::VARCHAR AS meaning, NULL::VARCHAR AS reason, "
        "NULL::VARCHAR AS signer, "
        "NULL::VARCHAR AS signer_name, NULL::VARCHAR AS signer_lab, NULL::TIMESTAMPTZ AS signed_at, "
        "NULL::INTEGER AS n_results, NULL::VARCHAR AS result_set_sha256, NULL::VARCHAR AS binding_sha256"
    ),
}
"""What the analyst views read in place of the review files of a snapshot published before issue 21."""


class ReviewError(Exception):
    """The signature cannot be given as asked; the message says what to change."""


class SignatureRefused(ReviewError):
    """Re-authentication failed: the attempt is in the audit trail, nothing was signed."""


@dataclass(frozen=True)
class Run:
    source_sha256: str
    plate_id: str
    analyte: str


@dataclass(frozen=True)
class Signature:
    signature_id: str
    run: Run
    meaning: str
    signer: str
    signer_name: str
    signed_at: datetime
    result_set_sha256: str
    binding_sha256: str
    results_changed: int  # results whose currency the signature changed (released or withdrawn)


def run_states(con: duckdb.DuckDBPyConnection, *, where: str = "true") -> duckdb.DuckDBPyRelation:
    """Every run with its review state (the ``run_review`` table analysts see); ``where`` filters it."""
    return con.sql(f"SELECT * FROM ({STATE_SQL}) WHERE {where}")


def find_runs(
    con: duckdb.DuckDBPyConnection,
    plate_id: str,
    analyte: str | None = None,
    source_sha256: str | None = None,
) -> list[Run]:
    """The runs of a plate (latest file first), optionally of one analyte or one file (a SHA-256 prefix)."""
    rows = con.execute(
        """SELECT DISTINCT r.source_sha256, r.plate_id, r.analyte, f.load_seq FROM results_all r
           JOIN files f USING (source_sha256)
           WHERE r.plate_id = ? AND (CAST(? AS VARCHAR) IS NULL OR r.analyte = ?)
             AND (CAST(? AS VARCHAR) IS NULL OR starts_with(r.source_sha256, lower(?)))
           ORDER BY f.load_seq DESC, r.analyte""",
        [plate_id, analyte, analyte, source_sha256, source_sha256],
    ).fetchall()
    return [Run(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def _content(con: duckdb.DuckDBPyConnection, run: Run) -> tuple[int, str]:
    where = "source_sha256 = $sha AND plate_id = $plate AND analyte = $analyte"
    rows = con.execute(
        CONTENT_SQL.replace("{where}", where),
        {"sha": run.source_sha256, "plate": run.plate_id, "analyte": run.analyte},
    ).fetchall()
    if not rows:
        raise ReviewError(
            f"no run {run.plate_id} / {run.analyte} in file {run.source_sha256[:12]}: "
            "see `biomarkers review list`"
        )
    return int(rows[0][3]), str(rows[0][4])


def _lab_of(con: duckdb.DuckDBPyConnection, run: Run) -> str | None:
    rows = con.execute("SELECT lab FROM files WHERE source_sha256 = ?", [run.source_sha256]).fetchall()
    return rows[0][0] if rows else None


def refuse(store: WriterStore, account: str, run: Run, why: str) -> None:
    """Record a refused signing attempt in the audit trail (its own transaction: it must stay even though
    nothing is signed)."""
    event = AuditEvent(
        event="signature_refused",
        entity="reviewer",
        entity_id=account,
        source_sha256=run.source_sha256,
        plate_id=run.plate_id,
        new_value=f"run {run.plate_id} / {run.analyte}: not signed",
        reason=why,
    )
    store.audit([event])


def sign(
    store: WriterStore,
    run: Run,
    *,
    account: str,
    secret: str,
    meaning: str,
    reason: str | None,
    config: Config,
) -> Signature:
    """Re-authenticate ``account`` and sign ``run`` with ``meaning``; raises SignatureRefused (audited)
    when the password is wrong, ReviewError when the request itself is wrong (nothing recorded)."""
    if meaning not in MEANINGS:
        raise ReviewError(f"the meaning of a signature is one of {', '.join(MEANINGS)}, not {meaning!r}")
    reason = (reason or "").strip() or None
    if meaning == "rejected" and (reason is None or len(reason) < 5):
        raise ReviewError("a rejection needs a reason (a few words: what is wrong with the run)")
    con = store.con
    n_results, result_sha = _content(con, run)  # an unknown run is refused before any password check
    signer = reviewers.authenticate(con, account, secret)
    if signer is None:
        refuse(store, account, run, "wrong password, unknown or inactive reviewer account")
        raise SignatureRefused(
            f"not signed: the password is wrong or {account!r} is not an active reviewer account "
            "(the attempt is recorded in the audit trail)"
        )
    lab = _lab_of(con, run)
    if config.study.review.two_person and signer.lab is not None and signer.lab == lab:
        why = f"two-person rule: reviewer {signer.name} works for lab {lab}, which uploaded the run"
        refuse(store, account, run, why)
        raise SignatureRefused(
            f"not signed: {why}; a reviewer of another lab (or the sponsor's) must sign it "
            "(study.yaml review.two_person)"
        )
    at = now_utc()
    con.execute("BEGIN TRANSACTION")
    try:
        n = int(con.execute("SELECT count(*) FROM run_signatures").fetchall()[0][0])
        sig_id = f"SIG-{n + 1:06d}"
        values = [
            sig_id,
            run.source_sha256,
            run.plate_id,
            run.analyte,
            meaning,
            reason,
            signer.name,
            signer.full_name,
            signer.lab,
            at,
            n_results,
            result_sha,
        ]
        con.execute(
            f"""INSERT INTO run_signatures
            SELECT s.*, {BINDING_SQL} FROM (SELECT ?::VARCHAR AS signature_id, ?::VARCHAR AS source_sha256,
                ?::VARCHAR AS plate_id, ?::VARCHAR AS analyte, ?::VARCHAR AS meaning, ?::VARCHAR AS reason,
                ?::VARCHAR AS signer, ?::VARCHAR AS signer_name, ?::VARCHAR AS signer_lab,
                ?::TIMESTAMPTZ AS signed_at, ?::INTEGER AS n_results, ?::VARCHAR AS result_set_sha256) s""",
            values,
        )
        binding = str(
            con.execute(
                "SELECT binding_sha256 FROM run_signatures WHERE signature_id = ?", [sig_id]
            ).fetchall()[0][0]
        )
        keys = con.sql(
            "SELECT DISTINCT sample_id, analyte, assay_id FROM results_all "
            "WHERE source_sha256 = ? AND plate_id = ? AND analyte = ? AND status = 'loaded'",
            params=[run.source_sha256, run.plate_id, run.analyte],
        ).pl()
        change = currency.refresh(con, keys, config, at=at, run_id=sig_id)
        event = AuditEvent(
            event="signed",
            entity="signature",
            entity_id=sig_id,
            source_sha256=run.source_sha256,
            plate_id=run.plate_id,
            old_value=f"run {run.plate_id} / {run.analyte}",
            new_value=f"{meaning} by {signer.full_name} ({signer.name}); binding {binding}",
            reason=reason or MEANING_TEXT[meaning],
        )
        new_head = audit.append(con, [event, *change.events], actor=signer.name, at=at)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    audit.record_head(store.paths.ingest_db, new_head)
    return Signature(
        sig_id,
        run,
        meaning,
        signer.name,
        signer.full_name,
        at,
        result_sha,
        binding,
        len(change.events),
    )


def verify(con: duckdb.DuckDBPyConnection) -> list[AuditProblem]:
    """Every signature that no longer holds: edited or moved to another run (its binding hash), given on
    content that has changed since (the run's result-set hash), or without its audit entry."""
    rows = con.execute(
        f"""WITH content AS ({CONTENT_SQL.replace("{where}", SIGNED)})
        SELECT s.signature_id, s.plate_id, s.analyte, s.binding_sha256 = {BINDING_SQL} AS bound,
               c.result_set_sha256 IS NOT DISTINCT FROM s.result_set_sha256 AS same_content,
               c.result_set_sha256 IS NULL AS run_gone,
               EXISTS (SELECT 1 FROM audit_log a WHERE a.event = 'signed' AND a.entity_id = s.signature_id
                       AND a.new_value LIKE '%binding ' || s.binding_sha256) AS audited,
               (SELECT min(a.seq) FROM audit_log a WHERE a.event = 'signed'
                AND a.entity_id = s.signature_id) AS seq
        FROM run_signatures s LEFT JOIN content c USING (source_sha256, plate_id, analyte)
        ORDER BY s.signature_id"""
    ).fetchall()
    problems: list[AuditProblem] = []
    for sig_id, plate, analyte, bound, same, gone, audited, seq in rows:
        what = f"signature {sig_id} on run {plate} / {analyte}"
        if not bound:
            problems.append(
                AuditProblem(
                    seq, f"{what}: does not match its binding hash (edited, or copied to another run)"
                )
            )
        if gone:
            problems.append(AuditProblem(seq, f"{what}: the run's results are no longer in the warehouse"))
        elif not same:
            problems.append(
                AuditProblem(seq, f"{what}: the run's results changed after signing; the signature is void")
            )
        if not audited:
            problems.append(AuditProblem(seq, f"{what}: has no matching entry in the audit trail"))
    return problems
