# Reference values for HypoxiaMarkersLib's cohort statistics, computed with R's `survival` and `maxstat`.
#
# Run from this folder (Debian: r-base-core, r-cran-survival, r-cran-maxstat):
#
#     Rscript make_reference.R ../../Data/tcga-cesc-clinical/cesc_os.csv
#
# It writes:
#   lung.csv, veteran.csv    the datasets shipped with R's survival package, exported so that Python and R read
#                            identical data (rossi.csv and gbsg2.csv are lifelines' copies, read by both as well);
#   r_reference.json         every value the tests compare with (coxph, survdiff, survfit, cox.zph, maxstat.test).
# The tests never call R; they read r_reference.json. Numbers are written with 17 significant digits.

suppressMessages({
  library(survival)
  library(maxstat)
})

args <- commandArgs(trailingOnly = TRUE)
tcga_path <- if (length(args) >= 1) args[1] else "../../Data/tcga-cesc-clinical/cesc_os.csv"

write.csv(survival::lung, "lung.csv", row.names = FALSE, na = "")
write.csv(survival::veteran, "veteran.csv", row.names = FALSE, na = "")

# ---- a tiny JSON writer (jsonlite is not a Debian dependency of these packages) ----
num <- function(x) ifelse(is.na(x), "null", ifelse(is.infinite(x), "null", sprintf("%.17g", x)))
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (!is.null(names(x))) {
      items <- mapply(function(k, v) paste0("\"", k, "\": ", to_json(v)), names(x), x)
      return(paste0("{", paste(items, collapse = ", "), "}"))
    }
    return(paste0("[", paste(sapply(x, to_json), collapse = ", "), "]"))
  }
  if (is.character(x) || is.factor(x)) {
    v <- paste0("\"", as.character(x), "\"")
  } else if (is.logical(x)) {
    v <- ifelse(is.na(x), "null", ifelse(x, "true", "false"))
  } else {
    v <- num(as.numeric(x))
  }
  if (length(x) == 1 && is.null(attr(x, "as_array"))) return(v)
  paste0("[", paste(v, collapse = ", "), "]")
}
arr <- function(x) { attr(x, "as_array") <- TRUE; x }

# ---- the pieces ----
cox_summary <- function(fit) {
  s <- summary(fit)
  co <- s$coefficients
  ci <- s$conf.int
  list(
    names = arr(rownames(co)),
    coef = arr(co[, "coef"]), se = arr(co[, "se(coef)"]), z = arr(co[, "z"]),
    p = arr(co[, "Pr(>|z|)"]), hr = arr(ci[, "exp(coef)"]),
    ci_low = arr(ci[, "lower .95"]), ci_high = arr(ci[, "upper .95"]),
    loglik = arr(fit$loglik),
    lr_chi2 = unname(s$logtest["test"]), lr_df = unname(s$logtest["df"]), lr_p = unname(s$logtest["pvalue"]),
    wald_chi2 = drop(fit$coefficients %*% solve(fit$var, fit$coefficients)), wald_p = unname(s$waldtest["pvalue"]),
    score_chi2 = unname(s$sctest["test"]), score_p = unname(s$sctest["pvalue"]),
    n = fit$n, events = fit$nevent
  )
}

zph_summary <- function(fit) {
  zt <- cox.zph(fit, transform = "km", terms = TRUE)$table
  zc <- cox.zph(fit, transform = "km", terms = FALSE)$table
  list(terms = arr(rownames(zt)), terms_chi2 = arr(zt[, "chisq"]), terms_df = arr(zt[, "df"]),
       terms_p = arr(zt[, "p"]),
       columns = arr(rownames(zc)), columns_chi2 = arr(zc[, "chisq"]), columns_p = arr(zc[, "p"]))
}

km_summary <- function(fit) {
  strata <- if (is.null(fit$strata)) rep("all", length(fit$time)) else rep(names(fit$strata), fit$strata)
  list(strata = arr(strata), time = arr(fit$time), n_risk = arr(fit$n.risk), n_event = arr(fit$n.event),
       n_censor = arr(fit$n.censor), surv = arr(fit$surv), std_err = arr(fit$std.err),
       lower = arr(fit$lower), upper = arr(fit$upper))
}

