"""``image --dicom-out`` and ``batch --dicom-out`` end to end: a real DICOM series (the QIBA DRO's headers: patient,
study, frame of reference and image references copied), a phantom NRRD series (identity from the options), the
maps and masks identical to the NRRD results, and bad input refused before any fit with nothing written."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pydicom
import pytest

from HypoxiaMarkersLib.cli import main
from HypoxiaMarkersLib.imaging.phantom import make_phantom
from HypoxiaMarkersLib.io import read_dce, write_dce
from HypoxiaMarkersLib.io.volumes import read_volume, write_volume

if sys.version_info < (3, 10):
    pytest.skip("the DICOM export needs Python 3.10+ (highdicom 0.23, pydicom 3)", allow_module_level=True)
pytest.importorskip("highdicom")

from helpers.dicom_readback import assert_same_geometry, read_parametric_map, read_segmentation  # noqa: E402

MAPS = ("a_brix", "k_ep", "k_el", "r_squared")


@pytest.fixture(scope="module")
def qiba_subset(shared_data, tmp_path_factory):
    """A real vendor-style DICOM series: every 20th file of the QIBA DRO v6 (67 frames 10 s apart, one slice)
    and a tumour label map over two of its tissue patches."""
    source = shared_data / "qiba-dce-v6"
    files = sorted(source.rglob("QIBA_v06_Tofts_beta1_*.dcm"))
    assert len(files) == 1321
    root = tmp_path_factory.mktemp("qiba_dicom_out")
    folder = root / "dce"
    folder.mkdir()
    for path in files[::20]:
        shutil.copy2(path, folder / path.name)
    series = read_dce(folder)
    mask = np.zeros(series.geometry.shape, dtype=np.uint8)
    mask[0, 30:50, 10:30] = 1  # rows 30-49 (Ktrans 0.05 and 0.1 /min), columns 10-29
    write_volume(mask, series.geometry, root / "tumour.nrrd")
    return folder, root / "tumour.nrrd", files[0]


@pytest.fixture(scope="module")
def qiba_results(qiba_subset, tmp_path_factory):
    folder, mask, _ = qiba_subset
    root = tmp_path_factory.mktemp("qiba_results")
    code = main(["image", str(folder), "--mask", str(mask), "--out", str(root / "out"), "--dicom-out",
                 str(root / "dicom"), "--quiet", "--a-threshold", "0.55"])  # the DRO's A_Brix: 0.41 to 0.80
    assert code == 0
    return root / "out", root / "dicom"


def _assert_same_as_nrrd(out, dicom):
    for name in MAPS:
        expected, geometry = read_volume(out / f"{name}.nrrd")
        volume, dicom_geometry, _ = read_parametric_map(dicom / f"{name}.dcm")
        assert np.array_equal(volume, expected.astype(np.float32), equal_nan=True), name
        assert_same_geometry(dicom_geometry, geometry)
    segments, dicom_geometry, _ = read_segmentation(dicom / "segmentation.dcm")
    tumour, geometry = read_volume(out / "tumour_mask.nrrd")
    hypoxic, _ = read_volume(out / "hypoxic_mask.nrrd")
    assert np.array_equal(segments["Tumour"], tumour.astype(bool))
    hypoxic_label = next(label for label in segments if label.startswith("Hypoxic voxels"))
    assert np.array_equal(segments[hypoxic_label], hypoxic.astype(bool))
    assert_same_geometry(dicom_geometry, geometry)
    return tumour.astype(bool), hypoxic.astype(bool)


@pytest.mark.slow
def test_real_dicom_series_values_identity_and_references(qiba_subset, qiba_results):
    _, _, first_file = qiba_subset
    out, dicom = qiba_results
    tumour, hypoxic = _assert_same_as_nrrd(out, dicom)
    assert tumour.sum() == 400 and 100 < hypoxic.sum() < 300
    segments, _, _ = read_segmentation(dicom / "segmentation.dcm")
    assert set(segments) == {"Tumour", "Hypoxic voxels (A_Brix < 0.55)"}
    a_brix, _, _ = read_parametric_map(dicom / "a_brix.dcm")
    assert np.isfinite(a_brix[tumour]).sum() > 300 and np.isnan(a_brix[~tumour]).all()
    source = pydicom.dcmread(str(first_file), stop_before_pixels=True)  # frame 0 (TriggerTime absent = 0 ms)
    for name in (*MAPS, "segmentation"):
        ds = pydicom.dcmread(str(dicom / f"{name}.dcm"), stop_before_pixels=True)
        for keyword in ("PatientID", "PatientName", "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID",
                        "AccessionNumber", "FrameOfReferenceUID"):
            assert ds[keyword].value == source[keyword].value, (name, keyword)
        assert ds.PatientID == "101" and str(ds.PatientName) == "v06_Tofts"
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID
        referenced = ds.ReferencedSeriesSequence[0]
        assert referenced.SeriesInstanceUID == source.SeriesInstanceUID
        assert referenced.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
        for frame in ds.PerFrameFunctionalGroupsSequence:
            image = frame.DerivationImageSequence[0].SourceImageSequence[0]
            assert image.ReferencedSOPInstanceUID == source.SOPInstanceUID
            assert image.ReferencedSOPClassUID == source.SOPClassUID


def test_nrrd_series_with_the_identity_options(tmp_path):
    phantom = make_phantom(seed=3, size=(40, 36, 3), n_frames=24, tumour_radii_mm=(10.0, 9.0, 7.0))
    write_dce(phantom.series, tmp_path / "dce.seq.nrrd")
    write_volume(phantom.tumour_mask.astype(np.uint8), phantom.series.geometry, tmp_path / "tumour.nrrd")
    out, dicom = tmp_path / "out", tmp_path / "dicom"
    code = main(["image", str(tmp_path / "dce.seq.nrrd"), "--mask", str(tmp_path / "tumour.nrrd"), "--out", str(out),
                 "--dicom-out", str(dicom), "--patient-id", "CX-017", "--patient-name", "Test^Phantom",
                 "--study-instance-uid", "1.2.826.0.1.3680043.10.99", "--quiet"])
    assert code == 0
    tumour, hypoxic = _assert_same_as_nrrd(out, dicom)
    assert np.array_equal(tumour, phantom.tumour_mask)
    # the fit recovers the phantom's hypoxic voxels (the NRRD tests check the same against truth)
    assert np.mean(hypoxic[tumour] == phantom.hypoxic_mask[tumour]) >= 0.95
    for name in (*MAPS, "segmentation"):
        ds = pydicom.dcmread(str(dicom / f"{name}.dcm"), stop_before_pixels=True)
        assert ds.PatientID == "CX-017" and str(ds.PatientName) == "Test^Phantom"
        assert ds.StudyInstanceUID == "1.2.826.0.1.3680043.10.99"
        assert ds.Modality == ("SEG" if name == "segmentation" else "OT")  # highdicom's modality of a map
        assert "ReferencedSeriesSequence" not in ds


def _nothing_written(*folders):
    return all(not f.exists() for f in folders) and not any(
        p.name.startswith(".") and ".partial-" in p.name for f in folders for p in f.parent.iterdir())


def test_refusals_before_any_fit_leave_nothing(qiba_subset, tmp_path, capsys, monkeypatch):
    folder, mask, _ = qiba_subset
    nrrd = tmp_path / "dce.nrrd"
    series = read_dce(folder)
    write_dce(series, nrrd)
    out, dicom = tmp_path / "out", tmp_path / "dicom"

    def image(*options, dce=folder):
        return main(["image", str(dce), "--mask", str(mask), "--out", str(out), "--quiet", *options])

    cases = [
        ((("--dicom-out", str(dicom)), nrrd), "--patient-id"),  # a non-DICOM series needs a patient
        ((("--dicom-out", str(dicom), "--patient-id", "X"), folder), "the DCE series is DICOM"),
        ((("--patient-id", "X"), nrrd), "no --dicom-out"),
        ((("--dicom-out", str(folder / "maps")), folder), "inside the input folder"),
        ((("--dicom-out", str(out)), folder), "overlaps the results folder"),
        ((("--dicom-out", str(out / "dicom")), folder), "overlaps the results folder"),
        ((("--dicom-out", str(dicom), "--patient-id", "X", "--study-instance-uid", "1.2.x"), nrrd),
         "--study-instance-uid"),
    ]
    for (options, dce), message in cases:
        assert image(*options, dce=dce) == 2, options
        assert message in capsys.readouterr().err, options
        assert _nothing_written(out, dicom) and not (folder / "maps").exists()
    # highdicom missing: the message names the extra to install
    monkeypatch.setitem(sys.modules, "highdicom", None)
    assert image("--dicom-out", str(dicom)) == 2
    assert 'pip install "HypoxiaMarkersLib[dicom]"' in capsys.readouterr().err
    assert _nothing_written(out, dicom)


def test_a_foreign_folder_is_kept_and_a_failed_export_writes_neither_folder(qiba_subset, tmp_path, capsys,
                                                                            monkeypatch):
    folder, mask, _ = qiba_subset
    out, dicom = tmp_path / "out", tmp_path / "dicom"
    dicom.mkdir()
    (dicom / "notes.txt").write_text("mine")
    arguments = ["image", str(folder), "--mask", str(mask), "--out", str(out), "--dicom-out", str(dicom), "--quiet"]
    assert main(arguments) == 2
    assert "holds files hypoxia-markers did not write" in capsys.readouterr().err
    assert (dicom / "notes.txt").read_text() == "mine" and not out.exists()

    from HypoxiaMarkersLib.errors import InputError
    from HypoxiaMarkersLib.io import dicom_out

    def broken(*args, **kwargs):
        raise InputError("segmentation could not be written (test)")

    monkeypatch.setattr(dicom_out, "_segmentation", broken)
    assert main(arguments + ["--force"]) == 2
    assert "segmentation could not be written" in capsys.readouterr().err
    # the maps written before the failure are gone with their temporary folder; the user's folder is untouched
    assert (dicom / "notes.txt").read_text() == "mine" and sorted(p.name for p in dicom.iterdir()) == ["notes.txt"]
    assert not out.exists() and _nothing_written(out)
    monkeypatch.undo()
    assert main(arguments + ["--force"]) == 0
    assert sorted(p.name for p in dicom.iterdir() if not p.name.startswith(".")) == [
        "a_brix.dcm", "k_el.dcm", "k_ep.dcm", "r_squared.dcm", "segmentation.dcm"]


def test_batch_writes_one_subfolder_per_patient(qiba_subset, tmp_path):
    folder, mask, first_file = qiba_subset
    nrrd = tmp_path / "dce.nrrd"
    write_dce(read_dce(folder), nrrd)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("patient,dce,mask,pfs_time,pfs_event,gene_score\n"
                        f"QIBA,{folder},{mask},20,1,0.5\nP 2,{nrrd},{mask},30,0,-0.5\n")
    out, dicom = tmp_path / "batch", tmp_path / "dicom"
    arguments = ["batch", str(manifest), "--out", str(out), "--dicom-out", str(dicom), "--no-report",
                 "--no-heterogeneity", "--quiet"]
    main(arguments)  # the cohort stage fails with two patients: the exit code says so, the images are done
    folders = sorted(p.name for p in dicom.iterdir() if not p.name.startswith("."))
    assert folders == ["P%202", "QIBA"] and (dicom / ".hypoxia-markers").is_file()
    from HypoxiaMarkersLib.pipeline.batch import patient_folder_name

    for patient, patient_id in (("QIBA", "101"), ("P 2", "P 2")):  # a DICOM series keeps its own patient ID
        patient_dicom = dicom / patient_folder_name(patient)
        _assert_same_as_nrrd(out / "patients" / patient_folder_name(patient), patient_dicom)
        assert pydicom.dcmread(str(patient_dicom / "a_brix.dcm"), stop_before_pixels=True).PatientID == patient_id
    # a rerun reuses the fits; a patient whose DICOM results are missing is refitted to write them
    shutil.rmtree(dicom / "QIBA")
    main(arguments)
    assert (dicom / "QIBA" / "segmentation.dcm").is_file()
    import json

    refit = json.loads((out / "batch.json").read_text())["refit"]
    assert list(refit) == ["QIBA"] and "DICOM" in refit["QIBA"]
