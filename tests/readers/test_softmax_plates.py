"""SoftMax Pro Plate blocks, built here by the documented export layout (the ``Plate:`` header's columns,
PlateFormat and TimeFormat bodies): several plates, wavelengths and read modes, partial plates, reduced
data, non-endpoint reads, a plate map for plate-only exports; and a property test over generated plates."""

from __future__ import annotations

import codecs
import random
from dataclasses import dataclass

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readers.base import FileInput, ReaderError, ReadResult
from readers.softmax import PLATE_DIMENSIONS, SoftmaxGroupReader, parse_plate_header
from schemas.wells import WellModel

T = "\t"
ROWS = "ABCDEFGHIJKLMNOP"


@dataclass
class Plate:
    name: str
    mode: str = "Absorbance"  # Absorbance | Fluorescence | Luminescence
    wavelengths: tuple[str, ...] = ("450",)
    excitation: tuple[str, ...] = ()
    n_wells: int = 96
    fmt: str = "PlateFormat"
    read_type: str = "Endpoint"
    reads: tuple[dict[str, str], ...] = ()  # one well → cell text map per wavelength
    reduced: dict[str, str] | None = None

    def wells(self) -> list[str]:
        cols, rows = PLATE_DIMENSIONS[self.n_wells]
        return [f"{ROWS[r]}{c}" for r in range(rows) for c in range(1, cols + 1)]

    def header(self) -> str:
        """The documented column order: name, version, format, read type, read mode, [fluorescence: scan
        position], data mode, pre-read, kinetic points, 2 timing cells, start/end/step wavelength, number of
        wavelengths, wavelengths, first column, columns, wells, then the mode's own tail."""
        cols, rows = PLATE_DIMENSIONS[self.n_wells]
        scan = ["FALSE"] if self.mode == "Fluorescence" else []
        timing = ["1", "", "", "", "", ""]
        wls = [str(len(self.wavelengths)), " ".join(self.wavelengths) + " "]
        cells = ["Plate:", self.name, "1.3", self.fmt, self.read_type, self.mode, *scan, "Raw", "FALSE"]
        cells += timing
        cells += [*wls, "1", str(cols), str(self.n_wells)]
        if self.mode == "Absorbance":
            return T.join([*cells, "1", str(rows)])
        excitation = " ".join(self.excitation) + " " if self.excitation else ""
        tail = [excitation, "Manual", "", "", "", "6", "", "", "", "1", str(rows)]
        return T.join(cells + tail)

    def lines(self) -> list[str]:
        cols, rows = PLATE_DIMENSIONS[self.n_wells]
        out = [self.header()]
        if self.fmt == "TimeFormat":
            out.append(T.join(["", "Temperature(¡C)", *self.wells()]))
            for k, read in enumerate(self.reads):
                out += [T.join(["", "22.5" if k == 0 else "", *(read.get(w, "") for w in self.wells())]), ""]
            if self.reduced is not None:
                out += [
                    T.join(["", "", *self.wells()]),
                    T.join(["", "", *(self.reduced.get(w, "") for w in self.wells())]),
                ]
        else:
            numbers = [str(c) for c in range(1, cols + 1)]
            out.append(T.join(["", "Temperature(¡C)", *(c for _ in self.reads for c in [*numbers, ""])]))
            for r in range(rows):
                cells = ["", "22.5" if r == 0 else ""]
                for read in self.reads:
                    cells += [read.get(f"{ROWS[r]}{c}", "") for c in range(1, cols + 1)] + [""]
                out.append(T.join(cells))
            if self.reduced is not None:
                out += ["", T.join(["", "", *numbers])]
                for r in range(rows):
                    out.append(
                        T.join(["", "", *(self.reduced.get(f"{ROWS[r]}{c}", "") for c in range(1, cols + 1))])
                    )
        return [*out, "~End"]


def export(*blocks: list[str], note: list[str] | None = None) -> str:
    body = [["Note:", *note, "~End"]] if note else []
    body += list(blocks)
    lines = [f"##BLOCKS= {len(body)}"] + [ln for b in body for ln in b]
    return "\r\n".join(lines) + "\r\n"


def read(text: str, name: str = "sm.txt", siblings: dict[str, bytes] | None = None) -> ReadResult:
    data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    return SoftmaxGroupReader().read(FileInput(name, data, siblings or {}))


