"""Convert one instrument export to the Allotrope Simple Model (ASM) with Benchling's ``allotropy``.

Runs ONLY in the oracle environment (``.venv-oracle/``, built by ``make oracle`` from oracle/uv.lock):
allotropy pins ``jsonschema<4.18`` and the pipeline's prefect needs ``>=4.18``, so the two cannot share an
environment. The pipeline talks to it through this CLI (readers/allotropy_fallback.py), the tests use it as
an independent oracle (tests/readers/test_allotropy_oracle.py).

Usage::

    python run_allotropy.py --vendor LUMINEX_XPONENT FILE   # ASM JSON on stdout
    python run_allotropy.py --detect FILE                   # {"vendor", "display_name", "asm", ...} on stdout
    python run_allotropy.py --batch < jobs.json             # [{"vendor": V, "file": F}, ...] -> JSON list
    python run_allotropy.py --list-vendors                  # the --detect order, with display names

``--detect`` tries :data:`DETECT_ORDER` (the immunoassay / plate-reader instruments relevant to us): vendors
whose allotropy sniff recognises the file first, then the others, each parsed in full; the first that
converts wins. None → exit 2 with ``{"file", "error", "tried": [{"vendor", "reason"}]}`` on stderr.
allotropy chooses its reader by file extension; a file whose extension a vendor does not take is tried
under that vendor's extensions (the content decides, as in the pipeline's own detection).

Exit codes: 0 converted; 2 allotropy could not convert the file (reasons as JSON on stderr); 1 bad usage.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from allotropy.constants import CHARDET_ENCODING
from allotropy.named_file_contents import NamedFileContents
from allotropy.parser_factory import Vendor
from allotropy.to_allotrope import allotrope_from_io

# Immunoassay / plate-reader instruments, most relevant first. Order matters where two allotropy parsers
# accept the same file: Methodical Mind before MSD Workbench (the Workbench parser also reads raw MSD
# files), Gen5 before Gen5 Image. The two Luminex parsers share one reader and accept each other's files;
# they are told apart by content (:func:`_luminex_order`).
DETECT_ORDER: tuple[str, ...] = (
    "LUMINEX_XPONENT",
    "LUMINEX_INTELLIFLEX",
    "BIORAD_BIOPLEX",
    "METHODICAL_MIND",
    "MSD_WORKBENCH",
    "MOLDEV_SOFTMAX_PRO",
    "AGILENT_GEN5",
    "PERKIN_ELMER_ENVISION",
    "BMG_MARS",
    "BMG_LABTECH_SMART_CONTROL",
    "TECAN_MAGELLAN",
    "THERMO_SKANIT",
    "REVVITY_KALEIDO",
    "MABTECH_APEX",
    "CTL_IMMUNOSPOT",
)
_LUMINEX = ("LUMINEX_XPONENT", "LUMINEX_INTELLIFLEX")
_INTELLIFLEX_COLUMNS = ("INSTRUMENT TYPE", "WELL LOCATION", "SAMPLE ID")


class UsageError(Exception):
    pass


def vendor_of(name: str) -> Vendor:
    try:
        return Vendor(name.strip().upper())
    except ValueError:
        raise UsageError(f"unknown allotropy vendor {name!r}; see --list-vendors") from None


def _names_to_try(path: Path, vendor: Vendor) -> list[str]:
    """The file's own name when the vendor takes its extension, else the name under each extension it does."""
    ext = path.suffix[1:].lower()
    if ext in vendor.supported_extensions:
        return [path.name]
    return [f"{path.stem or path.name}.{e}" for e in vendor.supported_extensions]


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:400]}"


