"""The reference's pass@k completions in a reference cache: generated when the cache is built (the nightly job, where
the reference runs), executed beside the candidate's in the gate's own sandbox (verdicts are never stored), so a
CI job gates pass@k with only the candidate loaded.

They serve exactly the problems and generation settings (seed included) they were made with; anything else is
refused by name. The reference's device and library versions are recorded, not keyed: a cache built on a GPU and
read in CPU CI is the design (the reference's side is what the reference produced where it runs).
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from codeguard.atomic_files import json_text, write_text_atomically
from codeguard.errors import ReferenceCacheError
from codeguard.humaneval.generation import check_prompts_fit, generate_completions
from codeguard.humaneval.problems import load_problems
from codeguard.probes.reference_completions import completion_key, completion_set

FILE = "pass_at_k.json"
BUILD_COMMAND = "`codeguard reference-cache REF --out DIR --pass-at-k` with this run's --problems, --samples and --seed"


def completions_entry(config, problem_set) -> dict:
    """What the completions are valid for, as the manifest keeps it: the problems' content and every generation
    setting."""
    return {"problems": config.problems, "problems_sha256": problem_set.sha256,
            "generation": json.loads(json.dumps(asdict(config.generation())))}


def write_completions(ref, out: Path, config, progress: bool | None = None) -> dict:
    """Generates ref's completions for `config` (a PassAtKConfig) into `out`/FILE; returns the manifest entry."""
    problem_set = load_problems(config.problems)
    check_prompts_fit(ref, problem_set.problems)
    completions = generate_completions(ref, problem_set.problems, config.generation(), progress)
    built_with = completion_key(ref, problem_set, config.generation())  # device, dtype, libraries: recorded
    write_text_atomically(out / FILE, json_text({"built_with": built_with, "completions": completions}))
    return completions_entry(config, problem_set)


def stored_entry(directory: Path, manifest) -> dict:
    """The manifest's pass@k entry, or a ReferenceCacheError for a cache built without completions."""
    entry = manifest.probes.get("pass_at_k")
    if entry is None:
        raise ReferenceCacheError(f"reference cache {directory}: built without the reference's pass@k completions; "
                                  f"build it with {BUILD_COMMAND}, or gate pass@k with the live reference")
    return entry


def read_completions(directory: Path, manifest, config, problem_set) -> dict[str, list[str]]:
    """The stored completions for `config` and `problem_set`, or a ReferenceCacheError naming what differs."""
    entry = stored_entry(directory, manifest)
    wanted = completions_entry(config, problem_set)
    if entry["problems_sha256"] != wanted["problems_sha256"]:
        raise ReferenceCacheError(
            f"reference cache {directory / 'manifest.json'}: key pass_at_k problems does not match: the cache holds "
            f"completions for {entry['problems']!r}, this run asks for {config.problems!r} (other problems or other "
            f"content); build it with {BUILD_COMMAND}")
    differ = [f"{name} {entry['generation'].get(name)!r} (cached) vs {value!r}"
              for name, value in wanted["generation"].items() if entry["generation"].get(name) != value]
    if differ:
        raise ReferenceCacheError(
            f"reference cache {directory / 'manifest.json'}: key pass_at_k generation does not match: "
            f"{', '.join(differ)}; build it with {BUILD_COMMAND}")
    try:
        completions = json.loads((directory / FILE).read_text(encoding="utf-8"))["completions"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ReferenceCacheError(f"reference cache file {directory / FILE} cannot be read ({error}); build the cache "
                                  "again") from None
    complete = completion_set(completions, problem_set, config.n_samples)
    if complete is None:
        raise ReferenceCacheError(f"reference cache file {directory / FILE} does not hold {config.n_samples} "
                                  "completions for each of the manifest's problems; the cache is corrupt: build it "
                                  "again")
    return complete
