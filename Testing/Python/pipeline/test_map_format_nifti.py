"""``--format nifti``: the maps as ``.nii.gz`` with the same stems, the same values and the geometry right.

The NIfTI affine is checked against the DCE grid computed by hand (LPS → RAS: x and y change sign), read back both
with SimpleITK and with nibabel (which knows nothing of ITK), on an oblique grid so that a lost rotation or a
sign error shows.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from HypoxiaMarkersLib.imaging import phantom
from HypoxiaMarkersLib.imaging.analysis import analyse_dce
from HypoxiaMarkersLib.io.volumes import read_volume
from HypoxiaMarkersLib.pipeline.image import MAP_FILES, write_imaging_result
from HypoxiaMarkersLib.volume import Geometry

SMALL = dict(size=(32, 32, 4), spacing=(1.0, 1.0, 5.0), tumour_radii_mm=(9.0, 8.0, 9.0), n_frames=14)


def _oblique() -> Geometry:
    a, b = np.radians(20.0), np.radians(-35.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return Geometry(size=(32, 32, 4), spacing=(1.1, 0.9, 5.0), origin=(-20.5, 13.25, 41.0),
                    direction=tuple((rz @ rx).ravel()))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nifti")
    p = phantom.make_phantom(seed=8, **SMALL)
    series = dataclasses.replace(p.series, geometry=_oblique())
    result = analyse_dce(series, p.tumour_mask)
    write_imaging_result(result, folder / "nrrd", quicklook=False)
    write_imaging_result(result, folder / "nifti", map_format="nifti", quicklook=False)
    return folder, result


def test_same_stems_as_nrrd_and_the_format_recorded(written):
    folder, _ = written
    nrrd = sorted(p.name[:-len(".nrrd")] for p in (folder / "nrrd").glob("*.nrrd"))
    nifti = sorted(p.name[:-len(".nii.gz")] for p in (folder / "nifti").glob("*.nii.gz"))
    assert nifti == nrrd and set(MAP_FILES) <= set(nifti) and "dce_post_contrast" in nifti
    assert not list((folder / "nifti").glob("*.nrrd"))
    assert json.loads((folder / "nifti" / "summary.json").read_text())["map_format"] == "nifti"
    assert json.loads((folder / "nrrd" / "summary.json").read_text())["map_format"] == "nrrd"


@pytest.mark.parametrize("name", [*MAP_FILES, "dce_post_contrast"])
def test_the_values_and_the_grid_read_back(written, name):
    folder, result = written
    path = folder / "nifti" / f"{name}.nii.gz"
    expected = np.asarray(result.post_contrast if name == "dce_post_contrast" else getattr(result, name))
    values, g = read_volume(path)
    # NaN (outside the tumour, failed fits) included: io.volumes restores what ITK <= 5.4 reads as 0.
    np.testing.assert_array_equal(values, expected.astype(values.dtype))
    plain = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(plain[finite], expected[finite].astype(plain.dtype))
    assert g.size == result.geometry.size
    # NIfTI stores the affine in float32: a few 1e-6 mm.
    np.testing.assert_allclose(g.spacing, result.geometry.spacing, atol=1e-5)
    np.testing.assert_allclose(g.origin, result.geometry.origin, atol=1e-4)
    np.testing.assert_allclose(g.direction, result.geometry.direction, atol=1e-5)


def test_failed_fits_stay_nan_not_a_hypoxic_zero(written):
    folder, result = written
    a_brix, _ = read_volume(folder / "nifti" / "a_brix.nii.gz")
    assert np.isnan(result.a_brix).sum() > 0
    np.testing.assert_array_equal(np.isnan(a_brix), np.isnan(result.a_brix))
    assert not (a_brix == 0).any()


def test_nibabel_reads_the_ras_affine_of_the_dce_grid(written):
    nib = pytest.importorskip("nibabel")  # in the test extra
    folder, result = written
    image = nib.load(str(folder / "nifti" / "a_brix.nii.gz"))
    g = result.geometry
    lps_affine = np.eye(4)
    lps_affine[:3, :3] = g.direction_matrix * np.asarray(g.spacing)
    lps_affine[:3, 3] = g.origin
    np.testing.assert_allclose(image.affine, np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps_affine, atol=1e-4)
    # nibabel's array is (i, j, k); ours (k, j, i).
    np.testing.assert_array_equal(np.asarray(image.dataobj).transpose(2, 1, 0), result.a_brix)
    tumour = nib.load(str(folder / "nifti" / "tumour_mask.nii.gz"))
    np.testing.assert_array_equal(np.asarray(tumour.dataobj).transpose(2, 1, 0) > 0, result.tumour_mask)


@pytest.mark.slow
def test_the_image_command_writes_nifti(tmp_path):
    p = phantom.make_phantom(seed=9, **SMALL)
    phantom.write_phantom(p, tmp_path / "phantom")
    done = subprocess.run([sys.executable, "-m", "HypoxiaMarkersLib.cli", "image",
                           str(tmp_path / "phantom" / "dce.seq.nrrd"), "--mask", str(tmp_path / "phantom" /
                                                                                   "tumour_mask_t2w.nrrd"),
                           "--out", str(tmp_path / "out"), "--format", "nifti", "--quiet"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {f"{n}.nii.gz" for n in MAP_FILES} <= names
    assert not any(n.endswith(".nrrd") for n in names)
    bad = subprocess.run([sys.executable, "-m", "HypoxiaMarkersLib.cli", "image",
                          str(tmp_path / "phantom" / "dce.seq.nrrd"), "--mask", "x.nrrd", "--out",
                          str(tmp_path / "bad"), "--format", "analyze"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "invalid choice: 'analyze'" in bad.stderr


def test_a_batch_patient_in_nifti_is_read_by_the_heterogeneity_inputs(tmp_path):
    """The batch writes each patient with --format; the cohort stages find the maps either way."""
    from HypoxiaMarkersLib.heterogeneity.inputs import load_tumour_slice, read_image_result
    from HypoxiaMarkersLib.pipeline.batch import DONE, PatientJob, image_patient, input_fingerprint

    p = phantom.make_phantom(seed=10, **SMALL)
    phantom.write_phantom(p, tmp_path / "phantom")
    job = PatientJob(patient="P1", dce=[str(tmp_path / "phantom" / "dce.seq.nrrd")],
                     mask=str(tmp_path / "phantom" / "tumour_mask_t2w.nrrd"), out=str(tmp_path / "P1"),
                     map_format="nifti")
    outcome = image_patient(job)
    assert outcome.status == DONE, outcome.error
    assert (tmp_path / "P1" / "a_brix.nii.gz").is_file() and not (tmp_path / "P1" / "a_brix.nrrd").exists()
    tumour_slice = load_tumour_slice(read_image_result(tmp_path / "P1"))
    nib = pytest.importorskip("nibabel")
    a_brix = np.asarray(nib.load(str(tmp_path / "P1" / "a_brix.nii.gz")).dataobj).transpose(2, 1, 0)
    k = json.loads((tmp_path / "P1" / "summary.json").read_text())["biopsy_slice"]["k_index"]
    np.testing.assert_array_equal(tumour_slice.a_brix, a_brix[k])  # NaN where nibabel has NaN
    assert tumour_slice.tumour_mask.sum() > 0 and np.isnan(tumour_slice.a_brix[~tumour_slice.tumour_mask]).all()
    # The format is part of what the result depends on: an NRRD run does not reuse it.
    assert input_fingerprint(job)["settings"]["format"] == "nifti"
    assert "format" not in input_fingerprint(dataclasses.replace(job, map_format="nrrd"))["settings"]
    again = image_patient(dataclasses.replace(job, map_format="nrrd"))
    assert again.status == DONE and "format 'nifti' -> None" in again.refit_reason
