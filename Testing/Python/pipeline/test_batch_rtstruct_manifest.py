"""Batch manifests with RTSTRUCT masks: the ``roi`` column chooses the ROI; a wrong name fails that patient only,
with the ROI names in the reason."""

from __future__ import annotations

import json
import warnings

from HypoxiaMarkersLib.imaging import phantom
from HypoxiaMarkersLib.pipeline.batch import DONE, FAILED, image_patient, patient_jobs, read_manifest

from helpers.rtstruct_files import mask_contours, write_rtstruct

SMALL = dict(size=(32, 32, 4), spacing=(1.0, 1.0, 5.0), tumour_radii_mm=(9.0, 8.0, 9.0), n_frames=14)


def test_the_roi_column_chooses_the_rtstruct_roi(tmp_path):
    p = phantom.make_phantom(seed=15, **SMALL)
    phantom.write_phantom(p, tmp_path / "P1")
    contours = mask_contours(p.t2w_tumour_mask, p.t2w_geometry)
    write_rtstruct(tmp_path / "P1" / "rs.dcm", {"Bladder": contours[:2], "GTV": contours}, "1.2.3")
    (tmp_path / "manifest.csv").write_text(
        "patient,dce,mask,roi,pfs_time,pfs_event,gene_score\n"
        "P1,P1/dce.seq.nrrd,P1/rs.dcm,GTV,30,1,0.1\n"
        "P2,P1/dce.seq.nrrd,P1/rs.dcm,CTV,40,0,-0.2\n", encoding="utf-8")
    manifest = read_manifest(tmp_path / "manifest.csv")
    jobs = patient_jobs(manifest, tmp_path / "out", {}, force=False, source=tmp_path / "manifest.csv")
    assert [j.roi for j in jobs] == ["GTV", "CTV"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        done, failed = image_patient(jobs[0]), image_patient(jobs[1])
    assert done.status == DONE, done.error
    summary = json.loads((tmp_path / "out" / "patients" / "P1" / "summary.json").read_text())
    assert summary["inputs"]["roi"] == "GTV"
    assert summary["inputs"]["fingerprint"]["settings"]["roi"] == "GTV"
    assert summary["n_tumour_voxels"] > 0.9 * int(p.tumour_mask.sum())
    assert failed.status == FAILED
    assert 'no ROI named "CTV" (ROIs: "Bladder", "GTV")' in failed.error
    assert not (tmp_path / "out" / "patients" / "P2").exists()
