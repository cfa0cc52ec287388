"""Keyword-token shift in real code: how each model scores the keywords where they actually occur.

At every position where a registry keyword of the file's language begins (found by a real lexer, see
codeguard/lexing.py), the log-probability each model gives the keyword's token(s), teacher-forced (chain rule over
the tokens that cover the keyword). A keyword whose tokens cross a window boundary is counted as skipped.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from codeguard.corpus import Corpus
from codeguard.errors import ProbeInputError
from codeguard.languages import LanguageRegistry
from codeguard.lexing import keyword_spans
from codeguard.probes.result import ModelInfo, ProbeResult
from codeguard.probes.teacher_forced import TeacherForcedConfig


MOST_MOVED = 10


@dataclass
class KeywordShiftResult(ProbeResult):
    probe = "keyword-shift"
    exact_from_top_k = frozenset({"mean_abs_dlogp", "top1_lost_share"})  # actual-token log-probs and top-1 only
    ref: ModelInfo
    opt: ModelInfo
    config: TeacherForcedConfig
    start_ids: list[int]
    start_source: str
    per_language: dict[str, dict]
    overall: dict[str, float]
    skipped: dict[str, int] = field(default_factory=dict)

    def probe_config(self) -> dict:
        return {**super().probe_config(), "ctx": self.config.ctx, "corpus": self.config.corpus or "shipped"}

    def gate_metrics(self) -> dict[str, float]:
        """Overall |Δ log p| and lost-top-1 share, and |Δ log p| per language. Per-language lost-top-1 shares
        rest on a handful of positions each (a weak model rarely ranks the keyword first), so they are reported,
        not gated."""
        flat = {"mean_abs_dlogp": self.overall["mean_abs_dlogp"], "top1_lost_share": self.overall["top1_lost_share"]}
        for lang, stats in self.per_language.items():
            flat[f"mean_abs_dlogp.{lang}"] = stats["mean_abs_dlogp"]
        return flat


def _occurrences(files, registry: LanguageRegistry) -> list[list[tuple[int, int, str]]]:
    """Per encoded file: (first token, end token, keyword) of every lexed keyword."""
    result = []
    for f in files:
        spans = keyword_spans(f.text, registry.get(f.language))
        found = []
        for span in spans:
            tokens = f.tokens_overlapping(span.start, span.end)
            if len(tokens):
                found.append((tokens.start, tokens.stop, span.word))
        result.append(found)
    return result


def _stats(dlogp: np.ndarray, ref_top: np.ndarray, lost: np.ndarray, lp_ref: np.ndarray, lp_opt: np.ndarray):
    had_top = int(ref_top.sum())
    return {"positions": int(dlogp.size), "mean_abs_dlogp": float(np.abs(dlogp).mean()),
            "max_abs_dlogp": float(np.abs(dlogp).max()), "mean_dlogp": float(dlogp.mean()),
            "mean_logp_ref": float(lp_ref.mean()), "mean_logp_opt": float(lp_opt.mean()),
            "ref_top1_positions": had_top,
            "top1_lost_share": float(lost.sum() / had_top) if had_top else 0.0}


class KeywordShiftAccumulator:
    """Picks the keyword positions out of each scored window as it streams by."""

    def __init__(self, files, registry: LanguageRegistry):
        self.files = files
        self.occurrences = _occurrences(files, registry)
        self.rows = defaultdict(list)  # language -> (word, lp_ref, lp_opt, ref_top, lost)
        self.placed = 0

    def add(self, scored) -> None:
        window, targets = scored.window, scored.targets
        end = window.first_token + targets.size
        for first, stop, word in self.occurrences[window.file]:
            if first < window.first_token or stop > end:
                continue
            k = first - window.first_token
            steps = np.arange(k, stop - window.first_token)
            ref_top = bool(scored.stats.top_ref[k] == targets[k])
            self.rows[self.files[window.file].language].append(
                (word, float(scored.ref_logprobs(steps, targets[steps]).sum()),
                 float(scored.opt_logprobs(steps, targets[steps]).sum()),
                 ref_top, ref_top and bool(scored.stats.top_opt[k] != targets[k])))
            self.placed += 1

    def finish(self, **header) -> KeywordShiftResult:
        total = sum(len(o) for o in self.occurrences)
        if not self.placed:
            raise ProbeInputError(f"keyword-shift: no registry keyword found in the corpus ({total} found, none "
                                  "inside a window)")
        per_language, everything = {}, []
        for lang in sorted(self.rows):
            words, lp_ref, lp_opt, ref_top, lost = (np.array(c) for c in zip(*self.rows[lang]))
            stats = _stats(lp_opt - lp_ref, ref_top, lost, lp_ref, lp_opt)
            moved = defaultdict(list)
            for word, a, b in zip(words, lp_ref, lp_opt):
                moved[str(word)].append(abs(b - a))
            stats["most_moved"] = [{"keyword": w, "count": len(v), "mean_abs_dlogp": float(np.mean(v))}
                                   for w, v in sorted(moved.items(), key=lambda kv: -np.mean(kv[1]))[:MOST_MOVED]]
            per_language[lang] = stats
            everything.extend(self.rows[lang])
        _, lp_ref, lp_opt, ref_top, lost = (np.array(c) for c in zip(*everything))
        return KeywordShiftResult(**header, per_language=per_language,
                                  overall=_stats(lp_opt - lp_ref, ref_top, lost, lp_ref, lp_opt),
                                  skipped={"keywords_found": total, "crossing_a_window_boundary": total - self.placed})


def run_keyword_shift(ref, opt, config: TeacherForcedConfig = TeacherForcedConfig(), corpus: Corpus | None = None,
                      registry: LanguageRegistry | None = None) -> KeywordShiftResult:
    """Per language: mean and max |Δ log p| of keywords in real code, and how often opt loses ref's top-1 keyword."""
    from codeguard.probes.corpus_probes import run_corpus_probes
    return run_corpus_probes(ref, opt, config, corpus, registry, probes=("keyword-shift",))["keyword-shift"]