logrank_summary <- function(sd) {
  df <- length(sd$n) - 1
  list(chi2 = sd$chisq, df = df, p = pchisq(sd$chisq, df, lower.tail = FALSE), groups = arr(names(sd$n)),
       observed = arr(sd$obs), expected = arr(sd$exp))
}

maxstat_summary <- function(formula, data, minprop = 0.1, maxprop = 0.9) {
  m92 <- maxstat.test(formula, data = data, smethod = "LogRank", pmethod = "Lau92", minprop = minprop,
                      maxprop = maxprop)
  m94 <- maxstat.test(formula, data = data, smethod = "LogRank", pmethod = "Lau94", minprop = minprop,
                      maxprop = maxprop)
  list(minprop = minprop, maxprop = maxprop, statistic = unname(m92$statistic),
       estimate = unname(m92$estimate), p_lau92 = m92$p.value, p_lau94 = m94$p.value,
       stats = arr(unname(m92$stats)), cuts = arr(unname(m92$cuts)))
}

# One marker on one dataset: everything the `survival` command reports.
marker_case <- function(d, marker, cutoff, covariates, horizon = NA, minprop = 0.1, km_by = NULL,
                        all_ci = FALSE) {
  if (!is.na(horizon)) {
    # Follow-up beyond the horizon is censored at the horizon; an event exactly at it stays an event.
    d$event <- ifelse(d$time > horizon, 0, d$event)
    d$time <- pmin(d$time, horizon)
  }
  d$marker <- d[[marker]]
  d$high <- as.integer(d$marker >= cutoff)
  out <- list(marker = marker, cutoff = cutoff, horizon = horizon, n = nrow(d), events = sum(d$event))
  out$cox_continuous <- cox_summary(coxph(Surv(time, event) ~ marker, data = d))
  out$cox_dichotomous <- cox_summary(coxph(Surv(time, event) ~ high, data = d))
  out$logrank <- logrank_summary(survdiff(Surv(time, event) ~ high, data = d))
  km <- survfit(Surv(time, event) ~ high, data = d)
  out$km <- km_summary(km)
  if (all_ci) {
    out$km_loglog <- km_summary(survfit(Surv(time, event) ~ high, data = d, conf.type = "log-log"))
    out$km_plain <- km_summary(survfit(Surv(time, event) ~ high, data = d, conf.type = "plain"))
  }
  if (!is.na(horizon)) {
    s <- summary(km, times = horizon, extend = TRUE)
    out$at_horizon <- list(strata = arr(as.character(s$strata)), surv = arr(s$surv), lower = arr(s$lower),
                           upper = arr(s$upper), n_risk = arr(s$n.risk))
  }
  out$maxstat <- maxstat_summary(Surv(time, event) ~ marker, d, minprop, 1 - minprop)
  if (length(covariates)) {
    f <- as.formula(paste("Surv(time, event) ~ marker +", paste(covariates, collapse = " + ")))
    dd <- d[complete.cases(d[, c("time", "event", "marker", covariates)]), ]
    fit <- coxph(f, data = dd)
    out$cox_multivariate <- cox_summary(fit)
    out$cox_multivariate$covariates <- arr(covariates)
    out$zph <- zph_summary(fit)
  }
  out$zph_univariate <- zph_summary(coxph(Surv(time, event) ~ marker, data = d))
  if (!is.null(km_by)) {
    d$by <- factor(d[[km_by]])
    out$by <- km_by
    out$logrank_by <- logrank_summary(survdiff(Surv(time, event) ~ by, data = d))
    out$km_by <- km_summary(survfit(Surv(time, event) ~ by, data = d))
  }
  out
}

ref <- list()
ref$R_version <- R.version.string
ref$survival_version <- as.character(packageVersion("survival"))
ref$maxstat_version <- as.character(packageVersion("maxstat"))

