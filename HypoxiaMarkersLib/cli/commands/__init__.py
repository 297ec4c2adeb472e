"""Subcommands of the hypoxia-markers tool, one module each."""
