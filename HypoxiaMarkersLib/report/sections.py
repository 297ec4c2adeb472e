"""The sections of the report other than Survival (:mod:`.survival_section`): Overview, Imaging, Genes,
Heterogeneity, Patients, Parameters; and :data:`SECTIONS`, their order on the page."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Tuple

import numpy as np
import pandas as pd

from .. import __version__
from ..rules import GENE_SCORE_CUTOFF, PATCH_SIZE, at_or_above
from .batch_folder import BatchFolder
from .batch_folder import is_finite_number as _finite
from .context import MARKER_TITLES, MARKERS, Context, batch_dict, flatten, stage_note
from .fit_quality import fit_quality_table
from .formats import DASH, fmt_frac, fmt_int, fmt_num, fmt_p, hr_text, p_text
from .survival_section import section_survival
from .truth_section import section_truth
from .tumour_section import biopsy_score_picture, clustering_maps, slice_pictures

if TYPE_CHECKING:
    from .page import Page

def _section_overview(page: Page, ctx: Context) -> None:
    batch = ctx.batch
    page.start("overview", "Overview")
    if batch.synthetic:
        page.add('<p class="key"><strong>Synthetic data.</strong> This batch analysed a synthetic cohort (batch.json: '
                 'synthetic = true, written by the demo), not patients; its truth is known and compared with what '
                 'was recovered in the section "Synthetic data: recovered against true values".</p>')
    facts = [("Data", "synthetic (demo)" if batch.synthetic else "as given (not marked synthetic)"),
             ("Patients with image results (patients/)", str(len(batch.images)))]
    for name, value in batch_dict(batch, "counts").items():
        facts.append((f"batch.json: {str(name).replace('_', ' ')}", fmt_int(value) if _finite(value) else str(value)))
    if batch.cohort_table is not None:
        facts.append(("Patients in cohort_table.csv", str(len(batch.cohort_table))))
    cohort = batch.cohort
    if cohort is not None:
        imaging = cohort.get("imaging", {})
        facts.append(("Patients in the cohort statistics", f"{fmt_int(cohort.get('n'))} "
                      f"({fmt_int(imaging.get('events'))} events; {fmt_int((cohort.get('excluded') or {}).get('n'))}"
                      " excluded for missing values)"))
        for name in MARKERS:
            entry = cohort.get(name) or {}
            facts.append((f"HR for PFS, {MARKER_TITLES[name]}", f"{hr_text(entry)}; {p_text(entry)}"))
    if batch.seed is not None:
        facts.append(("Batch seed", str(batch.seed)))
    page.table(["", ""], facts, table_id="table-overview")
    if batch.batch is None:
        page.missing(f"batch.json: {batch.notes.get('batch', 'not found')}; batch parameters and timings are unknown")
    if batch.failures is None:
        page.missing(f"failures.csv: {batch.notes.get('failures', 'not found')}")
    elif len(batch.failures):
        page.heading("Failures")
        columns = [c for c in ("patient", "stage", "error") if c in batch.failures.columns] or \
            list(batch.failures.columns)
        page.table(columns, batch.failures[columns].astype(str).to_numpy().tolist(), table_id="table-failures",
                   caption=f"{len(batch.failures)} failure(s) during the batch run (failures.csv)")
    else:
        page.text("No patient failed (failures.csv has no rows).")
    if "patients_unreadable" in batch.notes:
        page.missing(f"unreadable image results: {batch.notes['patients_unreadable']}")
    stages = batch_dict(batch, "stages")
    timings = batch_dict(batch, "timings_s", "timings")
    if stages or timings:
        page.heading("Stages of the batch run")
        names = list(dict.fromkeys(list(timings) + list(stages)))
        page.table(["stage", "status", "time (s)"],
                   [[name, str(stages.get(name, DASH)), fmt_num(timings.get(name), 3)] for name in names],
                   table_id="table-stages")


def _image_tables(batch: BatchFolder) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """All patients' slices (with an HF) and one row per patient (whole-tumour and biopsy-slice HF)."""
    slice_frames, tumour_rows = [], []
    for patient, image in batch.images.items():
        table = image.slices.copy()
        with np.errstate(invalid="ignore", divide="ignore"):
            table["hypoxic_fraction"] = table["hypoxic"] / table["fitted"].where(table["fitted"] > 0)
        table.insert(0, "patient", patient)
        slice_frames.append(table)
        summary = image.summary
        biopsy = summary.get("biopsy_slice") or {}
        tumour_rows.append({"patient": patient, "hypoxic_fraction": summary.get("hypoxic_fraction"),
                            "biopsy_slice_hf": biopsy.get("hypoxic_fraction"), "biopsy_slice": biopsy.get("slice"),
                            "n_tumour_voxels": summary.get("n_tumour_voxels"), "n_failed": summary.get("n_failed"),
                            "tumour_volume_ml": summary.get("tumour_volume_ml")})
    slices = pd.concat(slice_frames, ignore_index=True) if slice_frames else pd.DataFrame()
    tumours = pd.DataFrame(tumour_rows)
    for column in ("hypoxic_fraction", "biopsy_slice_hf"):
        if column in tumours:
            tumours[column] = pd.to_numeric(tumours[column], errors="coerce")
    return slices, tumours


