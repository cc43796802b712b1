"""Altaviz: predictive maintenance for natural-gas compressor fleets."""
