"""The upload API against a real server: verdicts, lab isolation, refusals, duplicates, hand-off."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.service.conftest import BAD, GOOD, MAX_UPLOAD_MB, UNNAMED_PLATE, Service
from warehouse.raw import raw_relpath, sha256_of

pytestmark = pytest.mark.integration


def upload(service: Service, lab: str, name: str, data: bytes) -> tuple[int, dict[str, object]]:
    with service.client(lab) as c:
        r = c.post("/api/v1/uploads", files={"file": (name, data, "text/csv")})
    return r.status_code, r.json()


def test_good_plate_is_accepted_in_seconds(service: Service) -> None:
    status, body = upload(service, "lab-a", GOOD, service.plate(GOOD))
    assert status == 201, body
    v = body["verdict"]
    assert isinstance(v, dict)
    assert v["outcome"] == "accepted"
    assert v["format"] == "xponent" and v["format_label"] == "Luminex xPONENT CSV export"
    assert [p["plate_id"] for p in v["plates"]] == ["BCT011-LX-CYT-CSF-P002"]
    assert v["counts"] == {"accepted": 296, "held": 0, "rejected": 0, "unresolved": 0, "flagged": 0}
    assert v["problems"] == []
    assert body["lab"] == "lab-a" and body["sha256"] == sha256_of(service.plate(GOOD))
    assert (
        isinstance(body["verdict_seconds"], float) and body["verdict_seconds"] > 0
    )  # timed: test_concurrency
    assert body["status"] in ("verdict", "ingesting", "loaded")
    # the raw bytes are kept by content, never under the lab's file name
    assert (service.warehouse / raw_relpath(str(body["sha256"]))).read_bytes() == service.plate(GOOD)


def test_bad_plate_problems_point_at_wells_and_say_what_to_do(service: Service) -> None:
    status, body = upload(service, "lab-a", BAD, service.plate(BAD))
    assert status == 201, body
    v = body["verdict"]
    assert isinstance(v, dict)
    assert v["outcome"] == "accepted_with_problems"
    c = v["counts"]
    # Its duplicates with CV > 20 % all sit below a mean MFI of 100 (noise near the LLOQ), which LabKey's
    # rule — and the assay's replicate_cv_min_mean_signal — does not flag: see the seeded high-CV plate below.
    assert c["accepted"] > 0 and c["unresolved"] == 7 and c["held"] > 0 and c["flagged"] == 0
    typo = next(d for d in service.defects() if d["kind"] == "sample_id_typo" and d["file"] == BAD)
    unresolved = [p for p in v["problems"] if p["kind"] == "unresolved"]
    assert len(unresolved) == 1
    p = unresolved[0]
    assert p["well"] == ",".join(typo["wells"])  # type: ignore[arg-type]
    assert p["sample"] == typo["sample_id"] and p["plate"] == typo["plate_id"]
    assert p["rule"] == "sample_not_in_manifest"
    assert p["sample"] in p["message"] and p["well"] in p["message"] and "check the ID" in p["message"]
    held = [p for p in v["problems"] if p["kind"] == "held"]
    assert held and held[0]["rule"] == "run_rejected" and "re-assay" in held[0]["message"]
    assert "biorepository" in v["what_to_do"]


def test_a_seeded_high_cv_duplicate_is_flagged_at_its_wells(service: Service) -> None:
    name = "BCT011-LX-NDG-SERUM-P002_20201107.csv"
    status, body = upload(service, "lab-b", name, service.plate(name))
    assert status in (200, 201), body
    v = body["verdict"]
    assert isinstance(v, dict)
    seeded = next(d for d in service.defects() if d["kind"] == "high_cv_duplicate" and d["file"] == name)
    flagged = [p for p in v["problems"] if p["kind"] == "flagged"]
    assert v["counts"]["flagged"] == len(flagged) >= 1  # type: ignore[index]
    hit = [p for p in flagged if p["well"] == ",".join(seeded["wells"])]  # type: ignore[arg-type]
    assert len(hit) == 1, flagged
    p = hit[0]
    assert p["sample"] == seeded["sample_id"] and p["analyte"] == seeded["analyte"] and p["value"]
    assert p["rule"] == "high_cv" and "re-assay" in p["message"] and p["well"] in p["message"]


def test_same_bytes_again_are_recognised_and_never_overwrite(service: Service) -> None:
    data = service.plate(GOOD)
    s1, first = upload(service, "lab-a", "again.csv", data)
    assert s1 == 200 and first["duplicate"] is True and first["file_name"] == GOOD
    # lab B sending the same bytes gets its own upload; lab A's stays as it was
    s2, other = upload(service, "lab-b", "mine.csv", data)
    assert s2 == 201 and other["id"] != first["id"] and other["lab"] == "lab-b"
    with service.client("lab-a") as c:
        mine = c.get(f"/api/v1/uploads/{first['id']}").json()
    assert mine["lab"] == "lab-a" and mine["file_name"] == GOOD


def test_labs_see_only_their_own_uploads(service: Service) -> None:
    _, a = upload(service, "lab-a", "isolation.csv", service.plate(GOOD)[:-2] + b"\r\n")
    with service.client("lab-b") as b:
        assert b.get(f"/api/v1/uploads/{a['id']}").status_code == 404
        listed = b.get("/api/v1/uploads").json()
    assert listed["lab"] == "lab-b"
    assert a["id"] not in {u["id"] for u in listed["uploads"]}
    with service.client("lab-a") as c:
        assert c.get(f"/api/v1/uploads/{a['id']}").status_code == 200
        assert a["id"] in {u["id"] for u in c.get("/api/v1/uploads").json()["uploads"]}
        assert c.get("/api/v1/uploads/no-such-upload").status_code == 404
    with service.client(None) as anon:
        r = anon.get("/api/v1/uploads")
        assert r.status_code == 401 and "Bearer" in r.json()["detail"]
        r = anon.get("/api/v1/uploads", headers={"Authorization": "Bearer bct_not-a-real-token"})
        assert r.status_code == 401


def test_revoked_token_stops_working_at_once(service: Service) -> None:
    with service.client("lab-gone") as c:
        assert c.get("/api/v1/uploads").status_code == 200
        done = service.cli("lab", "revoke", "lab-gone")  # another process, while the server runs
        assert done.returncode == 0, done.stderr
        assert c.get("/api/v1/uploads").status_code == 401
    assert service.cli("lab", "revoke", "lab-gone").returncode == 1


@pytest.mark.parametrize("name", ["../../etc/passwd", "..\\..\\boot.ini", "/tmp/plate.csv", "sub/plate.csv"])
def test_path_in_file_name_is_refused(service: Service, name: str) -> None:
    status, body = upload(service, "lab-a", name, service.plate(GOOD))
    assert status == 400
    assert "folder path" in str(body["detail"]) and "plain name" in str(body["detail"])


def test_hidden_or_odd_file_names_are_refused(service: Service) -> None:
    for name in (".htaccess", "plate\x00.csv", "plate\n.csv"):
        status, body = upload(service, "lab-a", name, b"x")
        assert status == 400, (name, body)
        assert "plain file name" in str(body["detail"]) or "folder path" in str(body["detail"])


def test_oversized_file_is_refused_with_the_limit(service: Service) -> None:
    big = service.plate(GOOD) * (MAX_UPLOAD_MB * 1024 * 1024 // len(service.plate(GOOD)) + 2)
    status, body = upload(service, "lab-a", "huge.csv", big)
    assert status == 413
    assert f"limit is {MAX_UPLOAD_MB} MiB" in str(body["detail"]) and "one file per plate" in str(
        body["detail"]
    )


def test_non_export_is_refused_but_kept(service: Service) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    status, body = upload(service, "lab-a", "photo-of-plate.png", png)
    assert status == 415
    assert body["status"] == "refused"
    v = body["verdict"]
    assert isinstance(v, dict)
    assert v["outcome"] == "not_an_export" and v["format"] is None
    assert "not a plate export" in v["summary"] and "Export the plate again" in v["what_to_do"]
    assert (service.warehouse / raw_relpath(sha256_of(png))).is_file()  # nothing is lost


def test_empty_file_is_refused(service: Service) -> None:
    status, body = upload(service, "lab-a", "empty.csv", b"  \n")
    assert status == 400 and "empty" in str(body["detail"])


def test_plate_reader_grid_needs_its_plate_map(service: Service) -> None:
    inbox = service.study / "inbox"
    grid = next(p for p in sorted(inbox.iterdir()) if p.name.endswith(".txt"))
    pm = grid.with_name(grid.stem + "_platemap.csv")
    status, alone = upload(service, "lab-b", grid.name, grid.read_bytes())
    assert status == 201 and alone["status"] == "refused"
    v = alone["verdict"]
    assert isinstance(v, dict) and v["outcome"] == "not_accepted" and "plate map" in v["summary"]
    with service.client("lab-b") as c:
        r = c.post(
            "/api/v1/uploads",
            files={
                "file": (grid.name, grid.read_bytes(), "text/plain"),
                "platemap": ("any name.csv", pm.read_bytes(), "text/csv"),
            },
        )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] != alone["id"] and body["platemap_name"] == "any name.csv"
    assert body["verdict"]["outcome"] == "accepted" and body["verdict"]["counts"]["accepted"] > 0
    assert body["status"] in ("verdict", "ingesting", "loaded")


def test_oversized_upload_without_a_length_is_cut_off(service: Service) -> None:
    """A client that streams (chunked, no Content-Length) is stopped once it passes the limit."""
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="stream.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    chunk = b"0123456789abcdef" * 4096  # 64 KiB

    def body() -> Iterator[bytes]:
        yield head
        for _ in range((MAX_UPLOAD_MB + 2) * 16):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    with service.client("lab-a") as c:
        r = c.post(
            "/api/v1/uploads",
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    assert r.status_code == 413 and f"limit is {MAX_UPLOAD_MB} MiB" in r.json()["detail"]


# ---- the assay chosen with an upload (exports that do not name their analyte) ----------------------------


def unnamed_grid(service: Service, stem: str) -> tuple[bytes, bytes]:
    """A plate-reader grid of the synthetic study with its Assay:/Analyte: lines taken out (as most readers
    export it), and its plate map, which names no analyte either."""
    grid = next((service.study / "inbox").glob(f"{stem}_*.txt"))
    lines = grid.read_text().splitlines(keepends=True)
    kept = [ln for ln in lines if not ln.startswith(("Assay:", "Analyte:"))]
    assert len(kept) == len(lines) - 2
    return "".join(kept).encode(), grid.with_name(grid.stem + "_platemap.csv").read_bytes()


def test_an_export_without_its_analyte_is_read_under_the_assay_chosen(service: Service) -> None:
    grid, pm = unnamed_grid(service, UNNAMED_PLATE)
    files = {"file": ("reader export.txt", grid, "text/plain"), "platemap": ("map.csv", pm, "text/csv")}
    with service.client("lab-b") as c:
        alone = c.post("/api/v1/uploads", files=files).json()
        chosen = c.post("/api/v1/uploads", files=files, data={"assay": "ELISA-HGF"})
        again = c.post("/api/v1/uploads?assay=ELISA-HGF", files=files)
        typo = c.post("/api/v1/uploads", files=files, data={"assay": "ELISA-HFG"})
    # without an assay: held back, saying why and what to do (the pipeline's own reason)
    assert alone["status"] == "refused" and alone["verdict"]["outcome"] == "not_accepted"
    assert "does not name its analyte or assay" in alone["verdict"]["summary"]
    assert "assay field" in alone["verdict"]["summary"] and alone["verdict"]["assay"] is None
    # with it: a new upload of the same bytes, accepted under that assay and handed to ingestion
    assert chosen.status_code == 201, chosen.text
    body = chosen.json()
    v = body["verdict"]
    assert body["id"] != alone["id"] and body["status"] in ("verdict", "ingesting", "loaded")
    assert v["outcome"] in ("accepted", "accepted_with_problems") and v["counts"]["accepted"] == 36
    assert v["assay"] == "ELISA-HGF" and v["summary"].startswith("Read as ELISA-HGF")
    assert [(p["plate_id"], p["assay"]) for p in v["plates"]] == [(UNNAMED_PLATE, "ELISA-HGF")]
    # the same bytes with the same assay (here as a query parameter) are that upload
    assert again.status_code == 200 and again.json()["id"] == body["id"] and again.json()["duplicate"]
    # an assay assays.yaml does not have is refused before anything is kept, naming the configured ones
    assert typo.status_code == 400
    assert "'ELISA-HFG' is not one of the configured assays" in typo.json()["detail"]
    assert "ELISA-HGF" in typo.json()["detail"]


def test_the_upload_page_offers_the_configured_assays(service: Service) -> None:
    grid, pm = unnamed_grid(service, "BCT011-ELISA-HGF-CSF-P003")
    with httpx.Client(base_url=service.url, follow_redirects=False, timeout=60) as c:
        nonce = c.get("/signin").text.split('name="csrf" value="')[1].split('"')[0]
        assert c.post("/signin", data={"token": service.tokens["lab-page"], "csrf": nonce}).status_code == 303
        form = c.get("/").text
        assert '<select name="assay" id="assay">' in form
        assert '<option value="ELISA-HGF">ELISA-HGF: Human HGF sandwich ELISA (OD 450 nm)</option>' in form
        csrf = form.split('name="csrf" value="')[1].split('"')[0]
        files = {"file": ("grid.txt", grid, "text/plain"), "platemap": ("grid map.csv", pm, "text/csv")}
        r = c.post("/upload", data={"csrf": csrf, "assay": "ELISA-HGF"}, files=files)
        assert r.status_code == 303, r.text
        page = c.get(r.headers["location"]).text
        assert "Read as ELISA-HGF (the assay chosen with the upload)" in page
        r = c.post("/upload", data={"csrf": csrf, "assay": "no such assay"}, files=files)
        assert r.status_code == 400 and "is not one of the configured assays" in r.text
