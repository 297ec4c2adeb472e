# Reference fit for HypoxiaMarkersLib.clustering: the GAM sd ~ s(hf) of R's mgcv (thin-plate regression spline,
# k = 10, smoothing parameter by GCV) on gam_phantoms.csv (written by make_gam_phantoms.py).
# Run from this folder:  Rscript gam_mgcv.R
library(mgcv)
d <- read.csv("gam_phantoms.csv")
g <- gam(sd ~ s(hf), data = d, method = "GCV.Cp")
grid <- seq(min(d$hf), max(d$hf), length.out = 101)
write.csv(data.frame(tumour = d$tumour, fitted = sprintf("%.17g", fitted(g)), residual = sprintf("%.17g", residuals(g))),
          "gam_mgcv_fitted.csv", row.names = FALSE, quote = FALSE)
write.csv(data.frame(hf = sprintf("%.17g", grid), sd = sprintf("%.17g", predict(g, data.frame(hf = grid)))),
          "gam_mgcv_curve.csv", row.names = FALSE, quote = FALSE)
cat("edf", sum(g$edf), "gcv", g$gcv.ubre, "\n")
cat(R.version.string, "mgcv", as.character(packageVersion("mgcv")), "\n")
