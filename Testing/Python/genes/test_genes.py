"""The gene signature score (HypoxiaMarkersLib.genes.scoring) against hand computation of the SPEC §2 formula.

score = mean over the six genes of (log2 expression - the gene's median over the cohort); score >= 0 is "more
hypoxic". The hand computations below use only the standard library (statistics.median, math.fsum), not the code
under test.
"""

from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pandas as pd
import pytest

from HypoxiaMarkersLib.cli import main
from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.genes.scoring import (
    load_signature,
    read_expression,
    save_signature,
    score_patients,
    score_samples,
    score_single_sample,
    signature_with_reference,
)
from HypoxiaMarkersLib.genes.signatures import signature_from_dict

SIX = ["DDIT3", "ERO1A", "KCTD11", "P4HA2", "STC2", "UPK1A"]

# Gene-level log2 values of five tumours; T3 is the median of every gene, so its score is exactly 0 (the cutoff).
HAND = {
    "DDIT3": [7.13, 8.42, 7.9, 9.05, 6.61],
    "ERO1L": [10.27, 9.88, 10.01, 9.12, 10.64],  # old symbol of ERO1A, as on Illumina arrays
    "KCTD11": [8.8, 8.15, 8.31, 7.42, 8.97],
    "P4HA2": [9.6, 11.02, 10.4, 10.77, 9.93],
    "STC2": [6.05, 7.71, 6.88, 5.5, 7.02],
    "UPK1A": [5.2, 4.76, 5.11, 5.93, 4.44],
    "GAPDH": [13.1, 13.4, 13.0, 13.2, 13.3],  # not in the signature
}
TUMOURS = ["T1", "T2", "T3", "T4", "T5"]


def hand_scores(table, genes, weights=None):
    """The SPEC formula by hand: per-gene median, centred values, (weighted) mean."""
    weights = weights or {g: 1.0 for g in genes}
    medians = {g: statistics.median(table[g]) for g in genes}
    scores = []
    for s in range(len(table[genes[0]])):
        total = math.fsum(weights[g] * (table[g][s] - medians[g]) for g in genes)
        scores.append(total / math.fsum(abs(weights[g]) for g in genes))
    return scores, medians


def write_hand_csv(path, table=HAND, samples=TUMOURS):
    frame = pd.DataFrame(table, index=samples).T.rename_axis("gene")
    frame.to_csv(path)
    return path


def test_score_equals_hand_computation(tmp_path):
    data = read_expression(write_hand_csv(tmp_path / "expr.csv"))
    scores = score_samples(data)
    genes = ["DDIT3", "ERO1L", "KCTD11", "P4HA2", "STC2", "UPK1A"]
    expected, medians = hand_scores(HAND, genes)
    np.testing.assert_allclose(scores.table["hypoxia_score"], expected, rtol=0, atol=1e-12)
    assert scores.table.loc["T3", "hypoxia_score"] == 0.0  # the median tumour sits on the cutoff...
    assert scores.table.loc["T3", "classification"] == "more hypoxic"  # ... and score >= 0 is more hypoxic
    for s, score in zip(TUMOURS, expected):
        assert scores.table.loc[s, "classification"] == ("more hypoxic" if score >= 0 else "less hypoxic")
    assert scores.reference["ERO1A"] == medians["ERO1L"]
    assert scores.matched_names["ERO1A"] == ["ERO1L"]
    np.testing.assert_allclose(scores.table["centred_STC2"], np.array(HAND["STC2"]) - medians["STC2"], atol=1e-12)
    assert list(scores.table["n_genes"]) == [6] * 5
    assert scores.reference_source == "cohort" and scores.n_reference_samples == 5
    assert any("only 5 samples" in w for w in scores.warnings)


