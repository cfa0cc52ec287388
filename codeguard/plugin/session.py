"""State of one codeguard pytest run: resolved options, the loaded model pair, probe results and gate verdicts.

The plugin module only wires pytest hooks to this object; the logic lives here and in the library.
"""
from __future__ import annotations

import shlex
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from codeguard import __version__
from codeguard.errors import BaselineError, CodeguardWarning, ReferenceCacheError
from codeguard.gating.baselines import (Baseline, baseline_path, load_baseline, metric_changes, new_baseline,
                                        reference_folder, write_baseline)
from codeguard.gating.gate import GateVerdict, evaluate, gate
from codeguard.gating.rules import rule_for, rules_for
from codeguard.models.specs import parse_model_pair, parse_spec
from codeguard.plugin.options import Options
from codeguard.probes.result import with_overrides


@dataclass
class ModelPair:
    ref: object   # the live reference, or its ReferenceCache (probes/reference_cache) when the run has one
    opt: object
    cached: bool = False  # ref is a reference cache: only opt was loaded


@dataclass
class WrittenBaseline:
    path: Path
    diff: str
    suite: str = ""
    origin: Path | None = None  # the test file whose check wrote it (what --codeguard-calibrate runs again)


@dataclass
class RunRecord:
    """What the end-of-run reports need besides the gates: when the run started, what xdist workers sent, and the
    outcome lines to print."""
    started: tuple[float, float] | None = None  # (epoch seconds, perf_counter) at session start
    worker_results: list[dict] = field(default_factory=list)
    lines: list[tuple[str, bool]] = field(default_factory=list)  # (message, is_error)
    notes: list[tuple[str, bool]] = field(default_factory=list)  # said during the run (reference cache), shown first
    skipped_without_pair: int = 0  # codeguard gates collected and skipped because no pair was given


