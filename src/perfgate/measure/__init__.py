"""Measure a run: sequential profile trials, the probe pass, interleaved A/B sides."""