def probe_level(tmp_path):
    """Probe-level table: two DDIT3 probes and three STC2 probes, a probe map, and known best probes."""
    rng = np.random.default_rng(11)
    probes = {
        "ILMN_1": ("DDIT3", 9.0), "ILMN_2": ("DDIT3", 8.6),
        "ILMN_3": ("ERO1L", 9.5), "ILMN_4": ("KCTD11", 8.0), "ILMN_5": ("P4HA2", 10.0),
        "ILMN_6": ("STC2", 7.0), "ILMN_7": ("STC2", 7.8), "ILMN_8": ("STC2", 7.5),
        "ILMN_9": ("UPK1A", 5.0), "ILMN_10": ("GAPDH", 13.0),
    }
    samples = [f"GSM{i}" for i in range(1, 13)]
    values = pd.DataFrame({p: mean + rng.normal(0, 0.6, len(samples)) for p, (_, mean) in probes.items()},
                          index=samples).T
    expr = tmp_path / "probes.csv"
    values.rename_axis("ID_REF").to_csv(expr)
    annotation = tmp_path / "platform.csv"
    pd.DataFrame({"Probe_Id": list(probes), "Symbol": [s for s, _ in probes.values()]}).to_csv(annotation, index=False)
    symbols = {p: s for p, (s, _) in probes.items()}
    return expr, annotation, values, symbols


def test_several_probes_per_gene_highest_mean_and_average(tmp_path):
    expr, annotation, values, symbols = probe_level(tmp_path)
    data = read_expression(expr, probe_map=annotation)
    scores = score_samples(data)
    # By hand: the probe with the highest mean over the cohort for each gene.
    best = {}
    for probe, symbol in symbols.items():
        mean = statistics.fmean(values.loc[probe])
        if symbol not in best or mean > best[symbol][1]:
            best[symbol] = (probe, mean)
    assert scores.probes["DDIT3"] == [best["DDIT3"][0]] and scores.probes["STC2"] == [best["STC2"][0]]
    table = {g: list(values.loc[best[g][0]]) for g in ["DDIT3", "ERO1L", "KCTD11", "P4HA2", "STC2", "UPK1A"]}
    expected, _ = hand_scores(table, list(table))
    np.testing.assert_allclose(scores.table["hypoxia_score"], expected, rtol=0, atol=1e-12)

    averaged = score_samples(data, probe_selection="average")
    stc2 = [statistics.fmean(values.loc[["ILMN_6", "ILMN_7", "ILMN_8"], s]) for s in values.columns]
    table["STC2"] = stc2
    table["DDIT3"] = [statistics.fmean(values.loc[["ILMN_1", "ILMN_2"], s]) for s in values.columns]
    expected, _ = hand_scores(table, list(table))
    np.testing.assert_allclose(averaged.table["hypoxia_score"], expected, rtol=0, atol=1e-12)
    assert averaged.probes["STC2"] == ["ILMN_6", "ILMN_7", "ILMN_8"]


def test_saved_reference_reproduces_cohort_scores_one_sample_at_a_time(tmp_path):
    expr, annotation, values, symbols = probe_level(tmp_path)
    cohort = score_samples(read_expression(expr, probe_map=annotation))
    best_stc2 = cohort.probes["STC2"][0]
    # The test means something only if some sample, alone, would pick another STC2 probe by its own values.
    stc2 = values.loc[["ILMN_6", "ILMN_7", "ILMN_8"]]
    assert (stc2.idxmax() != best_stc2).any()

    for suffix in ("json", "yaml"):
        path = save_signature(signature_with_reference(load_signature(), cohort), tmp_path / f"ref.{suffix}")
        stored = load_signature(path)
        assert stored.has_reference and stored.gene("ERO1A").reference_probes == ("ILMN_3",)
        for sample in values.columns:
            one = tmp_path / f"{sample}.csv"
            values[[sample]].rename_axis("ID_REF").to_csv(one)
            alone = score_samples(read_expression(one, probe_map=annotation), stored)
            assert alone.reference_source == "stored"
            assert alone.table.loc[sample, "hypoxia_score"] == pytest.approx(
                cohort.table.loc[sample, "hypoxia_score"], abs=1e-12)
            assert alone.table.loc[sample, "classification"] == cohort.table.loc[sample, "classification"]


