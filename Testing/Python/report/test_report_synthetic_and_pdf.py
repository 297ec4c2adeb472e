"""A batch marked synthetic says so in the report's title and overview and compares recovered with true values;
report.pdf carries the tables' text. Small hand-made batch folders; the demo's own flag is checked on a tiny demo."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pypdf
import pytest

from HypoxiaMarkersLib.report.page import write_report
from HypoxiaMarkersLib.report.truth_section import compare_with_truth

PATIENTS = [f"S{i:02d}" for i in range(8)]
TRUE_HF = np.array([0.05, 0.12, 0.2, 0.26, 0.3, 0.41, 0.55, 0.7])
RECOVERED_HF = TRUE_HF + np.array([0.01, -0.02, 0.0, 0.03, -0.01, 0.02, -0.04, 0.015])
TRUE_GROUP = [3, 3, 2, 3, 4, 1, 1, 4]
RECOVERED_GROUP = [3, 3, 2, 4, 4, 1, 1, 1]


def batch_folder(root, *, synthetic):
    folder = root / "batch"
    (folder / "cohort").mkdir(parents=True)
    parameters = {"seed": 5}
    if synthetic:
        parameters.update(synthetic=True, truth_table="truth.csv")
    (folder / "batch.json").write_text(json.dumps({"parameters": parameters}), encoding="utf-8")
    pd.DataFrame({"patient": PATIENTS, "hypoxic_fraction": RECOVERED_HF}).to_csv(folder / "cohort_table.csv",
                                                                                   index=False)
    pd.DataFrame({"id": PATIENTS, "included": True, "group": RECOVERED_GROUP}).to_csv(
        folder / "cohort" / "patients.csv", index=False)
    pd.DataFrame({"patient": PATIENTS[::-1], "hypoxic_fraction": TRUE_HF[::-1], "gene_score": 0.0,
                  "group": TRUE_GROUP[::-1]}).to_csv(folder / "truth.csv", index=False)
    return folder


def test_compare_with_truth_matches_by_patient():
    truth = pd.DataFrame({"patient": PATIENTS[::-1], "hypoxic_fraction": TRUE_HF[::-1], "group": TRUE_GROUP[::-1]})
    table = pd.DataFrame({"patient": PATIENTS + ["X"], "hypoxic_fraction": list(RECOVERED_HF) + [0.5]})
    patients = pd.DataFrame({"id": PATIENTS, "group": RECOVERED_GROUP})
    c = compare_with_truth(truth, table, patients)
    error = RECOVERED_HF - TRUE_HF
    assert len(c.fractions) == 8  # X has no truth
    merged = c.fractions.set_index("patient").loc[PATIENTS]
    np.testing.assert_allclose(merged["true_hf"], TRUE_HF)
    np.testing.assert_allclose(merged["recovered_hf"], RECOVERED_HF)
    assert c.mean_abs_error == pytest.approx(np.mean(np.abs(error)))
    assert c.max_abs_error == pytest.approx(0.04)
    assert c.bias == pytest.approx(np.mean(error))
    assert c.rmse == pytest.approx(np.sqrt(np.mean(error ** 2)))
    expected = pd.crosstab(pd.Series(TRUE_GROUP), pd.Series(RECOVERED_GROUP)).reindex(
        index=[1, 2, 3, 4], columns=[1, 2, 3, 4], fill_value=0)
    np.testing.assert_array_equal(c.groups.to_numpy(), expected.to_numpy())
    assert (c.n_same_group, c.n_grouped) == (6, 8)


def _title(index_html):
    return re.search(r"<title>(.*?)</title>", index_html).group(1), re.search(r"<h1>(.*?)</h1>", index_html).group(1)


def test_a_synthetic_batch_says_so_and_shows_the_truth_and_the_pdf_carries_the_tables(tmp_path):
    out = write_report(batch_folder(tmp_path, synthetic=True))
    index = (out / "index.html").read_text(encoding="utf-8")
    title, heading = _title(index)
    assert "synthetic" in title.lower() and "synthetic" in heading.lower()
    assert "Synthetic data." in index and "not patients" in index
    info = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert "truth" in info["sections"] and info["sections"]["truth"]["notes"] == []
    figure = next(f for f in info["figures"] if f["file"] == "figures/truth_hypoxic_fraction.png")
    assert figure["vector"] == "figures/truth_hypoxic_fraction.svg" and (out / figure["vector"]).is_file()
    error = RECOVERED_HF - TRUE_HF
    assert f"{np.mean(np.abs(error)):.3f}" in figure["caption"]
    reader = pypdf.PdfReader(str(out / "report.pdf"))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "synthetic" in reader.pages[0].extract_text().lower()
    assert "synthetic" in reader.metadata.title.lower()
    # The tables' words and numbers, not only the figures.
    assert "mean absolute error of HF" in text and f"{np.mean(np.abs(error)):.3f}" in text
    assert "patients in their true group" in text and "6 of 8" in text
    assert "true group \\ recovered group" in text


def test_a_batch_not_marked_synthetic_is_not_called_synthetic(tmp_path):
    folder = batch_folder(tmp_path, synthetic=False)
    out = write_report(folder, pdf=False)
    index = (out / "index.html").read_text(encoding="utf-8")
    title, heading = _title(index)
    assert "synthetic" not in title.lower() and "synthetic" not in heading.lower()
    assert "truth" not in json.loads((out / "report.json").read_text(encoding="utf-8"))["sections"]
    # A name that looks like a demo's is not a signal: only batch.json's explicit entry counts.
    (folder / "batch.json").write_text(json.dumps({"parameters": {"synthetic": "yes", "truth_table": "truth.csv"}}),
                                       encoding="utf-8")
    assert "synthetic" not in _title((write_report(folder, tmp_path / "r2", pdf=False) / "index.html").read_text(
        encoding="utf-8"))[0].lower()


def test_the_demo_marks_its_batch_synthetic_with_its_truth(small_demo):
    demo = small_demo
    parameters = demo.record["parameters"]
    assert parameters["synthetic"] is True
    assert (demo.results / parameters["truth_table"]).resolve() == (demo.data / "truth.csv").resolve()
    index = demo.report.read_text(encoding="utf-8")
    assert "synthetic" in _title(index)[0].lower()
    assert 'id="table-truth"' in index and 'id="table-truth-groups"' in index
