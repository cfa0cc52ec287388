"""The cold-start probe: what each model emits first with no prompt (from its start token only)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from codeguard.probes.divergence import distribution_metrics
from codeguard.probes.pairing import matching_start_ids, require_same_vocabulary
from codeguard.probes.result import ModelInfo, ProbeResult

TOP_TOKENS_REPORTED = 20


@dataclass(frozen=True)
class ColdStartConfig:
    """What defines the probe's input; recorded in results and baselines."""

    start_token: str | None = None   # None: BOS where the tokenizer has one, else EOS
    rollouts: int = 0                # extended cold start: sampled continuations per model
    rollout_tokens: int = 32
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0


@dataclass
class ColdStartResult(ProbeResult):
    """Metrics plus what a report needs: start ids, both top-token lists and the rollout summaries."""

    probe = "cold-start"
    ref: ModelInfo
    opt: ModelInfo
    config: ColdStartConfig
    start_ids: list[int]
    start_source: str
    metrics: dict[str, float]
    top_tokens: dict[str, list[dict]]
    rollouts: dict[str, dict] = field(default_factory=dict)



def _top_tokens(logprobs: np.ndarray, vocabulary: list[str], n: int = TOP_TOKENS_REPORTED) -> list[dict]:
    order = np.argsort(-logprobs, kind="stable")[:n]
    return [{"id": int(i), "token": vocabulary[i], "prob": float(np.exp(logprobs[i]))} for i in order]


def rollout_summary(model, start_ids: list[int], config: ColdStartConfig, top: int = 10) -> dict:
    """Samples `config.rollouts` continuations and tallies their first tokens and first lines."""
    samples = model.sample([start_ids] * config.rollouts, max_new_tokens=config.rollout_tokens,
                           temperature=config.temperature, top_p=config.top_p, seed=config.seed)
    vocabulary = model.vocabulary()
    first_tokens = Counter(vocabulary[s[0]] if s else "<eos>" for s in samples)
    first_lines = Counter(model.tokenizer.decode(s).split("\n", 1)[0] for s in samples)
    return {"n": len(samples),
            "first_tokens": [{"token": t, "count": c} for t, c in first_tokens.most_common(top)],
            "first_lines": [{"line": t, "count": c} for t, c in first_lines.most_common(top)],
            "distinct_first_tokens": len(first_tokens), "distinct_first_lines": len(first_lines)}


def run_cold_start(ref, opt, config: ColdStartConfig = ColdStartConfig()) -> ColdStartResult:
    """Compares the two models' first-token distributions from identical start ids."""
    require_same_vocabulary(ref, opt)
    start_ids, source = matching_start_ids(ref, opt, config.start_token)
    ref_lp = ref.next_token_logprobs([start_ids])[0]
    ref_rollouts = rollout_summary(ref, start_ids, config) if config.rollouts > 0 else None
    return compare_cold_start(ModelInfo.of(ref), ref_lp, ref_rollouts, opt, config, start_ids, source)


def compare_cold_start(ref: ModelInfo, ref_lp: np.ndarray, ref_rollouts: dict | None, opt,
                       config: ColdStartConfig, start_ids: list[int], source: str) -> ColdStartResult:
    """The result from ref's side, measured already (live, or from a reference cache), and the live opt."""
    opt_lp = opt.next_token_logprobs([start_ids])[0]
    vocabulary = opt.vocabulary()  # the same as ref's (checked by the caller)
    result = ColdStartResult(
        ref=ref, opt=ModelInfo.of(opt),
        config=config, start_ids=start_ids, start_source=source,
        metrics=distribution_metrics(ref_lp, opt_lp),
        top_tokens={"ref": _top_tokens(ref_lp, vocabulary), "opt": _top_tokens(opt_lp, vocabulary)})
    if config.rollouts > 0:
        result.rollouts = {"ref": ref_rollouts, "opt": rollout_summary(opt, start_ids, config)}
    return result
