"""The study's cold-start aggregates per language: how much first-token probability goes to keywords.

PKP  total probability of a language's keywords, KAP  mean probability per keyword (PKP / number of keywords),
STP  total probability of punctuation/structural tokens, NLP  total probability of a control set of English words.

A keyword counts with all its forms (bare and space-prefixed; both cases for SQL). A keyword that spans several
tokens gets the chain-rule probability of its token sequence from the start context; the single-token-only
figure (what the original study computed, with multi-token keywords at 0) is reported beside it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tomllib
from scipy.spatial.distance import jensenshannon

from codeguard.languages.registry import LanguageRegistry, load_registry
from codeguard.probes.pairing import matching_start_ids, require_same_vocabulary
from codeguard.probes.result import ModelInfo, ProbeResult
from codeguard.probes.tokenizer_analysis import classify_surface
from codeguard.tokenization.loader import model_tokenizer

CONTROL_WORDS = Path(__file__).resolve().parents[1] / "data" / "english_control.toml"
CONCENTRATION_LEVELS = (0.8, 0.9, 0.95)


@dataclass(frozen=True)
class KeywordMassConfig:
    languages: tuple[str, ...] | None = None  # None: every registry language
    start_token: str | None = None
    top: int = 10


@dataclass
class KeywordMassResult(ProbeResult):
    probe = "keyword-mass"
    ref: ModelInfo
    opt: ModelInfo
    config: KeywordMassConfig
    start_ids: list[int]
    start_source: str
    aggregates: dict[str, dict]      # "ref"/"opt" -> per-language and overall figures
    metrics: dict[str, float]        # gated shifts, "pkp_rel_shift.python", "language_mix_js", ...
    control_words_excluded: list[str] = field(default_factory=list)

    def probe_config(self) -> dict:
        return {**super().probe_config(), "languages": sorted(self.aggregates["ref"]["languages"])}


def load_control_words(registry: LanguageRegistry) -> tuple[list[str], list[str]]:
    """The English control set minus words that are keywords somewhere (returned second, for the report)."""
    words = tomllib.loads(CONTROL_WORDS.read_text())["words"]
    keywords = {w.lower() for lang in registry.languages.values() for w in lang.keywords}
    return [w for w in words if w.lower() not in keywords], [w for w in words if w.lower() in keywords]


def _forms(word: str, spellings) -> list[str]:
    return [form for spelling in spellings for form in (spelling, " " + spelling)]


def sequence_probabilities(model, start_ids: list[int], first: np.ndarray, sequences: list[list[int]]) -> list[float]:
    """Chain-rule probability of each token sequence as the first tokens after `start_ids`.

    `first` is the start context's next-token log-probabilities, already computed (alone, as in the cold-start
    probe); only the longer prefixes of multi-token sequences go through the model, batched.
    """
    contexts = {}
    for seq in sequences:
        for k in range(1, len(seq)):
            contexts.setdefault(tuple(start_ids + seq[:k]), None)
    keys = list(contexts)
    logprobs = model.next_token_logprobs([list(k) for k in keys]) if keys else []
    row = {key: logprobs[i] for i, key in enumerate(keys)}
    row[tuple(start_ids)] = first
    return [math.exp(sum(row[tuple(start_ids + seq[:k])][seq[k]] for k in range(len(seq)))) for seq in sequences]


def _concentration(probabilities: dict[str, float]) -> dict[str, int]:
    """How many keywords hold 80/90/95 % of the language's keyword mass."""
    values = sorted(probabilities.values(), reverse=True)
    total = sum(values)
    result = {}
    for level in CONCENTRATION_LEVELS:
        running, count = 0.0, 0
        for value in values:
            if total == 0 or running >= level * total:
                break
            running += value
            count += 1
        result[f"{int(level * 100)}"] = count
    return result


