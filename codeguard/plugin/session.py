"""State of one codeguard pytest run: resolved options, the loaded model pair, probe results and gate verdicts.

The plugin module only wires pytest hooks to this object; the logic lives here and in the library.
"""
from __future__ import annotations

import difflib
import shlex
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from codeguard import __version__
from codeguard.errors import BaselineError, CodeguardWarning
from codeguard.gating.baselines import Baseline, baseline_path, load_baseline, new_baseline, write_baseline
from codeguard.gating.gate import GateVerdict, evaluate
from codeguard.gating.rules import rule_for
from codeguard.models.specs import parse_model_pair
from codeguard.plugin.options import Options
from codeguard.probes.result import with_overrides


@dataclass
class ModelPair:
    ref: object
    opt: object


@dataclass
class WrittenBaseline:
    path: Path
    diff: str


@dataclass
class RunRecord:
    """What the end-of-run reports need besides the gates: when the run started, what xdist workers sent, and the
    outcome lines to print."""
    started: tuple[float, float] | None = None  # (epoch seconds, perf_counter) at session start
    worker_results: list[dict] = field(default_factory=list)
    lines: list[tuple[str, bool]] = field(default_factory=list)  # (message, is_error)


@dataclass
class CodeguardSession:
    options: Options
    verdicts: list[GateVerdict] = field(default_factory=list)
    written: list[WrittenBaseline] = field(default_factory=list)
    _pair: ModelPair | None = None
    _results: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)  # result key -> wall seconds of the probe call (for reports)
    run: RunRecord = field(default_factory=RunRecord)

    @property
    def specs(self):
        return parse_model_pair(self.options.model_pair)

    def model_pair(self) -> ModelPair:
        """Loads both models once per process (session-scoped)."""
        if self._pair is None:
            from codeguard.models import load_model  # torch is imported only when a gate runs
            ref_spec, opt_spec = self.specs
            placement = self.options.placement
            self._pair = ModelPair(load_model(ref_spec, device=placement), load_model(opt_spec, device=placement))
        return self._pair

    def cold_start(self, **overrides) -> object:
        # heavy: probes import torch and scipy; only a run that gates loads them
        from codeguard.probes.cold_start import ColdStartConfig, run_cold_start
        config = ColdStartConfig(**{"seed": self.options.seed, "start_token": self.options.start_token,
                                    "rollouts": self.options.rollouts, **overrides})
        key = ("cold-start", config)
        if key not in self._results:
            pair = self.model_pair()
            started = time.perf_counter()
            self._results[key] = run_cold_start(pair.ref, pair.opt, config)
            self.timings[key] = time.perf_counter() - started
        return self._results[key]

    def keyword_mass(self, **overrides) -> object:
        # heavy: probes import torch and scipy; only a run that gates loads them
        from codeguard.probes.keyword_mass import KeywordMassConfig, run_keyword_mass
        if "languages" in overrides and overrides["languages"] is not None:
            overrides["languages"] = tuple(overrides["languages"])
        config = KeywordMassConfig(**{"start_token": self.options.start_token, **overrides})
        key = ("keyword-mass", config)
        if key not in self._results:
            pair = self.model_pair()
            started = time.perf_counter()
            self._results[key] = run_keyword_mass(pair.ref, pair.opt, config, self.options.registry)
            self.timings[key] = time.perf_counter() - started
        return self._results[key]

    def corpus_probe(self, probe: str, **overrides) -> object:
        """Corpus KLD or keyword shift; the first request runs both in one pass over the corpus (halving the
        forward passes a full gate run needs) and keeps both results."""
        # heavy: probes import torch and scipy; only a run that gates loads them
        from codeguard.languages.corpus import load_corpus
        from codeguard.probes.corpus.runner import CORPUS_PROBES, run_corpus_probes
        from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig
        config = TeacherForcedConfig(**{"ctx": self.options.ctx, "corpus": self.options.corpus,
                                        "start_token": self.options.start_token, **overrides})
        if (probe, config) not in self._results:
            pair = self.model_pair()
            started = time.perf_counter()
            corpus = load_corpus(config.corpus, self.options.registry)
            results = run_corpus_probes(pair.ref, pair.opt, config, corpus, self.options.registry, CORPUS_PROBES)
            for name, result in results.items():
                self._results[(name, config)] = result
                self.timings[(name, config)] = time.perf_counter() - started  # one shared pass: its whole time
        return self._results[(probe, config)]

    def pass_at_k(self, **overrides) -> object:
        """Samples, executes and compares (cached per configuration, like the other probes)."""
        # heavy: probes import torch and scipy; only a run that gates loads them
        from codeguard.probes.pass_at_k import PassAtKConfig, run_pass_at_k
        config = with_overrides(PassAtKConfig(), problems=self.options.problems, n_samples=self.options.samples,
                                seed=self.options.seed)
        config = with_overrides(config, **overrides)
        key = ("pass-at-k", config)
        if key not in self._results:
            pair = self.model_pair()
            started = time.perf_counter()
            self._results[key] = run_pass_at_k(pair.ref, pair.opt, config)
            self.timings[key] = time.perf_counter() - started
        return self._results[key]

    def worst_case(self, suite: str = "worst_case", **overrides) -> object:
        """Hypothesis' search for the code prefix that makes opt diverge most (probes/worst_case.py).

        The limit a prefix must stay under is the suite's baseline limit, or --codeguard-limit METRIC=X if lower;
        the example database lives under the rootdir's .hypothesis/, so a counterexample replays first next run.
        """
        # heavy: probes import torch and scipy; only a run that gates loads them
        from codeguard.probes.worst_case import WorstCaseConfig, run_worst_case
        config = with_overrides(WorstCaseConfig(seed=self.options.seed, start_token=self.options.start_token),
                                **overrides).check()
        limits = [self.options.limits[config.metric]] if config.metric in self.options.limits else []
        path = self.baseline_file(suite)
        if not self.options.update and path.exists():
            entry = load_baseline(path).metrics.get(config.metric)
            limits += [entry.limit()] if entry is not None else []
        key = ("worst-case", config, min(limits, default=None))
        if key not in self._results:
            pair = self.model_pair()
            started = time.perf_counter()
            self._results[key] = run_worst_case(pair.ref, pair.opt, config, limit=key[2],
                                                database=self.options.rootdir, registry=self.options.registry)
            self.timings[key] = time.perf_counter() - started
        return self._results[key]

    def results(self) -> list:
        return list(self._results.values())

    def timed_results(self) -> list[tuple[object, float | None]]:
        """Each result with the wall seconds of the probe call that produced it (reports record them)."""
        return [(result, self.timings.get(key)) for key, result in self._results.items()]

    @property
    def loaded_pair(self) -> ModelPair | None:
        """The pair if a gate loaded it, else None (a report must not load models itself)."""
        return self._pair

    def baseline_file(self, suite: str) -> Path:
        ref_spec, _ = self.specs
        return baseline_path(self.options.baseline_dir, ref_spec.slug(), suite, self.options.slot)

    def update_command(self) -> str:
        args = [a for a in self.options.invocation if a != "--codeguard-update"]
        if self.options.model_pair and not any(a.startswith("--model-pair") for a in args):
            args += ["--model-pair", self.options.model_pair]
        return shlex.join(["pytest", *args, "--codeguard-update"])

    def check(self, result, suite: str | None = None) -> GateVerdict:
        """Gates `result` against its suite's stored baseline (or accepts it with --codeguard-update). The suite is
        the result's own unless a declared one is named (a custom suite with its own baseline file)."""
        suite = suite or result.suite
        path = self.baseline_file(suite)
        previous = self._read_if_present(path)
        verdict = self._accept(result, suite, path, previous) if self.options.update else \
            self._compare(result, suite, path, previous)
        self.verdicts.append(verdict)
        return verdict

    def _compare(self, result, suite: str, path: Path, baseline: Baseline | None) -> GateVerdict:
        if baseline is None:
            raise BaselineError(
                f"no baseline for suite '{suite}' at {path} (reference {result.ref.spec}). Review the "
                f"candidate and accept it with:\n    {self.update_command()}")
        return self._gate(result, suite, baseline)

    def _limits_for(self, result, suite: str) -> dict[str, float]:
        """The probe's built-in limits, overridden by the user's; a user limit applies only to its own suite's
        metrics (a cold-start limit is no reason to fail the pass@k gate)."""
        user = {name: value for name, value in self.options.limits.items() if rule_for(suite, name) is not None}
        return {**result.built_in_limits(), **user}

    def _gate(self, result, suite: str, baseline: Baseline | None) -> GateVerdict:
        verdict = evaluate(result, suite, baseline, self._limits_for(result, suite))
        for text in result.warnings():
            warnings.warn(CodeguardWarning(text), stacklevel=2)
        return verdict

    def _accept(self, result, suite: str, path: Path, previous: Baseline | None) -> GateVerdict:
        """Writes the candidate's metrics as the new baseline, unless it breaks a configured absolute limit."""
        hard_limits = evaluate(result, suite, None, self._limits_for(result, suite))
        if not hard_limits.passed:
            return hard_limits
        baseline = new_baseline(suite, {"spec": result.ref.spec, "fingerprint": result.ref.fingerprint},
                                {"spec": result.opt.spec, "fingerprint": result.opt.fingerprint},
                                result.probe_config(), result.gate_metrics(), previous, __version__)
        old_text = write_baseline(path, baseline)
        diff = "".join(difflib.unified_diff(old_text.splitlines(True), path.read_text().splitlines(True),
                                            f"{path} (before)", str(path)))
        self.written.append(WrittenBaseline(path, diff))
        return self._gate(result, suite, baseline)

    @staticmethod
    def _read_if_present(path: Path) -> Baseline | None:
        return load_baseline(path) if path.exists() else None
