"""A lab may upload the same plate as its instrument's export or as the canonical CSV template: the
results must be the same."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl
import pytest

from pipeline.manifest import load_manifest
from pipeline.process import process_file
from readers.base import FileInput
from readers.xponent import XponentReader
from schemas.config import Config
from synth.generator import generate_study
from warehouse.raw import sha256_of

COMPARED = [
    "sample_id",
    "analyte",
    "qualifier",
    "conc_pg_ml",
    "lloq_pg_ml",
    "uloq_pg_ml",
    "cv_pct",
    "n_replicates",
    "dilution",
    "participant_id",
    "visit",
    "matrix",
    "status",
    "assay_id",
]


def as_canonical_csv(data: bytes, name: str) -> bytes:
    """Re-key an xPONENT export into the canonical template, cell for cell, as a lab would."""
    read = XponentReader().read(FileInput(name=name, data=data))
    protocol = read.plates[0].protocol or ""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "plate_id",
            "well",
            "sample_id",
            "sample_type",
            "analyte",
            "concentration",
            "unit",
            "dilution",
            "dilution_applied",
            "signal",
            "signal_kind",
            "expected_conc",
            "protocol",
        ]
    )
    for r in read.wells.iter_rows(named=True):
        w.writerow(
            [
                r["plate_id"],
                r["well"],
                r["sample_id"],
                r["sample_type"],
                r["analyte_as_written"],
                r["reported_text"] or "",
                r["unit"] or "",
                r["dilution"],
                "yes" if r["dilution_applied"] else "no",
                "" if r["signal"] is None else r["signal"],
                r["signal_kind"] or "",
                "" if r["expected_conc"] is None else r["expected_conc"],
                protocol,
            ]
        )
    return buf.getvalue().encode()


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("equiv")
    generate_study(out, seed=31, participants=6)
    return out


@pytest.mark.parametrize("panel", ["LX-NTF-CSF", "LX-CYT-SERUM", "LX-NDG-CSF"])
def test_xponent_and_canonical_csv_give_the_same_results(study: Path, config: Config, panel: str) -> None:
    manifest = load_manifest(study / "manifest.csv", config)
    export = sorted((study / "inbox").glob(f"*{panel}-P001*.csv"))[0]
    data = export.read_bytes()
    canonical = as_canonical_csv(data, export.name)
    a = process_file(FileInput(export.name, data), sha256_of(data), config, manifest)
    b = process_file(FileInput("rekeyed.csv", canonical), sha256_of(canonical), config, manifest)
    assert (a.format, b.format) == ("xponent", "canonical")
    assert a.results is not None and b.results is not None and a.results.height > 0
    left = a.results.select(COMPARED).sort("sample_id", "analyte")
    right = b.results.select(COMPARED).sort("sample_id", "analyte")
    assert left.equals(right), pl.concat([left, right], how="horizontal").head()
    censored = left.filter(pl.col("qualifier").is_in(["<", ">"])).height
    assert censored > 0  # the comparison covers OOR tokens, not only numbers