def _convert(data: bytes, name: str, vendor: Vendor) -> tuple[dict[str, Any], list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asm = allotrope_from_io(io.BytesIO(data), name, vendor, encoding=CHARDET_ENCODING)
    return asm, sorted({str(w.message) for w in caught})


def convert(path: Path, vendor: Vendor) -> tuple[dict[str, Any], list[str]]:
    """ASM of one file with one vendor's parser (and the warnings allotropy raised on the way)."""
    data = path.read_bytes()
    errors: list[str] = []
    for name in _names_to_try(path, vendor):
        try:
            return _convert(data, name, vendor)
        except Exception as exc:  # allotropy raises many types; each is a reason, not a crash
            errors.append(_reason(exc))
    raise ValueError("; ".join(dict.fromkeys(errors)))


def _sniffs(data: bytes, name: str, vendor: Vendor) -> bool:
    try:
        parser = vendor.get_parser()
        return bool(type(parser).sniff(NamedFileContents(io.BytesIO(data), name)))
    except Exception:
        return False


def _is_intelliflex(data: bytes, ext: str) -> bool:
    if ext == "xlsx":
        try:
            from allotropy.parsers.luminex_intelliflex.luminex_intelliflex_parser import (
                LuminexIntelliflexParser,
            )

            return bool(LuminexIntelliflexParser._sniff_xlsx(NamedFileContents(io.BytesIO(data), "f.xlsx")))
        except Exception:
            return False
    text = data[:8192].decode("utf-8", errors="replace").lstrip("\ufeff")
    first = next((ln for ln in text.splitlines() if ln.strip()), "").upper()
    return all(c in first for c in _INTELLIFLEX_COLUMNS)


def _luminex_order(order: list[str], data: bytes, ext: str) -> list[str]:
    """allotropy's two Luminex parsers read both export styles; name the one the file actually is."""
    first, second = _LUMINEX[::-1] if _is_intelliflex(data, ext) else _LUMINEX
    if first not in order or second not in order:
        return order
    out = [v for v in order if v != first]
    out.insert(out.index(second), first)
    return out


def _candidates(path: Path, data: bytes) -> list[str]:
    ext = path.suffix[1:].lower()
    sniffed: list[str] = []
    others: list[str] = []
    for name in DETECT_ORDER:
        vendor = Vendor(name)
        hit = any(_sniffs(data, n, vendor) for n in _names_to_try(path, vendor))
        (sniffed if hit else others).append(name)
    return _luminex_order(sniffed, data, ext) + _luminex_order(others, data, ext)


def detect(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    tried: list[dict[str, str]] = []
    for name in _candidates(path, data):
        vendor = Vendor(name)
        try:
            asm, caught = convert(path, vendor)
        except Exception as exc:
            tried.append(
                {"vendor": name, "reason": str(exc) if isinstance(exc, ValueError) else _reason(exc)}
            )
            continue
        return {
            "vendor": name,
            "display_name": vendor.display_name,
            "technique": vendor.technique,
            "warnings": caught,
            "tried": tried,
            "asm": asm,
        }
    raise LookupError(
        json.dumps({"file": path.name, "error": "no allotropy vendor converts it", "tried": tried})
    )


def _batch(jobs: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
    for job in jobs:
        out: dict[str, Any] = {"file": job["file"], "vendor": job["vendor"]}
        try:
            out["asm"], out["warnings"] = convert(Path(job["file"]), vendor_of(job["vendor"]))
        except Exception as exc:
            out["error"] = str(exc) if isinstance(exc, ValueError) else _reason(exc)
        yield out


def _print(obj: object, stream: Callable[[str], object] = sys.stdout.write) -> None:
    stream(json.dumps(obj))
    stream("\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--vendor", metavar="VENDOR", help="allotropy Vendor name, e.g. LUMINEX_XPONENT")
    mode.add_argument("--detect", action="store_true", help="try the relevant vendors in order")
    mode.add_argument("--batch", action="store_true", help='stdin: [{"vendor": V, "file": F}, ...]')
    mode.add_argument("--list-vendors", action="store_true")
    ap.add_argument("file", nargs="?", type=Path)
    args = ap.parse_args(argv)
    try:
        if args.list_vendors:
            _print([{"vendor": v, "display_name": Vendor(v).display_name} for v in DETECT_ORDER])
            return 0
        if args.batch:
            _print(list(_batch(json.load(sys.stdin))))
            return 0
        if args.file is None:
            raise UsageError("FILE is required with --vendor and --detect")
        if not args.file.is_file():
            raise UsageError(f"no such file: {args.file}")
        if args.detect:
            try:
                _print(detect(args.file))
            except LookupError as exc:
                sys.stderr.write(str(exc.args[0]) + "\n")
                return 2
            return 0
        vendor = vendor_of(args.vendor)
        try:
            asm, _ = convert(args.file, vendor)
        except Exception as exc:
            _print({"file": args.file.name, "vendor": vendor.value, "error": str(exc)}, sys.stderr.write)
            return 2
        _print(asm)
        return 0
    except UsageError as exc:
        _print({"error": str(exc)}, sys.stderr.write)
        return 1


if __name__ == "__main__":
    sys.exit(main())
