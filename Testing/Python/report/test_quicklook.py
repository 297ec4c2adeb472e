"""``quicklook.png``: the slices chosen, the data drawn on them, the PNG written by ``image``, its absence without
matplotlib (a bare 3D Slicer), and its link in the batch report."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from HypoxiaMarkersLib.imaging import phantom
from HypoxiaMarkersLib.imaging.analysis import ImagingParameters, analyse_dce
from HypoxiaMarkersLib.pipeline.image import QUICKLOOK_FILE, write_imaging_result
from HypoxiaMarkersLib.report.quicklook import choose_slices, quicklook_data, quicklook_slices, write_quicklook

SMALL = dict(size=(40, 40, 8), spacing=(1.0, 1.0, 3.0), tumour_radii_mm=(10.0, 9.0, 10.0), n_frames=14)


@pytest.fixture(scope="module")
def fitted():
    p = phantom.make_phantom(seed=12, **SMALL)
    return p, analyse_dce(p.series, p.tumour_mask, ImagingParameters(biopsy_slice=2))


def png_size(path: Path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("numbers, biopsy, expected", [
    ([1, 2, 3, 4, 5, 6, 7], 1, [1, 4, 7]),
    ([1, 2, 3, 4, 5, 6, 7], 2, [2, 4, 7]),  # the nearest evenly spread slice gives way to the biopsy slice
    ([1, 2, 3, 4, 5, 6, 7], 6, [1, 4, 6]),
    ([1, 2], 2, [1, 2]),
])
def test_the_biopsy_slice_and_two_more_spread_caudal_to_cranial(numbers, biopsy, expected):
    assert choose_slices(numbers, biopsy, at_most=3) == expected


def test_the_data_drawn_are_those_of_the_chosen_slices(fitted):
    p, result = fitted
    shown = quicklook_slices(result)
    assert len(result.slices) >= 5 and len(shown) == 3
    assert 2 in [n for n, _ in shown]
    data = quicklook_data(result)
    assert data.biopsy_slice == 2 and data.slice_numbers == [n for n, _ in shown]
    k_of = {s.slice: s.k_index for s in result.slices}
    assert data.k_indices == [k_of[n] for n in data.slice_numbers]
    for index, k in enumerate(data.k_indices):
        np.testing.assert_array_equal(data.a_brix[index], result.a_brix[k])
        np.testing.assert_array_equal(data.tumour[index], p.tumour_mask[k])
        np.testing.assert_array_equal(data.hypoxic[index], result.hypoxic_mask[k])
        np.testing.assert_array_equal(data.background[index], result.post_contrast[k])
        assert data.tumour[index].any()
    np.testing.assert_array_equal(data.rsi, result.mean_curve.rsi)
    np.testing.assert_array_equal(data.fitted_rsi, result.mean_curve.fitted_rsi)
    assert data.counts["tumour voxels"] == str(int(p.tumour_mask.sum()))
    assert data.counts["fitted"] == str(result.n_fitted)
    assert data.counts["at a parameter bound"] == str(result.fit_quality.n_at_bound)
    assert data.counts["hypoxic fraction"].startswith(f"{result.hypoxic_fraction:.3f}")
    t2w = np.arange(np.prod(p.series.geometry.shape), dtype=float).reshape(p.series.geometry.shape)
    with_t2w = quicklook_data(result, background=t2w, background_name="T2W")
    np.testing.assert_array_equal(with_t2w.background, t2w[data.k_indices])


def test_image_writes_the_quicklook_png(fitted, tmp_path):
    _, result = fitted
    write_imaging_result(result, tmp_path / "out")
    width, height = png_size(tmp_path / "out" / QUICKLOOK_FILE)
    assert width > 600 and height > 500
    assert not any(QUICKLOOK_FILE in w for w in json.loads((tmp_path / "out" / "summary.json").read_text())["warnings"])


def test_without_matplotlib_the_quicklook_is_skipped_with_a_warning(fitted, tmp_path, monkeypatch):
    _, result = fitted
    for name in [m for m in list(sys.modules) if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    import dataclasses

    result = dataclasses.replace(result, warnings=list(result.warnings))
    assert write_quicklook(quicklook_data(result), tmp_path / "alone.png") is None
    write_imaging_result(result, tmp_path / "out")
    assert not (tmp_path / "out" / QUICKLOOK_FILE).exists()
    assert (tmp_path / "out" / "a_brix.nrrd").is_file()  # the results are complete
    warnings = json.loads((tmp_path / "out" / "summary.json").read_text())["warnings"]
    assert any(w.startswith(f"{QUICKLOOK_FILE} not written: matplotlib is not installed") for w in warnings)


def test_the_batch_report_links_each_patients_quicklook(tmp_path):
    from HypoxiaMarkersLib.report.page import Page
    from HypoxiaMarkersLib.report.sections import _quicklook_links

    batch = tmp_path / "batch"
    for patient in ("P1", "P2"):
        (batch / "patients" / patient).mkdir(parents=True)
    (batch / "patients" / "P1" / QUICKLOOK_FILE).write_bytes(b"png")
    images = {p: SimpleNamespace(folder=batch / "patients" / p) for p in ("P1", "P2")}
    page = Page(tmp_path / "figures")
    page.start("patients", "Patients")
    _quicklook_links(page, SimpleNamespace(batch=SimpleNamespace(images=images), out_dir=batch / "report"))
    html = "".join(page.sections[0][2])
    assert '<a href="../patients/P1/quicklook.png">P1</a>' in html
    assert "P2" not in html  # no figure, no link


_BARE_IMAGE = r"""
import sys
BLOCKED = ("pandas", "lifelines", "matplotlib", "statsmodels", "openpyxl")
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not bundled (bare Slicer stack)")
sys.meta_path.insert(0, Blocker())
from HypoxiaMarkersLib import cli
sys.exit(cli.main(sys.argv[1:]))
"""


def test_the_image_command_works_without_matplotlib_or_pandas(tmp_path):
    """As in a bare 3D Slicer stack: the results are written, the quick-look is skipped with a warning."""
    import subprocess

    p = phantom.make_phantom(seed=13, size=(32, 32, 4), spacing=(1.0, 1.0, 5.0), tumour_radii_mm=(9.0, 8.0, 9.0),
                             n_frames=14)
    phantom.write_phantom(p, tmp_path / "phantom")
    done = subprocess.run([sys.executable, "-c", _BARE_IMAGE, "image", str(tmp_path / "phantom" / "dce.seq.nrrd"),
                           "--mask", str(tmp_path / "phantom" / "tumour.seg.nrrd"), "--out", str(tmp_path / "out"),
                           "--quiet"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"{QUICKLOOK_FILE} not written: matplotlib is not installed" in done.stderr
    assert not (tmp_path / "out" / QUICKLOOK_FILE).exists()
    assert (tmp_path / "out" / "a_brix.nrrd").is_file() and (tmp_path / "out" / "summary.json").is_file()


def test_the_t2w_background_is_put_on_the_dce_grid_in_physical_space(tmp_path):
    """A T2W volume whose value is its voxels' LPS x coordinate, on a finer shifted grid, resampled linearly onto
    the DCE grid, gives each DCE voxel its own x coordinate (linear interpolation is exact on a linear function)."""
    from HypoxiaMarkersLib.io.volumes import read_volume_on_grid, write_volume
    from HypoxiaMarkersLib.volume import Geometry

    t2w = Geometry(size=(60, 50, 20), spacing=(0.5, 0.6, 2.5), origin=(-12.3, -10.1, -20.0))
    k, j, i = np.indices(t2w.shape)
    x = t2w.index_to_lps(np.stack([i, j, k], axis=-1))[..., 0]
    write_volume(x.astype(np.float32), t2w, tmp_path / "t2w.nrrd")
    dce = Geometry(size=(10, 10, 4), spacing=(1.9, 2.1, 5.0), origin=(-8.0, -6.0, -10.0))
    on_dce = read_volume_on_grid(tmp_path / "t2w.nrrd", dce)
    kk, jj, ii = np.indices(dce.shape)
    expected = dce.index_to_lps(np.stack([ii, jj, kk], axis=-1))[..., 0]
    np.testing.assert_allclose(on_dce, expected, atol=1e-4)


def test_a_missing_t2w_is_refused_before_the_fit(tmp_path):
    from HypoxiaMarkersLib.errors import InputError
    from HypoxiaMarkersLib.pipeline.image import ImageSources, run_image

    sources = ImageSources(dce=[tmp_path / "dce.nrrd"], mask=tmp_path / "mask.nrrd", background=tmp_path / "no.nrrd")
    with pytest.raises(InputError, match="--t2w: file not found"):
        run_image(sources, None, tmp_path / "out")
    assert not (tmp_path / "out").exists()