def _section_imaging(page: Page, ctx: Context) -> None:
    from scipy import stats

    from .figures import plot_biopsy_vs_tumour, plot_slice_fractions

    page.start("imaging", "Imaging: hypoxic fractions of tumours and slices")
    batch = ctx.batch
    if not batch.images:
        page.missing(f"patients/: {batch.notes.get('patients', 'not found')}. Per-slice hypoxic fractions and the "
                     "example patient's maps need the image results of each patient.")
    slices, tumours = _image_tables(batch) if batch.images else (pd.DataFrame(), pd.DataFrame())
    cutoff = ctx.hf_cutoff
    if len(tumours):
        hf = tumours["hypoxic_fraction"].to_numpy(dtype=float)
        more = at_or_above(hf, cutoff)
        page.table(["", ""], [
            ["tumours", str(len(tumours))],
            ["hypoxic fraction, median (range)", f"{fmt_frac(np.nanmedian(hf))} ({fmt_frac(np.nanmin(hf))} to "
                                                 f"{fmt_frac(np.nanmax(hf))})"],
            [f"more hypoxic (HF ≥ {cutoff:g})", f"{int(np.sum(more))} ({np.mean(more):.0%})"],
            ["tumour slices with a fit", str(int(slices['hypoxic_fraction'].notna().sum()))],
            ["voxels whose fit failed (all tumours)", fmt_int(pd.to_numeric(tumours["n_failed"]).sum())],
            ["parameters", ctx.a_text() + f"; HF cutoff {', '.join(f'{c:g}' for c in ctx.hf_cutoffs)}"],
        ], table_id="table-imaging")
        fit_quality_table(page, batch.images)
        used = slices[slices["hypoxic_fraction"].notna()]
        n_slices = used.groupby("patient").size()
        caption = (f"Hypoxic fraction (HF) of every tumour slice with fitted voxels ({len(used)} slices of "
                   f"{len(tumours)} tumours, {int(n_slices.min())}–{int(n_slices.max())} per tumour), one column per "
                   f"patient, patients ordered by whole-tumour HF (black bar); red diamond: the biopsy slice "
                   f"(slice {_biopsy_numbers(tumours)} counted from caudal); grey line: range of the tumour's slices; "
                   f"dashed: cutoff HF = {cutoff:g}. Hypoxic voxels: {ctx.a_text() or 'threshold unknown'}."
                   + ctx.seed_text)
        page.figure("slice_fractions", "Hypoxic fraction per slice and patient", caption,
                    lambda path: plot_slice_fractions(used, tumours, path, hf_cutoff=cutoff))
        slice_pictures(page, ctx, used, tumours)
    # Biopsy slice vs whole tumour: the cohort table when it has both columns, else the image results.
    pairs, source = _biopsy_pairs(batch, tumours)
    if pairs is not None and len(pairs) >= 2:
        x = pairs["hypoxic_fraction"].to_numpy(dtype=float)
        y = pairs["biopsy_slice_hf"].to_numpy(dtype=float)
        same = at_or_above(x, cutoff) == at_or_above(y, cutoff)
        r_text = ""
        if len(pairs) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            r, p = stats.pearsonr(x, y)
            r_text = f"Pearson r = {fmt_frac(r)} (p = {fmt_p(p)})"
        caption = (f"HF of the biopsy slice against HF of the whole tumour for n = {len(pairs)} tumours ({source}). "
                   f"Dashed: cutoff HF = {cutoff:g}; grey: identity. {int(same.sum())} of {len(pairs)} biopsy slices "
                   f"({np.mean(same):.0%}) have the whole tumour's status. " + (r_text + "." if r_text else "")
                   + ctx.seed_text)
        page.figure("biopsy_slice_vs_tumour", "Biopsy slice against whole tumour", caption,
                    lambda path: plot_biopsy_vs_tumour(y, x, path, hf_cutoff=cutoff, annotation=r_text))
    elif not batch.images:
        page.missing("no biopsy-slice hypoxic fractions (cohort_table.csv without biopsy_slice_hf and no image "
                     "results)")
    if batch.images:
        _example_patient(page, ctx, tumours)


