"""The bad-input corpus of issue 14: malformed, hostile and misplaced files, written into a folder at test
time (nothing generated is committed).

Most cases are mutations of real exports (../shared/corpus) or of one generated study's plates (the
exports whose sample IDs are in the study's manifest, so that a held row can be told from an unresolved
one); a few are small synthetic files (empty, binary, images). Each :class:`Case` says what must happen to
its file in a run of the whole inbox, and what the message must name (the rule and the value, well or
row). Deterministic: the same inputs give the same bytes.

Run it alone to look at the files: ``python -m tests.badinput.make_corpus OUT STUDY CORPUS``.
"""

from __future__ import annotations

import codecs
import random
import re
import sys
import zipfile
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

OUTCOMES = (
    "companion",
    "loaded",
    "held",
    "unresolved",
    "quarantined",
    "companion_waiting",
    "waiting",
    "refused",
    "duplicate",
)
"""``loaded``: every row loaded; ``held``: loaded, some results held or rows rejected (the quarantine table
names them); ``unresolved``: loaded, sample IDs waiting for the manifest; ``quarantined``: nothing loaded;
``companion_waiting``: a plate map with no export beside it; ``waiting``: hidden/partial file left alone;
``companion``: a plate map read with its export; ``refused``: a symbolic link, not followed;
``duplicate``: the same bytes as another file of the run."""

LX_BASE = "BCT011-LX-CYT-SERUM-P003_20201215.csv"  # generated study: mutated, never a "good" file itself
ELISA_BASE = "BCT011-ELISA-VEGF-CSF-P002_20200814.txt"
GOOD = (  # loaded as they are; the run must load them exactly as a run of them alone does
    "BCT011-LX-NDG-CSF-P003_20201107.csv",
    "BCT011-ELISA-HGF-CSF-P001_20190718.txt",
    "BCT011-ELISA-HGF-CSF-P001_20190718_platemap.csv",
)


@dataclass(frozen=True)
class Case:
    name: str  # file name in the inbox
    kind: str  # what is wrong, in the words
    expect: str  # one of OUTCOMES
    says: tuple[str, ...] = ()  # lower-case fragments the file's messages must hold (rule, value, well)
    rule: str = ""  # the quarantine rule expected on the file's rows ("" for none)
    good: bool = False
    specific: bool = False  # issue 14 item 9: must not get the generic "not a format" text


@dataclass
class Corpus:
    inbox: Path
    cases: list[Case] = field(default_factory=list)

    def add(self, case: Case, data: bytes | str | None) -> None:
        if any(c.name == case.name for c in self.cases):
            raise ValueError(f"two cases named {case.name}")
        if data is not None:
            raw = data.encode("utf-8") if isinstance(data, str) else data
            (self.inbox / case.name).write_bytes(raw)
        self.cases.append(case)


# --- mutations of an xPONENT export ------------------------------------------------------------------


def _section(lines: list[str], name: str) -> tuple[int, int]:
    """(first data line, end) of the ``DataType:`` section ``name``; the header row is the first line."""
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f'"DataType:","{name}"'))
    end = start + 1
    while end < len(lines) and lines[end].strip() and not lines[end].startswith('"DataType:"'):
        end += 1
    return start + 2, end


def set_cell(text: str, section: str, well: str, column: int, value: str) -> str:
    """The xPONENT ``section`` cell of ``well`` (``G3``) in analyte ``column`` (0 = the first analyte)."""
    lines = text.split("\n")
    first, end = _section(lines, section)
    for i in range(first, end):
        if f",{well})" in lines[i].split('","')[0] + ")":
            cells = lines[i].rstrip("\r").split('","')
            cells[column + 2] = value
            lines[i] = '","'.join(cells) + ("\r" if lines[i].endswith("\r") else "")
            return "\n".join(lines)
    raise ValueError(f"no well {well} in {section}")


def set_grid(text: str, row: str, column: int, value: str) -> str:
    """The cell ``row``/``column`` (1-based) of a tab-separated plate grid."""
    lines = text.split("\n")
    i = next(k for k, ln in enumerate(lines) if ln.startswith(f"{row}\t"))
    cells = lines[i].split("\t")
    cells[column] = value
    lines[i] = "\t".join(cells)
    return "\n".join(lines)


def set_sample(text: str, old: str, new: str) -> str:
    """Rename a sample everywhere (quoted cells only)."""
    return text.replace(f'"{old}"', f'"{new}"')