rossi <- read.csv("rossi.csv")
rossi$time <- rossi$week
rossi$event <- rossi$arrest
ref$rossi_prio <- marker_case(rossi, "prio", 3, c("fin", "age", "race", "wexp", "mar", "paro"))
ref$rossi_age <- marker_case(rossi, "age", 25, c("fin", "prio"), horizon = 40, minprop = 0.2)

lung <- read.csv("lung.csv")
lung$event <- as.integer(lung$status == 2)
ref$lung_age <- marker_case(lung, "age", 65, c("sex", "ph.ecog"), km_by = "ph.ecog", all_ci = TRUE)
ref$lung_karno <- marker_case(lung[!is.na(lung$ph.karno), ], "ph.karno", 80, c("sex", "age"), horizon = 365)

veteran <- read.csv("veteran.csv")
veteran$event <- veteran$status
veteran$celltype <- factor(veteran$celltype)
ref$veteran_karno <- marker_case(veteran, "karno", 60, c("celltype", "trt"), km_by = "celltype")

gbsg2 <- read.csv("gbsg2.csv")
gbsg2$event <- gbsg2$cens
gbsg2$horTh <- factor(gbsg2$horTh)
gbsg2$tgrade <- factor(gbsg2$tgrade)
gbsg2$menostat <- factor(gbsg2$menostat)
ref$gbsg2_pnodes <- marker_case(gbsg2, "pnodes", 4, c("horTh", "tsize", "tgrade", "menostat"))
ref$gbsg2_age <- marker_case(gbsg2, "age", 50, c("horTh", "pnodes"), horizon = 1826.25, minprop = 0.15)

if (file.exists(tcga_path)) {
  tcga <- read.csv(tcga_path)
  tcga$time <- tcga$os_days
  tcga$event <- tcga$os_event
  tcga$stage <- factor(tcga$stage)
  # 60 months at 365.25/12 days per month.
  ref$tcga_age <- marker_case(tcga, "age", 50, c("stage"), horizon = 1826.25, km_by = "stage")
}

# Groups 1-4 of two markers ("imaging" x, "genes" y), their agreement and Kruskal-Wallis tests of covariates.
groups_case <- function(d, x, y, x_cut, y_cut, covariates) {
  d <- d[complete.cases(d[, c(x, y)]), ]
  xh <- d[[x]] >= x_cut
  yh <- d[[y]] >= y_cut
  group <- ifelse(xh & yh, 1, ifelse(yh, 2, ifelse(xh, 4, 3)))
  tab <- matrix(c(sum(group == 1), sum(group == 2), sum(group == 4), sum(group == 3)), 2)
  ft <- fisher.test(tab)
  sp <- suppressWarnings(cor.test(d[[x]], d[[y]], method = "spearman", exact = FALSE))
  pe <- cor.test(d[[x]], d[[y]], method = "pearson")
  out <- list(x = x, y = y, x_cut = x_cut, y_cut = y_cut, counts = arr(as.numeric(table(factor(group, 1:4)))),
              table = arr(as.vector(t(tab))), fisher_p = ft$p.value, fisher_or = unname(ft$estimate),
              fisher_ci = arr(as.numeric(ft$conf.int)), spearman_rho = unname(sp$estimate), spearman_p = sp$p.value,
              pearson_r = unname(pe$estimate), pearson_p = pe$p.value)
  out$kruskal <- lapply(covariates, function(cv) {
    k <- kruskal.test(d[[cv]], factor(group))
    list(covariate = cv, h = unname(k$statistic), df = unname(k$parameter), p = k$p.value)
  })
  out
}
ref$groups_gbsg2 <- groups_case(gbsg2, "tsize", "age", 25, 50, c("pnodes", "estrec"))
ref$groups_lung <- groups_case(lung[!is.na(lung$ph.karno), ], "ph.karno", "age", 90, 70, c("wt.loss"))

cat(to_json(ref), "\n", file = "r_reference.json")
cat("wrote r_reference.json\n")
