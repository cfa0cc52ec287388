"""Runs the distribution probes against a reference cache and a live optimized model: the same result types as
the live pair, ref's side read from the cache. In exact mode every number is the live run's; in top-K mode the
KL divergences are estimates (reductions.py): kld_mean is unbiased, its sampling noise inside its standard error, and
the other KL statistics are flagged (ref's ModelInfo is marked approximate with its tail sampled, and the gate refuses
flagged metrics as it does for a served model's top-k log-probabilities)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from codeguard.errors import ProbeInputError, ReferenceCacheError
from codeguard.languages.corpus import Corpus
from codeguard.languages.registry import LanguageRegistry, load_registry
from codeguard.probes.cold_start import ColdStartConfig, compare_cold_start
from codeguard.probes.corpus.pair_stats import Logits, PairStats, pair_stats, token_logprobs
from codeguard.probes.corpus.runner import CORPUS_PROBES, corpus_inputs, reduce_windows
from codeguard.probes.corpus.streaming import in_step, prefetched
from codeguard.probes.corpus.teacher_forced import (ScoredWindow, TeacherForcedConfig, check_context_length,
                                                    encode_corpus, first_row, make_windows, no_windows,
                                                    prefetch_depth)
from codeguard.probes.keyword_mass import KeywordMassConfig, compare_keyword_mass
from codeguard.probes.reference_cache.build import CORPUS_ARRAYS
from codeguard.probes.reference_cache.keys import config_key, corpus_digest, tokenizer_digest
from codeguard.probes.reference_cache.store import (MANIFEST, Manifest, RowFile, digest, load_arrays,
                                                    read_manifest, require_key)
from codeguard.probes.reference_cache import BACKEND
from codeguard.probes.result import ModelInfo


def load_reference_cache(directory: str | Path, verify_files: bool = True) -> "ReferenceCache":
    """Opens a cache directory; a missing, partial, corrupt or other-version cache is refused here (an exact cache's
    logits are hashed as the corpus probes read them, and refused there, before any result exists).
    `verify_files=False` skips re-hashing the arrays: only for a cache this process has just written."""
    directory = Path(directory)
    return ReferenceCache(directory, read_manifest(directory, verify_files), verify_files)


@dataclass
class ReferenceCache:
    directory: Path
    manifest: Manifest
    verify_files: bool = True

    @property
    def spec(self) -> str:
        return self.manifest.reference["spec"]

    @property
    def fingerprint(self) -> str:
        return self.manifest.reference["fingerprint"]

    @property
    def backend(self) -> str:
        return f"{self.manifest.reference['backend']} via {BACKEND} ({self.manifest.mode})"

    def info(self, approximate: bool = False) -> ModelInfo:
        """The reference as results record it (its own spec and fingerprint: baselines stay the live run's); a
        top-K cache's approximation keeps draws from ref's tail."""
        return ModelInfo(self.spec, self.fingerprint, self.backend, approximate, tail_sampled=approximate)

    @property
    def serves_pass_at_k(self) -> bool:
        """Whether the cache holds the reference's pass@k completions (for some problems and settings)."""
        return "pass_at_k" in self.manifest.probes

    def require_pass_at_k(self) -> None:
        """Refuses, by name, a cache built without the reference's pass@k completions (before a candidate loads)."""
        from codeguard.probes.reference_cache.completions import stored_entry
        stored_entry(self.directory, self.manifest)

    def pass_at_k(self, opt, config=None, problem_set=None, executor=None, progress: bool | None = None):
        """run_pass_at_k with ref's completions from the cache: only opt generates; both models' samples run in
        this run's sandbox. Other problems or generation settings than the cache's are refused by name."""
        # imported here: a distribution-only re-gate needs neither the problems nor the sandbox
        from codeguard.humaneval.problems import load_problems
        from codeguard.probes.pass_at_k import PassAtKConfig, run_pass_at_k
        from codeguard.probes.reference_cache.completions import FILE, read_completions
        config = config or PassAtKConfig()
        config.check()
        problem_set = problem_set or load_problems(config.problems)
        completions = read_completions(self.directory, self.manifest, config, problem_set)
        return run_pass_at_k(self, opt, config, problem_set, executor, progress,
                             stored_reference=(completions, str(self.directory / FILE)))

    def check_reference(self, spec: str | None = None, fingerprint: str | None = None) -> None:
        """Refuses the cache when it was built for another reference than the one named."""
        stored = self.manifest.keys["reference"]
        if spec is not None and spec != stored["spec"]:
            require_key(self.directory, self.manifest, "reference", {**stored, "spec": spec}, "the reference named")
        if fingerprint is not None and fingerprint != stored["fingerprint"]:
            require_key(self.directory, self.manifest, "reference", {**stored, "fingerprint": fingerprint},
                        "the reference's weights")

    def _check_opt(self, opt) -> None:
        require_key(self.directory, self.manifest, "tokenizer", tokenizer_digest(opt),
                    f"the vocabulary of {opt.spec}")

    def _check_config(self, part: str, value: dict, registry: LanguageRegistry) -> None:
        stored = self.manifest.keys["config"]
        if stored.get(part) != value:
            expected = {**stored, part: value}
            require_key(self.directory, self.manifest, "config", expected, f"this run's {part} configuration")

    def _start_ids(self, opt, start_token, stored_ids, stored_source) -> tuple[list[int], str]:
        ids, source = opt.start_ids(start_token)
        if list(ids) != list(stored_ids):
            raise ProbeInputError(
                f"the reference cache {self.directory} starts from ids {stored_ids} ({stored_source}), "
                f"{opt.spec} gets {ids} ({source}); set one start token for both (--codeguard-start-token)")
        return list(ids), stored_source

    def _probe_entry(self, probe: str) -> dict:
        """What the manifest keeps for `probe`; a cache built without it is refused by name."""
        if probe not in self.manifest.probes:
            raise ReferenceCacheError(
                f"reference cache {self.directory}: built without the {probe} probe's inputs (it serves "
                f"{', '.join(sorted(self.manifest.probes)) or 'nothing'}), so it cannot give {probe}; build one with "
                "them (`codeguard reference-cache REF --out DIR`)")
        return self.manifest.probes[probe]

    # -- probes ---------------------------------------------------------------------------------------------------

    def cold_start(self, opt, config: ColdStartConfig = ColdStartConfig(), registry=None):
        """run_cold_start with ref's distribution (and rollouts) from the cache: exact."""
        registry = registry or load_registry()
        self._check_opt(opt)
        self._check_config("cold-start", config_key({}, config, KeywordMassConfig(), registry)["cold-start"],
                           registry)
        stored = self._probe_entry("cold-start")
        start_ids, source = self._start_ids(opt, config.start_token, stored["start_ids"], stored["start_source"])
        ref_lp = self._arrays("cold_start.npz", ("logprobs",))["logprobs"]
        return compare_cold_start(self.info(), ref_lp, stored["rollouts"], opt, config, start_ids, source)

    def keyword_mass(self, opt, config: KeywordMassConfig = KeywordMassConfig(),
                     registry: LanguageRegistry | None = None):
        """run_keyword_mass with ref's aggregates from the cache: exact."""
        registry = registry or load_registry()
        self._check_opt(opt)
        self._check_config("keyword-mass", config_key({}, ColdStartConfig(), config, registry)["keyword-mass"],
                           registry)
        stored = self._probe_entry("keyword-mass")
        start_ids, source = self._start_ids(opt, config.start_token, stored["start_ids"], stored["start_source"])
        aggregates = dict(stored["aggregates"])
        aggregates["languages"] = {lang: aggregates["languages"][lang] for lang in stored["language_order"]}
        return compare_keyword_mass(self.info(), aggregates, opt, config, registry, start_ids, source)

    def corpus_probes(self, opt, config: TeacherForcedConfig = TeacherForcedConfig(), corpus: Corpus | None = None,
                      registry: LanguageRegistry | None = None,
                      probes: tuple[str, ...] = CORPUS_PROBES) -> dict[str, object]:
        """run_corpus_probes with ref's side from the cache; only `opt` runs."""
        if "corpus" not in self.manifest.probes:
            raise ReferenceCacheError(
                f"reference cache {self.directory}: built without a corpus (it serves the cold start and keyword "
                f"mass only), so it cannot give {', '.join(probes)}; build one with a corpus "
                "(`codeguard reference-cache REF --out DIR`)")
        corpus, registry = corpus_inputs(config, corpus, registry, probes)
        self._check_opt(opt)
        config = config.within_contexts(int(self.manifest.reference["max_context"]), int(opt.max_context))
        self._check_config("corpus", config.key(), registry)
        require_key(self.directory, self.manifest, "corpus", corpus_digest(corpus), f"the corpus at {corpus.root}")
        check_context_length(opt, config.ctx)
        start_ids, source = self._start_ids(opt, config.start_token, self.manifest.start_ids,
                                            self.manifest.start_source)
        files = encode_corpus(opt.fast_tokenizer, corpus)
        windows = make_windows(files, start_ids, config.ctx, config.min_context)
        if not windows:
            raise no_windows(corpus, config.min_context)
        targets = np.concatenate([w.targets.astype(np.int32) for w in windows])
        if digest(targets.tobytes()) != self.manifest.probes["corpus"]["targets"]:
            raise ReferenceCacheError(
                f"reference cache {self.directory / MANIFEST}: key tokenizer: {opt.spec} encodes the corpus into "
                "other tokens than the reference did; build the cache with this tokenizer")
        approximate = self.manifest.mode == "top-k"
        header = dict(ref=self.info(approximate), opt=ModelInfo.of(opt), config=config, start_ids=start_ids,
                      start_source=source)
        return reduce_windows(self._stream(opt, windows, config.ctx), files, corpus, registry, probes, header)

    # -- reading --------------------------------------------------------------------------------------------------

    def _arrays(self, name: str, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        arrays = load_arrays(self.directory / name, names)
        for key, array in arrays.items():
            if array.dtype.kind == "f" and (np.isnan(array).any() or np.isposinf(array).any()):
                raise ReferenceCacheError(f"reference cache file {self.directory / name}: array {key} holds NaN or "
                                          "+inf; the cache is corrupt: build it again")
        return arrays

    @cached_property
    def _corpus_arrays(self) -> dict[str, np.ndarray]:
        arrays = self._arrays("corpus.npz", CORPUS_ARRAYS)
        where = self.directory / "corpus.npz"
        for key in ("target_logprob", "top1_logprob", "logprobs", "tail_logprobs"):
            if not np.isfinite(arrays[key]).all():
                raise ReferenceCacheError(f"reference cache file {where}: array {key} holds a non-finite "
                                          "log-probability; the cache is corrupt: build it again")
        if arrays["offsets"].size != self.manifest.positions + 1 or arrays["offsets"][-1] != arrays["ids"].size:
            raise ReferenceCacheError(f"reference cache file {where}: its top sets do not cover the manifest's "
                                      f"{self.manifest.positions} positions; build it again")
        drawn = (self.manifest.positions, self.manifest.top_k["tail_samples"])
        if arrays["tail_ids"].shape != drawn or arrays["tail_logprobs"].shape != drawn:
            raise ReferenceCacheError(f"reference cache file {where}: its tail samples are not {drawn[1]} a position "
                                      f"over {drawn[0]} positions; build it again")
        width = self.manifest.reference["output_width"]
        for key in ("ids", "tail_ids"):
            if arrays[key].size and not (0 <= arrays[key].min() and arrays[key].max() < width):
                raise ReferenceCacheError(f"reference cache file {where}: array {key} holds token ids outside the "
                                          f"reference's {width} outputs; the cache is corrupt: build it again")
        return arrays

    def _stream(self, opt, windows, ctx: int):
        depth = prefetch_depth(opt, opt, ctx)
        opt_scores = prefetched(opt.sequence_logits([w.ids for w in windows], first_row(windows)), depth)
        if self.manifest.mode != "exact":
            position = 0
            for window, opt_logits in in_step(windows, opt_scores):
                opt_logits = opt_logits[:-1]
                stop = position + opt_logits.shape[0]
                yield CachedWindow.of(window, window.targets, self._corpus_arrays, position, stop, opt_logits)
                del opt_logits  # not held while the next window is scored
                position = stop
            return
        name = "corpus_logits.npy"
        rows = RowFile(self.directory / name, self.manifest.positions, self.manifest.reference["output_width"],
                       self.manifest.files[name]["sha256"] if self.verify_files else None)
        # ref's rows are read (and hashed) one window ahead in a thread of their own, beside opt's forward passes.
        # Reading is fast, so the queue is always full and each window of depth is resident all the time: as deep as
        # opt's queue (30 windows of the zoo's) it added 0.25 GB to the peak, and two ahead instead of one 50 MB on
        # the llama.cpp parity bench's reference-first run (0.89 against 0.84 GB, the same time)
        blocks = prefetched(_row_blocks(rows, windows), 1)
        try:
            for window, ref_logits, opt_logits in in_step(windows, blocks, opt_scores):
                opt_logits = opt_logits[:-1]
                yield ScoredWindow(window, window.targets, ref_logits, opt_logits, pair_stats(ref_logits, opt_logits))
                del ref_logits, opt_logits  # not held while the next window is read and scored
        except Exception:
            blocks.close()
            rows.verify()  # a corrupt file explains a failure better than what its bytes caused
            raise
        else:
            rows.verify()  # a corrupt file fails the run here, before the probes return any result
        finally:
            blocks.close()  # its thread stops before the file closes
            rows.close()


def _row_blocks(rows: RowFile, windows):
    """Each window's rows of the reference's logits, in order, as host arrays."""
    position = 0
    for window in windows:
        stop = position + window.targets.size
        yield rows.read(position, stop)
        position = stop


@dataclass
class CachedWindow:
    """A window scored by opt, with ref's side from a top-K cache: what ScoredWindow offers the accumulators."""

    window: object
    targets: np.ndarray
    opt_logits: Logits
    stats: PairStats
    target_logprob: np.ndarray
    top1_logprob: np.ndarray

    @classmethod
    def of(cls, window, targets, arrays, start: int, stop: int, opt_logits) -> "CachedWindow":
        from codeguard.probes.reference_cache.reductions import TopK, top_k_kld  # torch: top-K caches only
        top = TopK(arrays["offsets"], arrays["ids"], arrays["logprobs"], arrays["tail"], arrays["tail_ids"],
                   arrays["tail_logprobs"]).rows(start, stop)
        lse_opt, top_opt, kld = top_k_kld(top, opt_logits)
        top_ref = arrays["top1"][start:stop].astype(np.int64)
        lse_opt, top_opt, kld = (x.cpu().numpy() for x in (lse_opt, top_opt, kld))
        stats = PairStats(np.full_like(lse_opt, np.nan), lse_opt, top_ref, top_opt, kld)
        return cls(window, targets, opt_logits, stats, arrays["target_logprob"][start:stop],
                   arrays["top1_logprob"][start:stop])

    def ref_logprobs(self, rows, tokens) -> np.ndarray:
        """ref's log-probabilities of the target or of ref's top-1 token at `rows` (all the probes read)."""
        rows, tokens = np.asarray(rows), np.asarray(tokens)
        top1 = self.stats.top_ref[rows]
        found = np.where(tokens == self.targets[rows], self.target_logprob[rows],
                         np.where(tokens == top1, self.top1_logprob[rows], np.nan))
        assert not np.isnan(found).any(), "a top-K cache holds ref's log-probabilities of targets and top-1 only"
        return found

    def opt_logprobs(self, rows, tokens) -> np.ndarray:
        return token_logprobs(self.opt_logits, self.stats.lse_opt, rows, tokens)
