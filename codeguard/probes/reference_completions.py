"""The reference's pass@k completions, generated once: a re-gate of another candidate against the same reference
samples only the candidate (generation is most of pass@k's time: the zoo's he pair spends about half of it on ref).

A stored set is valid for exactly what made it: the reference's weights (fingerprint), backend and device, the
problems' content, every generation setting (seed included), the codeguard version and the numeric environment
(the inference libraries' versions and the CPU kernel switches: a kernel change can flip a sample). Anything else is a miss,
never a reuse. Completions are stored, verdicts are not: both models' samples run in the same sandbox in the same
run, so a paired comparison never mixes verdicts from another machine or another load.

Only references whose fingerprint hashes their weights are stored (a served endpoint can change behind its name).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

from codeguard import __version__
from codeguard.atomic_files import json_text, write_text_atomically
from codeguard.cache import cache_root
from codeguard.errors import OutputError
from codeguard.probes.reference_cache.store import digest

SUBDIR = "reference-completions"
FORMAT = 1
LIBRARIES = ("torch", "transformers", "onnxruntime", "onnxruntime-gpu", "llama-cpp-python")
KERNEL_SWITCHES = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def numeric_environment() -> dict:
    """What else decides a sampled token: library versions and the kernel sets they are held to."""
    return {"libraries": {name: _version(name) for name in LIBRARIES},
            "kernels": {name: os.environ.get(name) for name in KERNEL_SWITCHES}}


def cacheable(model) -> bool:
    """Whether `model`'s fingerprint names its weights (local HF, ONNX and GGUF files do; an endpoint does not)."""
    return str(getattr(model, "fingerprint", "")).startswith("sha256:")


def completion_key(model, problem_set, generation) -> dict:
    """Everything a reference's completions depend on."""
    inner = getattr(model, "model", None)
    key = {"format": FORMAT, "codeguard_version": __version__,
            "reference": {"spec": model.spec, "fingerprint": model.fingerprint, "backend": model.backend,
                          "device": str(getattr(model, "device", "cpu")),
                          "dtype": str(getattr(inner, "dtype", None))},
            "problems_sha256": problem_set.sha256, "generation": asdict(generation),
            "environment": numeric_environment()}
    return json.loads(json.dumps(key, sort_keys=True))  # as stored: tuples become lists, so a reread key compares


def completion_set(completions, problem_set, n: int) -> dict[str, list[str]] | None:
    """`completions` as {task_id: n texts} for exactly the problems of `problem_set`, or None when read data holds
    anything else (another problem, a missing one, a text short, a non-text)."""
    task_ids = [p.task_id for p in problem_set.problems]
    if not isinstance(completions, dict) or sorted(completions) != sorted(task_ids) or any(
            not isinstance(texts, list) or len(texts) != n or not all(isinstance(t, str) for t in texts)
            for texts in completions.values()):
        return None
    return {task_id: list(completions[task_id]) for task_id in task_ids}


class CompletionStore:
    """One JSON file per key under `root` (default `$CODEGUARD_CACHE/reference-completions/`)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else cache_root() / SUBDIR

    def path(self, key: dict) -> Path:
        return self.root / f"{digest(key).removeprefix('sha256:')[:32]}.json"

    def load(self, key: dict, problem_set) -> dict[str, list[str]] | None:
        """The stored completions for `key`, or None. A file that does not hold exactly this key's completions
        (n per problem, every problem) is ignored and replaced on save: a cache is never trusted over a rerun."""
        path = self.path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        completions = data.get("completions") if isinstance(data, dict) and data.get("key") == key else None
        return completion_set(completions, problem_set, key["generation"]["n_samples"])

    def save(self, key: dict, completions: dict[str, list[str]]) -> Path | None:
        """Stores the completions; an unwritable cache costs the reuse, never the run (None)."""
        try:
            return write_text_atomically(self.path(key), json_text({"key": key, "completions": completions}))
        except OutputError:
            return None
