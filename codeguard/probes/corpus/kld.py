"""Corpus KL divergence, llama.cpp's `perplexity --kl-divergence` statistics, per programming language.

Per scored position: KL(ref‖opt) in nats over the full distributions, whether the top-1 tokens agree, and both
models' probability of the actual next token. Positions are reduced to a few numbers as windows stream by, so
memory never holds positions x vocabulary beyond one batch. The per-position numbers come from
probes/pair_stats.py (float64, computed from the logits without full log-softmaxes).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from codeguard.languages.corpus import Corpus
from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig
from codeguard.probes.result import ModelInfo, ProbeResult
from codeguard.probes.uncertainty import FileClusteredErrors, clustered_means, language_groups

WORST_REPORTED = 10
DP_PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)


@dataclass
class CorpusKLDResult(FileClusteredErrors, ProbeResult):
    probe = "corpus-kld"
    probe_config_defaults = TeacherForcedConfig.probe_config_defaults
    # From a served model: perplexity and top-1 agreement are exact, the KL divergence is not (and neither is the
    # Δp of ref's top token where opt's top K miss it; reported, not gated).
    exact_from_top_k = frozenset({"positions", "same_top_p", "same_top_p_stderr", "ppl_ref", "ppl_opt", "ppl_ratio"})
    # From a top-K reference cache each position's KL is an unbiased estimate, so the means are (overall and per
    # language, their SE computed from the estimates); quantiles of noisy values are not, nor is the spread.
    unbiased_from_tail_samples = frozenset({"kld_mean"})
    ref: ModelInfo
    opt: ModelInfo
    config: TeacherForcedConfig
    start_ids: list[int]
    start_source: str
    metrics: dict[str, float]                  # overall llama.cpp-style statistics
    per_language: dict[str, dict[str, float]]
    delta_p: dict[str, float]            # of the actual next token (llama.cpp's Δp)
    delta_p_ref_top: dict[str, float]    # of the token ref ranks first at each position
    worst: list[dict]
    skipped_files: dict[str, list[str]] = field(default_factory=dict)
    stderr: dict[str, float] = field(default_factory=dict)      # gate metric -> SE over files (probes/uncertainty.py)
    stderr_files: dict[str, int] = field(default_factory=dict)  # gate metric -> files its SE rests on
    unclustered = ("kld_p99: no standard error (a percentile's would need a bootstrap over positions), so no noise "
                   "check",)

    def to_dict(self) -> dict:
        data = super().to_dict()
        data["metrics"] = {**self.metrics, "per_language": self.per_language}
        return self._uncertainty_json(data)

    def gate_notes(self) -> list[str]:
        """Each gated mean's ± SE over files and the smallest change two runs can tell apart; kld_mean's line also
        gives llama.cpp's per-position SE, which assumes independent positions."""
        notes = self.uncertainty_notes(self.gate_metrics())
        if notes and "kld_mean" in self.stderr:
            notes[0] += (f" (llama.cpp's per-position ± {self.metrics['kld_stderr']:.4g} treats positions as "
                         "independent)")
        return notes

    def probe_config(self) -> dict:
        return {**super().probe_config(), **self.config.probe_config()}

    def gate_metrics(self) -> dict[str, float]:
        """Flat metrics for the gate: overall ones and `kld_mean.<language>` / `same_top_p.<language>`."""
        flat = dict(self.metrics)
        for lang, stats in self.per_language.items():
            flat[f"kld_mean.{lang}"] = stats["kld_mean"]
            flat[f"same_top_p.{lang}"] = stats["same_top_p"]
        return flat