def full(p: Plate, seed: int) -> dict[str, str]:
    rnd = random.Random(seed)
    return {w: f"{rnd.uniform(0, 4):.4f}" for w in p.wells()}


def row(df: pl.DataFrame, well: str, kind: str, plate: str | None = None) -> dict[str, object]:
    f = (pl.col("well") == well) & (pl.col("signal_kind") == kind)
    if plate is not None:
        f &= pl.col("plate_id") == plate
    (r,) = df.filter(f).to_dicts()
    return r


GROUP = [
    "Group: Unknowns",
    T.join(["Sample", "Wells", "Values", "Result", "WellPlateName"]),
    T.join(["S1", "A1", "{a1}", "12.5", "{plate}"]),
    T.join([" ", "A2", "{a2}", "13.5", "{plate}"]),
    "",
    "~End",
]


def group(plate: str, a1: str, a2: str, *, with_plate: bool = True) -> list[str]:
    lines = [ln.format(plate=plate, a1=a1, a2=a2) for ln in GROUP]
    if not with_plate:
        lines = [T.join(ln.split(T)[:4]) if T in ln else ln for ln in lines]
    return lines


# ---- header ---------------------------------------------------------------------------------------------


def test_header_columns_by_read_mode() -> None:
    fl = parse_plate_header(Plate("F", "Fluorescence", ("528", "590"), ("485", "530")).header(), 1)
    assert (fl.read_mode, fl.wavelengths, fl.excitation, fl.n_wells) == (
        "Fluorescence",
        ["528", "590"],
        ["485", "530"],
        96,
    )
    assert fl.read_kinds() == ["RFU 485/528", "RFU 530/590"]
    lum = parse_plate_header(Plate("L", "Luminescence", ("0",), n_wells=384).header(), 1)
    assert (lum.read_kinds(), lum.n_wells) == (["RLU"], 384)
    od = parse_plate_header(Plate("A", wavelengths=("426", "426")).header(), 1)
    assert od.read_kinds() == ["OD426", "OD426 #2"]


# ---- reading --------------------------------------------------------------------------------------------


def test_several_plates_modes_and_wavelengths_each_their_own_rows() -> None:
    a = Plate("P1", wavelengths=("450", "650"))
    a.reads = (full(a, 1), full(a, 2))
    f = Plate("P2", "Fluorescence", ("528",), ("485",), fmt="TimeFormat")
    f.reads = (full(f, 3),)
    res = read(export(a.lines(), f.lines(), note=["Run ID: RUN-7", "Analyte: NfL"]))
    df = WellModel.validate(res.wells)
    assert [p.plate_id for p in res.plates] == ["RUN-7-P1", "RUN-7-P2"]
    assert df.group_by("plate_id", "signal_kind").len().sort("plate_id", "signal_kind").rows() == [
        ("RUN-7-P1", "OD450", 96),
        ("RUN-7-P1", "OD650", 96),
        ("RUN-7-P2", "RFU 485/528", 96),
    ]
    assert row(df, "H12", "OD650")["signal"] == float(a.reads[1]["H12"])
    assert row(df, "C7", "RFU 485/528")["signal"] == float(f.reads[0]["C7"])
    assert set(df["analyte_as_written"]) == {"NfL"}


def test_reduced_difference_carries_the_group_results_once() -> None:
    a = Plate("Plate1", wavelengths=("450", "650"))
    r450, r650 = full(a, 4), full(a, 5)
    a.reads = (r450, r650)
    a.reduced = {w: f"{float(r450[w]) - float(r650[w]):.4f}" for w in a.wells()}
    res = read(export(a.lines(), group("Plate1", a.reduced["A1"][:5], a.reduced["A2"][:5])))
    df = res.wells
    assert set(df["signal_kind"]) == {"OD450", "OD650", "OD450-650"}
    top = row(df, "A1", "OD450-650")
    assert (top["sample_id"], top["value"], top["signal"]) == ("S1", 12.5, float(a.reduced["A1"]))
    raw = row(df, "A1", "OD650")
    assert (raw["sample_id"], raw["reported_text"], raw["qualifier"]) == ("S1", None, "NR")
    assert not [w for w in res.warnings if "plate readings" in w]


def test_partial_plate_reads_only_the_wells_read() -> None:
    a = Plate("Plate1", wavelengths=("450",), fmt="TimeFormat")
    a.reads = ({w: v for w, v in full(a, 6).items() if w[0] in "CD" and 3 <= int(w[1:]) <= 10},)
    df = read(export(a.lines())).wells
    assert sorted(df["well"]) == sorted(a.reads[0])
    assert df.height == 16


