"""A synthetic cohort with known truth: DCE phantoms, expression of several biopsies, and outcomes.

The demo runs the whole pipeline on it. Its shape follows the method's cohort (SPEC §5): about a third of the
patients more hypoxic by each marker, about three quarters concordant, and progression-free survival drawn from a
model in which a tumour hypoxic by BOTH markers (group 1) has a higher hazard:

- latent hypoxia (z_imaging, z_genes) ~ bivariate normal with correlation ``rho``;
- true hypoxic fraction HF = expit(mu_hf + z_imaging) (mu_hf set so that P(HF >= 0.27) = ``p_imaging``);
- true gene score of the tumour s = sd_score * z_genes + mu_s (P(s >= 0) = ``p_genes``), and of each biopsy
  s + N(0, within_sd^2); each biopsy's log2 expression of the six genes is reference + biopsy score + gene-specific
  noise that averages to zero over the genes, so its score against the stored reference is exactly known;
- PFS: exponential with hazard lambda0 in groups 2-4 and hr_both * lambda0 in group 1 (groups from the true HF and
  score at cutoffs 0.27 and 0), lambda0 giving ``pfs60_reference`` at 60 months; follow-up censored uniformly
  between ``follow_up_months``.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
from scipy import special, stats

from .. import __version__
from ..genes.signatures import load_signature, save_signature, signature_from_dict
from ..io.outputs import write_json
from ..rules import HF_CUTOFF, HORIZON_MONTHS

SIGNATURE_ARRAY_NAMES = {"ERO1A": "ERO1L"}  # the Illumina arrays' older symbol: exercises alias matching
#: The clinical covariate columns of the synthetic manifest.
MANIFEST_COVARIATES = ("figo_stage", "lymph_node", "tumour_cell_fraction")
#: The demo's training/validation split (issue 12): as many patients marked "training" as the paper's signature
#: was built on, in a file of its own so that the manifest and cohort table stay as they were.
SPLIT_FILE = "signature_split.csv"
SPLIT_COLUMN = "validation"
TRAINING_PATIENTS = 41
OTHER_GENES = ("ACTB", "GAPDH", "VEGFA", "CA9", "SLC2A1", "MKI67", "EPCAM", "KRT5", "KRT17", "CDKN2A", "TP63",
               "PGK1", "BNIP3", "NDRG1")


@dataclass
class CohortSettings:
    """Every setting of the synthetic cohort (written to truth.json)."""

    patients: int = 118
    seed: int = 0
    rho: float = 0.8
    p_imaging: float = 0.31
    p_genes: float = 0.36
    hf_cutoff: float = HF_CUTOFF
    gene_cutoff: float = 0.0
    sd_logit_hf: float = 1.0
    sd_score: float = 0.5
    within_sd: float = 0.25
    max_biopsies: int = 3
    hr_both: float = 4.8
    pfs60_reference: float = 0.78
    follow_up_months: Sequence[float] = (36.0, 96.0)
    noise: float = 0.03
    phantom_size: Sequence[int] = (80, 80, 8)
    tumour_radii_mm: Sequence[float] = (22.0, 18.0, 14.0)
    clustered_share: float = 0.5
    clustering_mm: float = 5.0
    clustering_si_mm: float = 15.0


@dataclass
class SyntheticPatient:
    patient: str
    hypoxic_fraction_target: float
    gene_score: float
    biopsy_scores: List[float]
    group: int
    pfs_time: float
    pfs_event: int
    clustering_mm: float
    radius_scale: float
    figo_stage: str
    lymph_node: int
    tumour_cell_fraction: float
    phantom_seed: int


def _group(imaging_high: bool, genes_high: bool) -> int:
    """SPEC §4.1: 1 both, 2 genes only, 3 neither, 4 imaging only."""
    if imaging_high and genes_high:
        return 1
    if genes_high:
        return 2
    if imaging_high:
        return 4
    return 3


def draw_patients(settings: CohortSettings) -> List[SyntheticPatient]:
    """Draw the patients' true markers, covariates and outcomes (no images yet)."""
    s = settings
    rng = np.random.default_rng(s.seed)
    n = s.patients
    z = rng.multivariate_normal([0.0, 0.0], [[1.0, s.rho], [s.rho, 1.0]], size=n)
    mu_hf = special.logit(s.hf_cutoff) + s.sd_logit_hf * stats.norm.ppf(s.p_imaging)
    hf = special.expit(mu_hf + s.sd_logit_hf * z[:, 0])
    mu_s = s.gene_cutoff + s.sd_score * stats.norm.ppf(s.p_genes)
    score = mu_s + s.sd_score * z[:, 1]
    n_biopsies = rng.integers(1, s.max_biopsies + 1, n)
    lam0 = -np.log(s.pfs60_reference) / HORIZON_MONTHS
    patients = []
    for p in range(n):
        # Biopsy deviations sum to zero so that the mean of a tumour's biopsy scores is its true score.
        deviations = rng.normal(0.0, s.within_sd, n_biopsies[p])
        if n_biopsies[p] > 1:
            deviations -= deviations.mean()
        else:
            deviations[:] = 0.0
        group = _group(hf[p] >= s.hf_cutoff, score[p] >= s.gene_cutoff)
        hazard = lam0 * (s.hr_both if group == 1 else 1.0)
        event_time = rng.exponential(1.0 / hazard)
        follow_up = rng.uniform(*s.follow_up_months)
        patients.append(
            SyntheticPatient(
                patient=f"P{p + 1:03d}",
                hypoxic_fraction_target=float(hf[p]),
                gene_score=float(score[p]),
                biopsy_scores=[float(score[p] + d) for d in deviations],
                group=group,
                pfs_time=float(min(event_time, follow_up)),
                pfs_event=int(event_time <= follow_up),
                clustering_mm=s.clustering_mm if rng.random() < s.clustered_share else 0.0,
                radius_scale=float(rng.uniform(0.65, 1.0)),
                figo_stage=str(rng.choice(["I", "II", "III", "IV"], p=[0.25, 0.45, 0.25, 0.05])),
                lymph_node=int(rng.random() < 0.4),
                tumour_cell_fraction=float(np.round(rng.uniform(10, 90))),
                phantom_seed=int(rng.integers(0, 2**31 - 1)),
            )
        )
    return patients