def model_aggregates(model, start_ids, registry, languages, control_words, top: int) -> dict:
    """PKP/KAP per language (single-token-only and chain-rule), STP, NLP and the top keywords, for one model."""
    tokenizer = model_tokenizer(model)
    first = model.next_token_logprobs([start_ids])[0]
    probs = np.exp(first)
    forms_of = {}
    for language in languages:
        for word in language.keywords:
            forms_of[(language.id, word)] = _forms(word, language.spellings(word))
    all_forms = sorted({f for forms in forms_of.values() for f in forms} | set(_forms_for_words(control_words)))
    encoded = {form: tokenizer.encode(form) for form in all_forms}
    chain = dict(zip(all_forms, sequence_probabilities(model, start_ids, first, [encoded[f] for f in all_forms])))
    single = {f: (float(probs[encoded[f][0]]) if len(encoded[f]) == 1 else 0.0) for f in all_forms}
    per_language = {}
    for language in languages:
        word_chain = {w: sum(chain[f] for f in forms_of[(language.id, w)]) for w in language.keywords}
        word_single = {w: sum(single[f] for f in forms_of[(language.id, w)]) for w in language.keywords}
        pkp, pkp_single = sum(word_chain.values()), sum(word_single.values())
        ranked = sorted(word_chain.items(), key=lambda kv: -kv[1])[:top]
        per_language[language.id] = {
            "pkp": pkp, "pkp_single_token": pkp_single, "kap": pkp / len(word_chain),
            "kap_single_token": pkp_single / len(word_chain), "n_keywords": len(word_chain),
            "multi_token_keywords": sum(1 for w in language.keywords
                                        if any(len(encoded[f]) > 1 for f in forms_of[(language.id, w)])),
            "concentration": _concentration(word_chain),
            "top_keywords": [{"keyword": w, "prob": p} for w, p in ranked]}
    every_form = sorted({f for forms in forms_of.values() for f in forms})  # sorted: a set's order varies by process
    surfaces = tokenizer.surfaces()
    structural = [i for i, s in enumerate(surfaces)
                  if classify_surface(s, set(), i in tokenizer.special_ids) in ("punctuation", "whitespace",
                                                                                  "indentation")]
    return {"languages": per_language,
            "overall": {"pkp": sum(chain[f] for f in every_form),
                        "pkp_single_token": sum(single[f] for f in every_form),
                        "stp": float(probs[structural].sum()),
                        "nlp": sum(chain[f] for f in _forms_for_words(control_words))}}


def _forms_for_words(words: list[str]) -> list[str]:
    return sorted({form for w in words for form in (w, " " + w)})


def shift_metrics(ref: dict, opt: dict) -> dict[str, float]:
    """The gated shifts: per-language relative/absolute PKP shift, overall ones, and JS of the language mixes."""
    metrics = {}
    for lang, r in ref["languages"].items():
        o = opt["languages"][lang]
        metrics[f"pkp_abs_shift.{lang}"] = abs(o["pkp"] - r["pkp"])
        metrics[f"pkp_rel_shift.{lang}"] = abs(o["pkp"] - r["pkp"]) / r["pkp"] if r["pkp"] > 0 else (
            0.0 if o["pkp"] == 0 else math.inf)
    for name in ("pkp", "stp", "nlp"):
        metrics[f"{name}_abs_shift"] = abs(opt["overall"][name] - ref["overall"][name])
    r_pkp = ref["overall"]["pkp"]
    metrics["pkp_rel_shift"] = metrics["pkp_abs_shift"] / r_pkp if r_pkp > 0 else 0.0
    ref_mix = np.array([v["pkp"] for v in ref["languages"].values()])
    opt_mix = np.array([opt["languages"][k]["pkp"] for k in ref["languages"]])
    if ref_mix.sum() > 0 and opt_mix.sum() > 0:
        with np.errstate(invalid="ignore"):
            metrics["language_mix_js"] = float(np.nan_to_num(jensenshannon(ref_mix / ref_mix.sum(),
                                                                           opt_mix / opt_mix.sum(), base=2)) ** 2)
    else:
        metrics["language_mix_js"] = 0.0 if ref_mix.sum() == opt_mix.sum() else 1.0
    return metrics


def run_keyword_mass(ref, opt, config: KeywordMassConfig = KeywordMassConfig(),
                     registry: LanguageRegistry | None = None) -> KeywordMassResult:
    """The paper's cold-start aggregates for both models and their shifts."""
    registry = registry or load_registry()
    require_same_vocabulary(ref, opt)
    start_ids, source = matching_start_ids(ref, opt, config.start_token)
    languages = [registry.get(name) for name in (config.languages or registry.ids)]
    control, _ = load_control_words(registry)
    ref_aggregates = model_aggregates(ref, start_ids, registry, languages, control, config.top)
    return compare_keyword_mass(ModelInfo.of(ref), ref_aggregates, opt, config, registry, start_ids, source)


def compare_keyword_mass(ref: ModelInfo, ref_aggregates: dict, opt, config: KeywordMassConfig,
                         registry: LanguageRegistry, start_ids: list[int], source: str) -> KeywordMassResult:
    """The result from ref's aggregates, measured already (live, or from a reference cache), and the live opt."""
    languages = [registry.get(name) for name in (config.languages or registry.ids)]
    control, excluded = load_control_words(registry)
    aggregates = {"ref": ref_aggregates,
                  "opt": model_aggregates(opt, start_ids, registry, languages, control, config.top)}
    return KeywordMassResult(
        ref=ref, opt=ModelInfo.of(opt),
        config=config, start_ids=start_ids, start_source=source, aggregates=aggregates,
        metrics=shift_metrics(aggregates["ref"], aggregates["opt"]), control_words_excluded=excluded)