def test_single_patient_dict_against_stored_reference(tmp_path):
    cohort = score_samples(read_expression(write_hand_csv(tmp_path / "expr.csv")))
    signature = signature_with_reference(load_signature(), cohort)
    for k, sample in enumerate(TUMOURS):
        values = {gene: HAND[gene][k] for gene in HAND}  # keys as in the lab's file, ERO1L included
        result = score_single_sample(values, signature, sample=sample)
        assert result.hypoxia_score == pytest.approx(cohort.table.loc[sample, "hypoxia_score"], abs=1e-12)
        assert result.classification == cohort.table.loc[sample, "classification"]
        assert result.centred["ERO1A"] == pytest.approx(HAND["ERO1L"][k] - cohort.reference["ERO1A"], abs=1e-12)
    # Reference values given directly work too, and a lone sample cannot be centred on itself.
    reference = {g: 8.0 for g in SIX}
    given = score_single_sample({g: 9.0 for g in SIX}, load_signature(), reference=reference)
    assert given.hypoxia_score == pytest.approx(1.0, abs=1e-12) and given.classification == "more hypoxic"
    with pytest.raises(InputError, match="cannot be centred on itself"):
        score_single_sample({g: 9.0 for g in SIX}, load_signature())
    with pytest.raises(InputError, match="look linear"):
        score_single_sample({g: 2.0**9 for g in SIX}, signature)


def test_one_sample_file_without_reference_is_an_error(tmp_path):
    path = tmp_path / "one.csv"
    pd.DataFrame({"P1": [7.0] * 6}, index=SIX).rename_axis("gene").to_csv(path)
    with pytest.raises(InputError) as info:
        score_samples(read_expression(path))
    assert "one.csv" in str(info.value) and "cannot be centred on itself" in str(info.value)
    assert "--save-reference" in str(info.value)


def test_missing_gene_lists_names_tried_and_allow_missing(tmp_path):
    table = {k: v for k, v in HAND.items() if k != "ERO1L"}
    path = write_hand_csv(tmp_path / "five.csv", table)
    with pytest.raises(InputError) as info:
        score_samples(read_expression(path))
    message = str(info.value)
    assert "five.csv" in message and "ERO1A (tried ERO1A, ERO1L)" in message and "--allow-missing" in message
    assert "DDIT3" not in message.split("missing:")[1].split("(expected")[0]

    scores = score_samples(read_expression(path), allow_missing=True)
    genes = ["DDIT3", "KCTD11", "P4HA2", "STC2", "UPK1A"]
    expected, _ = hand_scores(table, genes)
    np.testing.assert_allclose(scores.table["hypoxia_score"], expected, rtol=0, atol=1e-12)
    assert scores.missing_genes == {"ERO1A": ["ERO1A", "ERO1L"]}
    assert any("scored on 5 of 6 genes" in w for w in scores.warnings)
    assert scores.table["centred_ERO1A"].isna().all() and list(scores.table["n_genes"]) == [5] * 5
    with pytest.raises(InputError, match="without ERO1A"):
        signature_with_reference(load_signature(), scores)


def test_probe_ids_without_probe_map_get_advice(tmp_path):
    expr, _, _, _ = probe_level(tmp_path)
    with pytest.raises(InputError) as info:
        score_samples(read_expression(expr))
    assert "probes.csv" in str(info.value) and "--probe-map" in str(info.value)


def test_missing_value_in_a_signature_gene(tmp_path):
    table = {k: list(v) for k, v in HAND.items()}
    table["UPK1A"][1] = float("nan")
    path = write_hand_csv(tmp_path / "gap.csv", table)
    scores = score_samples(read_expression(path))
    assert np.isnan(scores.table.loc["T2", "hypoxia_score"]) and scores.table.loc["T2", "classification"] == ""
    assert any("T2 (UPK1A)" in w and "not scored" in w for w in scores.warnings)
    # The median of UPK1A comes from the four samples that have it.
    assert scores.reference["UPK1A"] == statistics.median([5.2, 5.11, 5.93, 4.44])
    rest = score_samples(read_expression(path), allow_missing=True)
    genes = ["DDIT3", "ERO1L", "KCTD11", "P4HA2", "STC2"]
    medians = {g: statistics.median(table[g]) for g in genes}
    by_hand = math.fsum(table[g][1] - medians[g] for g in genes) / 5
    assert rest.table.loc["T2", "hypoxia_score"] == pytest.approx(by_hand, abs=1e-12)
    assert rest.table.loc["T2", "n_genes"] == 5


