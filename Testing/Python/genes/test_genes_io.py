"""Reading expression data (genes.expression, genes.formats): real file layouts, orientation, scale, bad input.

Fixtures are written here in the layouts labs and GEO use: a gzipped GEO series matrix (quoted IDs, ``null``
values, ``!Sample_characteristics_ch1`` lines), a GEO/Illumina platform annotation table with several probes per
gene and the old symbol ERO1L, genes × samples CSV, samples × genes TSV, Excel.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.genes.expression import read_expression
from HypoxiaMarkersLib.genes.formats.annotations import read_patient_map, read_probe_map
from HypoxiaMarkersLib.genes.formats.model import check_scale

SIX = ["DDIT3", "ERO1A", "KCTD11", "P4HA2", "STC2", "UPK1A"]

# Probe layout of the fixture platform: several probes for DDIT3, ERO1L (= ERO1A) and STC2, one for the others,
# plus non-signature probes and one probe without a symbol.
PROBES = [
    ("ILMN_1676393", "DDIT3"),
    ("ILMN_2400219", "DDIT3"),
    ("ILMN_1710756", "ERO1L"),
    ("ILMN_1802053", "ERO1L"),
    ("ILMN_1716106", "KCTD11"),
    ("ILMN_1682727", "P4HA2"),
    ("ILMN_1691884", "STC2"),
    ("ILMN_2073184", "STC2"),
    ("ILMN_1790689", "UPK1A"),
    ("ILMN_1802252", "GAPDH"),
    ("ILMN_2038777", "ACTB"),
    ("ILMN_1651199", ""),
]


def geo_cohort(n_samples: int = 8, seed: int = 3) -> pd.DataFrame:
    """Probe-level log2 values (probes × GSM samples) with a known best probe per gene."""
    rng = np.random.default_rng(seed)
    means = {"ILMN_1676393": 9.0, "ILMN_2400219": 7.0, "ILMN_1710756": 8.0, "ILMN_1802053": 10.0,
             "ILMN_1691884": 11.0, "ILMN_2073184": 10.6}
    values = np.array([[means.get(p, 8.0) + rng.normal(0, 1.0) for _ in range(n_samples)] for p, _ in PROBES])
    samples = [f"GSM90000{i + 1:02d}" for i in range(n_samples)]
    return pd.DataFrame(values, index=[p for p, _ in PROBES], columns=samples)


def write_series_matrix(path: Path, values: pd.DataFrame, *, nulls=(), patients=None, gz: bool = True,
                        end_marker: bool = True, accessions=None) -> Path:
    """A GEO series matrix in GEO's own layout: quoted header values and IDs, ``null`` for missing values."""
    samples = list(values.columns)
    n = len(samples)
    patients = patients or [f"P{i // 2 + 1:02d}" for i in range(n)]
    accessions = accessions or samples

    def line(key, cells):
        return key + "\t" + "\t".join(f'"{c}"' for c in cells)

    lines = [
        '!Series_title\t"Hypoxia-related gene expression in cervical cancer biopsies"',
        '!Series_geo_accession\t"GSE999999"',
        '!Series_status\t"Public on Jan 01 2020"',
        '!Series_summary\t"Biopsies of locally advanced cervical cancer, Illumina HumanWG-6 v3."',
        '!Series_summary\t"Two biopsies per tumour."',
        '!Series_platform_id\t"GPL6884"',
        '!Series_sample_id\t"' + " ".join(samples) + ' "',
        "",
        line("!Sample_title", [f"Tumour {p} biopsy {'AB'[i % 2]}" for i, p in enumerate(patients)]),
        line("!Sample_geo_accession", accessions),
        line("!Sample_status", ["Public on Jan 01 2020"] * n),
        line("!Sample_source_name_ch1", ["cervical carcinoma"] * n),
        line("!Sample_organism_ch1", ["Homo sapiens"] * n),
        line("!Sample_characteristics_ch1", [f"patient: {p}" for p in patients]),
        line("!Sample_characteristics_ch1", [f"biopsy: {'AB'[i % 2]}" for i in range(n)]),
        line("!Sample_characteristics_ch1", ["tissue: cervix"] * n),
        line("!Sample_platform_id", ["GPL6884"] * n),
        line("!Sample_data_row_count", [str(len(values))] * n),
        "!series_matrix_table_begin",
        line('"ID_REF"', samples).replace('""ID_REF""', '"ID_REF"'),
    ]
    missing = set(nulls)
    for probe, row in values.iterrows():
        cells = ["null" if (probe, s) in missing else repr(float(v)) for s, v in row.items()]
        lines.append(f'"{probe}"\t' + "\t".join(cells))
    if end_marker:
        lines.append("!series_matrix_table_end")
    text = "\n".join(lines) + "\n"
    if gz:
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_platform(path: Path) -> Path:
    """A GEO platform annotation table (GPL 'full' download): '#' lines, then a tab table with many columns."""
    lines = [
        "#ID = ",
        "#Species = ",
        "#ILMN_Gene = ",
        "#Symbol = ",
        "ID\tSpecies\tILMN_Gene\tEntrez_Gene_ID\tSymbol\tArray_Address_Id\tSynonyms\tDefinition",
    ]
    for k, (probe, symbol) in enumerate(PROBES):
        synonyms = "ERO1-alpha; Ero1alpha; ERO1LA" if symbol == "ERO1L" else ""
        definition = f'"Homo sapiens {symbol or "unknown"}, transcript variant {k}, mRNA."'
        lines.append(f"{probe}\tHomo sapiens\t{symbol}\t{1000 + k}\t{symbol}\t{5000000 + k}\t{synonyms}\t{definition}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------------------------
# GEO series matrix and probe map


def test_series_matrix_gzipped_with_nulls_and_annotations(tmp_path):
    values = geo_cohort()
    nulls = [("ILMN_1802252", "GSM9000003"), ("ILMN_1651199", "GSM9000001")]
    path = write_series_matrix(tmp_path / "GSE999999_series_matrix.txt.gz", values, nulls=nulls)
    probe_map = read_probe_map(write_platform(tmp_path / "GPL6884.txt"))
    data = read_expression(path, probe_map=probe_map)

    assert data.orientation == "genes-by-samples"
    assert data.samples == list(values.columns)
    assert list(data.values.index) == list(values.index)  # quotes removed from the IDs
    expected = values.copy()
    for probe, sample in nulls:
        expected.loc[probe, sample] = np.nan
    np.testing.assert_array_equal(data.values.to_numpy(), expected.to_numpy())  # repr round trip is exact
    ann = data.sample_annotations
    assert list(ann["patient"]) == ["P01", "P01", "P02", "P02", "P03", "P03", "P04", "P04"]
    assert list(ann["biopsy"]) == list("ABABABAB")
    assert ann.loc["GSM9000003", "title"] == "Tumour P02 biopsy A"
    assert set(ann["source_name_ch1"]) == {"cervical carcinoma"}
    assert data.metadata["geo_accession"] == "GSE999999"
    assert data.metadata["summary"] == ["Biopsies of locally advanced cervical cancer, Illumina HumanWG-6 v3.",
                                        "Two biopsies per tumour."]
    assert data.symbols["ILMN_1710756"] == "ERO1L"
    assert data.symbols["ILMN_1651199"] == ""  # probe without a symbol in the platform
    assert "probe map" in data.gene_source


def test_series_matrix_plain_text_equals_gzipped(tmp_path):
    values = geo_cohort()
    a = read_expression(write_series_matrix(tmp_path / "a.txt.gz", values))
    b = read_expression(write_series_matrix(tmp_path / "b.txt", values, gz=False))
    pd.testing.assert_frame_equal(a.values, b.values)


def test_probe_map_columns_chosen_by_name_and_by_option(tmp_path):
    path = write_platform(tmp_path / "GPL6884.txt")
    auto = read_probe_map(path)
    assert (auto.probe_column, auto.symbol_column) == ("ID", "Symbol")
    assert auto.symbols["ILMN_1802053"] == "ERO1L"
    assert "ILMN_1651199" not in auto.symbols.index  # no symbol: not in the map
    chosen = read_probe_map(path, probe_column="ID", symbol_column="ilmn_gene")
    assert chosen.symbol_column == "ILMN_Gene"
    with pytest.raises(InputError) as info:
        read_probe_map(path, symbol_column="Gene_Name")
    message = str(info.value)
    assert "GPL6884.txt" in message and "Gene_Name" in message and "'Symbol'" in message


def test_probe_map_from_geo_soft_platform_table(tmp_path):
    body = ["^PLATFORM = GPL6884", "!Platform_title = Illumina HumanWG-6 v3.0", "!platform_table_begin",
            "ID\tSymbol", "ILMN_1710756\tERO1L", "ILMN_1790689\tUPK1A", "!platform_table_end"]
    path = tmp_path / "GPL6884_family.soft.gz"
    path.write_bytes(gzip.compress(("\n".join(body) + "\n").encode()))
    probe_map = read_probe_map(path)
    assert dict(probe_map.symbols) == {"ILMN_1710756": "ERO1L", "ILMN_1790689": "UPK1A"}


def test_probe_map_errors_name_file_and_column(tmp_path):
    path = tmp_path / "annot.csv"
    path.write_text("ProbeName,Description\nA_23_P1,kinase\n")
    with pytest.raises(InputError) as info:
        read_probe_map(path)
    assert "annot.csv" in str(info.value) and "gene symbol" in str(info.value) and "'Description'" in str(info.value)

    path.write_text("ID,Symbol\nILMN_1,DDIT3\nILMN_2,STC2\nILMN_1,UPK1A\n")
    with pytest.raises(InputError) as info:
        read_probe_map(path)
    message = str(info.value)
    assert "ILMN_1" in message and "line 2: DDIT3" in message and "line 4: UPK1A" in message


def test_probe_map_that_matches_no_row_is_an_error(tmp_path):
    values = geo_cohort()
    matrix = write_series_matrix(tmp_path / "m.txt.gz", values)
    other = tmp_path / "other.csv"
    other.write_text("ID,Symbol\n1552256_a_at,SCARB1\n")
    with pytest.raises(InputError) as info:
        read_expression(matrix, probe_map=other)
    message = str(info.value)
    assert "m.txt.gz" in message and "none of the 12 row labels" in message and "other.csv" in message


def test_truncated_series_matrix_is_an_error(tmp_path):
    path = write_series_matrix(tmp_path / "cut.txt.gz", geo_cohort(), end_marker=False)
    with pytest.raises(InputError) as info:
        read_expression(path)
    assert "cut.txt.gz" in str(info.value) and "!series_matrix_table_end" in str(info.value)


def test_series_matrix_duplicate_samples_and_accession_mismatch(tmp_path):
    values = geo_cohort(4)
    values.columns = ["GSM1", "GSM2", "GSM2", "GSM4"]
    with pytest.raises(InputError) as info:
        read_expression(write_series_matrix(tmp_path / "dup.txt.gz", values))
    assert "dup.txt.gz" in str(info.value) and "duplicate sample IDs: 'GSM2' (2 times)" in str(info.value)

    values = geo_cohort(4)
    wrong = ["GSM9000001", "GSM9000002", "GSM9000004", "GSM9000003"]
    with pytest.raises(InputError) as info:
        read_expression(write_series_matrix(tmp_path / "acc.txt.gz", values, accessions=wrong))
    assert "!Sample_geo_accession" in str(info.value)


def test_series_matrix_empty_probe_row_is_an_error_or_skipped(tmp_path):
    values = geo_cohort(4)
    nulls = [("ILMN_2038777", s) for s in values.columns]
    path = write_series_matrix(tmp_path / "empty.txt", values, nulls=nulls, gz=False)
    with pytest.raises(InputError) as info:
        read_expression(path)
    message = str(info.value)
    # Header: 8 series lines + blank + 10 sample lines = line 19 begin, 20 ID_REF, probes from line 21.
    line = 21 + [p for p, _ in PROBES].index("ILMN_2038777")
    assert "empty.txt" in message and f"line {line} (row 'ILMN_2038777')" in message and "--drop-empty" in message
    data = read_expression(path, drop_empty=True)
    assert "ILMN_2038777" not in data.values.index and len(data.values) == len(PROBES) - 1
    assert any("ILMN_2038777" in w for w in data.warnings)


# ------------------------------------------------------------------------------------------------------------------
# Tables: orientation, annotations, Excel


def small_table(seed: int = 0, n: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    genes = ["DDIT3", "ERO1L", "KCTD11", "P4HA2", "STC2", "UPK1A", "GAPDH"]
    return pd.DataFrame(rng.normal(8, 1, (len(genes), n)).round(6), index=genes,
                        columns=[f"T{i + 1}" for i in range(n)])


def test_genes_by_samples_csv(tmp_path):
    table = small_table()
    path = tmp_path / "expr.csv"
    table.rename_axis("gene").to_csv(path)
    data = read_expression(path)
    assert data.orientation == "genes-by-samples" and data.orientation_reason.startswith("detected")
    pd.testing.assert_frame_equal(data.values, table, check_names=False)


def test_samples_by_genes_tsv_with_aliases_and_patient_column(tmp_path):
    table = small_table()
    frame = table.T.rename(columns={"DDIT3": "ddit3"})  # lower-case and the old symbol ERO1L
    frame.insert(0, "patient", ["A", "A", "B", "B", "C", "C"])
    path = tmp_path / "expr.tsv"
    frame.rename_axis("sample").to_csv(path, sep="\t")
    data = read_expression(path)
    assert data.orientation == "samples-by-genes"
    assert list(data.sample_annotations["patient"]) == ["A", "A", "B", "B", "C", "C"]
    assert list(data.values.index) == ["ddit3", "ERO1L", "KCTD11", "P4HA2", "STC2", "UPK1A", "GAPDH"]
    np.testing.assert_array_equal(data.values.to_numpy(), table.to_numpy())


def test_orientation_override_is_used(tmp_path):
    table = small_table()
    path = tmp_path / "expr.csv"
    table.rename_axis("gene").to_csv(path)
    forced = read_expression(path, orientation="samples-by-genes")
    assert forced.orientation == "samples-by-genes" and forced.orientation_reason == "given"
    assert list(forced.values.columns) == list(table.index)  # genes are now taken for samples


def test_numeric_patient_ids_as_annotation_column(tmp_path):
    frame = small_table().T
    frame.insert(0, "patient", [1, 1, 2, 2, 3, 3])
    path = tmp_path / "expr.csv"
    frame.rename_axis("sample").to_csv(path)
    plain = read_expression(path)
    assert "patient" in plain.values.index  # numbers look like values unless named
    named = read_expression(path, annotation_columns=["patient"])
    assert "patient" not in named.values.index and list(named.sample_annotations["patient"]) == list("112233")


def test_probe_table_with_symbol_column_uses_it(tmp_path):
    table = geo_cohort(5)
    frame = table.copy()
    frame.insert(0, "Symbol", [s for _, s in PROBES])
    path = tmp_path / "probes.csv"
    frame.rename_axis("Probe_Id").to_csv(path)
    data = read_expression(path)
    assert data.gene_source.startswith("annotation column 'Symbol'")
    assert data.symbols["ILMN_1802053"] == "ERO1L"
    pd.testing.assert_frame_equal(data.values, table, check_names=False)


def test_excel_sheet(tmp_path):
    table = small_table()
    path = tmp_path / "expr.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(writer, sheet_name="README", index=False)
        table.T.rename_axis("sample").to_excel(writer, sheet_name="log2 expression")
    data = read_expression(path, sheet="log2 expression")
    assert data.orientation == "samples-by-genes"
    np.testing.assert_allclose(data.values.to_numpy(), table.to_numpy(), rtol=0, atol=1e-12)
    with pytest.raises(InputError) as info:
        read_expression(path, sheet="nope")
    assert "expr.xlsx" in str(info.value) and "nope" in str(info.value)


def test_decimal_comma_semicolon_csv(tmp_path):
    path = tmp_path / "eu.csv"
    path.write_text("gene;S1;S2\nDDIT3;7,5;8,25\nSTC2;9,0;10,5\n")
    with pytest.raises(InputError) as info:
        read_expression(path)
    message = str(info.value)
    assert "eu.csv" in message and "line 2 (row 'DDIT3'), column 'S1'" in message and "--decimal ," in message
    data = read_expression(path, decimal=",")
    np.testing.assert_array_equal(data.values.to_numpy(), [[7.5, 8.25], [9.0, 10.5]])


def test_patient_map_file(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text("Biopsy,Tumour,site\nT1,A,upper\nT2,A,lower\nT3,B,lower\n")
    mapping = read_patient_map(path)
    assert dict(mapping) == {"T1": "A", "T2": "A", "T3": "B"}
    path.write_text("sample,patient\nT1,A\nT1,B\n")
    with pytest.raises(InputError) as info:
        read_patient_map(path)
    assert "map.csv" in str(info.value) and "'T1'" in str(info.value)


# ------------------------------------------------------------------------------------------------------------------
# Bad input: each names the file, the row or column, and what was expected


def test_non_numeric_value_names_line_row_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("gene,S1,S2,S3\nDDIT3,7.1,7.2,7.3\nSTC2,8.1,high,8.3\n")
    with pytest.raises(InputError) as info:
        read_expression(path)
    error = info.value
    assert error.source == str(path)
    assert error.field == "line 3 (row 'STC2'), column 'S2'"
    assert "'high' is not a number" in str(error) and "log2 expression value" in error.expected


def test_duplicate_sample_ids_in_header_and_rows(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("gene,S1,S2,S1\nDDIT3,7.1,7.2,7.3\nSTC2,8.1,8.2,8.3\n")
    with pytest.raises(InputError) as info:
        read_expression(path)
    assert "dup.csv" in str(info.value) and "'S1' (2 times)" in str(info.value)
    assert info.value.field == "header line"

    path = tmp_path / "dup.tsv"
    path.write_text("sample\tDDIT3\tSTC2\nS1\t7.1\t8.1\nS2\t7.2\t8.2\nS1\t7.3\t8.3\n")
    with pytest.raises(InputError) as info:
        read_expression(path)
    assert "dup.tsv" in str(info.value) and "'S1' (2 times)" in str(info.value)
    assert info.value.field == "first column"


def test_empty_row_and_empty_column(tmp_path):
    path = tmp_path / "holes.csv"
    path.write_text("gene,S1,S2,S3\nDDIT3,7.1,7.2,7.3\nSTC2,NA,,null\nUPK1A,6.1,6.2,6.3\n")
    with pytest.raises(InputError) as info:
        read_expression(path)
    assert "holes.csv" in str(info.value) and "line 3 (row 'STC2')" in str(info.value)

    path.write_text("gene,S1,S2,S3\nDDIT3,7.1,,7.3\nSTC2,8.1,NA,8.3\n")
    with pytest.raises(InputError) as info:
        read_expression(path)
    assert "column 'S2'" in str(info.value)


def test_blank_lines_are_skipped_but_unlabelled_values_are_not(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("gene,S1,S2\nDDIT3,7.1,7.2\n,,\n\nSTC2,8.1,8.2\n,,\n")
    data = read_expression(path)
    assert list(data.values.index) == ["DDIT3", "STC2"]
    path.write_text("gene,S1,S2\nDDIT3,7.1,7.2\n,8.1,8.2\n")
    with pytest.raises(InputError) as info:
        read_expression(path)
    assert "line 3" in str(info.value) and "no label" in str(info.value)


def test_ragged_table_is_an_error(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("gene,S1,S2\nDDIT3,7.1,7.2\nSTC2,8.1,8.2,9.9\n")
    with pytest.raises(InputError) as info:
        read_expression(path)
    assert "ragged.csv" in str(info.value) and "line 3" in str(info.value)


def test_missing_file_and_soft_file(tmp_path):
    with pytest.raises(InputError) as info:
        read_expression(tmp_path / "nothing.csv")
    assert "nothing.csv" in str(info.value) and "not found" in str(info.value)
    soft = tmp_path / "GSE1_family.soft"
    soft.write_text("^DATABASE = GeoMiame\n!Database_name = Gene Expression Omnibus (GEO)\n")
    with pytest.raises(InputError) as info:
        read_expression(soft)
    assert "SOFT" in str(info.value)


# ------------------------------------------------------------------------------------------------------------------
# Scale check


@pytest.mark.parametrize("seed", range(5))
def test_scale_check_separates_linear_from_log2(seed):
    rng = np.random.default_rng(seed)
    # Array-like log2 data: a background mode near 6.5 and a tail of expressed genes up to ~15.
    array_log2 = np.concatenate([rng.normal(6.5, 0.3, 3000), rng.gamma(2.0, 1.5, 2000) + 7])
    rnaseq_log2 = np.log2(rng.negative_binomial(2, 0.01, 5000) + 1)  # log2(count + 1), many near 0-10
    qpcr_dct = rng.normal(-3, 2, 60)  # ΔCt-like log2 values, negative
    for log2_values in (array_log2, rnaseq_log2, qpcr_dct):
        assert not check_scale(log2_values).looks_linear
    # Their linear counterparts: intensities, counts, and fold changes (all below 50, caught by range + skew).
    assert check_scale(2.0**array_log2).looks_linear
    assert check_scale(rng.negative_binomial(2, 0.01, 5000)).looks_linear
    fold_changes = 2.0 ** rng.normal(0, 1.5, 600)
    assert fold_changes.max() < 50
    check = check_scale(fold_changes)
    assert check.looks_linear and "skewness" in check.reason


def test_linear_data_refused_or_transformed(tmp_path):
    table = small_table()
    path = tmp_path / "linear.csv"
    (2.0**table).rename_axis("gene").to_csv(path)
    with pytest.raises(InputError) as info:
        read_expression(path)
    message = str(info.value)
    assert "linear.csv" in message and "look linear" in message and "--log2" in message
    data = read_expression(path, log2=True)
    assert data.log2_transformed
    np.testing.assert_allclose(data.values.to_numpy(), table.to_numpy(), rtol=0, atol=1e-12)

    log2_path = tmp_path / "log2.csv"
    table.rename_axis("gene").to_csv(log2_path)
    with pytest.raises(InputError) as info:
        read_expression(log2_path, log2=True)
    assert "log2.csv" in str(info.value) and "already look log2" in str(info.value)


def test_log2_of_zero_needs_an_offset(tmp_path):
    rng = np.random.default_rng(0)
    counts = pd.DataFrame(rng.negative_binomial(3, 0.005, (7, 6)), index=small_table().index,
                          columns=[f"S{i}" for i in range(6)])
    counts.iloc[2, 4] = 0
    path = tmp_path / "counts.csv"
    counts.rename_axis("gene").to_csv(path)
    with pytest.raises(InputError) as info:
        read_expression(path, log2=True)
    assert "counts.csv" in str(info.value) and "'KCTD11'" in str(info.value) and "'S4'" in str(info.value)
    data = read_expression(path, log2=True, log2_offset=1)
    np.testing.assert_allclose(data.values.to_numpy(), np.log2(counts.to_numpy() + 1.0), rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------------------------------
# The command on a GEO series matrix with a platform annotation table


def test_command_on_geo_series_matrix_with_probe_map_and_biopsies(tmp_path):
    import json
    import statistics

    from HypoxiaMarkersLib.cli import main

    values = geo_cohort()
    nulls = [("ILMN_2400219", "GSM9000002"), ("ILMN_1802252", "GSM9000005")]  # a DDIT3 probe and GAPDH
    matrix = write_series_matrix(tmp_path / "GSE999999_series_matrix.txt.gz", values, nulls=nulls)
    platform = write_platform(tmp_path / "GPL6884-11607.txt")
    out = tmp_path / "geo" / "scores.csv"
    assert main(["genes", str(matrix), "--probe-map", str(platform), "--patient-column", "patient",
                 "--out", str(out)]) == 0
    samples = pd.read_csv(out)
    assert list(samples["sample"]) == list(values.columns)
    assert samples.loc[2, "title"] == "Tumour P02 biopsy A"

    # By hand: highest-mean probe per gene (means over the values present), medians, mean of centred values.
    present = values.copy()
    for probe, sample in nulls:
        present.loc[probe, sample] = float("nan")
    genes = {"DDIT3": ["ILMN_1676393", "ILMN_2400219"], "ERO1A": ["ILMN_1710756", "ILMN_1802053"],
             "KCTD11": ["ILMN_1716106"], "P4HA2": ["ILMN_1682727"], "STC2": ["ILMN_1691884", "ILMN_2073184"],
             "UPK1A": ["ILMN_1790689"]}
    chosen = {g: max(ps, key=lambda p: statistics.fmean(v for v in present.loc[p] if v == v))
              for g, ps in genes.items()}
    assert chosen == {"DDIT3": "ILMN_1676393", "ERO1A": "ILMN_1802053", "KCTD11": "ILMN_1716106",
                      "P4HA2": "ILMN_1682727", "STC2": "ILMN_1691884", "UPK1A": "ILMN_1790689"}
    medians = {g: statistics.median(values.loc[p]) for g, p in chosen.items()}
    expected = [sum(values.loc[p, s] - medians[g] for g, p in chosen.items()) / 6 for s in values.columns]
    np.testing.assert_allclose(samples["hypoxia_score"], expected, rtol=0, atol=1e-12)
    assert list(samples["patient"]) == ["P01", "P01", "P02", "P02", "P03", "P03", "P04", "P04"]

    patients = pd.read_csv(tmp_path / "geo" / "scores_patients.csv")
    assert list(patients["patient"]) == ["P01", "P02", "P03", "P04"]
    np.testing.assert_allclose(patients["hypoxia_score"], np.mean(np.reshape(expected, (4, 2)), axis=1), atol=1e-12)
    calls = np.reshape(np.array(expected) >= 0, (4, 2))
    assert list(patients["biopsy_calls_agree"]) == list(calls[:, 0] == calls[:, 1])

    result = json.loads((tmp_path / "geo" / "scores.json").read_text())
    assert result["genes"]["ERO1A"]["probes"] == ["ILMN_1802053"]
    assert result["genes"]["ERO1A"]["matched_names"] == ["ERO1L"]
    assert result["genes"]["STC2"]["n_candidate_rows"] == 2
    assert result["parameters"]["probe_column"] == "ID" and result["parameters"]["symbol_column"] == "Symbol"
    assert result["metadata"]["geo_accession"] == "GSE999999"


def test_numeric_id_column_among_log2_samples_gets_pointed_at(tmp_path):
    frame = small_table(n=8)
    frame.insert(0, "Entrez_ID", [1649, 30001, 51259, 8974, 8614, 11045, 2597])
    path = tmp_path / "with_ids.csv"
    frame.rename_axis("gene").to_csv(path)
    with pytest.raises(InputError) as info:
        read_expression(path)
    assert info.value.field == "Entrez_ID" and "--annotation-columns" in info.value.expected
    data = read_expression(path, annotation_columns=["Entrez_ID"])
    assert "Entrez_ID" not in data.samples and len(data.samples) == 8
