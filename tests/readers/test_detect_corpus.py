"""Detection by content over every real export in the corpus: each file goes to its own reader (or is
recognised as a plate map, or refused naming what each format expected) — never by its name."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.inspect import inspect_file
from readers.allotropy_fallback import oracle_available
from readers.base import FileInput
from readers.detect import UnknownFormatError, detect, is_companion

EXPECTED = {
    "xponent/allotropy_xPONENT_example02.csv": "xponent",
    "xponent/allotropy_xPONENT_NaN_and_not_reported_values.csv": "xponent",
    "xponent/serolyzer_CovidOISExPONTENT.csv": "xponent",
    "xponent/serolyzer_CovidOISExPONTENT_layout.csv": "platemap",
    "xponent/allotropy_intelliflex_single_dataset.csv": "intelliflex",
    "bioplex/labkey_10JAN07_plate_1.xls": "bioplex",
    "bioplex/labkey_plate_1_IgA-Biot_(Standard2).xls": "bioplex",
    "bioplex/labkey_RawAndSummary.xlsx": "bioplex",
    "bioplex/allotropy_bioplex_manager_example_01.xml": "bioplex_xml",
    "msd/allotropy_msd_workbench_test_1.csv": "msd_workbench",
    "msd/allotropy_methodical_mind_test_1.txt": "msd_raw",
    "platereader/labkey_spectramax_20140102_140152_0063_PLATE.002.txt": "softmax_pro",  # a SoftMax export
    "platereader/allotropy_softmax_pro_group_with_partial_rows.txt": "softmax_pro",
    "platereader/allotropy_gen5_kinetic_standard_curve.txt": "gen5",
    "platemap/plater_example-1.csv": "platemap",
}


def test_every_corpus_export_is_listed(corpus: Path) -> None:
    """allotropy/ (allotropy's own test exports) has its own per-file test: test_allotropy_conformance."""
    found = {
        str(p.relative_to(corpus))
        for p in corpus.rglob("*")
        if p.is_file()
        and p.suffix not in {".json", ".tsv", ".md"}
        and p.relative_to(corpus).parts[0] != "allotropy"
    }
    assert found == set(EXPECTED)


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_detected_by_content_whatever_the_name(corpus: Path, rel: str, allotropy_fallback: None) -> None:
    data = (corpus / rel).read_bytes()
    expected = EXPECTED[rel]
    for name in (Path(rel).name, "upload.bin"):  # a renamed file is detected the same way
        f = FileInput(name=name, data=data)
        if expected == "platemap":
            assert is_companion(f)
        elif expected == "allotropy" and not oracle_available():
            with pytest.raises(UnknownFormatError) as info:
                detect(f)
            assert "Tried" in (info.value.details or "")  # each format's reason, beside the short message
        else:
            assert not is_companion(f)
            assert detect(f).name == expected


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_inspect_shows_rows_for_every_readable_corpus_file(
    corpus: Path, rel: str, allotropy_fallback: None
) -> None:
    if EXPECTED[rel] == "allotropy" and not oracle_available():
        pytest.skip("the allotropy fallback needs its environment: `make oracle`")
    result = inspect_file(corpus / rel)
    # the format names the reader that read the file: "allotropy:<vendor>" for the fallback
    assert result.format.split(":")[0] == EXPECTED[rel]
    assert result.rows.height > 0
