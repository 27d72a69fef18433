"""Per-family conformance table over ``../shared/corpus/allotropy/`` (see tests/readers/conformance.py).

    .venv/bin/python -m tests.readers.conformance_table            # the table
    .venv/bin/python -m tests.readers.conformance_table --files    # plus one line per file
    .venv/bin/python -m tests.readers.conformance_table --no-fallback   # native readers only (fast)

Columns: files with a JSON read natively / by the allotropy fallback / refused; in-scope measurements
equal / different / missing; out-of-scope files (spectra, kinetic) refused or read naming their read type;
files without a JSON (errors/, exclude/) read or refused in one short paragraph.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import polars as pl

from tests.conftest import CORPUS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", action="store_true", help="one line per file too")
    ap.add_argument("--no-fallback", action="store_true", help="do not try the allotropy fallback")
    ap.add_argument("--root", type=Path, default=CORPUS / "allotropy")
    args = ap.parse_args(argv)
    os.environ["BIOMARKERS_ALLOTROPY_FALLBACK"] = "0" if args.no_fallback else "1"
    from tests.readers.conformance import corpus_files, judge, table

    if not args.root.is_dir():
        print(f"no corpus at {args.root}", file=sys.stderr)
        return 2
    verdicts = [judge(args.root, p) for p in corpus_files(args.root)]
    if args.files:
        for v in verdicts:
            rel = v.case.path.relative_to(args.root)
            scope = "" if v.named_ok is None else f" out-of-scope named={v.named_ok}"
            print(
                f"{v.how:8} {v.format or '':28} eq={v.equal:<4} diff={v.different:<4} miss={v.missing:<4}"
                f"{scope} {rel}{'' if v.case.json_path else ' (no JSON)'}"
            )
            for p in v.problems[:3]:
                print(f"{'':10}{p}")
            if v.error and v.how == "refused":
                print(f"{'':10}refused: {v.error[:200]}")
    with pl.Config(tbl_rows=50, tbl_cols=20, tbl_width_chars=200, tbl_hide_dataframe_shape=True):
        print(table(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
