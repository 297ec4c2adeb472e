# Reference values for stats/disagreement.py, stats/cell_fraction.py, stats/validation.py and the cohort stage's
# issue-12 keys: base R's fisher.test, wilcox.test (its defaults: exact p below 50 values per group without ties,
# else the normal approximation with continuity correction), kruskal.test, prop.trend.test, p.adjust("holm"),
# cor.test (Pearson) and lm.
# Run from this folder (R 4.2.2):   Rscript disagreement.R > disagreement.json
# Inputs: small_cohort.csv (40 synthetic patients, committed) and demo_cohort_table.csv (the cohort table of
# `hypoxia-markers demo` with its default settings, seed 0, 118 patients).
num <- function(x) if (is.null(x) || length(x) == 0 || is.na(x)) "null" else sprintf("%.17g", x)
fisher <- function(tab) {
  f <- fisher.test(tab)
  sprintf('{"p": %s, "odds_ratio": %s, "ci_low": %s, "ci_high": %s}', num(f$p.value), num(unname(f$estimate)),
          num(f$conf.int[1]), num(f$conf.int[2]))
}
wilcox <- function(x, y) {
  w <- suppressWarnings(wilcox.test(x, y))
  sprintf('{"W": %s, "p": %s, "method": "%s"}', num(unname(w$statistic)), num(w$p.value), w$method)
}
pearson <- function(x, y) {
  t <- cor.test(x, y); fit <- lm(y ~ x)
  sprintf('{"r": %s, "p": %s, "intercept": %s, "slope": %s}', num(unname(t$estimate)), num(t$p.value),
          num(coef(fit)[1]), num(coef(fit)[2]))
}
analyse <- function(d, hf_cut, gene_cut, volume_col, extra) {
  ih <- d$hypoxic_fraction >= hf_cut; gh <- d$gene_score >= gene_cut
  group <- ifelse(ih & gh, 1, ifelse(gh, 2, ifelse(ih, 4, 3)))
  same <- ih == gh
  out <- c()
  # discordant (groups 2 + 4) among imaging-more vs imaging-less
  tab <- rbind(c(sum(!same & ih), sum(same & ih)), c(sum(!same & !ih), sum(same & !ih)))
  out["inconsistency_fisher"] <- fisher(tab)
  v <- d[[volume_col]]
  out["volume_group1_vs_others"] <- wilcox(v[group == 1], v[group != 1])
  k <- kruskal.test(v[group != 1], factor(group[group != 1]))
  out["volume_kruskal_2_to_4"] <- sprintf('{"H": %s, "df": %s, "p": %s}', num(unname(k$statistic)),
                                          num(unname(k$parameter)), num(k$p.value))
  pairs <- list(c(2, 3), c(2, 4), c(3, 4))
  ps <- sapply(pairs, function(p) suppressWarnings(wilcox.test(v[group == p[1]], v[group == p[2]]))$p.value)
  for (i in seq_along(pairs)) {
    out[sprintf("volume_%d_vs_%d", pairs[[i]][1], pairs[[i]][2])] <-
      sub("}$", sprintf(', "p_holm": %s}', num(p.adjust(ps, "holm")[i])),
          wilcox(v[group == pairs[[i]][1]], v[group == pairs[[i]][2]]))
  }
  s <- d$biopsy_slice_hf
  out["slice_vs_tumour_pearson"] <- pearson(d$hypoxic_fraction, s)
  sp <- suppressWarnings(cor.test(s, d$gene_score, method = "spearman", exact = FALSE))
  out["slice_vs_genes_spearman_rho"] <- num(unname(sp$estimate))
  same_slice <- (s >= hf_cut) == gh
  out["same_status_fisher"] <- fisher(rbind(c(sum(same), sum(!same)), c(sum(same_slice), sum(!same_slice))))
  nb <- pmin(d$n_biopsies, 4)
  lv <- sort(unique(nb))
  tr <- prop.trend.test(sapply(lv, function(l) sum(same & nb == l)), sapply(lv, function(l) sum(nb == l)), score = lv)
  out["biopsies_trend"] <- sprintf('{"chi2": %s, "p": %s}', num(unname(tr$statistic)), num(tr$p.value))
  one <- nb == 1
  out["biopsies_fisher_one_vs_several"] <- fisher(rbind(c(sum(same & one), sum(!same & one)),
                                                        c(sum(same & !one), sum(!same & !one))))
  out["cell_fraction_pearson"] <- pearson(d$tumour_cell_fraction, d$gene_score)
  if (extra) {
    cl <- d$clustering
    more <- cl == "more clustering"; less <- cl == "less clustering"
    out["clustering_fisher"] <- fisher(rbind(c(sum(same & more), sum(!same & more)),
                                             c(sum(same & less), sum(!same & less))))
    for (set in c("training", "validation")) {
      keep <- if (set == "validation") d$validation == 1 else d$validation == 0
      t2 <- rbind(c(sum(ih & gh & keep), sum(ih & !gh & keep)), c(sum(!ih & gh & keep), sum(!ih & !gh & keep)))
      out[sprintf("%s_fisher", set)] <- fisher(t2)
      out[sprintf("%s_pearson", set)] <- pearson(d$hypoxic_fraction[keep], d$gene_score[keep])
    }
  }
  paste0("{\n    ", paste(sprintf('"%s": %s', names(out), out), collapse = ",\n    "), "\n  }")
}
small <- read.csv("small_cohort.csv", stringsAsFactors = FALSE)
small$clustering[is.na(small$clustering)] <- ""
demo <- read.csv("demo_cohort_table.csv")
cat("{\n  \"small_exact\": ", analyse(small, 0.27, 0, "tumour_volume_ml", TRUE),
    ",\n  \"small_tied\": ", analyse(small, 0.27, 0, "volume_tied", FALSE),
    ",\n  \"demo\": ", analyse(demo, 0.27, 0, "tumour_volume_ml", FALSE), "\n}\n", sep = "")