def drop_section(text: str, name: str) -> str:
    lines = text.split("\n")
    first, end = _section(lines, name)
    return "\n".join(lines[: first - 2] + lines[end + 1 :])


def with_plate(text: str, old: str, new: str) -> str:
    return text.replace(old, new)


def lx_plate(name: str) -> str:
    return name.split("_")[0]


def _png() -> bytes:
    import struct
    import zlib

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 4 for _ in range(4))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


def make_corpus(inbox: Path, study_inbox: Path, manifest: Path, corpus: Path) -> list[Case]:
    """Write every case into ``inbox`` (created) and return the cases. ``study_inbox``: a generated study's
    inbox (synth.generator, seed 11); ``manifest``: its manifest; ``corpus``: ../shared/corpus."""
    inbox.mkdir(parents=True, exist_ok=True)
    c = Corpus(inbox)
    rng = random.Random(14)
    for g in GOOD:
        expect = "companion" if g.endswith("_platemap.csv") else "loaded"
        c.add(Case(g, "a good export", expect, good=True), (study_inbox / g).read_bytes())

    lx = (study_inbox / LX_BASE).read_text()
    plate = lx_plate(LX_BASE)

    def lx_case(
        tag: str, kind: str, expect: str, text: str, says: tuple[str, ...] = (), rule: str = ""
    ) -> None:
        name = f"{plate}-{tag}_20201215.csv"
        c.add(Case(name, kind, expect, says, rule), with_plate(text, plate, f"{plate}-{tag}"))

    # numbers that are not numbers (an unknown's Result cell: G3 is SER0112745434, column 2 is IL-6)
    for tag, value, kind, expect, says, rule in [
        ("INF", "Infinity", "Infinity replicate", "held", ("infinity", "g3"), "non_finite_value"),
        ("NINF", "-inf", "-inf replicate", "held", ("-inf", "g3"), "non_finite_value"),
        ("E309", "1e309", "1e309 (overflows)", "held", ("1e309", "g3"), "non_finite_value"),
        ("E400", "*1E400", "extrapolated 1E400", "held", ("1e400", "g3"), "non_finite_value"),
        ("NEG", "-12.5", "negative value", "held", ("-12.5", "negative"), "negative_value"),
        ("ABC", "abc", "malformed number (text)", "loaded", ("abc",), ""),
        ("DOTS", "12.5.3", "malformed number (two points)", "loaded", ("12.5.3",), ""),
        ("THOU", "1,234.5", "thousands separator", "loaded", (), ""),
        ("DECC", "12,5", "decimal comma in a quoted cell (read 12.5)", "loaded", (), ""),
        ("NANV", "NaN", "NaN (not reported)", "loaded", (), ""),
        ("EMPTY", "", "empty result cell", "loaded", (), ""),
        ("HUGE", "9.9e300", "absurdly large value", "held", ("ser0112745434", "g3"), "plausible_range"),
    ]:
        lx_case(tag, kind, expect, set_cell(lx, "Result", "G3", 2, value), says, rule)

    # identifiers
    for tag, sid, kind, says in [
        ("EMOJI", "SER0112745434\U0001f9ea", "emoji in a sample ID", ("\\U0001f9ea".lower(),)),
        ("LONGID", "S" * 10_000, "10,000-character sample ID", ("sssssssss",)),
        ("CTRLID", "SER01127\x0745434", "control character in a sample ID", ("\\x07",)),
        (
            "INJ1",
            '=HYPERLINK(""http://x.example/"",""click"")',
            "CSV injection (formula) sample ID",
            ("=hyperlink",),
        ),
        ("INJ2", "+cmd|' /C calc'!A0", "CSV injection (DDE) sample ID", ("+cmd",)),
        ("INJ3", "@SUM(1+1)*cmd|' /C calc'!A0", "CSV injection (@) sample ID", ("@sum(1+1)",)),
        ("UNK", "SER9999999999", "sample ID not in the manifest", ("ser9999999999",)),
    ]:
        lx_case(tag, kind, "unresolved", set_sample(lx, "SER0112745434", sid), says)

    # structure of the export
    lines = lx.split("\n")
    first, _ = _section(lines, "Result")
    dup = [*lines[: first + 1], lines[first], *lines[first + 1 :]]
    lx_case(
        "DUPWELL", "duplicate well (A1 twice in Result)", "quarantined", "\n".join(dup), ("well a1", "twice")
    )
    units = lx.replace('"Units:","pg/mL","pg/mL"', '"Units:","ng/mL","pg/mL"')
    lx_case("MIXU", "mixed units (one analyte ng/mL)", "held", units, ("standards_off_scale",))
    allng = re.sub(r'"pg/mL"', '"ng/mL"', lx)
    lx_case("NGML", "every analyte labelled ng/mL (mislabelled)", "held", allng, ("plausible_range",))
    lx_case(
        "FURL",
        "unknown unit",
        "held",
        lx.replace('"Units:","pg/mL"', '"Units:","furlongs"'),
        ("furlongs",),
        "unit_unknown",
    )
    lx_case(
        "NOUNITS",
        "no Units section",
        "loaded",
        drop_section(lx, "Units"),
        ("no units section",),
        "reader_warning",
    )
    lx_case(
        "NODIL",
        "no Dilution Factor section",
        "loaded",
        drop_section(lx, "Dilution Factor"),
        ("no dilution factor section",),
        "reader_warning",
    )
    lx_case("NOCRC", "no CRC end line", "loaded", lx.split("-- CRC --")[0], ("crc",), "reader_warning")
    nostd = "\n".join(ln for ln in lines if '","Standard' not in ln)
    lx_case("NOSTD", "missing standards", "loaded", nostd)
    oor = lx
    for w in ("G3", "H3", "A4", "B4", "C4", "D4"):
        for col in range(8):
            oor = set_cell(oor, "Result", w, col, "OOR <")
    lx_case("OOR", "unknowns all out of range (OOR <)", "loaded", oor)
    lx_case("DILZERO", "dilution 0", "quarantined", set_cell(lx, "Dilution Factor", "G3", 0, "0"), ("'0'",))
    lx_case(
        "DILNEG",
        "negative dilution",
        "quarantined",
        set_cell(lx, "Dilution Factor", "G3", 0, "-2"),
        ("'-2'",),
    )
    c.add(
        Case(f"{plate}-TAB_20201215.csv", "tab instead of comma", "loaded"),
        with_plate(lx, plate, f"{plate}-TAB").replace('","', '"\t"'),
    )
    c.add(
        Case(f"{plate}-SEMI_20201215.csv", "semicolons and decimal commas (European Excel)", "loaded"),
        re.sub(r"(\d)\.(\d)", r"\1,\2", with_plate(lx, plate, f"{plate}-SEMI").replace('","', '";"')),
    )
    c.add(
        Case(f"{plate}-CR_20201215.csv", "old Mac line endings (CR)", "loaded"),
        with_plate(lx, plate, f"{plate}-CR").replace("\n", "\r"),
    )
    c.add(
        Case(f"{plate}-U16_20201215.csv", "UTF-16 with BOM (a known format)", "loaded"),
        codecs.BOM_UTF16_LE + with_plate(lx, plate, f"{plate}-U16").encode("utf-16-le"),
    )
    c.add(
        Case(f"{plate}-U16BE_20201215.csv", "UTF-16 big-endian without BOM", "loaded"),
        with_plate(lx, plate, f"{plate}-U16BE").encode("utf-16-be"),
    )
    c.add(
        Case(f"{plate}-TRUNC_20201215.csv", "truncated mid-file", "quarantined", ("truncated",)),
        with_plate(lx, plate, f"{plate}-TRUNC")[: len(lx) // 3],
    )
    nul = with_plate(lx, plate, f"{plate}-NUL")
    c.add(
        Case(f"{plate}-NUL_20201215.csv", "NUL bytes in the header block", "loaded"),
        nul[:2000] + "\x00" * 64 + nul[2000:],
    )
    dup_plate = with_plate(set_cell(lx, "Result", "G3", 2, "99.5"), plate, f"{plate}-DUPID")
    c.add(
        Case(f"{plate}-DUPID_20201215.csv", "duplicate plate ID (first file)", "loaded"),
        with_plate(lx, plate, f"{plate}-DUPID"),
    )
    c.add(
        Case(
            f"{plate}-DUPID_copy2.csv",
            "duplicate plate ID (another file, other values)",
            "loaded",
            ("replaces",),
        ),
        dup_plate,
    )
    c.add(
        Case("zz_copy_of_good.csv", "same bytes as a good file", "duplicate"),
        (study_inbox / GOOD[0]).read_bytes(),
    )

    # plate-reader grid (ELISA) and its plate map
    elisa = (study_inbox / ELISA_BASE).read_text()
    pmap = (study_inbox / ELISA_BASE.replace(".txt", "_platemap.csv")).read_text()
    eplate = lx_plate(ELISA_BASE)

    def elisa_case(
        tag: str, kind: str, expect: str, text: str, says: tuple[str, ...] = (), rule: str = ""
    ) -> None:
        stem = f"{eplate}-{tag}_20200814"
        c.add(Case(f"{stem}.txt", kind, expect, says, rule), with_plate(text, eplate, f"{eplate}-{tag}"))
        # each plate map its own bytes: a plate map seen before is item 6 of the issue, not tested here
        (inbox / f"{stem}_platemap.csv").write_text(pmap + "\n" * (len(c.cases) + 1))

    elisa_case("NOH", "grid missing row H", "loaded", re.sub(r"\nH\t[^\n]*", "", elisa), ("no row h",))
    elisa_case(
        "ATOC", "partial grid (rows A-C)", "held", re.sub(r"\n[D-H]\t[^\n]*", "", elisa), ("no rows d",)
    )
    # C5 and E8 are unknowns (the plate map: CSF0117679119, CSF0111037072)
    elisa_case("OVER", "OVRFLW cell in the grid", "loaded", set_grid(elisa, "E", 8, "OVRFLW"))
    elisa_case("GNEG", "negative OD", "loaded", set_grid(elisa, "C", 5, "-0.194"))
    elisa_case(
        "GINF",
        "Infinity OD",
        "loaded",
        set_grid(elisa, "C", 5, "Infinity"),
        ("'c5': 'infinity'",),
        "reader_warning",
    )
    elisa_case("COMMA", "decimal commas in a tab grid", "loaded", re.sub(r"(\d)\.(\d)", r"\1,\2", elisa))
    c.add(
        Case(f"{eplate}-ALONE_20200814.txt", "grid without its plate map", "quarantined", ("plate map",)),
        with_plate(elisa, eplate, f"{eplate}-ALONE"),
    )
    c.add(
        Case("lonely_platemap.csv", "a plate map dropped alone", "companion_waiting", ("plate map",)),
        pmap + "\n" * 200,
    )

    # empty and not-text files
    c.add(Case("zero_bytes.csv", "zero-byte file", "quarantined", ("empty", "0 bytes"), specific=True), b"")
    c.add(
        Case("blank_lines.csv", "only whitespace", "quarantined", ("blank",), specific=True), "\n  \n\t\n\n"
    )
    c.add(
        Case("bom_only.csv", "only a byte-order mark", "quarantined", ("byte-order mark",), specific=True),
        codecs.BOM_UTF8 + b"\r\n",
    )
    c.add(
        Case("junk.csv", "binary junk", "quarantined", ("binary",), specific=True),
        bytes(rng.randrange(256) for _ in range(4096)),
    )
    c.add(Case("plate_photo.png", "an image", "quarantined", ("image", "png"), specific=True), _png())
    c.add(
        Case("plate_photo.jpg", "a JPEG image", "quarantined", ("image", "jpeg"), specific=True),
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(200),
    )
    c.add(Case("run_report.pdf", "a PDF report", "quarantined", ("pdf",), specific=True), _pdf())
    c.add(
        Case("error_page.csv", "an HTML error page saved as .csv", "quarantined", ("html",), specific=True),
        "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>\n",
    )
    z = BytesIO()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("plate1.csv", lx)
    c.add(
        Case("exports.zip", "a zip archive of exports", "quarantined", ("zip",), specific=True), z.getvalue()
    )
    c.add(Case("long_line.csv", "one 1 MB line", "quarantined"), "x," * 500_000)
    c.add(
        Case("notes_utf16.txt", "UTF-16 text that is no export", "quarantined", ("utf-16",)),
        codecs.BOM_UTF16_LE + "Plate notes: re-run on Monday\r\n".encode("utf-16-le"),
    )

    # the manifest and canonical CSVs
    man = manifest.read_text().split("\n")
    c.add(
        Case(
            "shipment_manifest.csv",
            "a sample manifest dropped into the inbox",
            "quarantined",
            ("manifest", str(manifest).lower()),
            specific=True,
        ),
        "\n".join(man[:20]) + "\n",
    )
    header = "plate_id,well,sample_id,sample_type,analyte,concentration,unit,dilution\n"
    body = "".join(
        f"CAN-1,{w},SER0112745434,unknown,IL-6,{v},pg/mL,2\n" for w, v in (("A1", "12.5"), ("A2", "13.1"))
    )
    c.add(
        Case(
            "canonical_no_unit.csv",
            "canonical CSV without its unit column",
            "quarantined",
            ("unit",),
            specific=True,
        ),
        header.replace(",unit", "") + body.replace(",pg/mL", ""),
    )
    c.add(
        Case(
            "canonical_no_conc.csv",
            "canonical CSV without concentration",
            "quarantined",
            ("concentration",),
            specific=True,
        ),
        header.replace(",concentration", "") + re.sub(r",(12.5|13.1),", ",", body),
    )

    # real exports (../shared/corpus), damaged
    ex02 = (corpus / "xponent/allotropy_xPONENT_example02.csv").read_bytes()
    xlsx = (corpus / "bioplex/labkey_RawAndSummary.xlsx").read_bytes()
    xls = (corpus / "bioplex/labkey_10JAN07_plate_1.xls").read_bytes()
    xml = (corpus / "bioplex/allotropy_bioplex_manager_example_01.xml").read_bytes()
    msd = (corpus / "msd/allotropy_msd_workbench_test_1.csv").read_bytes()
    smx = (corpus / "platereader/allotropy_softmax_pro_group_with_partial_rows.txt").read_bytes()
    gen5 = (corpus / "platereader/allotropy_gen5_kinetic_standard_curve.txt").read_bytes()
    c.add(
        Case(
            "real_xlsx_truncated.xlsx",
            "truncated xlsx (real Bio-Plex workbook)",
            "quarantined",
            ("cut short",),
            specific=True,
        ),
        xlsx[: len(xlsx) // 2],
    )
    c.add(
        Case(
            "real_xls_truncated.xls",
            "truncated xls (real Bio-Plex workbook)",
            "quarantined",
            ("cut short",),
            specific=True,
        ),
        xls[: len(xls) // 3],
    )
    c.add(
        Case("real_xml_truncated.xml", "truncated Bio-Plex XML", "quarantined", ("truncated",)),
        xml[: len(xml) // 2],
    )
    c.add(
        Case("real_msd_truncated.csv", "truncated MSD export", "quarantined", ("truncated",)),
        msd[: len(msd) // 4],
    )
    c.add(
        Case(
            "real_xponent_truncated.csv",
            "truncated xPONENT export (real)",
            "quarantined",
            ("truncated",),
            specific=True,
        ),
        ex02[: len(ex02) // 2],
    )
    c.add(Case("real_gen5_kinetic.txt", "Gen5 export naming no assay", "quarantined", ("assay",)), gen5)
    c.add(
        Case(
            "real_xponent_utf16.csv",
            "real xPONENT as UTF-16 (read; not our assay)",
            "quarantined",
            ("alpha",),
        ),
        codecs.BOM_UTF16_LE + ex02.decode("utf-8").encode("utf-16-le"),
    )
    c.add(
        Case(
            "real_softmax_cr.txt", "real SoftMax, CR line ends, no plate map", "quarantined", ("plate map",)
        ),
        smx.replace(b"\r\n", b"\r").replace(b"\n", b"\r"),
    )

    # files the inbox must leave alone or refuse
    c.add(Case("next_plate.csv.part", "partial download (.part)", "waiting"), lx[:500])
    c.add(Case(".hidden_plate.csv", "hidden file", "waiting"), lx)
    c.add(Case("~$plate.xlsx", "Office lock file", "waiting"), b"lock")
    c.add(Case("copying.tmp", "temporary file", "waiting"), b"tmp")
    c.add(Case("passwd.csv", "symbolic link to /etc/passwd", "refused", ("symbolic link",)), None)
    (inbox / "passwd.csv").symlink_to("/etc/passwd")
    c.add(Case("linked_plate.csv", "symbolic link to a good export", "refused", ("symbolic link",)), None)
    (inbox / "linked_plate.csv").symlink_to(inbox / GOOD[0])
    return c.cases


if __name__ == "__main__":
    out, study, corpus_dir = (Path(a) for a in sys.argv[1:4])
    for case in make_corpus(out, study / "inbox", study / "manifest.csv", corpus_dir):
        print(f"{case.name}\t{case.expect}\t{case.kind}")
