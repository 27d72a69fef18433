"""A plate's QC report for the lab that owns it, served by the upload service (issue 16).

The report is the one `biomarkers qc-report` writes (assay/qc_report.py), built on request from the full
analyst store: a lab sees its own plate's every well (docs/access.md: a lab's own QC is not blinded from
it). Ownership is the warehouse's (warehouse/ownership.py): the lab recorded with the plate's latest file.
Any other plate — another lab's, one loaded before ownership was recorded, one not loaded yet, an unknown
ID — answers the same "not found", as the service answers another lab's upload ID: a lab cannot learn
which plate IDs other labs have.

Opening the store read-only is safe beside ingestion: publish replaces the store file atomically.
"""

from __future__ import annotations

from assay.qc_report import render_qc_report
from schemas.config import Config
from warehouse.analyst import NoAnalystStoreError, connect_analyst
from warehouse.paths import WarehousePaths
from warehouse.qc_report_data import PlateNotFoundError, build_report_input


class PlateQcNotFoundError(Exception):
    """No plate of this lab with this ID in the warehouse (yet); the message is for the lab."""


def _not_found(plate_id: str, lab: str) -> PlateQcNotFoundError:
    return PlateQcNotFoundError(
        f"Lab {lab} has no plate {plate_id!r} in the warehouse. A plate's QC report is here once its file "
        "is loaded (the upload's status says 'loaded'), and only for the lab that sent it."
    )


def plate_owner(paths: WarehousePaths, plate_id: str) -> str | None:
    """The lab recorded with the plate's latest loaded file; None when unknown or loaded without a lab."""
    try:
        con = connect_analyst(paths, full=True)
    except NoAnalystStoreError:
        return None
    try:
        row = con.execute(
            "SELECT p.lab FROM plates p JOIN files f USING (source_sha256) WHERE p.plate_id = ? "
            "ORDER BY f.loaded_at DESC LIMIT 1",
            [plate_id],
        ).fetchone()
    finally:
        con.close()
    return None if row is None or row[0] is None else str(row[0])


def lab_plate_report(paths: WarehousePaths, plate_id: str, lab: str, config: Config, nonce: str) -> str:
    """The QC report page of ``plate_id`` for ``lab``; :class:`PlateQcNotFoundError` unless it owns it.

    ``nonce``: the response's Content-Security-Policy nonce, which the page's stylesheet must carry."""
    if plate_owner(paths, plate_id) != lab:
        raise _not_found(plate_id, lab)
    try:
        con = connect_analyst(paths, full=True)
    except NoAnalystStoreError:
        raise _not_found(plate_id, lab) from None
    try:
        run = build_report_input(con, plate_id, config)
    except PlateNotFoundError:
        raise _not_found(plate_id, lab) from None
    finally:
        con.close()
    return render_qc_report(run, image_format="inline", style_nonce=nonce)


def plate_report(paths: WarehousePaths, plate_id: str, config: Config, nonce: str) -> str | None:
    """The QC report page of ``plate_id`` whoever loaded it (the reviewer's page, service/review_pages.py:
    reviewers review every lab's runs); None when the plate is not in the full store."""
    try:
        con = connect_analyst(paths, full=True)
    except NoAnalystStoreError:
        return None
    try:
        run = build_report_input(con, plate_id, config)
    except PlateNotFoundError:
        return None
    finally:
        con.close()
    return render_qc_report(run, image_format="inline", style_nonce=nonce)
