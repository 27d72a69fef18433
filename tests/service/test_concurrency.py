"""50 uploads at once from two labs: every file accounted for — an upload record with its verdict, the raw
bytes under their SHA-256, listed for its own lab only (test_warehouse_handoff then finds each one loaded).

Prints the verdict latency (server-side time of each verdict, and the round trip each client saw)."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.service.conftest import SMALL, Service
from warehouse.raw import raw_relpath, sha256_of

pytestmark = pytest.mark.integration
N = 50


def variants(service: Service) -> list[tuple[str, str, bytes]]:
    """(lab, file name, bytes): the same small plate re-labelled as 50 distinct plates (batch names)."""
    base = service.plate(SMALL)
    old = b'"Batch","BCT011-LX-NDG-CSF-P003"'
    assert old in base
    out = []
    for i in range(N):
        data = base.replace(old, f'"Batch","BCT011-LX-NDG-CSF-U{i:03d}"'.encode())
        out.append(("lab-a" if i % 2 == 0 else "lab-b", f"BCT011-LX-NDG-CSF-U{i:03d}.csv", data))
    return out


@pytest.fixture(scope="module")
def burst(service: Service) -> list[tuple[str, str, bytes, int, dict[str, object], float]]:
    files = variants(service)
    clients = {lab: service.client(lab) for lab in ("lab-a", "lab-b")}

    def send(item: tuple[str, str, bytes]) -> tuple[str, str, bytes, int, dict[str, object], float]:
        lab, name, data = item
        t = time.perf_counter()
        r = clients[lab].post("/api/v1/uploads", files={"file": (name, data, "text/csv")})
        return lab, name, data, r.status_code, r.json(), time.perf_counter() - t

    try:
        with ThreadPoolExecutor(max_workers=N) as pool:
            return list(pool.map(send, files))
    finally:
        for c in clients.values():
            c.close()


def test_fifty_concurrent_uploads_all_accounted_for(service: Service, burst: list) -> None:  # type: ignore[type-arg]
    assert len(burst) == N
    ids = set()
    for lab, name, data, status, body, _ in burst:
        assert status == 201, (name, body)
        assert body["lab"] == lab and body["file_name"] == name and body["sha256"] == sha256_of(data)
        verdict = body["verdict"]
        assert isinstance(verdict, dict) and verdict["outcome"] in ("accepted", "accepted_with_problems")
        assert verdict["plates"][0]["plate_id"] == name.removesuffix(".csv")
        assert (service.warehouse / raw_relpath(sha256_of(data))).read_bytes() == data
        ids.add(body["id"])
    assert len(ids) == N
    for lab in ("lab-a", "lab-b"):
        with service.client(lab) as c:
            listed = {u["id"] for u in c.get("/api/v1/uploads").json()["uploads"]}
        mine = {b["id"] for la, _, _, _, b, _ in burst if la == lab}
        theirs = ids - mine
        assert mine <= listed and not (theirs & listed)

    server = sorted(float(b["verdict_seconds"]) for *_, b, _ in burst)
    client = sorted(rt for *_, rt in burst)
    p95 = lambda xs: xs[round(0.95 * (len(xs) - 1))]  # noqa: E731
    print(
        f"\nverdict latency over {N} concurrent uploads (2 verdicts at a time): "
        f"server-side median {statistics.median(server):.2f} s, p95 {p95(server):.2f} s; "
        f"client round trip median {statistics.median(client):.2f} s, p95 {p95(client):.2f} s"
    )
    assert statistics.median(server) < 2.0
