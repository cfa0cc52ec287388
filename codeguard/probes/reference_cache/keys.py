"""The keys a reference cache is valid for, computed the same way when it is built and when it is used."""
from __future__ import annotations

from dataclasses import asdict

from codeguard import __version__
from codeguard.languages.corpus import Corpus
from codeguard.languages.registry import LanguageRegistry
from codeguard.probes.reference_cache.store import REDUCTION_FORMAT, digest


def corpus_digest(corpus: Corpus) -> str:
    """Content of the corpus: every file's relative path, language and text (not where it lives)."""
    return digest([[str(f.path.relative_to(corpus.root)), f.language, f.text] for f in corpus.files])


def tokenizer_digest(model) -> str:
    return digest(model.vocabulary())


def registry_digest(registry: LanguageRegistry) -> str:
    """The keywords per language (what keyword-mass aggregates depend on besides the model)."""
    return digest({lang.id: list(lang.keywords) for lang in registry.languages.values()})


def config_key(corpus: dict, cold_start, keyword_mass, registry: LanguageRegistry) -> dict:
    """The probe settings a cache serves; `corpus` is TeacherForcedConfig.key()."""
    return {"corpus": corpus,
            "cold-start": asdict(cold_start),
            "keyword-mass": {**asdict(keyword_mass), "registry": registry_digest(registry)}}


def cache_keys(reference: dict, tokenizer: str, corpus: str, config: dict) -> dict:
    return {"reference": reference, "tokenizer": tokenizer, "corpus": corpus, "config": config,
            "reduction_format": REDUCTION_FORMAT, "codeguard_version": __version__}
