# Reference values for HypoxiaMarkersLib.variance (random-effects one-way ANOVA, method of moments).
# Run from this folder:  Rscript variance_components.R
# Writes the grouped data sets it uses (so the Python tests need no R) and aov_moment_estimates.csv.
#
# W = MSW and B = (MSB - MSW) / n0 (truncated at 0), n0 = (N - sum(n_i^2) / N) / (k - 1), with MSW and MSB
# taken from R's aov() ANOVA table (Searle, Casella & McCulloch 1992, section 3.5).

moments <- function(name, y, g) {
  g <- factor(g)
  fit <- aov(y ~ g)
  tab <- summary(fit)[[1]]
  msb <- tab[["Mean Sq"]][1]
  msw <- tab[["Mean Sq"]][2]
  n_i <- as.vector(table(g))
  N <- sum(n_i)
  k <- length(n_i)
  n0 <- (N - sum(n_i^2) / N) / (k - 1)
  B <- max((msb - msw) / n0, 0)
  W <- msw
  # Normal-theory 95% interval of rho = B / T from F = MSB / MSW ~ (1 + n0 rho / (1 - rho)) F(k - 1, N - k),
  # mapped to W/T = 1 - rho (Searle, Casella & McCulloch 1992, 3.5d; n0 for unbalanced groups).
  F <- msb / msw
  f_upper <- qf(0.975, k - 1, N - k)
  f_lower <- qf(0.025, k - 1, N - k)
  rho_low <- min(max((F / f_upper - 1) / (F / f_upper + n0 - 1), 0), 1)
  rho_high <- min(max((F / f_lower - 1) / (F / f_lower + n0 - 1), 0), 1)
  data.frame(dataset = name, n_tumours = k, n_samples = N, df_between = tab[["Df"]][1],
             df_within = tab[["Df"]][2], MSB = msb, MSW = msw, n0 = n0, W = W, B = B, T = W + B,
             W_over_T = W / (W + B), W2_over_T = (W / 2) / (W / 2 + B), W4_over_T = (W / 4) / (W / 4 + B),
             W_over_T_F_low = 1 - rho_high, W_over_T_F_high = 1 - rho_low)
}

# chickwts: chick weight (g) after six weeks on one of 6 feeds; unbalanced (10 to 14 chicks per feed).
chick <- data.frame(tumour = as.character(datasets::chickwts$feed), value = datasets::chickwts$weight)
# InsectSprays: insect counts for 6 sprays, balanced (12 per spray).
insect <- data.frame(tumour = as.character(datasets::InsectSprays$spray), value = datasets::InsectSprays$count)
# A strongly unbalanced subset of chickwts: group sizes 1, 2, 3, 5, 10, 14 (a single-sample group included).
sizes <- c(casein = 1, horsebean = 2, linseed = 3, meatmeal = 5, soybean = 14, sunflower = 10)
subset_rows <- unlist(lapply(names(sizes), function(f) which(chick$tumour == f)[seq_len(sizes[[f]])]))
chick_unbalanced <- chick[subset_rows, ]

write.csv(chick, "chickwts.csv", row.names = FALSE)
write.csv(insect, "insectsprays.csv", row.names = FALSE)
write.csv(chick_unbalanced, "chickwts_unbalanced.csv", row.names = FALSE)

out <- rbind(moments("chickwts", chick$value, chick$tumour),
             moments("insectsprays", insect$value, insect$tumour),
             moments("chickwts_unbalanced", chick_unbalanced$value, chick_unbalanced$tumour))
exact <- out
exact[] <- lapply(out, function(x) if (is.numeric(x)) sprintf("%.17g", x) else x)
write.csv(exact, "aov_moment_estimates.csv", row.names = FALSE, quote = FALSE)
print(out)
cat(R.version.string, "\n")
