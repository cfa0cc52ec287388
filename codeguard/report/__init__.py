"""Reports: what a run measured, why a gate decided as it did, and how metrics moved across runs.

Everything here reads the serialized results (`results.json`, schema in `results.py`) or the history database;
nothing loads a model, so any report can be re-rendered from a file with `codeguard report`.
"""
