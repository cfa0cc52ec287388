"""Keyword-token shift in real code: how each model scores the keywords where they actually occur.

At every position where a registry keyword of the file's language begins (found by a real lexer, see
codeguard/languages/lexing.py), the log-probability each model gives the keyword's token(s), teacher-forced (chain rule over
the tokens that cover the keyword). A keyword whose tokens cross a window boundary is counted as skipped.
"""
from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from codeguard.errors import ProbeInputError
from codeguard.languages.lexing import keyword_spans
from codeguard.languages.registry import LanguageRegistry
from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig
from codeguard.probes.result import ModelInfo, ProbeResult
from codeguard.probes.uncertainty import FileClusteredErrors, clustered_means, language_groups

MOST_MOVED = 10


@dataclass
class KeywordShiftResult(FileClusteredErrors, ProbeResult):
    probe = "keyword-shift"
    probe_config_defaults = TeacherForcedConfig.probe_config_defaults
    exact_from_top_k = frozenset({"mean_abs_dlogp", "top1_lost_share"})  # actual-token log-probs and top-1 only
    ref: ModelInfo
    opt: ModelInfo
    config: TeacherForcedConfig
    start_ids: list[int]
    start_source: str
    per_language: dict[str, dict]
    overall: dict[str, float]
    skipped: dict[str, int] = field(default_factory=dict)
    stderr: dict[str, float] = field(default_factory=dict)      # gate metric -> SE over files (probes/uncertainty.py)
    stderr_files: dict[str, int] = field(default_factory=dict)  # gate metric -> files its SE rests on

    def to_dict(self) -> dict:
        return self._uncertainty_json(super().to_dict())

    def gate_notes(self) -> list[str]:
        """Each gated mean's ± SE over files (the files holding a keyword) and the smallest change two runs can
        tell apart."""
        return self.uncertainty_notes(self.gate_metrics())

    def probe_config(self) -> dict:
        return {**super().probe_config(), **self.config.probe_config()}

    def gate_metrics(self) -> dict[str, float]:
        """Overall |Δ log p| and lost-top-1 share, and |Δ log p| per language. Per-language lost-top-1 shares
        rest on a handful of positions each (a weak model rarely ranks the keyword first), so they are reported,
        not gated."""
        flat = {"mean_abs_dlogp": self.overall["mean_abs_dlogp"], "top1_lost_share": self.overall["top1_lost_share"]}
        for lang, stats in self.per_language.items():
            flat[f"mean_abs_dlogp.{lang}"] = stats["mean_abs_dlogp"]
        return flat


@dataclass
class Occurrences:
    """One file's lexed keywords as arrays: token range [first, stop) and spelling of each, in file order."""

    first: np.ndarray
    stop: np.ndarray
    words: list[str]

    def inside(self, begin: int, end: int) -> np.ndarray:
        """Indexes of the occurrences whose tokens all lie in [begin, end)."""
        low = np.searchsorted(self.first, begin, side="left")
        high = np.searchsorted(self.first, end, side="left")
        candidates = np.arange(low, high)
        return candidates[self.stop[candidates] <= end]


def _occurrences(files, registry: LanguageRegistry) -> list[Occurrences]:
    """Per encoded file: the token range and spelling of every lexed keyword."""
    result = []
    for f in files:
        found = [(tokens.start, tokens.stop, span.word) for span in keyword_spans(f.text, registry.get(f.language))
                 if len(tokens := f.tokens_overlapping(span.start, span.end))]
        result.append(Occurrences(np.array([a for a, _, _ in found], dtype=np.int64),
                                  np.array([b for _, b, _ in found], dtype=np.int64), [w for _, _, w in found]))
    return result


def _stats(dlogp: np.ndarray, ref_top: np.ndarray, lost: np.ndarray, lp_ref: np.ndarray, lp_opt: np.ndarray):
    had_top = int(ref_top.sum())
    return {"positions": int(dlogp.size), "mean_abs_dlogp": float(np.abs(dlogp).mean()),
            "max_abs_dlogp": float(np.abs(dlogp).max()), "mean_dlogp": float(dlogp.mean()),
            "mean_logp_ref": float(lp_ref.mean()), "mean_logp_opt": float(lp_opt.mean()),
            "ref_top1_positions": had_top,
            "top1_lost_share": float(lost.sum() / had_top) if had_top else 0.0}


