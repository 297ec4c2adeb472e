"""The per-tumour pictures (:mod:`.tumour_figures`) placed in the Imaging, Genes and Heterogeneity sections, with
captions saying what is drawn and how the tumours shown were chosen."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .context import Context
from .formats import fmt_num
from .tumour_figures import (
    biopsy_scores,
    biopsy_slice_map,
    clustering_extremes,
    most_heterogeneous,
    plot_binary_maps,
    plot_biopsy_scores,
    plot_slice_classification,
    plot_slice_profiles,
    slice_classification,
)

if TYPE_CHECKING:
    from .page import Page

PROFILES = 4  # tumours in the slice-by-slice HF figure
EXTREMES = 3  # most and least clustered tumours in the binary maps


def _groups(ctx: Context) -> dict:
    patients = ctx.batch.cohort_patients
    if patients is None or not {"id", "group"} <= set(patients.columns):
        return {}
    group = pd.to_numeric(patients["group"], errors="coerce")
    return {str(p): int(g) for p, g in zip(patients["id"], group) if np.isfinite(g)}


def slice_pictures(page: Page, ctx: Context, slices: pd.DataFrame, tumours: pd.DataFrame) -> None:
    """Slice-by-slice classification of every tumour (Fig. 3C) and HF per slice of the most heterogeneous (3B)."""
    from ..stats.groups import GROUP_NAMES

    cutoff = ctx.hf_cutoff
    groups = _groups(ctx)
    data = slice_classification(slices, tumours, cutoff, groups)
    if not data.patients:
        return
    counts = {g: data.groups.count(g) for g in dict.fromkeys(data.groups)}
    names = {str(g): n for g, n in GROUP_NAMES.items()}
    described = "; ".join(f"{'group ' + g + ' (' + names[g] + ')' if g in names else g}: {n}"
                          for g, n in counts.items())
    n_more = int(np.nansum(data.matrix))
    n_cells = int(np.isfinite(data.matrix).sum())
    caption = (f"Every tumour slice classified by its own hypoxic fraction: red more hypoxic (slice HF ≥ {cutoff:g}), "
               f"blue less hypoxic, white no slice or no fitted voxel; one column per tumour ({len(data.patients)} "
               f"tumours, {n_cells} slices, {n_more} more hypoxic), slices from caudal (bottom, slice 1) to cranial. "
               + (f"Tumours grouped by the groups 1–4 of cohort/patients.csv ({described}) and, within each group, "
                  "ordered by whole-tumour HF (lowest first)." if groups else
                  "No groups (cohort/patients.csv missing): tumours ordered by whole-tumour HF (lowest first).")
               + ctx.seed_text)
    page.figure("slice_classification", "Slice-by-slice classification of every tumour", caption,
                lambda path: plot_slice_classification(data, path, hf_cutoff=cutoff, group_names=names))
    chosen = most_heterogeneous(slices, PROFILES)
    if chosen:
        caption = (f"Hypoxic fraction slice by slice (1 = most caudal) of the {len(chosen)} tumours whose slices "
                   f"differ most: the largest SD of the slice HFs among tumours with at least 3 slices with a fit "
                   f"({', '.join(chosen)}). Dotted: each tumour's whole-tumour HF; ringed: the biopsy slice; "
                   f"dashed: cutoff HF = {cutoff:g}." + ctx.seed_text)
        page.figure("slice_profiles", "Hypoxic fraction per slice of the most heterogeneous tumours", caption,
                    lambda path: plot_slice_profiles(slices, tumours, chosen, path, hf_cutoff=cutoff))


def biopsy_score_picture(page: Page, ctx: Context, scores: pd.DataFrame, cutoff: float) -> None:
    """The gene score of each biopsy of the tumours with several (Fig. 4B)."""
    if "patient" not in scores or "sample" not in scores:
        page.missing("genes/scores.csv has no patient column: the biopsies of a tumour cannot be shown together")
        return
    table = biopsy_scores(scores)
    if table.empty:
        page.text("No tumour has more than one scored biopsy.")
        return
    tumours = table.groupby("patient", sort=False)["hypoxia_score"]
    mixed = int(tumours.agg(lambda v: len(set(v >= cutoff)) > 1).sum())
    caption = (f"6-gene hypoxia score of each biopsy of the {tumours.ngroups} tumours with two or more scored "
               f"biopsies ({len(table)} biopsies, genes/scores.csv), tumours ordered by their mean score; red: "
               f"score ≥ cutoff {cutoff:g}, blue: below; grey bar: the tumour's range; dashed: the cutoff. "
               f"{mixed} of {tumours.ngroups} tumours have biopsies on both sides of the cutoff." + ctx.seed_text)
    page.figure("biopsy_scores", "Gene score of each biopsy of tumours with several", caption,
                lambda path: plot_biopsy_scores(table, path, cutoff=cutoff))


def clustering_maps(page: Page, ctx: Context, tumours: pd.DataFrame) -> None:
    """Binary hypoxia maps of the slice of the virtual biopsies for the most and least clustered tumours (4G)."""
    if not {"patient", "k_index", "residual"} <= set(tumours.columns):
        return
    most, least = clustering_extremes(tumours, EXTREMES)
    k_of = dict(zip(tumours["patient"].astype(str), pd.to_numeric(tumours["k_index"], errors="coerce")))
    residual = dict(zip(tumours["patient"].astype(str), pd.to_numeric(tumours["residual"], errors="coerce")))
    images = ctx.batch.images
    from ..io.volumes import find_volume

    needed = ("hypoxic_mask", "tumour_mask")  # as NRRD or NIfTI (--format)
    usable = [p for p in most + least if p in images and np.isfinite(k_of.get(p, np.nan))
              and all(find_volume(images[p].folder, f).is_file() for f in needed)]
    if not usable:
        page.missing("no image results with hypoxic_mask and tumour_mask maps for the most and least "
                     "clustered tumours: no binary hypoxia maps")
        return
    # Read only now, and only these few patients' masks.
    maps = {p: biopsy_slice_map(images[p].folder, p, int(k_of[p])) for p in usable}
    top = [maps[p] for p in most if p in maps]
    bottom = [maps[p] for p in least if p in maps]
    backgrounds = sorted({m.background_name for m in maps.values() if m.background is not None})
    caption = (f"Binary hypoxia maps (red: hypoxic voxel, blue: not hypoxic) of the slice the virtual biopsies were "
               f"drawn in, for the {len(top)} most clustered tumours (top: largest residual above the GAM curve of "
               f"virtual-biopsy SD against slice HF; "
               + ", ".join(f"{m.patient} {fmt_num(residual[m.patient])}" for m in top)
               + f") and the {len(bottom)} least clustered (bottom: most negative residual; "
               + ", ".join(f"{m.patient} {fmt_num(residual[m.patient])}" for m in bottom) + "). "
               + (f"Drawn over {', '.join(backgrounds)} where the patient folder has it; "
                  if backgrounds else "No anatomical image in the patient folders: no background; ")
               + "axes in mm, cropped around the tumour." + ctx.seed_text)
    page.figure("clustering_maps", "Binary hypoxia maps of the most and least clustered tumours", caption,
                lambda path: plot_binary_maps(top, bottom, path))

