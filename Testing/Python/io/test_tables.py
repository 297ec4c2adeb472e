"""The one table reader (io/tables.py): delimiters, gzip, byte-order mark, Excel, and errors naming file and column."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from HypoxiaMarkersLib.errors import InputError
from HypoxiaMarkersLib.io.tables import read_table

ROWS = [["P1", "0.25", "1"], ["P2", "0.5", "0"]]


def write(path, text, *, bom=False, gz=False):
    data = (("\ufeff" if bom else "") + text).encode("utf-8")
    if gz:
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def expected_text(sep):
    return "patient" + sep + "hf" + sep + "event\n" + "".join(sep.join(r) + "\n" for r in ROWS)


@pytest.mark.parametrize("name,sep,bom,gz", [
    ("t.csv", ",", False, False), ("t.tsv", "\t", False, False), ("t.txt", "\t", True, False),
    ("t.csv", ";", False, False), ("t.csv.gz", ",", True, True), ("t.tsv.gz", "\t", False, True),
])
def test_delimiter_compression_and_bom(tmp_path, name, sep, bom, gz):
    path = write(tmp_path / name, expected_text(sep), bom=bom, gz=gz)
    table = read_table(path)
    assert list(table.columns) == ["patient", "hf", "event"]  # the BOM is not part of the first name
    assert table["patient"].tolist() == ["P1", "P2"]
    assert table["hf"].tolist() == [0.25, 0.5] and table["event"].tolist() == [1, 0]
    text = read_table(path, text=True)
    assert text["hf"].tolist() == ["0.25", "0.5"]


def test_text_mode_keeps_empty_cells_and_na_words_as_text(tmp_path):
    path = write(tmp_path / "t.csv", "patient,score\nP1,\nP2,NA\n")
    table = read_table(path, text=True)
    assert table["score"].tolist() == ["", "NA"]
    assert read_table(path)["score"].isna().all()


def test_excel(tmp_path):
    path = tmp_path / "t.xlsx"
    pd.DataFrame({"patient": ["P1"], "hf": [0.25]}).to_excel(path, index=False, sheet_name="cohort")
    assert read_table(path, sheet="cohort")["hf"].tolist() == [0.25]
    assert read_table(path, text=True)["hf"].tolist() == ["0.25"]


def test_errors_name_the_file_and_column(tmp_path):
    with pytest.raises(InputError, match="file not found") as error:
        read_table(tmp_path / "absent.csv", what="manifest")
    assert "absent.csv" in str(error.value) and "manifest" in str(error.value)
    path = write(tmp_path / "t.csv", "patient,hf\nP1,0.2\n")
    with pytest.raises(InputError, match="missing column\\(s\\) event") as error:
        read_table(path, required=("patient", "event"))
    assert "t.csv" in str(error.value) and "found patient, hf" in str(error.value)
    write(tmp_path / "header.csv", "patient,hf\n")
    with pytest.raises(InputError, match="no rows"):
        read_table(tmp_path / "header.csv", rows_required=True)
    assert read_table(tmp_path / "header.csv").empty
    write(tmp_path / "empty.csv", "")
    with pytest.raises(InputError, match="empty") as error:
        read_table(tmp_path / "empty.csv")
    assert "empty.csv" in str(error.value)
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00a,b\n\x00\x01")
    with pytest.raises(InputError, match="binary.csv"):
        read_table(tmp_path / "binary.csv")


def test_input_files_are_not_changed(tmp_path):
    path = write(tmp_path / "t.csv.gz", expected_text(","), bom=True, gz=True)
    before = path.read_bytes()
    read_table(path)
    assert path.read_bytes() == before


def test_numbers_are_read_exactly_as_python_reads_them(tmp_path):
    """A value one stage writes (repr of a float) is the value the next stage reads: pandas' default parsers can be
    one unit in the last place off (0.13203166666666663 became 0.1320316666666666)."""
    import numpy as np

    rng = np.random.default_rng(3)
    values = [0.13203166666666663, 1e-300, 2.5e-5, 123456.78901234567, -0.1,
              *(float(v) for v in rng.random(200) * 10.0 ** rng.integers(-8, 8, 200))]
    for suffix, sep in ((".csv", ","), (".tsv", "\t")):
        path = tmp_path / f"numbers{suffix}"
        path.write_text("x" + sep + "y\n" + "".join(f"{v!r}{sep}{-v!r}\n" for v in values))
        table = read_table(path)
        assert table["x"].tolist() == values and table["y"].tolist() == [-v for v in values]