def test_duplicate_plate_names_are_refused() -> None:
    a = Plate("Plate01")
    a.reads = (full(a, 7),)
    with pytest.raises(ReaderError, match="both named 'Plate01'"):
        read(export(a.lines(), a.lines()))


def test_kinetic_read_is_named_and_refused_unless_groups_computed_results() -> None:
    k = Plate("K", wavelengths=("405",), read_type="Kinetic")
    k.reads = (full(k, 8),)
    with pytest.raises(ReaderError, match="kinetic read") as err:
        read(export(k.lines()))
    assert "endpoint" in str(err.value)
    res = read(export(k.lines(), group("K", "100.5", "101.2")))
    assert set(res.wells["signal_kind"]) == {"kinetic reduction OD405"}
    assert res.wells["value"].to_list() == [12.5, 13.5]
    assert any("kinetic read" in w for w in res.warnings)


def test_plate_only_export_takes_its_plate_map() -> None:
    a = Plate("Plate1")
    a.reads = (full(a, 9),)
    header = "sample_id," + ",".join(str(c) for c in range(1, 13))
    rows = [",".join([r, *((f"S{r}{c}" if r == "A" else "") for c in range(1, 13))]) for r in "ABCDEFGH"]
    pm = "\n".join([header, *rows, "", "analyte," + ",".join(str(c) for c in range(1, 13))])
    pm += "\n" + "\n".join(",".join([r, *["IL-6"] * 12]) for r in "ABCDEFGH") + "\n"
    res = read(export(a.lines()), name="run.txt", siblings={"run_platemap.csv": pm.encode()})
    assert res.companions == ["run_platemap.csv"]
    assert row(res.wells, "A3", "OD450")["sample_id"] == "SA3"
    assert set(res.wells["analyte_as_written"]) == {"IL-6"}
    without = read(export(a.lines()))
    assert (
        set(without.wells["flags"]) == {"no_platemap"}
        and "the export does not name the analyte" in without.warnings
    )


def test_unclosed_last_plate_is_read_when_complete_else_refused() -> None:
    a = Plate("Plate1", n_wells=6)
    a.reads = (full(a, 10),)
    text = export(a.lines()).replace("~End\r\n", "")
    res = read(text)
    assert res.wells.height == 6 and any("no closing ~End" in w for w in res.warnings)
    with pytest.raises(ReaderError, match="no closing ~End"):
        read("\r\n".join(text.split("\r\n")[:-2]))  # a grid row short


def test_group_without_plate_column_is_linked_to_the_plate_before_it_when_values_agree() -> None:
    p1, p2 = Plate("P1"), Plate("P2")
    p1.reads, p2.reads = (full(p1, 11),), (full(p2, 12),)
    good = group("P2", p2.reads[0]["A1"][:5], p2.reads[0]["A2"][:5], with_plate=False)
    res = read(export(p1.lines(), p2.lines(), good))
    assert row(res.wells, "A1", "OD450", "P2")["value"] == 12.5
    assert row(res.wells, "A1", "OD450", "P1")["reported_text"] is None
    bad = group("P2", "9.999", "9.999", with_plate=False)
    res = read(export(p1.lines(), p2.lines(), bad))
    assert any("names no plate" in w for w in res.warnings)
    assert res.wells.filter(pl.col("reported_text").is_not_null()).height == 2  # kept, without a reading


def test_unsupported_plate_size_is_refused() -> None:
    a = Plate("Plate1")
    a.reads = (full(a, 13),)
    with pytest.raises(ReaderError, match="1536 wells"):
        read(export(a.lines()).replace("\t96\t", "\t1536\t", 1))


# ---- property: generated plates --------------------------------------------------------------------------

MODES = {
    "Absorbance": lambda wl, ex: f"OD{wl}",
    "Fluorescence": lambda wl, ex: f"RFU {ex}/{wl}",
    "Luminescence": lambda wl, ex: "RLU" if wl == "0" else f"RLU {wl}",
}