class KeywordShiftAccumulator:
    """Picks the keyword positions out of each scored window as it streams by.

    The corpus is lexed in a background thread, started here, while the first windows are scored: lexing is pure
    Python (0.45 s for the shipped corpus) and the models' forward passes release the GIL."""

    def __init__(self, files, registry: LanguageRegistry):
        self.files = files
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="codeguard-lexing")
        self._lexed = pool.submit(_occurrences, files, registry)
        pool.shutdown(wait=False)  # the thread ends once the corpus is lexed
        self.rows = defaultdict(list)  # language -> (word, lp_ref, lp_opt, ref_top, lost, file)
        self.placed = 0

    @property
    def occurrences(self) -> list["Occurrences"]:
        return self._lexed.result()

    def add(self, scored) -> None:
        """All keyword occurrences that lie wholly inside the window, looked up in one gather per model."""
        window, targets = scored.window, scored.targets
        found = self.occurrences[window.file]
        inside = found.inside(window.first_token, window.first_token + targets.size)
        if not inside.size:
            return
        first = found.first[inside] - window.first_token
        length = found.stop[inside] - found.first[inside]
        starts = np.cumsum(length) - length  # where each occurrence's tokens begin in `steps`
        steps = np.repeat(first - starts, length) + np.arange(length.sum())
        lp_ref = np.add.reduceat(scored.ref_logprobs(steps, targets[steps]), starts)
        lp_opt = np.add.reduceat(scored.opt_logprobs(steps, targets[steps]), starts)
        ref_top = scored.stats.top_ref[first] == targets[first]
        lost = ref_top & (scored.stats.top_opt[first] != targets[first])
        rows = self.rows[self.files[window.file].language]
        for index, word in enumerate(found.words[i] for i in inside):
            rows.append((word, float(lp_ref[index]), float(lp_opt[index]), bool(ref_top[index]), bool(lost[index]),
                         window.file))
        self.placed += inside.size

    def finish(self, **header) -> KeywordShiftResult:
        total = sum(len(o.words) for o in self.occurrences)
        if not self.placed:
            raise ProbeInputError(f"keyword-shift: no registry keyword found in the corpus ({total} found, none "
                                  "inside a window)")
        per_language, everything = {}, []
        for lang in sorted(self.rows):
            words, lp_ref, lp_opt, ref_top, lost, _ = (np.array(c) for c in zip(*self.rows[lang]))
            stats = _stats(lp_opt - lp_ref, ref_top, lost, lp_ref, lp_opt)
            moved = defaultdict(list)
            for word, a, b in zip(words, lp_ref, lp_opt):
                moved[str(word)].append(abs(b - a))
            stats["most_moved"] = [{"keyword": w, "count": len(v), "mean_abs_dlogp": float(np.mean(v))}
                                   for w, v in sorted(moved.items(), key=lambda kv: -np.mean(kv[1]))[:MOST_MOVED]]
            per_language[lang] = stats
            everything.extend(self.rows[lang])
        _, lp_ref, lp_opt, ref_top, lost, file_of = (np.array(c) for c in zip(*everything))
        stderr, stderr_files = _file_clustered_errors(self.files, file_of, np.abs(lp_opt - lp_ref), ref_top, lost)
        return KeywordShiftResult(**header, per_language=per_language,
                                  overall=_stats(lp_opt - lp_ref, ref_top, lost, lp_ref, lp_opt),
                                  skipped={"keywords_found": total, "outside_scored_positions": total - self.placed},
                                  stderr=stderr, stderr_files=stderr_files)


def _file_clustered_errors(files, file_of, abs_dlogp, ref_top, lost):
    """SEs over files (probes/uncertainty.py) of mean_abs_dlogp (overall and per language: sum of |Δ log p| over
    keyword occurrences per file) and top1_lost_share (lost top-1s over ref's top-1 keyword positions per file);
    only files that hold a placed keyword count."""
    occurrences = np.bincount(file_of, minlength=len(files)).astype(np.float64)
    groups = language_groups(files, occurrences)
    stderr, stderr_files = {}, {}
    sums = np.bincount(file_of, weights=abs_dlogp, minlength=len(files))
    top = np.bincount(file_of, weights=ref_top.astype(np.float64), minlength=len(files))
    lost_sums = np.bincount(file_of, weights=lost.astype(np.float64), minlength=len(files))
    found = [(f"mean_abs_dlogp.{g}" if g else "mean_abs_dlogp", cell)
             for g, cell in clustered_means(sums, occurrences, groups).items()]
    found += [("top1_lost_share", clustered_means(lost_sums, top, {"": groups[""]})[""])]
    for name, (se, n) in found:
        stderr_files[name] = n
        if np.isfinite(se):
            stderr[name] = float(se)
    return stderr, stderr_files