def test_patient_scores_from_biopsies(tmp_path):
    scores = score_samples(read_expression(write_hand_csv(tmp_path / "expr.csv")))
    mapping = {"T1": "A", "T2": "A", "T3": "B", "T4": "C", "T5": "C"}
    patients = score_patients(scores, mapping).set_index("patient")
    s = scores.table["hypoxia_score"]
    for patient, members in {"A": ["T1", "T2"], "B": ["T3"], "C": ["T4", "T5"]}.items():
        mean = statistics.fmean(s[m] for m in members)
        assert patients.loc[patient, "hypoxia_score"] == pytest.approx(mean, abs=1e-12)
        calls = {scores.table.loc[m, "classification"] for m in members}
        assert patients.loc[patient, "biopsy_calls_agree"] == (len(calls) == 1)
        assert patients.loc[patient, "n_biopsies"] == len(members)
        assert patients.loc[patient, "classification"] == ("more hypoxic" if mean >= 0 else "less hypoxic")
    assert patients.loc["A", "biopsies"] == "T1;T2"
    assert not patients.loc["A", "biopsy_calls_agree"]  # T1 less, T2 more hypoxic
    assert patients.loc["C", "biopsy_calls_agree"] and patients.loc["B", "biopsy_calls_agree"]
    # This fixture has one tumour whose two biopsies disagree: check it is seen.
    assert (~patients["biopsy_calls_agree"]).sum() == sum(
        len({scores.table.loc[m, "classification"] for m in ms}) > 1 for ms in (["T1", "T2"], ["T4", "T5"]))
    with pytest.raises(InputError, match="T5"):
        score_patients(scores, {"T1": "A", "T2": "A", "T3": "B", "T4": "C"})