@st.composite
def plates(draw: st.DrawFn) -> list[Plate]:
    out = []
    for i in range(draw(st.integers(1, 3))):
        mode = draw(st.sampled_from(sorted(MODES)))
        n_wells = draw(st.sampled_from(sorted(PLATE_DIMENSIONS)))
        n = draw(st.integers(1, 3))
        wls = tuple(
            str(w) for w in draw(st.lists(st.integers(300, 900), min_size=n, max_size=n, unique=True))
        )
        ex = tuple(str(int(w) - 40) for w in wls) if mode == "Fluorescence" else ()
        p = Plate(
            f"Plate {i + 1}", mode, wls, ex, n_wells, draw(st.sampled_from(["PlateFormat", "TimeFormat"]))
        )
        wells = p.wells()
        present = draw(st.lists(st.sampled_from(wells), min_size=1, max_size=len(wells), unique=True))
        value = st.one_of(
            st.integers(0, 5_000_000).map(str),
            st.floats(-5, 5, allow_nan=False).map(lambda v: f"{v:.4f}"),
            st.sampled_from(["Masked", "Range?", '"NaN"']),
        )
        p.reads = tuple({w: draw(value) for w in present} for _ in wls)
        out.append(p)
    return out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(plates())
def test_generated_plates_read_every_cell_as_written(ps: list[Plate]) -> None:
    res = read(export(*(p.lines() for p in ps)))
    df = WellModel.validate(res.wells)
    assert len({p.plate_id for p in res.plates}) == len(ps)
    by_name = {p.extra.get("plate_name", ps[0].name): p.plate_id for p in res.plates}
    expected = 0
    for p in ps:
        pid = by_name[p.name]
        for k, reads in enumerate(p.reads):
            kind = MODES[p.mode](p.wavelengths[k], p.excitation[k] if p.excitation else "")
            for w, text in reads.items():
                expected += 1
                got = row(df, w, kind, pid)
                try:
                    want: float | None = float(text)
                except ValueError:
                    want = None
                assert got["signal"] == want, (p.name, w, kind, text)
                if want is None:
                    assert "signal_not_reported" in str(got["flags"])
    assert df.height == expected  # no row for a well that was not read


def test_groups_using_a_reference_subtraction_without_reduced_section() -> None:
    """A TimeFormat export of 450 and 620 nm without reduced data, whose groups' Values are 450 − 620 (as
    SoftMax ELISA protocols report): the difference is the signal the results sit on."""
    a = Plate("Plate1", wavelengths=("450", "620"), fmt="TimeFormat")
    r450, r620 = full(a, 14), full(a, 15)
    a.reads = (r450, r620)
    diff = {w: f"{float(r450[w]) - float(r620[w]):.3f}" for w in ("A1", "A2")}
    res = read(export(a.lines(), group("Plate1", diff["A1"], diff["A2"])))
    assert set(res.wells["signal_kind"]) == {"OD450", "OD620", "OD450-620"}
    top = row(res.wells, "A1", "OD450-620")
    assert top["value"] == 12.5 and top["signal"] == float(r450["A1"]) - float(r620["A1"])
    assert row(res.wells, "A1", "OD450")["reported_text"] is None
    assert any("without its reduced data" in w for w in res.warnings)
    # Values that are the 450 nm read itself: no difference is made up.
    plain = read(export(a.lines(), group("Plate1", r450["A1"][:5], r450["A2"][:5])))
    assert set(plain.wells["signal_kind"]) == {"OD450", "OD620"}
    assert row(plain.wells, "A1", "OD450")["value"] == 12.5


def test_a_masked_well_keeps_its_reading_and_says_so() -> None:
    a = Plate("Plate1")
    a.reads = (full(a, 16),)
    res = read(export(a.lines(), group("Plate1", "Masked", a.reads[0]["A2"][:5])))
    a1 = row(res.wells, "A1", "OD450")
    assert a1["signal"] == float(a.reads[0]["A1"]) and "masked" in a1["flags"]
    assert "masked" not in (row(res.wells, "A2", "OD450")["flags"] or "")


def test_an_endpoint_plate_beside_a_spectrum_is_read_and_the_spectrum_named() -> None:
    a, sp = Plate("Endpoint plate"), Plate("Scan", wavelengths=("500", "510"), read_type="Spectrum")
    a.reads, sp.reads = (full(a, 17),), (full(sp, 18), full(sp, 19))
    res = read(export(a.lines(), sp.lines()))
    assert set(res.wells["signal_kind"]) == {"OD450"} and res.wells.height == 96
    assert any("'Scan'" in w and "spectrum" in w for w in res.warnings)