def reference_signature(seed: int = 0):
    """The 6-gene signature with stored per-gene reference values, as if from an earlier reference cohort."""
    rng = np.random.default_rng(10_000 + seed)
    base = load_signature()
    data = base.to_dict()
    for gene in data["genes"]:
        gene["reference"] = float(np.round(rng.uniform(7.0, 11.0), 4))
    data["name"] = "hypoxia6-demo-reference"
    data["description"] = (data.get("description") or "") + " Reference values: synthetic reference cohort (demo)."
    return signature_from_dict(data, source="synthetic reference")


def expression_table(patients: Sequence[SyntheticPatient], signature, seed: int = 0) -> Dict[str, Dict[str, float]]:
    """Log2 expression per sample (genes -> value), samples named <patient>_b<n>."""
    rng = np.random.default_rng(20_000 + seed)
    genes = [g.symbol for g in signature.genes]
    references = np.array([g.reference for g in signature.genes], dtype=float)
    table: Dict[str, Dict[str, float]] = {}
    for patient in patients:
        for b, biopsy_score in enumerate(patient.biopsy_scores, start=1):
            noise = rng.normal(0.0, 0.3, len(genes))
            noise -= noise.mean()  # the score (mean of centred values) is exactly the biopsy score
            values = references + biopsy_score + noise
            sample = {SIGNATURE_ARRAY_NAMES.get(g, g): float(v) for g, v in zip(genes, values)}
            for other in OTHER_GENES:
                sample[other] = float(rng.normal(9.0, 1.5))
            table[f"{patient.patient}_b{b}"] = sample
    return table


