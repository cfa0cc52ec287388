"""Gating: compare a probe result with its stored baseline and limits, and say pass or fail with a readable diff.

`rules` declares each suite's gated metrics, `baselines` is the only writer into `baselines/`, `gate` evaluates,
`assertions` raises it as a pytest-friendly AssertionError.
"""