def _biopsy_numbers(tumours: pd.DataFrame) -> str:
    numbers = sorted({int(s) for s in pd.to_numeric(tumours["biopsy_slice"], errors="coerce").dropna()})
    return ", ".join(str(s) for s in numbers) or DASH


def _biopsy_pairs(batch: BatchFolder, tumours: pd.DataFrame) -> Tuple[Optional[pd.DataFrame], str]:
    table = batch.cohort_table
    if table is not None and {"hypoxic_fraction", "biopsy_slice_hf"} <= set(table.columns):
        pairs = table[["hypoxic_fraction", "biopsy_slice_hf"]].apply(pd.to_numeric, errors="coerce").dropna()
        return pairs, "cohort_table.csv"
    if len(tumours):
        return tumours[["hypoxic_fraction", "biopsy_slice_hf"]].dropna(), "image results in patients/"
    return None, ""


def _example_patient(page: Page, ctx: Context, tumours: pd.DataFrame) -> None:
    from ..io.volumes import find_volume, read_volume
    from .figures import choose_slices, plot_patient_maps
    from .tumour_figures import background_on_grid

    batch = ctx.batch
    page.heading("Example patient")
    needed = ("a_brix", "hypoxic_mask", "tumour_mask")
    candidates = tumours[[all(find_volume(batch.images[p].folder, f).is_file() for f in needed)
                          for p in tumours["patient"]]]
    candidates = candidates[candidates["hypoxic_fraction"].notna()]
    if candidates.empty:
        page.missing("no patient folder holds a_brix.nrrd, hypoxic_mask.nrrd and tumour_mask.nrrd")
        return
    # The patient whose HF is nearest the cohort's median: a typical tumour, chosen the same way every time.
    median = float(tumours["hypoxic_fraction"].median())
    order = (candidates["hypoxic_fraction"] - median).abs().to_frame("d").assign(p=candidates["patient"].astype(str))
    patient = str(candidates.loc[order.sort_values(["d", "p"]).index[0], "patient"])
    image = batch.images[patient]
    folder = image.folder
    a_brix, geometry = read_volume(find_volume(folder, "a_brix"))
    hypoxic, _ = read_volume(find_volume(folder, "hypoxic_mask"))
    tumour, _ = read_volume(find_volume(folder, "tumour_mask"))
    background, background_name = background_on_grid(folder, geometry)
    table = image.slices
    biopsy_rows = table[table["is_biopsy_slice"].astype(bool)]
    biopsy = int(biopsy_rows["slice"].iloc[0]) if len(biopsy_rows) else None
    shown = choose_slices(table["slice"].tolist(), biopsy)
    k_of = dict(zip(table["slice"].astype(int), table["k_index"].astype(int)))
    summary = image.summary
    a_threshold = image.a_threshold
    fractions = table["hypoxic"] / table["fitted"].where(table["fitted"] > 0)
    slice_hf = {int(s): h for s, h in zip(table["slice"], fractions)}
    caption = (f"Patient {patient} (whole-tumour HF {fmt_frac(summary.get('hypoxic_fraction'))}, the tumour nearest "
               f"the cohort's median HF {fmt_frac(median)}): A_Brix map (top; warm colours below the threshold "
               f"{a_threshold:g}) and hypoxic voxels (bottom; red: A_Brix < {a_threshold:g}, blue: not hypoxic, "
               f"yellow: fit failed) on tumour slices {', '.join(str(s) for s in shown)} of {len(table)} "
               f"(1 = most caudal), "
               f"cropped around the tumour; {'white' if background is not None else 'black'} line: tumour outline. "
               f"The biopsy slice (slice {biopsy}, HF "
               f"{fmt_frac(slice_hf.get(biopsy))}) has a red frame. "
               + (f"Background: {background_name}. " if background is not None
                  else "No anatomical image in the patient's folder: grey background. ")
               + f"Pixel size {geometry.spacing[0]:.2g} × {geometry.spacing[1]:.2g} mm, slice thickness "
               f"{geometry.spacing[2]:.2g} mm." + ctx.seed_text)
    page.figure("example_patient_maps", f"A_Brix and hypoxia maps of patient {patient}", caption,
                lambda path: plot_patient_maps(
                    a_brix, hypoxic > 0, tumour > 0, path, slices=[(s, k_of[s]) for s in shown], biopsy_slice=biopsy,
                    spacing_ij=(geometry.spacing[0], geometry.spacing[1]), a_threshold=a_threshold,
                    background=background, background_name=background_name, title=f"Patient {patient}"))


