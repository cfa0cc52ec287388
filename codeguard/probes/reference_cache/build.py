"""Builds a reference cache from a live reference model: one pass over the corpus, plus the cold-start queries."""
from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from codeguard.errors import ReferenceCacheError
from codeguard.languages.corpus import Corpus, load_corpus
from codeguard.languages.registry import LanguageRegistry, load_registry
from codeguard.probes.cold_start import ColdStartConfig, rollout_summary
from codeguard.probes.corpus.pair_stats import host_array, pair_stats, reduction_device, token_logprobs
from codeguard.probes.corpus.streaming import in_step, prefetched
from codeguard.probes.corpus.teacher_forced import (DEFAULT_CTX, TeacherForcedConfig, check_context_length,
                                                    encode_corpus, first_row, make_windows, no_windows,
                                                    prefetch_depth)
from codeguard.probes.keyword_mass import KeywordMassConfig, load_control_words, model_aggregates
from codeguard.probes.reference_cache.completions import FILE as COMPLETIONS_FILE
from codeguard.probes.reference_cache.completions import write_completions
from codeguard.probes.reference_cache.keys import cache_keys, config_key, corpus_digest, tokenizer_digest
from codeguard.probes.reference_cache.store import (MANIFEST, Manifest, RowWriter, digest, save_arrays,
                                                    write_manifest)

DEFAULT_MASS = 0.999
DEFAULT_K = 64
# Tokens drawn per position from ref's tail (reductions.py), by default one per 256 vocabulary entries and at least
# 32: 1.6 % of llama.cpp's layout (vocabulary x 2 bytes a position) at any size. On the zoo (8,192 tokens: 32 draws)
# kld_mean came within 0.02 % of the exact one and its quantiles within 0.8 %, where the one-bucket lower bound missed
# 27-36 %; at 152 k tokens (593 draws) the near-uniform distributions of random weights need the larger sample
# (bench/RESULTS.md).
MIN_TAIL_SAMPLES = 32
VOCABULARY_PER_TAIL_SAMPLE = 256
TAIL_SEED = 0  # the draws are seeded: one reference and corpus give one cache
# "auto" stores ref's full logits (exact mode) up to this size: the zoo's 8,192-token vocabulary over a small corpus;
# the shipped corpus (52 k positions) would take 1.7 GB and gets top-K sets.
EXACT_AUTO_BYTES = 64 << 20
MODES = ("auto", "exact", "top-k")
DISK_ROOM = 256 << 20  # left free beside an exact cache (the manifest, the other arrays, everyone else)
CORPUS_ARRAYS = ("targets", "top1", "target_logprob", "top1_logprob", "offsets", "ids", "logprobs", "tail",
                 "tail_ids", "tail_logprobs")


