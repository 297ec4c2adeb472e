# Reference for the Cox Newton loop's step halving (Testing/Python/test_rules_boundaries.py).
#
# Run from this folder (Debian: r-base-core, r-cran-survival):
#
#     Rscript newton_halving.R
#
# The covariate has one outlier (237.6), so a full Newton step from beta = 0 lowers the partial likelihood
# (-15.556 -> -15.643) and must be halved; coxph's estimate is what the halved search must reach.
# Writes newton_halving.json; numbers with 17 significant digits.
suppressMessages(library(survival))
d <- data.frame(
  time = 1:11,
  event = c(1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1),
  x = c(-1.3, 237.6, -0.1, -0.5, 0.1, -2.3, -0.9, -0.6, -5.8, -0.8, 9.0)
)
fit <- coxph(Surv(time, event) ~ x, data = d, ties = "efron", control = coxph.control(eps = 1e-11, iter.max = 100))
out <- sprintf(paste0('{"R_version": "%s", "survival_version": "%s", "time": [%s], "event": [%s], "x": [%s], ',
                      '"coef": %.17g, "loglik_null": %.17g, "loglik": %.17g}\n'),
               R.version.string, as.character(packageVersion("survival")),
               paste(d$time, collapse = ", "), paste(d$event, collapse = ", "), paste(d$x, collapse = ", "),
               unname(coef(fit)), fit$loglik[1], fit$loglik[2])
cat(out, file = "newton_halving.json")