def test_another_signature_plugs_in_from_yaml(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(
        "name: toy3\n"
        "method: zscore_mean\n"
        "cutoff: 0.1\n"
        "classes: {at_or_above_cutoff: high, below_cutoff: low}\n"
        "genes:\n"
        "  - {symbol: P4HA2, weight: 1}\n"
        "  - {symbol: GAPDH, weight: -1}\n"
        "  - {symbol: DDIT3, weight: 2, aliases: [CHOP]}\n",
        encoding="utf-8",
    )
    signature = load_signature(path)
    table = dict(HAND)
    table["CHOP"] = table.pop("DDIT3")
    data = read_expression(write_hand_csv(tmp_path / "expr.csv", table), signature=signature)
    scores = score_samples(data, signature)
    weights = {"P4HA2": 1.0, "GAPDH": -1.0, "CHOP": 2.0}
    medians = {g: statistics.median(table[g]) for g in weights}
    sds = {g: statistics.stdev(table[g]) for g in weights}
    for k, sample in enumerate(TUMOURS):
        score = math.fsum(w * (table[g][k] - medians[g]) / sds[g] for g, w in weights.items()) / 4.0
        assert scores.table.loc[sample, "hypoxia_score"] == pytest.approx(score, abs=1e-12)
        assert scores.table.loc[sample, "classification"] == ("high" if score >= 0.1 else "low")
    assert list(scores.table.columns[:5]) == ["hypoxia_score", "classification", "n_genes", "centred_P4HA2",
                                              "centred_GAPDH"]
    # Stored with its scales, it scores one sample the same way.
    stored = signature_with_reference(signature, scores)
    saved = load_signature(save_signature(stored, tmp_path / "toy_ref.yaml"))
    one = score_single_sample({g: table[g][0] for g in table}, saved, sample="T1")
    assert one.hypoxia_score == pytest.approx(scores.table.loc["T1", "hypoxia_score"], abs=1e-12)


@pytest.mark.parametrize("change, field", [
    ({"method": "median_of_genes"}, "method"),
    ({"genes": []}, "genes"),
    ({"genes": [{"symbol": "A", "weight": 0}]}, "genes[0].weight"),
    ({"genes": [{"symbol": "A", "weight": "one"}]}, "genes[0].weight"),
    ({"genes": [{"symbol": "A", "aliases": ["X"]}, {"symbol": "B", "aliases": ["x"]}]}, "genes[1].aliases"),
    ({"genes": [{"symbol": "A"}, {"symbol": "A"}]}, "genes[1].symbol"),
    ({"genes": [{"symbol": "A", "reference": 1.0}, {"symbol": "B"}]}, "genes[].reference"),
    ({"genes": [{"symbol": "A", "reference": 1.0}], "method": "zscore_mean"}, "genes[].reference_scale"),
    ({"cutoff": float("nan")}, "cutoff"),
    ({"classes": {"at_or_above_cutoff": "x", "below_cutoff": "x"}}, "classes"),
    ({"colour": "red"}, "colour"),
])
def test_bad_signature_files(tmp_path, change, field):
    data = {"name": "bad", "genes": [{"symbol": "A"}]}
    data.update(change)
    with pytest.raises(InputError) as info:
        signature_from_dict(data, source="bad.json")
    assert info.value.source == "bad.json" and info.value.field == field and info.value.expected


def test_bad_json_signature_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"name": "x", "genes": [\n')
    with pytest.raises(InputError) as info:
        load_signature(path)
    assert "broken.json" in str(info.value) and "line" in info.value.field


def test_default_signature_is_the_six_genes_of_the_spec():
    signature = load_signature()
    assert signature.symbols == SIX
    assert [g.weight for g in signature.genes] == [1.0] * 6
    assert signature.gene("ERO1L").symbol == "ERO1A"
    assert (signature.method, signature.cutoff, signature.probe_selection) == ("centred_mean", 0.0, "highest_mean")
    assert not signature.has_reference


# ------------------------------------------------------------------------------------------------------------------
# The command


def test_command_writes_scores_json_and_patients(tmp_path, capsys):
    frame = pd.DataFrame(HAND, index=TUMOURS)
    frame.insert(0, "tumour", ["A", "A", "B", "C", "C"])
    expr = tmp_path / "lab.tsv"
    frame.rename_axis("biopsy").to_csv(expr, sep="\t")
    out = tmp_path / "results" / "scores.csv"
    code = main(["genes", str(expr), "--out", str(out), "--patient-column", "tumour",
                 "--save-reference", str(tmp_path / "reference.json")])
    assert code == 0
    samples = pd.read_csv(out)
    assert list(samples.columns[:5]) == ["sample", "patient", "hypoxia_score", "classification", "n_genes"]
    assert [f"centred_{g}" for g in SIX] == [c for c in samples.columns if c.startswith("centred_")]
    assert [f"reference_{g}" for g in SIX] == [c for c in samples.columns if c.startswith("reference_")]
    expected, medians = hand_scores(HAND, ["DDIT3", "ERO1L", "KCTD11", "P4HA2", "STC2", "UPK1A"])
    np.testing.assert_allclose(samples["hypoxia_score"], expected, rtol=0, atol=1e-12)  # CSV keeps full precision
    assert (samples["reference_ERO1A"] == medians["ERO1L"]).all()
    patients = pd.read_csv(tmp_path / "results" / "scores_patients.csv")
    assert list(patients["patient"]) == ["A", "B", "C"]
    assert patients.loc[0, "hypoxia_score"] == pytest.approx(statistics.fmean(expected[:2]), abs=1e-12)
    result = json.loads((tmp_path / "results" / "scores.json").read_text())
    assert result["version"] and result["parameters"]["reference"] == "cohort"
    assert result["parameters"]["orientation"] == "samples-by-genes"
    assert result["parameters"]["cutoff"] == 0.0 and result["parameters"]["probe_selection"] == "highest_mean"
    assert result["genes"]["ERO1A"]["matched_names"] == ["ERO1L"]
    assert result["genes"]["ERO1A"]["reference"] == medians["ERO1L"]
    assert result["outputs"] == {"samples": "scores.csv", "patients": "scores_patients.csv"}
    assert not [p.name for p in (tmp_path / "results").iterdir() if p.name.startswith(".")]  # no temp files left

    # Score one tumour at a time against the saved reference: the same numbers.
    for k, sample in enumerate(TUMOURS):
        one = tmp_path / f"{sample}.csv"
        pd.DataFrame({sample: [HAND[g][k] for g in HAND]}, index=list(HAND)).rename_axis("gene").to_csv(one)
        assert main(["genes", str(one), "--out", str(tmp_path / f"{sample}_score.csv"),
                     "--signature", str(tmp_path / "reference.json")]) == 0
        alone = pd.read_csv(tmp_path / f"{sample}_score.csv")
        assert alone.loc[0, "hypoxia_score"] == pytest.approx(expected[k], abs=1e-12)
        assert json.loads((tmp_path / f"{sample}_score.json").read_text())["parameters"]["reference"] == "stored"


def test_command_errors_exit_2_with_message_and_leave_no_output(tmp_path, capsys):
    linear = tmp_path / "linear.csv"
    (2.0 ** pd.DataFrame(HAND, index=TUMOURS).T).rename_axis("gene").to_csv(linear)
    out = tmp_path / "scores.csv"
    assert main(["genes", str(linear), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "linear.csv" in err and "look linear" in err and "--log2" in err
    assert not out.exists() and not (tmp_path / "scores.json").exists()
    assert main(["genes", str(linear), "--out", str(out), "--log2"]) == 0
    expected, _ = hand_scores(HAND, ["DDIT3", "ERO1L", "KCTD11", "P4HA2", "STC2", "UPK1A"])
    np.testing.assert_allclose(pd.read_csv(out)["hypoxia_score"], expected, rtol=0, atol=1e-12)
    assert json.loads((tmp_path / "scores.json").read_text())["parameters"]["log2"] is True

    assert main(["genes", str(linear), "--out", str(tmp_path / "scores.txt"), "--log2"]) == 2
    assert ".csv" in capsys.readouterr().err
    five = write_hand_csv(tmp_path / "five.csv", {k: v for k, v in HAND.items() if k != "UPK1A"})
    assert main(["genes", str(five), "--out", str(out)]) == 2
    assert "UPK1A (tried UPK1A)" in capsys.readouterr().err
    assert main(["genes", str(five), "--out", str(out), "--allow-missing"]) == 0
    result = json.loads((tmp_path / "scores.json").read_text())
    assert result["missing_genes"] == {"UPK1A": ["UPK1A"]} and any("5 of 6" in w for w in result["warnings"])


def test_reference_modes_and_stored_probe_fallback(tmp_path):
    expr, annotation, values, _ = probe_level(tmp_path)
    data = read_expression(expr, probe_map=annotation)
    with pytest.raises(InputError) as info:
        score_samples(data, reference="stored")
    assert "no stored reference" in str(info.value) and "--save-reference" in info.value.expected
    stored = signature_with_reference(load_signature(), score_samples(data))
    # --reference cohort ignores the stored values: the medians of these samples are used again.
    again = score_samples(data, stored, reference="cohort")
    assert again.reference_source == "cohort" and again.reference == score_samples(data).reference

    # New data whose STC2 probes carry other IDs: the stored probe is absent, so STC2 is missing (no other probe is
    # substituted: the stored value is the median of that probe): unscored, or scored on five genes.
    renamed = values.rename(index={"ILMN_6": "ILMN_60", "ILMN_7": "ILMN_70", "ILMN_8": "ILMN_80"})
    path = tmp_path / "renamed.csv"
    renamed.rename_axis("ID_REF").to_csv(path)
    platform = pd.read_csv(annotation).replace({"ILMN_6": "ILMN_60", "ILMN_7": "ILMN_70", "ILMN_8": "ILMN_80"})
    platform.to_csv(tmp_path / "platform2.csv", index=False)
    moved_data = read_expression(path, probe_map=tmp_path / "platform2.csv")
    moved = score_samples(moved_data, stored)
    assert moved.probes["STC2"] == [] and moved.table["hypoxia_score"].isna().all()
    assert any("STC2: stored reference probe(s) ILMN_7 not in the data" in w and "no other probe" in w
               for w in moved.warnings)
    five = score_samples(moved_data, stored, allow_missing=True)
    assert list(five.table["n_genes"]) == [5] * len(values.columns)
    others = [g for g in SIX if g != "STC2"]
    np.testing.assert_allclose(five.table["hypoxia_score"],
                               five.table[[f"centred_{g}" for g in others]].mean(axis=1), atol=1e-12)
    # Gene-level data (one row per gene) use that row without a warning.
    gene_level = score_single_sample({"DDIT3": 9, "ERO1A": 9, "KCTD11": 8, "P4HA2": 10, "STC2": 7, "UPK1A": 5},
                                     stored)
    assert not gene_level.warnings and gene_level.n_genes == 6
