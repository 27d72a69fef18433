"""Every upload the earlier tests made (API, page, the 50-upload burst) ends where it should: a loadable
file in the warehouse, through the ingestion flow run inside the service; a refused one never handed over.

Runs after the other server tests so the background ingestion overlaps them."""

from __future__ import annotations

import duckdb
import pytest

from tests.service.conftest import GOOD, UNNAMED_PLATE, Service, wait_for_status
from warehouse.paths import WarehousePaths
from warehouse.raw import sha256_of

pytestmark = pytest.mark.integration


def test_every_upload_is_loaded_or_refused(service: Service) -> None:
    loaded: dict[str, str] = {}
    n_refused = 0
    for lab in ("lab-a", "lab-b"):
        with service.client(lab) as c:
            uploads = c.get("/api/v1/uploads").json()["uploads"]
            assert len(uploads) >= 25 if lab == "lab-b" else len(uploads) >= 28
            for u in uploads:
                if u["status"] == "refused":
                    assert u["outcome"] in ("not_accepted", "not_an_export")
                    n_refused += 1
                    continue
                done = wait_for_status(c, u["id"], {"loaded", "failed"}, timeout=240)
                assert done["status"] == "loaded", (u["file_name"], done["history"])
                assert "in the warehouse" in str(done["status_message"])
                statuses = [e["status"] for e in done["history"]]  # type: ignore[union-attr]
                assert statuses[:2] == ["received", "verdict"] and "ingesting" in statuses
                loaded[u["sha256"]] = u["file_name"]
    assert n_refused >= 2  # the picture of a plate and the grid without its plate map
    con = duckdb.connect(str(WarehousePaths.at(service.warehouse).analyst_db), read_only=True)
    try:
        files = {r[0] for r in con.execute("select source_sha256 from files").fetchall()}
        good_sha = sha256_of(service.plate(GOOD))
        n_good = con.execute(
            "select count(*) from results where source_file_sha256 = ?", [good_sha]
        ).fetchall()[0][0]
        # the grid uploaded with its assay (test_api) was ingested under that assay, as its verdict said
        unnamed = con.execute("select assay_id from plates where plate_id = ?", [UNNAMED_PLATE]).fetchall()
    finally:
        con.close()
    assert set(loaded) <= files, sorted(set(loaded) - files)
    assert good_sha in loaded
    assert n_good == 296
    assert unnamed == [("ELISA-HGF",)]
