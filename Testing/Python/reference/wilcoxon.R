# Reference values for groups.wilcoxon_rank_sum: R's wilcox.test with the normal approximation and continuity
# correction (exact = FALSE, correct = TRUE), the more hypoxic-like group first.
# Run: Rscript wilcoxon.R > wilcoxon.json   (R 4.2, from this folder; reads lung.csv written by make_reference.R)
lung <- read.csv("lung.csv")
cases <- list(
  list(name = "age_by_sex", values = lung$age, high = lung$sex == 2),
  list(name = "karno_by_ecog", values = lung$ph.karno, high = !is.na(lung$ph.ecog) & lung$ph.ecog >= 1),
  list(name = "wtloss_by_inst_small", values = lung$wt.loss, high = !is.na(lung$inst) & lung$inst < 10)
)
out <- sapply(cases, function(case) {
  keep <- !is.na(case$values)
  x <- case$values[keep & case$high]
  y <- case$values[keep & !case$high]
  t <- wilcox.test(x, y, exact = FALSE, correct = TRUE)
  sprintf('"%s": {"W": %.17g, "p": %.17g, "n_high": %d, "n_low": %d}', case$name, unname(t$statistic),
          t$p.value, length(x), length(y))
})
cat("{\n  ", paste(out, collapse = ",\n  "), "\n}\n", sep = "")
