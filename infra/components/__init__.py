"""Pulumi components of an Altaviz environment: one ComponentResource per logical unit."""
