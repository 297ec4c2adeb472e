"""The report section 'Why do imaging and genes disagree?': every analysis shown, with R's numbers (the demo cohort's
table, reference/disagreement/disagreement.R), figures as PNG at 300 dpi and SVG; what is missing is said."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from HypoxiaMarkersLib.heterogeneity.agreement import clustering_agreement
from HypoxiaMarkersLib.io.outputs import write_json
from HypoxiaMarkersLib.pipeline.cohort import CohortAnalysisSettings, run_cohort
from HypoxiaMarkersLib.report.formats import fmt_p
from HypoxiaMarkersLib.report.page import write_report

from helpers.disagreement_reference import DEMO_TABLE, SMALL_TABLE, R

FIGURES = ("disagreement_by_imaging_class", "tumour_volume_by_group", "biopsy_slice_imaging", "agreement_by_biopsies",
           "agreement_by_clustering", "gene_score_vs_cell_fraction", "training_validation")


def _table(page: str, table_id: str) -> str:
    match = re.search(rf'<table id="{table_id}">(.*?)</table>', page, re.S)
    assert match, f"no table {table_id}"
    return match.group(1)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    batch = tmp_path_factory.mktemp("disagreement_batch")
    ids = pd.read_csv(DEMO_TABLE)["patient"]
    split = batch.parent / "split.csv"
    pd.DataFrame({"patient": ids, "validation": [i % 3 != 0 for i in range(len(ids))]}).to_csv(split, index=False)
    run_cohort(DEMO_TABLE, batch / "cohort", CohortAnalysisSettings(
        id="patient", time="pfs_time", event="pfs_event", imaging="hypoxic_fraction", genes="gene_score",
        permutations=20, resamples=10, validation="validation", validation_table=str(split)))
    small = pd.read_csv(SMALL_TABLE, keep_default_na=False)
    imaging = pd.DataFrame({"patient": small["patient"], "classification": [
        "more hypoxic" if v >= 0.27 else "less hypoxic" for v in small["hypoxic_fraction"]]})
    genes = pd.DataFrame({"patient": small["patient"], "classification": [
        "more hypoxic" if v >= 0 else "less hypoxic" for v in small["gene_score"]]})
    result, _ = clustering_agreement(small[["patient", "clustering"]], imaging, genes)
    (batch / "heterogeneity").mkdir()
    write_json({"clustering_vs_agreement": result.to_dict()}, batch / "heterogeneity" / "heterogeneity.json")
    out = write_report(batch, pdf=False)
    return out, (out / "index.html").read_text(encoding="utf-8"), json.loads((out / "report.json").read_text())


@pytest.mark.slow
def test_every_analysis_has_its_figure_as_png_and_svg(report):
    out, page, record = report
    assert record["sections"]["disagreement"]["notes"] == []
    titles = {Path(f["file"]).stem for f in record["figures"] if f["section"] == "disagreement"}
    assert titles == set(FIGURES)
    from PIL import Image

    for name in FIGURES:
        assert (out / "figures" / f"{name}.svg").read_text().lstrip().startswith("<?xml")
        dpi = Image.open(out / "figures" / f"{name}.png").info["dpi"]
        assert round(dpi[0]) == 300


def test_the_page_shows_r_numbers_of_the_demo_cohort(report):
    _, page, _ = report
    ref = R["demo"]
    assert fmt_p(ref["inconsistency_fisher"]["p"]) in _table(page, "table-disagreement-imaging-class")
    assert "10/41 (24 %)" in _table(page, "table-disagreement-imaging-class")
    volume = _table(page, "table-volume-tests")
    for key in ("volume_group1_vs_others", "volume_kruskal_2_to_4"):
        assert fmt_p(ref[key]["p"]) in volume
    assert fmt_p(ref["volume_2_vs_4"]["p"]) in volume
    slices = _table(page, "table-biopsy-slice-imaging")
    assert f"{ref['slice_vs_tumour_pearson']['r']:.3g}" in slices
    assert f"{ref['slice_vs_genes_spearman_rho']:.3g}" in slices
    assert fmt_p(ref["same_status_fisher"]["p"]) in slices
    assert fmt_p(ref["biopsies_trend"]["p"]) in page
    assert f"{ref['cell_fraction_pearson']['r']:.3g}" in _table(page, "table-cell-fraction")
    assert fmt_p(R["small_exact"]["clustering_fisher"]["p"]) in _table(page, "table-clustering-agreement")
    split = _table(page, "table-training-validation")
    assert all(name in split for name in ("all", "training", "validation"))


@pytest.mark.slow
def test_missing_parts_are_said_not_drawn(tmp_path):
    batch = tmp_path / "batch"
    table = pd.read_csv(DEMO_TABLE).drop(columns=["tumour_volume_ml", "tumour_cell_fraction"])
    table.to_csv(tmp_path / "table.csv", index=False)
    run_cohort(tmp_path / "table.csv", batch / "cohort", CohortAnalysisSettings(
        id="patient", time="pfs_time", event="pfs_event", imaging="hypoxic_fraction", genes="gene_score",
        permutations=20, resamples=10))
    out = write_report(batch, pdf=False)
    notes = json.loads((out / "report.json").read_text())["sections"]["disagreement"]["notes"]
    text = " ".join(notes)
    for what in ("Tumour volume", "tumour-cell fraction", "Clustering against agreement"):
        assert what in text
    # Training/validation was not asked for (no --validation-column): said on the page, not a missing part.
    assert "Training and validation" not in text
    assert "no column marks the patients used to build the gene signature" in (out / "index.html").read_text()
    assert not (out / "figures" / "tumour_volume_by_group.png").exists()
    assert (out / "figures" / "biopsy_slice_imaging.png").exists()
