"""Probes: pure functions of model(s) and a config that return result dataclasses (no pytest, no files)."""