def _section_genes(page: Page, ctx: Context) -> None:
    from .figures import plot_gene_scores

    page.start("genes", "Genes: 6-gene hypoxia score")
    batch = ctx.batch
    scores = batch.gene_scores
    if scores is None:
        page.missing(f"genes/scores.csv: {batch.notes.get('genes', 'not found')}. The gene section needs the genes "
                     "command's per-sample output.")
        return
    if "hypoxia_score" not in scores:
        page.missing("genes/scores.csv has no hypoxia_score column")
        return
    values = pd.to_numeric(scores["hypoxia_score"], errors="coerce")
    if not np.isfinite(values.to_numpy(dtype=float)).any():
        page.missing("genes/scores.csv has no sample with a score")
        return
    cohort_cutoff = ((batch.cohort or {}).get("genes") or {}).get("cutoff", {}).get("value")
    sample_cutoff = ((batch.gene_results or {}).get("parameters") or {}).get("cutoff")
    sample_cutoff = float(sample_cutoff) if _finite(sample_cutoff) else \
        float(cohort_cutoff) if _finite(cohort_cutoff) else GENE_SCORE_CUTOFF
    classes = scores["classification"].astype(str).value_counts() if "classification" in scores else pd.Series()
    rows = [["samples scored", str(int(values.notna().sum()))],
            ["samples without a score", str(int(values.isna().sum()))],
            ["score, median (range)", f"{fmt_num(values.median())} ({fmt_num(values.min())} to "
                                      f"{fmt_num(values.max())})"]]
    rows += [[f"samples classified '{name}'", str(int(count))] for name, count in classes.items()]
    if batch.gene_patients is not None and "n_biopsies" in batch.gene_patients:
        patients = batch.gene_patients
        rows.append(["patients (biopsies grouped)", str(len(patients))])
        rows.append(["biopsies per patient, range", f"{fmt_int(patients['n_biopsies'].min())} to "
                                                    f"{fmt_int(patients['n_biopsies'].max())}"])
    page.table(["", ""], rows, table_id="table-genes")
    caption = (f"Distribution of the 6-gene hypoxia score over {int(values.notna().sum())} samples (genes/scores.csv); "
               f"dashed: the classification cutoff {sample_cutoff:g} (score ≥ cutoff: more hypoxic, red). "
               + (f"The cohort statistics used the gene cutoff {float(cohort_cutoff):g}. "
                  if _finite(cohort_cutoff) and float(cohort_cutoff) != sample_cutoff else "")
               + ctx.seed_text.strip())
    page.figure("gene_scores", "Gene score distribution", caption.strip(),
                lambda path: plot_gene_scores(values.to_numpy(dtype=float), path, cutoff=sample_cutoff))
    biopsy_score_picture(page, ctx, scores, sample_cutoff)


def _variance_row(name: str, section: dict) -> Tuple[Optional[List[str]], str]:
    vc = section.get("variance_components") or {}
    if not vc or "not_computed" in vc:
        return None, f"{name}: W/T not computed ({vc.get('not_computed', 'no result')})"
    ci = (vc.get("confidence_interval") or {}).get("Wk_over_T") or {}
    level = (vc.get("confidence_interval") or {}).get("level")
    wk = vc.get("Wk_over_T") or {}

    def with_ci(k: str) -> str:
        bounds = ci.get(k)
        return fmt_frac(wk.get(k)) + (f" ({fmt_frac(bounds[0])}{DASH}{fmt_frac(bounds[1])})" if bounds else "")

    return [name, vc.get("transform", section.get("parameters", {}).get("transform", DASH)),
            fmt_int(vc.get("n_tumours")), fmt_int(vc.get("n_samples")), fmt_num(vc.get("W")), fmt_num(vc.get("B")),
            fmt_num(vc.get("T"))] + [with_ci(k) for k in ("1", "2", "3", "4")], (
        f"{level:.0%} intervals: {(vc.get('confidence_interval') or {}).get('description', '')}" if level else "")