def summarize(kld: np.ndarray, same_top: np.ndarray, p_ref: np.ndarray, p_opt: np.ndarray) -> dict[str, float]:
    """llama.cpp's KLD report for one set of positions."""
    n = kld.size
    same = float(same_top.mean())
    nll_ref, nll_opt = -np.log(p_ref), -np.log(p_opt)
    return {
        "positions": float(n),
        "kld_mean": float(kld.mean()),
        "kld_stderr": float(kld.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0,
        "kld_median": float(np.median(kld)),
        "kld_p90": float(np.percentile(kld, 90)), "kld_p95": float(np.percentile(kld, 95)),
        "kld_p99": float(np.percentile(kld, 99)), "kld_p999": float(np.percentile(kld, 99.9)),
        "kld_max": float(kld.max()),
        "same_top_p": same, "same_top_p_stderr": float(np.sqrt(same * (1 - same) / n)),
        "ppl_ref": float(np.exp(nll_ref.mean())), "ppl_opt": float(np.exp(nll_opt.mean())),
        "ppl_ratio": float(np.exp(nll_opt.mean() - nll_ref.mean())),
    }


def delta_p_stats(p_ref: np.ndarray, p_opt: np.ndarray) -> dict[str, float]:
    """Statistics of Δp = p_opt − p_ref over positions (llama.cpp's token probability statistics)."""
    dp = p_opt - p_ref
    stats = {"mean": float(dp.mean()), "rms": float(np.sqrt((dp ** 2).mean())), "min": float(dp.min()),
             "max": float(dp.max())}
    stats.update({f"p{q}": float(np.percentile(dp, q)) for q in DP_PERCENTILES})
    return stats


class CorpusKLDAccumulator:
    """Reduces each scored window to per-position numbers (never positions x vocabulary)."""

    def __init__(self):
        self.columns = {name: [] for name in ("kld", "same", "p_ref", "p_opt", "top_ref", "top_opt", "file",
                                              "token")}

    def add(self, scored) -> None:
        stats, targets, c = scored.stats, scored.targets, self.columns
        rows = np.arange(targets.size)
        top_ref = stats.top_ref
        c["kld"].append(stats.kld)
        c["same"].append(top_ref == stats.top_opt)
        c["p_ref"].append(np.exp(scored.ref_logprobs(rows, targets)))   # the actual next token
        c["p_opt"].append(np.exp(scored.opt_logprobs(rows, targets)))
        c["top_ref"].append(np.exp(scored.ref_logprobs(rows, top_ref)))  # ref's top token
        c["top_opt"].append(np.exp(scored.opt_logprobs(rows, top_ref)))
        c["file"].append(np.full(targets.size, scored.window.file))
        c["token"].append(scored.window.first_token + rows)

    def finish(self, files, corpus: Corpus, **header) -> CorpusKLDResult:
        c = {name: np.concatenate(parts) for name, parts in self.columns.items()}
        kld, same, p_ref, p_opt = c["kld"], c["same"], c["p_ref"], c["p_opt"]
        language_of = np.array([files[i].language for i in c["file"]])
        per_language = {str(lang): summarize(kld[language_of == lang], same[language_of == lang],
                                             p_ref[language_of == lang], p_opt[language_of == lang])
                        for lang in sorted(set(language_of))}
        metrics = summarize(kld, same, p_ref, p_opt)
        stderr, stderr_files = _file_clustered_errors(files, c["file"], kld, same, np.log(p_ref) - np.log(p_opt),
                                                      metrics["ppl_ratio"])
        return CorpusKLDResult(
            **header, metrics=metrics, per_language=per_language,
            delta_p=delta_p_stats(p_ref, p_opt), delta_p_ref_top=delta_p_stats(c["top_ref"], c["top_opt"]),
            worst=_worst_positions(files, kld, c["file"], c["token"]),
            skipped_files=corpus.skipped(), stderr=stderr, stderr_files=stderr_files)


def _file_clustered_errors(files, file_of, kld, same, nll_gap, ppl_ratio):
    """SEs over files (probes/uncertainty.py) of kld_mean and same_top_p, overall and per language, and of
    ppl_ratio = exp(mean nll_gap) by the delta method (SE(ppl_ratio) = ppl_ratio · SE(mean nll_gap)). One weighted
    bincount per statistic: O(positions) once, then O(files)."""
    counts = np.bincount(file_of, minlength=len(files)).astype(np.float64)
    groups = language_groups(files, counts)
    stderr, stderr_files = {}, {}
    for metric, column, per_language in (("kld_mean", kld, True), ("same_top_p", same, True),
                                         ("ppl_ratio", nll_gap, False)):
        sums = np.bincount(file_of, weights=column.astype(np.float64), minlength=len(files))
        for group, (se, n) in clustered_means(sums, counts, groups if per_language else {"": groups[""]}).items():
            name = f"{metric}.{group}" if group else metric
            se = se * ppl_ratio if metric == "ppl_ratio" else se
            stderr_files[name] = n
            if np.isfinite(se):
                stderr[name] = float(se)
    return stderr, stderr_files


def _worst_positions(files, kld, file_of, token_of) -> list[dict]:
    worst = []
    for index in np.argsort(-kld, kind="stable")[:WORST_REPORTED]:
        f = files[file_of[index]]
        token = int(token_of[index])
        a, b = f.offsets[token]
        worst.append({"file": f.path, "language": f.language, "line": f.line_of_token(token),
                      "kld": float(kld[index]), "token": f.text[a:b],
                      "context": f.text[max(0, a - 60):a] + "⟦" + f.text[a:b] + "⟧" + f.text[b:b + 20]})
    return worst
