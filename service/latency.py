"""Measure a running upload service's verdict latency: ``python -m service.latency --url URL --token T
--export FILE [--n 50] [--concurrency 1]``.

Uploads ``n`` distinct copies of one xPONENT export (its ``"Batch"`` line renamed, so each is a new plate
with new bytes) and prints the median and 95th percentile of the server-side verdict time and of the round
trip the client saw. Every copy is a real upload: use a scratch lab and a scratch warehouse.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

_BATCH = re.compile(rb'^"Batch","([^"]*)"', re.MULTILINE)


def variants(export: bytes, n: int, tag: str) -> list[bytes]:
    m = _BATCH.search(export)
    if m is None:
        raise SystemExit('the export has no "Batch" line: give an xPONENT CSV export')
    name = m.group(1).decode()
    return [export.replace(m.group(0), f'"Batch","{name}-{tag}{i:03d}"'.encode(), 1) for i in range(n)]


def p95(values: list[float]) -> float:
    xs = sorted(values)
    return xs[round(0.95 * (len(xs) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--export", type=Path, required=True)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=1)
    args = ap.parse_args()
    files = variants(args.export.read_bytes(), args.n, f"L{int(time.time()) % 100000}-")
    client = httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {args.token}"}, timeout=300)

    def send(data: bytes) -> tuple[float, float]:
        t = time.perf_counter()
        r = client.post("/api/v1/uploads", files={"file": (args.export.name, data, "text/csv")})
        elapsed = time.perf_counter() - t
        r.raise_for_status()
        return float(r.json()["verdict_seconds"]), elapsed

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        timings = list(pool.map(send, files))
    wall = time.perf_counter() - started
    server = [s for s, _ in timings]
    trip = [t for _, t in timings]
    print(
        f"{args.n} uploads of {args.export.name} ({len(files[0]):,} bytes), {args.concurrency} at a time, "
        f"{wall:.1f} s in all: verdict on the server median {statistics.median(server):.2f} s, "
        f"p95 {p95(server):.2f} s; round trip median {statistics.median(trip):.2f} s, p95 {p95(trip):.2f} s"
    )


if __name__ == "__main__":
    main()
