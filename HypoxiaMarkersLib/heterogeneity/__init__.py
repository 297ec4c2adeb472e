"""heterogeneity"""