def default_tail_samples(width: int) -> int:
    """Draws per position for a vocabulary of `width` tokens (see MIN_TAIL_SAMPLES)."""
    return max(MIN_TAIL_SAMPLES, width // VOCABULARY_PER_TAIL_SAMPLE)


def build_reference_cache(ref, out: str | Path, corpus_config: TeacherForcedConfig = TeacherForcedConfig(),
                          cold_start: ColdStartConfig = ColdStartConfig(),
                          keyword_mass: KeywordMassConfig = KeywordMassConfig(), corpus: Corpus | None = None,
                          registry: LanguageRegistry | None = None, mode: str = "auto", mass: float = DEFAULT_MASS,
                          k: int = DEFAULT_K, tail_samples: int | None = None, with_corpus: bool = True,
                          with_start: bool = True, pass_at_k=None, progress: bool | None = None) -> Manifest:
    """Scores everything the distribution probes need from `ref` once and writes it to the directory `out`
    (created; an existing cache there is replaced, any other non-empty directory is refused). Without the corpus
    (`with_corpus=False`) the cache serves the cold start and keyword mass only, and without them (`with_start=False`:
    `codeguard compare --reference-first` of a corpus probe) the corpus probes only; each says so if asked for more.
    With `pass_at_k` (a PassAtKConfig) it also holds ref's completions for those problems and settings
    (`completions.py`), so that the pass@k suite runs with only the candidate loaded. Top-K mode keeps per position
    at most `k` tokens up to `mass` and `tail_samples` draws from the rest (None: `default_tail_samples`)."""
    if mode not in MODES:
        raise ReferenceCacheError(f"reference cache mode {mode!r}: expected one of {', '.join(MODES)}")
    if not (0.0 < mass <= 1.0) or k < 1 or (tail_samples is not None and tail_samples < 1):
        raise ReferenceCacheError(f"reference cache top-K settings mass={mass}, k={k}, tail_samples={tail_samples}: "
                                  "need 0 < mass <= 1, k >= 1, tail_samples >= 1")
    out = _fresh_directory(Path(out))
    registry = registry or load_registry()
    ctx = corpus_config.ctx or min(DEFAULT_CTX, int(ref.max_context))
    corpus_config = replace(corpus_config, ctx=ctx)
    start_ids, source = ref.start_ids(corpus_config.start_token)
    width = int(ref.output_width)
    tail_samples = tail_samples or default_tail_samples(width)
    windows, positions = [], 0
    if with_corpus:
        corpus = corpus or load_corpus(corpus_config.corpus, registry)
        check_context_length(ref, ctx)
        windows = make_windows(encode_corpus(ref.fast_tokenizer, corpus), start_ids, ctx, corpus_config.min_context)
        if not windows:
            raise no_windows(corpus, corpus_config.min_context)
        positions = sum(w.targets.size for w in windows)
    if not with_corpus:
        mode = "exact"  # no positions: nothing is approximated
    elif mode == "auto":
        mode = "exact" if positions * width * 4 <= EXACT_AUTO_BYTES else "top-k"
    if mode == "exact" and positions:
        _require_disk_space(out, positions, width)
    manifest = Manifest(
        keys=cache_keys({"spec": ref.spec, "fingerprint": ref.fingerprint, "backend": ref.backend},
                        tokenizer_digest(ref), corpus_digest(corpus) if with_corpus else None,
                        config_key(corpus_config.key(), cold_start, keyword_mass, registry)),
        reference={"spec": ref.spec, "fingerprint": ref.fingerprint, "backend": ref.backend,
                   "max_context": int(ref.max_context), "output_width": width},
        mode=mode, start_ids=list(start_ids), start_source=source, positions=positions,
        top_k={"mass": mass, "k": k, "tail_samples": tail_samples, "seed": TAIL_SEED} if mode == "top-k" else {})
    if with_corpus:  # else no corpus probe entry: replay refuses the corpus probes by name
        targets = np.concatenate([w.targets.astype(np.int32) for w in windows])
        manifest.probes["corpus"] = {"targets": digest(targets.tobytes()), "windows": len(windows)}
        _score_corpus(ref, windows, ctx, out, manifest, targets)
    if with_start:  # else no entries: replay refuses the cold start and keyword mass by name
        _cold_start(ref, cold_start, out, manifest)
        _keyword_mass(ref, keyword_mass, registry, manifest)
    if pass_at_k is not None:
        manifest.probes["pass_at_k"] = write_completions(ref, out, pass_at_k, progress)
        manifest.files[COMPLETIONS_FILE] = {}
    write_manifest(out, manifest)
    return manifest


def _fresh_directory(out: Path) -> Path:
    if out.exists() and any(out.iterdir()):
        if not (out / MANIFEST).is_file():
            raise ReferenceCacheError(f"{out} is a non-empty directory that is not a reference cache; choose an "
                                      "empty or new directory for --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _require_disk_space(out: Path, positions: int, width: int) -> None:
    """Exact mode stores every logit: refused before the reference scores anything when the disk cannot hold it."""
    needed, free = positions * width * 4, shutil.disk_usage(out).free
    if needed + DISK_ROOM > free:
        raise ReferenceCacheError(
            f"reference cache {out}: exact mode needs {gib(needed)} ({positions} corpus positions x {width} logits "
            f"x 4 bytes) plus {gib(DISK_ROOM)} of room, and that file system has {gib(free)} free; free some, "
            "write the cache elsewhere (--out, or $CODEGUARD_CACHE for --codeguard-reference-first), use a smaller "
            "corpus, or top-k mode")


def gib(size: int) -> str:
    """A byte count for messages, in GiB to 3 significant digits."""
    return f"{size / 2**30:.3g} GiB"


def _score_corpus(ref, windows, ctx: int, out: Path, manifest: Manifest, targets: np.ndarray) -> None:
    """Exact mode: ref's float32 logits as scored (corpus_logits.npy). Top-K mode: per position what the corpus
    probes read from ref (top-1, log-probabilities of the target and of the top-1) and the top sets (corpus.npz)."""
    exact = manifest.mode == "exact"
    writer = RowWriter(out / "corpus_logits.npy", manifest.positions, manifest.reference["output_width"]) \
        if exact else None
    columns = {name: [] for name in ("top1", "target_logprob", "top1_logprob", "sets")}
    depth = prefetch_depth(ref, ref, ctx)
    reduce = None if exact else _top_k_reducer(manifest)
    try:
        scored = prefetched(ref.sequence_logits([w.ids for w in windows], first_row(windows)), depth)
        for window, logits in in_step(windows, scored):
            # row k predicts window.targets[k], as in teacher_forced.score_windows
            if exact:
                writer.write(host_array(logits[:-1]))  # float32 (or widened to it): exact
            else:
                reduce(window.targets, logits[:-1], columns)
            del logits  # not held while the next window is scored
    except BaseException:
        if writer is not None:
            writer.abandon()  # the build folder is not kept; the error that stopped it is what the user needs
        raise
    if exact:
        manifest.files["corpus_logits.npy"] = writer.close()  # hashed as written
        return
    sets = columns.pop("sets")
    counts = np.concatenate([np.diff(s.offsets) for s in sets])
    arrays = {name: np.concatenate(parts) for name, parts in columns.items()}
    arrays.update(targets=targets, offsets=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
                  ids=np.concatenate([s.ids for s in sets]), logprobs=np.concatenate([s.logprobs for s in sets]),
                  tail=np.concatenate([s.tail for s in sets]),
                  tail_ids=np.concatenate([s.tail_ids for s in sets]),
                  tail_logprobs=np.concatenate([s.tail_logprobs for s in sets]))
    save_arrays(out / "corpus.npz", arrays)
    manifest.files["corpus.npz"] = {}
    manifest.probes["corpus"]["mean_top_set"] = float(counts.mean()) if counts.size else 0.0


def _top_k_reducer(manifest: Manifest):
    """Top-K mode: a function that reduces one window of ref's logits to what the corpus probes read (top-1,
    log-probabilities of the target and of the top-1) and its top set, appending them to `columns`; where the live
    probes would reduce (a GPU; else the CPU)."""
    import torch  # top-K sets are drawn with torch's generator (reductions.py)
    from codeguard.probes.reference_cache.reductions import top_sets
    generator = None

    def reduce(window_targets: np.ndarray, logits, columns: dict) -> None:
        nonlocal generator
        logits = torch.as_tensor(logits).to(reduction_device(logits), torch.float32)
        stats = pair_stats(logits, logits)  # ref's log-normalisers and top-1, computed as the live probes do
        rows = np.arange(window_targets.size)
        top1 = stats.top_ref
        columns["top1"].append(top1.astype(np.int32))
        columns["target_logprob"].append(token_logprobs(logits, stats.lse_ref, rows, window_targets))
        columns["top1_logprob"].append(token_logprobs(logits, stats.lse_ref, rows, top1))
        if generator is None:  # seeded on the device that draws (a CUDA generator draws other numbers)
            generator = torch.Generator(device=logits.device).manual_seed(manifest.top_k["seed"])
        with torch.inference_mode():
            logprobs = logits.double() - torch.from_numpy(stats.lse_ref).to(logits.device)[:, None]
            columns["sets"].append(top_sets(logprobs, manifest.top_k["mass"], manifest.top_k["k"],
                                            manifest.top_k["tail_samples"], generator))
    return reduce


def _cold_start(ref, config: ColdStartConfig, out: Path, manifest: Manifest) -> None:
    start_ids, source = ref.start_ids(config.start_token)
    save_arrays(out / "cold_start.npz", {"logprobs": np.asarray(ref.next_token_logprobs([start_ids])[0],
                                                                 dtype=np.float64)})
    manifest.files["cold_start.npz"] = {}
    manifest.probes["cold-start"] = {
        "start_ids": list(start_ids), "start_source": source,
        "rollouts": rollout_summary(ref, start_ids, config) if config.rollouts > 0 else None}


def _keyword_mass(ref, config: KeywordMassConfig, registry: LanguageRegistry, manifest: Manifest) -> None:
    start_ids, source = ref.start_ids(config.start_token)
    languages = [registry.get(name) for name in (config.languages or registry.ids)]
    control, _ = load_control_words(registry)
    aggregates = model_aggregates(ref, start_ids, registry, languages, control, config.top)
    manifest.probes["keyword-mass"] = {
        "start_ids": list(start_ids), "start_source": source, "aggregates": aggregates,
        # the manifest's JSON sorts keys; the shifts sum over languages in the registry's order
        "language_order": list(aggregates["languages"])}