def _section_heterogeneity(page: Page, ctx: Context) -> None:
    from .clustering_figure import plot_clustering

    page.start("heterogeneity", "Heterogeneity: slices, biopsies, virtual biopsies")
    batch = ctx.batch
    het = batch.heterogeneity
    if het is None:
        page.missing(f"heterogeneity/heterogeneity.json: {batch.notes.get('heterogeneity', 'not found')}. Variance "
                     "components and the clustering of hypoxia need the heterogeneity command's output."
                     + stage_note(batch, "heterogeneity"))
        return
    rows, notes, ci_notes = [], [], set()
    for key, name in (("slices", "slices (imaging HF)"), ("biopsies", "biopsies (gene score)"),
                      ("virtual_biopsies", "virtual biopsies (imaging HF)"), ("values", "other values")):
        if key not in het:
            if key != "values":
                notes.append(f"{name}: not analysed")
            continue
        row, note = _variance_row(name, het[key])
        if row is None:
            notes.append(note)
        else:
            rows.append(row)
            if note:
                ci_notes.add(note)
    if rows:
        page.table(["samples", "transform", "tumours", "samples (N)", "W", "B", "T", "W/T", "W2/T", "W3/T", "W4/T"],
                   rows, table_id="table-variance",
                   caption="Random-effects one-way ANOVA (method of moments, unbalanced): W within tumours, B between "
                           "tumours, T = W + B; Wk/T = (W/k) / (W/k + B) is the within-tumour share when a tumour's "
                           "value is the mean of k samples. " + " ".join(sorted(ci_notes)))
    for note in notes:
        page.missing(note)
    facts = []
    slices = het.get("slices") or {}
    if slices:
        corr = slices.get("biopsy_slice_vs_tumour") or {}
        facts += [["slices with their tumour's status", f"{fmt_frac(slices.get('share_of_slices_with_tumour_status'))}"
                   f" ({fmt_int(slices.get('n_slices_with_tumour_status'))} of {fmt_int(slices.get('n_slices'))})"],
                  ["biopsy slice vs tumour, Pearson r", f"{fmt_frac(corr.get('pearson_r'))} "
                                                        f"(p = {fmt_p(corr.get('pearson_p'))})"]]
    biopsies = het.get("biopsies") or {}
    if biopsies:
        facts.append(["tumours whose biopsies agree", fmt_frac(biopsies.get("share_of_tumours_whose_biopsies_agree"))])
    virtual = het.get("virtual_biopsies") or {}
    clustering = virtual.get("clustering") or {}
    if virtual:
        facts.append(["virtual biopsies (used)", f"{fmt_int(virtual.get('n_virtual_biopsies'))} "
                                                 f"({fmt_int(virtual.get('n_virtual_biopsies_used'))})"])
        facts.append(["clustering: more / less", f"{fmt_int(clustering.get('n_more_clustering'))} / "
                                                 f"{fmt_int(clustering.get('n_less_clustering'))}"
                      if "not_computed" not in clustering else f"not computed ({clustering['not_computed']})"])
    if facts:
        page.table(["", ""], facts, table_id="table-heterogeneity")
    tumours = batch.heterogeneity_tables.get("virtual_biopsy_tumours.csv")
    curves = batch.heterogeneity_tables.get("clustering_curves.csv")
    if tumours is None or curves is None:
        page.missing("virtual_biopsy_tumours.csv or clustering_curves.csv not in heterogeneity/: no figure of the "
                     "clustering of hypoxia")
        return
    params = virtual.get("parameters") or {}
    labels = tumours["clustering"].fillna("").astype(str) if "clustering" in tumours else pd.Series([""])
    n_sd = int(pd.to_numeric(tumours["sd_hypoxic_fraction"], errors="coerce").notna().sum())
    gam = ("" if "not_computed" in clustering else
           f" Black: GAM SD ~ s(HF) over {fmt_int(clustering.get('n_tumours'))} tumours (cubic B-splines, "
           f"{fmt_int(clustering.get('basis_size'))} basis functions, smoothing by GCV, edf "
           f"{fmt_num(clustering.get('edf'))}); red: more clustering (above the curve, n = "
           f"{int((labels == 'more clustering').sum())}), blue: less clustering (n = "
           f"{int((labels == 'less clustering').sum())}).")
    threshold = params.get("a_threshold")
    caption = (f"SD of the hypoxic fractions of the virtual biopsies of each tumour against the HF of the slice they "
               f"were drawn in, for {n_sd} tumours: {params.get('patch_size', PATCH_SIZE)}-voxel patches, "
               f"{params.get('n_biopsies_per_tumour', f'floor(N/{PATCH_SIZE})')} per tumour, "
               f"seed {params.get('seed')}, "
               + (f"A_Brix threshold {threshold}" if threshold is not None else "each patient's A_Brix threshold")
               + "." + gam + " Dashed: one compact hypoxic region, sqrt(HF(1 − HF)); dotted: randomly scattered "
               f"hypoxic voxels (hypergeometric, N = {fmt_num(virtual.get('reference_curves_n_voxels'))} voxels)."
               + ctx.seed_text)
    page.figure("virtual_biopsy_sd", "Clustering of hypoxia: virtual-biopsy SD against HF", caption,
                lambda path: plot_clustering(tumours.assign(clustering=labels), curves, path))
    clustering_maps(page, ctx, tumours)