@dataclass
class CodeguardSession:
    options: Options
    verdicts: list[GateVerdict] = field(default_factory=list)
    written: list[WrittenBaseline] = field(default_factory=list)
    _pair: ModelPair | None = None
    _reference_cache: object = None
    _scratch: Path | None = None  # the reference-first cache directory, removed at the end of the run
    _live_ref: object = None      # REF loaded for pass@k / worst_case in a run whose other suites read a cache
    _results: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)  # result key -> wall seconds of the probe call (for reports)
    run: RunRecord = field(default_factory=RunRecord)

    @property
    def specs(self):
        """(REF, OPT) specs; with a reference cache, REF is the spec the cache was built from (its baselines)."""
        ref, opt = parse_model_pair(self.options.model_pair)
        cache = self.reference_cache
        return (parse_spec(cache.spec) if cache is not None else ref), opt

    @property
    def reference_cache(self):
        """The run's ReferenceCache (read and checked once), or None. A REF named beside the cache must be the
        reference the cache was built from."""
        if self.options.reference_cache is None:
            return None
        if self._reference_cache is None:
            from codeguard.probes.reference_cache.replay import load_reference_cache  # heavy: numpy, torch
            cache = load_reference_cache(self.options.reference_cache)
            ref, _ = parse_model_pair(self.options.model_pair)
            if not (ref.scheme == "path" and Path(ref.location).expanduser().resolve()
                    == Path(self.options.reference_cache).resolve()):
                cache.check_reference(spec=ref.text)
            self._reference_cache = cache
        return self._reference_cache

    def live_pair(self, suite: str) -> ModelPair:
        """Both models live, for pass@k and the worst-case search. Under `--codeguard-reference-cache auto` the
        distribution suites read a cache, and REF loads here the first time a suite needs it."""
        self.require_live_reference(suite)
        pair = self.model_pair()
        if not pair.cached:
            return pair
        if self._live_ref is None:
            from codeguard.models import load_model
            self._live_ref = load_model(self.specs[0], device=self.options.placement)
        return ModelPair(self._live_ref, pair.opt)

    def require_live_reference(self, suite: str) -> None:
        """pass@k and the worst-case search run the reference itself: with only a cache they fail, never pass."""
        if self.options.reference_first:
            raise ReferenceCacheError(
                f"suite '{suite}' needs the reference and the candidate loaded together, and "
                "--codeguard-reference-first freed the reference once it had scored what the cold_start, "
                "keyword_mass, corpus_kld and keyword_shift suites read. Gate it in a run without "
                f"--codeguard-reference-first, or leave it out of this one (e.g. --deselect or -k 'not {suite}')")
        if self.options.reference_cache is not None:
            served = ("it holds what the cold_start, keyword_mass, corpus_kld and keyword_shift suites read" +
                      (", and the reference's pass@k completions if built with --pass-at-k" if suite == "pass_at_k"
                       else ""))
            raise ReferenceCacheError(
                f"suite '{suite}' needs the live reference model, and this run has only the reference cache "
                f"{self.options.reference_cache} ({served}). Gate it in a job with --model-pair REF,OPT, or leave it "
                f"out of this one (e.g. --deselect or -k 'not {suite}')")

    def model_pair(self) -> ModelPair:
        """Loads both models once per process (session-scoped), after the inputs they will be probed on passed
        their checks (minutes of loading must not end in a bad problem file)."""
        if self._pair is None:
            self.check_inputs()
            from codeguard.models import load_model  # torch is imported only when a gate runs
            ref_spec, opt_spec = self.specs
            placement = self.options.placement
            cache = self.reference_cache
            if self.options.reference_cache_auto:
                cache = self._auto_reference_cache(ref_spec, lambda: load_model(ref_spec, device=placement))
            elif cache is None and self.options.reference_first:
                cache = self._score_reference_first(lambda: load_model(ref_spec, device=placement))
            if cache is not None:  # REF is not loaded (or no longer): its side comes from the cache
                self._pair = ModelPair(cache, load_model(opt_spec, device=placement, alone=True), cached=True)
            else:
                self._pair = ModelPair(load_model(ref_spec, device=placement), load_model(opt_spec, device=placement))
        return self._pair

    def _score_reference_first(self, load_reference):
        """REF alone scores the distribution suites' inputs into an exact cache in a fresh directory under
        $CODEGUARD_CACHE (removed by `close`), and is freed before OPT loads."""
        # heavy: torch, numpy; only a run that gates loads them
        from codeguard.probes.reference_cache.first import score_reference_first, scratch_directory
        self._scratch = scratch_directory()
        self._reference_cache = score_reference_first(load_reference, self._scratch, **self._cache_inputs())
        return self._reference_cache

    def _cache_inputs(self) -> dict:
        """What a cache of this run's reference is built for: `build_reference_cache`'s configurations."""
        from codeguard.languages.corpus import load_corpus
        from codeguard.probes.cold_start import ColdStartConfig
        from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig
        from codeguard.probes.keyword_mass import KeywordMassConfig
        o = self.options
        return dict(corpus_config=TeacherForcedConfig(ctx=o.ctx, corpus=o.corpus, start_token=o.start_token,
                                                      min_context=o.min_context),
                    cold_start=ColdStartConfig(seed=o.seed, start_token=o.start_token, rollouts=o.rollouts),
                    keyword_mass=KeywordMassConfig(start_token=o.start_token),
                    corpus=load_corpus(o.corpus, o.registry), registry=o.registry)

    def _auto_reference_cache(self, ref_spec, load_reference):
        """--codeguard-reference-cache auto: the kept cache of this reference, or a new one REF scores alone
        (probes/reference_cache/auto.py); the run says which."""
        from codeguard.probes.reference_cache.auto import BUDGET_VARIABLE, open_or_build
        from codeguard.probes.reference_cache.build import gib
        auto = open_or_build(ref_spec, self.options.placement.describe(), load_reference, self._cache_inputs())
        if auto.found:
            note = f"codeguard: reference cache {auto.path} ({gib(auto.size)}): {ref_spec.text} was not loaded"
        elif auto.kept:
            note = (f"codeguard: scored {ref_spec.text} once into the reference cache {auto.path} ({gib(auto.size)}); "
                    "the next run with the same reference and settings loads only OPT")
        else:
            self._scratch = auto.path  # used by this run, removed at its end
            note = (f"codeguard: the reference cache of {ref_spec.text} ({gib(auto.size)}) exceeds "
                    f"{BUDGET_VARIABLE}={gib(auto.budget)}, so it was used once and not kept; raise the budget, use "
                    "a smaller corpus, or build a top-k cache with `codeguard reference-cache`")
        self.run.notes.append((note, False))
        self._reference_cache = auto.cache
        return auto.cache

    def close(self) -> None:
        """Removes what this run wrote for itself only (the reference-first cache)."""
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def check_inputs(self) -> None:
        """The user's own corpus and problem set, checked before any model loads: a corpus must hold code in a
        registry language, a problem set must compile and its canonical solutions must pass their own tests."""
        # heavy: the sandbox starts workers; only a run that gates pays for it
        from codeguard.humaneval.problems import load_problems
        from codeguard.humaneval.validation import validate_problems
        from codeguard.languages.corpus import load_corpus
        if self.options.corpus:
            load_corpus(self.options.corpus, self.options.registry)
        if self.options.problems:
            validate_problems(load_problems(self.options.problems))

    def cold_start(self, **overrides) -> object:
        # heavy: probes import torch and scipy; only a run that gates loads them
        from codeguard.probes.cold_start import ColdStartConfig, run_cold_start
        config = ColdStartConfig(**{"seed": self.options.seed, "start_token": self.options.start_token,
                                    "rollouts": self.options.rollouts, **overrides})
        key = ("cold-start", config)
        if key not in self._results:
            pair = self.model_pair()
            started = time.perf_counter()
            self._results[key] = pair.ref.cold_start(pair.opt, config, self.options.registry) if pair.cached \
                else run_cold_start(pair.ref, pair.opt, config)
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
            self._results[key] = pair.ref.keyword_mass(pair.opt, config, self.options.registry) if pair.cached \
                else run_keyword_mass(pair.ref, pair.opt, config, self.options.registry)
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
                                        "start_token": self.options.start_token,
                                        "min_context": self.options.min_context, **overrides})
        if (probe, config) not in self._results:
            pair = self.model_pair()
            started = time.perf_counter()
            corpus = load_corpus(config.corpus, self.options.registry)
            run = pair.ref.corpus_probes if pair.cached else lambda *a: run_corpus_probes(pair.ref, *a)
            results = run(pair.opt, config, corpus, self.options.registry, CORPUS_PROBES)
            for name, result in results.items():
                self._results[(name, config)] = result
                self.timings[(name, config)] = time.perf_counter() - started  # one shared pass: its whole time
        return self._results[(probe, config)]

    def pass_at_k(self, **overrides) -> object:
        """Samples, executes and compares (cached per configuration, like the other probes)."""
        # heavy: probes import torch and scipy; only a run that gates loads them
        from codeguard.probes.pass_at_k import PassAtKConfig, run_pass_at_k
        from codeguard.probes.reference_completions import CompletionStore
        config = with_overrides(PassAtKConfig(), problems=self.options.problems, n_samples=self.options.samples,
                                seed=self.options.seed)
        config = with_overrides(config, **overrides)
        key = ("pass-at-k", config)
        if key not in self._results:
            cache = self.reference_cache
            if cache is not None and cache.serves_pass_at_k:
                # a given cache with the reference's completions: only OPT generates (other settings: refused)
                opt = self.model_pair().opt
                started = time.perf_counter()
                self._results[key] = cache.pass_at_k(opt, config)
            else:
                pair = self.live_pair("pass_at_k")
                started = time.perf_counter()
                store = CompletionStore() if self.options.completion_cache else None
                self._results[key] = run_pass_at_k(pair.ref, pair.opt, config, completion_store=store)
            self.timings[key] = time.perf_counter() - started
        return self._results[key]

    def worst_case(self, **overrides) -> object:
        """Hypothesis' search for the code prefix that makes opt diverge most (probes/worst_case.py).

        The limit a prefix must stay under is the suite's baseline limit, or --codeguard-limit METRIC=X if lower;
        the example database lives under the rootdir's .hypothesis/, so a counterexample replays first next run.
        """
        # heavy: probes import torch and scipy; only a run that gates loads them
        from codeguard.probes.worst_case import WorstCaseConfig, run_worst_case
        config = with_overrides(WorstCaseConfig(seed=self.options.seed, start_token=self.options.start_token),
                                **overrides).check()
        limits = [self.options.limits[config.metric]] if config.metric in self.options.limits else []
        path = self.baseline_file("worst_case")
        if not self.options.update and path.exists():
            entry = load_baseline(path).metrics.get(config.metric)
            limits += [entry.limit()] if entry is not None else []
        key = ("worst-case", config, min(limits, default=None))
        if key not in self._results:
            pair = self.live_pair("worst_case")
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
        rules_for(suite)  # an undeclared suite is an error before anything is read or written
        return baseline_path(self.options.baseline_dir, reference_folder(ref_spec, self.options.rootdir), suite,
                             self.options.slot)

    def update_command(self) -> str:
        args = [a for a in self.options.invocation if a != "--codeguard-update"]
        if self.options.model_pair and not any(a.startswith("--model-pair") for a in args):
            args += ["--model-pair", self.options.model_pair]
        return shlex.join(["pytest", *args, "--codeguard-update"])

    def check(self, result, suite: str | None = None, origin: Path | None = None) -> GateVerdict:
        """Gates `result` against its suite's stored baseline (or accepts it with --codeguard-update). The suite is
        the result's own unless a declared one is named (a custom suite with its own baseline file); `origin` is
        the test file checking it."""
        suite = suite or result.suite
        path = self.baseline_file(suite)
        previous = self._read_if_present(path)
        verdict = self._accept(result, suite, path, previous, origin) if self.options.update else \
            self._compare(result, suite, path, previous)
        self.verdicts.append(verdict)
        return verdict

    def _compare(self, result, suite: str, path: Path, baseline: Baseline | None) -> GateVerdict:
        if baseline is None:
            candidate = self._candidate_baseline(result, suite, None)
            table = gate(suite, result.gate_metrics(), baseline=candidate, ref_spec=result.ref.spec,
                         opt_spec=result.opt.spec).table()
            raise BaselineError(
                f"no baseline for suite '{suite}' at {path} (reference {result.ref.spec}). This is what "
                f"accepting {result.opt.spec} would record (each limit from the suite's default tolerance):\n"
                f"{table}\nIf these numbers are what the reference should be held to, accept them with:\n"
                f"    {self.update_command()}{self._legacy_hint(suite, path)}")
        verdict = self._gate(result, suite, baseline)
        if not verdict.passed:
            verdict.next_steps = self.next_steps(verdict)
        return verdict

    def _legacy_hint(self, suite: str, path: Path) -> str:
        """Baselines of a local reference used to live under its folder's last name only; say where one is."""
        ref_spec, _ = self.specs
        legacy = baseline_path(self.options.baseline_dir, ref_spec.slug(), suite, self.options.slot)
        if legacy == path or not legacy.exists():
            return ""
        return (f"\nA baseline for this suite exists at {legacy}, where codeguard 0.1 kept baselines of every "
                f"reference folder named {Path(ref_spec.location).name!r}: if it was accepted for {ref_spec.text}, "
                f"move it to {path} instead")

    def next_steps(self, verdict: GateVerdict) -> list[str]:
        """What a reader of a failed gate can do: read the report, accept, or tune a tolerance (named file)."""
        report = (f"read the report: {self.options.report_dir / 'report.html'}" if self.options.report_dir else
                  "write a report with plots and the worst positions: add --codeguard-report DIR")
        metric = verdict.failures[0].metric if verdict.failures else "a metric"
        return [report,
                f"if the change is intended, accept this candidate: {self.update_command()}"
                + ("" if self.options.slot else " (or keep it apart with --codeguard-slot NAME)"),
                f"if the tolerance is wrong, edit rtol/atol of {metric} in {verdict.baseline_path} (reviewed like "
                "code; --codeguard-update keeps what you set)"]

    def _candidate_baseline(self, result, suite: str, previous: Baseline | None) -> Baseline:
        return new_baseline(suite, {"spec": result.ref.spec, "fingerprint": result.ref.fingerprint},
                            {"spec": result.opt.spec, "fingerprint": result.opt.fingerprint},
                            result.probe_config(), result.gate_metrics(), previous, __version__)

    def _limits_for(self, result, suite: str) -> dict[str, float]:
        """The probe's built-in limits, overridden by the user's; a user limit applies only to its own suite's
        metrics (a cold-start limit is no reason to fail the pass@k gate)."""
        user = {name: value for name, value in self.options.limits.items() if rule_for(suite, name) is not None}
        return {**result.built_in_limits(), **user}

    def _gate(self, result, suite: str, baseline: Baseline | None) -> GateVerdict:
        verdict = evaluate(result, suite, baseline, self._limits_for(result, suite))
        for text in [*result.warnings(), *verdict.warnings]:
            warnings.warn(CodeguardWarning(text), stacklevel=2)
        return verdict

    def _accept(self, result, suite: str, path: Path, previous: Baseline | None, origin: Path | None = None
                ) -> GateVerdict:
        """Writes the candidate's metrics as the new baseline, unless it breaks a configured absolute limit."""
        if previous is not None and previous.reference.get("spec") not in (None, result.ref.spec):
            raise BaselineError(
                f"refusing to overwrite {path}: it is the baseline of reference {previous.reference.get('spec')}, "
                f"not of {result.ref.spec}. Keep them apart with --codeguard-baseline-dir DIR or --codeguard-slot NAME")
        hard_limits = evaluate(result, suite, None, self._limits_for(result, suite))
        if hard_limits.failures:
            return hard_limits
        baseline = self._candidate_baseline(result, suite, previous)
        if not baseline.metrics:
            raise BaselineError(f"suite '{suite}': the result of {result.probe} has none of the metrics the suite "
                                f"gates ({', '.join(sorted(rules_for(suite)))}); nothing to accept")
        write_baseline(path, baseline)
        self.written.append(WrittenBaseline(path, metric_changes(previous, baseline), suite, origin))
        return self._gate(result, suite, baseline)

    @staticmethod
    def _read_if_present(path: Path) -> Baseline | None:
        return load_baseline(path) if path.exists() else None