def write_cohort(
    out_dir: Path,
    settings: CohortSettings,
    *,
    map_function: Optional[Callable] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> Path:
    """Write the synthetic cohort: phantoms, expression, reference signature, manifest and truth.

    Layout: ``manifest.csv`` (the input of ``hypoxia-markers batch``), ``expression.csv`` (genes x samples, log2),
    ``reference_signature.json``, ``patients/<id>/`` (each a phantom folder, see :func:`phantom.write_phantom`),
    ``truth.csv`` and ``truth.json``.

    Parameters
    ----------
    map_function : callable, optional
        ``map_function(function, iterable)`` used to write the phantoms (e.g. a process pool's ``map``).
    progress : callable, optional
        ``progress(done, total)`` after each phantom.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    patients = draw_patients(settings)
    signature = reference_signature(settings.seed)
    save_signature(signature, out_dir / "reference_signature.json")

    table = expression_table(patients, signature, settings.seed)
    samples = list(table)
    genes = list(next(iter(table.values())))
    with open(out_dir / "expression.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["gene"] + samples)
        for gene in genes:
            writer.writerow([gene] + [f"{table[s][gene]:.5f}" for s in samples])

    jobs = [(out_dir / "patients" / p.patient, p, settings) for p in patients]
    mapper = map_function or map
    for done, _ in enumerate(mapper(_write_patient_phantom, jobs), start=1):
        if progress is not None:
            progress(done, len(jobs))

    with open(out_dir / "manifest.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patient", "dce", "mask", "expression", "samples", "pfs_time", "pfs_event",
                         *MANIFEST_COVARIATES])
        for p in patients:
            biopsies = ";".join(f"{p.patient}_b{b}" for b in range(1, len(p.biopsy_scores) + 1))
            writer.writerow([p.patient, f"patients/{p.patient}/dce.seq.nrrd",
                             f"patients/{p.patient}/tumour_mask_t2w.nrrd", "expression.csv", biopsies,
                             f"{p.pfs_time:.3f}", p.pfs_event, p.figo_stage, p.lymph_node,
                             f"{p.tumour_cell_fraction:.0f}"])

    write_split(out_dir / SPLIT_FILE, patients, settings.seed)

    truth_rows = []
    for p in patients:
        truth = _read_phantom_truth(out_dir / "patients" / p.patient)
        truth_rows.append({"patient": p.patient, "hypoxic_fraction": truth["hypoxic_fraction"],
                           "gene_score": p.gene_score, "group": p.group, "clustering_mm": p.clustering_mm,
                           "n_biopsies": len(p.biopsy_scores)})
    with open(out_dir / "truth.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(truth_rows[0]))
        writer.writeheader()
        writer.writerows(truth_rows)
    write_json({"settings": asdict(settings), "version": __version__,
                "hazard_model": "exponential PFS; hazard ratio hr_both for group 1 (more hypoxic by both true "
                                "markers) against groups 2-4",
                "lambda0_per_month": -np.log(settings.pfs60_reference) / HORIZON_MONTHS,
                "signature_split": f"{SPLIT_FILE}: {min(TRAINING_PATIENTS, len(patients) // 2)} patients drawn at "
                                   "random are marked training (validation 0), as if the signature had been built "
                                   "on them (the paper's 41); the synthetic signature was fitted on no patient, so "
                                   "training and validation differ only by chance"}, out_dir / "truth.json")
    return out_dir


def write_split(path: Path, patients: Sequence[SyntheticPatient], seed: int) -> Path:
    """The training/validation mark of every patient: 41 (at most half the patients) drawn as 'training' with a
    generator of its own (seeded from ``seed``), so that every other draw of the cohort is unchanged."""
    rng = np.random.default_rng([seed, TRAINING_PATIENTS])
    training = set(rng.choice(len(patients), size=min(TRAINING_PATIENTS, len(patients) // 2), replace=False).tolist())
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patient", SPLIT_COLUMN])
        for index, p in enumerate(patients):
            writer.writerow([p.patient, 0 if index in training else 1])
    return path


def _write_patient_phantom(job) -> str:
    from ..imaging.phantom import make_phantom, write_phantom

    folder, patient, settings = job
    if (folder / "truth" / "truth.json").is_file():
        return patient.patient  # already written (an interrupted demo resumes)
    radii = tuple(r * patient.radius_scale for r in settings.tumour_radii_mm)
    phantom = make_phantom(seed=patient.phantom_seed, noise=settings.noise,
                           hypoxic_fraction=patient.hypoxic_fraction_target, clustering_mm=patient.clustering_mm,
                           clustering_si_mm=settings.clustering_si_mm if patient.clustering_mm > 0 else None,
                           size=tuple(settings.phantom_size), tumour_radii_mm=radii)
    write_phantom(phantom, folder)
    return patient.patient


def _read_phantom_truth(folder: Path) -> dict:
    import json

    return json.loads((folder / "truth" / "truth.json").read_text())