def _section_patients(page: Page, ctx: Context) -> None:
    page.start("patients", "Patients")
    batch = ctx.batch
    table = batch.cohort_table
    if table is None:
        page.missing(f"cohort_table.csv: {batch.notes.get('cohort_table', 'not found')}")
        return
    shown = table.copy()
    cohort_patients = batch.cohort_patients
    if cohort_patients is not None and "id" in cohort_patients and "patient" in shown:
        extra = cohort_patients[[c for c in ("id", "group", "hscomp") if c in cohort_patients]]
        extra = extra.rename(columns={"id": "patient"}).astype({"patient": str})
        shown = shown.astype({"patient": str}).merge(extra, on="patient", how="left")
    rows = [[DASH if pd.isna(v) else fmt_num(v, 4) if isinstance(v, (float, np.floating)) else str(v) for v in row]
            for row in shown.itertuples(index=False)]
    page.details(f"cohort_table.csv with group and HScomp from the cohort statistics ({len(shown)} patients)",
                 lambda: page.table(list(shown.columns), rows, table_id="table-patients"))
    _quicklook_links(page, ctx)


def _quicklook_links(page: Page, ctx: Context) -> None:
    """A link to each patient's ``quicklook.png`` (written by ``image``), relative to the report's folder."""
    import os

    items = []
    for patient, image in sorted(ctx.batch.images.items()):
        path = Path(image.folder) / "quicklook.png"
        if path.is_file():
            relative = os.path.relpath(path.absolute(), Path(ctx.out_dir).absolute())
            items.append((str(patient), Path(relative).as_posix()))
    if items:
        page.details(f"quick-look figure of each patient ({len(items)}: slices with A_Brix and hypoxic voxels, mean "
                     "curve and fit, fit-quality counts)", lambda: page.links(items, list_id="quicklook-links"))


def _section_parameters(page: Page, ctx: Context) -> None:
    page.start("parameters", "Parameters and provenance")
    batch = ctx.batch
    rows = [["report written by", f"HypoxiaMarkersLib {__version__}"], ["batch folder", str(batch.path)],
            ["report folder", str(ctx.out_dir)]]
    page.table(["", ""], rows, table_id="table-provenance")
    for title, data in (("batch.json", batch.batch), ("cohort statistics (cohort/results.json)",
                                                      (batch.cohort or {}).get("parameters")),
                        ("heterogeneity (heterogeneity/heterogeneity.json)",
                         (batch.heterogeneity or {}).get("parameters"))):
        if data:
            flat = flatten(data)
            page.details(f"{title}: {len(flat)} entries", lambda flat=flat: page.table(["parameter", "value"], flat))
    if batch.images:
        first = next(iter(batch.images.values()))
        flat = flatten(first.summary.get("parameters", {}))
        page.details(f"imaging parameters (patients/{first.patient}/summary.json)",
                     lambda: page.table(["parameter", "value"], flat))


SECTIONS = (_section_overview, section_truth, section_survival, _section_imaging, _section_genes,
            _section_heterogeneity, _section_patients, _section_parameters)
