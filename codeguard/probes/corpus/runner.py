"""Runs the teacher-forced corpus probes (corpus KLD, keyword shift) over one shared pass of both models.

`run_corpus_kld` and `run_keyword_shift` are the one-probe entry points; both go through `run_corpus_probes`.
"""
from __future__ import annotations

from codeguard.errors import ProbeInputError
from codeguard.languages.corpus import Corpus, load_corpus
from codeguard.languages.registry import LanguageRegistry, load_registry
from codeguard.probes.corpus.keyword_shift import KeywordShiftAccumulator, KeywordShiftResult
from codeguard.probes.corpus.kld import CorpusKLDAccumulator, CorpusKLDResult
from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig, score_windows
from codeguard.probes.result import ModelInfo

CORPUS_PROBES = ("corpus-kld", "keyword-shift")


def run_corpus_probes(ref, opt, config: TeacherForcedConfig = TeacherForcedConfig(), corpus: Corpus | None = None,
                      registry: LanguageRegistry | None = None,
                      probes: tuple[str, ...] = CORPUS_PROBES) -> dict[str, object]:
    """Scores every window once with each model and feeds each requested probe; returns results by probe name."""
    corpus, registry = corpus_inputs(config, corpus, registry, probes)
    config = config.resolved(ref, opt)
    files, _, start_ids, source, stream = score_windows(ref, opt, corpus, config.ctx, config.start_token,
                                                        config.min_context)
    header = dict(ref=ModelInfo.of(ref), opt=ModelInfo.of(opt), config=config, start_ids=start_ids,
                  start_source=source)
    return reduce_windows(stream, files, corpus, registry, probes, header)


def corpus_inputs(config: TeacherForcedConfig, corpus: Corpus | None, registry: LanguageRegistry | None,
                  probes: tuple[str, ...]) -> tuple[Corpus, LanguageRegistry]:
    """The requested probes checked, and the corpus and registry to use (the shipped ones where none is given)."""
    unknown = sorted(set(probes) - set(CORPUS_PROBES))
    if unknown:
        raise ProbeInputError(f"unknown corpus probe(s) {unknown}; known: {list(CORPUS_PROBES)}")
    registry = registry or load_registry()
    return corpus or load_corpus(config.corpus, registry), registry


def reduce_windows(stream, files, corpus: Corpus, registry: LanguageRegistry, probes: tuple[str, ...],
                   header: dict) -> dict[str, object]:
    """Feeds every scored window (live, or from a reference cache) to each requested probe; results by name."""
    accumulators = {}
    if "corpus-kld" in probes:
        accumulators["corpus-kld"] = CorpusKLDAccumulator()
    if "keyword-shift" in probes:
        accumulators["keyword-shift"] = KeywordShiftAccumulator(files, registry)
    for scored in stream:
        for accumulator in accumulators.values():
            accumulator.add(scored)
        del scored  # else this window's logits stay alive while the stream scores and reduces the next one
    results = {}
    if "corpus-kld" in accumulators:
        results["corpus-kld"] = accumulators["corpus-kld"].finish(files, corpus, **header)
    if "keyword-shift" in accumulators:
        results["keyword-shift"] = accumulators["keyword-shift"].finish(**header)
    return results


def run_corpus_kld(ref, opt, config: TeacherForcedConfig = TeacherForcedConfig(), corpus: Corpus | None = None,
                   registry=None) -> CorpusKLDResult:
    """Scores the corpus with both models and reduces every position to llama.cpp's statistics."""
    return run_corpus_probes(ref, opt, config, corpus, registry, probes=("corpus-kld",))["corpus-kld"]


def run_keyword_shift(ref, opt, config: TeacherForcedConfig = TeacherForcedConfig(), corpus: Corpus | None = None,
                      registry: LanguageRegistry | None = None) -> KeywordShiftResult:
    """Per language: mean and max |Δ log p| of keywords in real code, and how often opt loses ref's top-1 keyword."""
    return run_corpus_probes(ref, opt, config, corpus, registry, probes=("keyword-shift",))["keyword-shift"]
