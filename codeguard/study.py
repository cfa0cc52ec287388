"""The seed study as one run: a reference and its variants (quantized, distilled, scaled, fine-tuned), probe by probe.

For every model: its tokenizer's analysis and its own cold-start aggregates (PKP/KAP, STP, NLP from its own start
token). For every variant against the reference: the cold-start divergences, the keyword-mass shifts, corpus KLD
and keyword shift in one teacher-forced pass, and optionally pass@k. The reference stays loaded; each variant is
loaded, measured and dropped before the next, so memory holds two models at most.

Token-by-token comparisons need one vocabulary and one start context: a variant without them gets its comparative
probes marked not applicable, with the reason, and keeps its own aggregates (and pass@k, which compares text).
"""
from __future__ import annotations

import gc
import hashlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from codeguard import __version__
from codeguard.errors import CodeguardError, ConfigError, ProbeInputError, VocabularyMismatchError
from codeguard.humaneval.problems import load_problems
from codeguard.languages.corpus import Corpus, CorpusError, load_corpus
from codeguard.languages.registry import load_registry
from codeguard.models.devices import Placement, resolve_placement
from codeguard.models.loading import load_model
from codeguard.models.resolve import directory_kind, resolve_source
from codeguard.models.specs import parse_spec
from codeguard.probes.cold_start import ColdStartConfig, run_cold_start
from codeguard.probes.corpus.runner import run_corpus_probes
from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig
from codeguard.probes.keyword_mass import KeywordMassConfig, load_control_words, model_aggregates, shift_metrics
from codeguard.probes.pairing import matching_start_ids, require_same_vocabulary
from codeguard.probes.pass_at_k import PassAtKConfig, executed_samples, summarize
from codeguard.probes.tokenizer_analysis import analyse_tokenizer
from codeguard.report.results import dumps, git_state, machine, utc_now, versions
from codeguard.report.study import SCHEMA, SCHEMA_VERSION
from codeguard.sandbox.executor import Executor, SandboxConfig
from codeguard.tokenization.loader import model_tokenizer

COMPARATIVE = ("cold-start", "keyword-mass", "corpus-kld", "keyword-shift")


@dataclass(frozen=True)
class StudyConfig:
    """What a study measures with; recorded in study.json."""

    corpus: str | None = None                 # None: the shipped corpus
    ctx: int | None = None                    # None: the corpus probes' default (512, capped at the models' context)
    languages: tuple[str, ...] | None = None  # None: every registry language; also filters the corpus
    start_token: str | None = None            # None: BOS, else EOS
    pass_at_k: PassAtKConfig | None = None    # None: no pass@k

    def to_dict(self) -> dict:
        data = asdict(self)
        data["languages"] = list(self.languages) if self.languages else None
        return data


@dataclass
class ModelEntry:
    """One model of the study: its own measurements and, for a variant, its comparison with the reference."""

    spec: str
    role: str                                  # "reference" or "variant"
    fingerprint: str
    backend: str
    parameters: int | None
    tokenizer: int                             # index into StudyResult.tokenizers
    start_ids: list[int] | None
    start_source: str | None
    aggregates: dict | None                    # keyword_mass.model_aggregates of this model alone
    comparable: bool = True
    not_applicable: dict[str, str] = field(default_factory=dict)  # probe -> why it could not run
    results: dict[str, dict] = field(default_factory=dict)        # probe -> the probe result's to_dict()
    summary: dict[str, float | None] = field(default_factory=dict)
    wall_s: dict[str, float] = field(default_factory=dict)


@dataclass
class StudyResult:
    config: StudyConfig
    reference: ModelEntry
    variants: list[ModelEntry]
    tokenizers: list[dict]                     # TokenizerAnalysis.to_dict() plus "models": specs sharing it
    corpus: dict
    run: dict

    def to_dict(self) -> dict:
        """The study.json document (schema in codeguard/report/study.py)."""
        data = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "codeguard_version": __version__,
                "run": self.run, "versions": versions(), "config": self.config.to_dict(), "corpus": self.corpus,
                "reference": asdict(self.reference), "variants": [asdict(v) for v in self.variants],
                "tokenizers": self.tokenizers}
        return json.loads(dumps(data))  # plain JSON types (numpy scalars, tuples, paths), NaN kept


def check_specs(specs: list[str]) -> None:
    """Fails in a second, before any model loads, on a spec that cannot resolve (a typo must not cost minutes)."""
    for text in specs:
        spec = parse_spec(text)
        directory_kind(resolve_source(spec), spec.text)


def parameter_count(spec_text: str) -> int | None:
    """Parameters of the spec's source checkpoint (derivations keep the count); None without safetensors."""
    from safetensors import safe_open
    files = sorted(resolve_source(parse_spec(spec_text)).glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for path in files:
        with safe_open(path, framework="pt") as handle:
            total += sum(math.prod(handle.get_slice(name).get_shape()) for name in handle.keys())
    return total


def tokenizer_key(model) -> str:
    """Identifies a tokenizer by its full definition (vocabulary, merges, normalizer, specials)."""
    backend = getattr(model.tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else "\n".join(model.vocabulary())
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def comparability(ref, opt, start_token: str | None) -> str | None:
    """None when the pair can be compared token by token, else the reason it cannot."""
    try:
        require_same_vocabulary(ref, opt)
        matching_start_ids(ref, opt, start_token)
    except (VocabularyMismatchError, ProbeInputError) as error:
        return str(error)
    return None


def summary_metrics(entry: ModelEntry) -> dict[str, float | None]:
    """The headline numbers of one model (the study table's cells); None where a probe did not run."""
    r = entry.results
    cold = r.get("cold-start", {}).get("metrics", {})
    shifts = r.get("keyword-mass", {}).get("metrics", {})
    corpus = r.get("corpus-kld", {}).get("metrics", {})
    kw = r.get("keyword-shift", {}).get("overall", {})
    own = (entry.aggregates or {}).get("overall", {})
    summary = {
        "parameters": entry.parameters,
        "cold_kl_ref_opt": cold.get("kl_ref_opt"), "cold_js": cold.get("js_divergence"),
        "cold_top1_agree": cold.get("top1_agree"),
        "pkp": own.get("pkp"), "stp": own.get("stp"), "nlp": own.get("nlp"),
        "pkp_rel_shift": shifts.get("pkp_rel_shift"), "language_mix_js": shifts.get("language_mix_js"),
        "corpus_kld_mean": corpus.get("kld_mean"), "corpus_kld_p99": corpus.get("kld_p99"),
        "corpus_same_top_p": corpus.get("same_top_p"), "ppl": corpus.get("ppl_opt"),
        "ppl_ratio": corpus.get("ppl_ratio"),
        "keyword_mean_abs_dlogp": kw.get("mean_abs_dlogp"), "keyword_top1_lost_share": kw.get("top1_lost_share"),
    }
    for name, value in r.get("pass-at-k", {}).get("metrics", {}).items():
        if name.startswith(("pass@", "delta_pass@")):
            summary[name] = value
    return summary


class _Progress:
    """One tqdm bar on stderr over every (model, step), and one line per finished step."""

    def __init__(self, total: int, show: bool):
        from tqdm import tqdm
        # The bar redraws in place, which only a terminal shows well; elsewhere (--progress in CI) lines alone.
        self.bar = tqdm(total=total, file=sys.stderr, disable=not (show and sys.stderr.isatty()), unit="step",
                        dynamic_ncols=True,
                        bar_format="{desc} {bar} {n_fmt}/{total_fmt} [{elapsed}<{remaining}]")
        self.show = show

    def step(self, label: str, what: str, action):
        self.bar.set_description_str(f"{label}: {what}")
        started = time.perf_counter()
        try:
            value = action()
        except CodeguardError:
            self.line(label, what, "failed")
            raise
        finally:
            self.bar.update(1)
        took = time.perf_counter() - started
        self.line(label, what, f"{took:7.1f} s")
        return value, took

    def skip(self, label: str, what: str, steps: int) -> None:
        self.bar.update(steps)
        self.line(label, what, "not applicable")

    def line(self, label: str, what: str, outcome: str) -> None:
        if self.show:
            self.bar.write(f"codeguard study: {label:<34} {what:<14} {outcome}", file=sys.stderr)
            sys.stderr.flush()

    def close(self) -> None:
        self.bar.close()


class _PassAtK:
    """pass@k with the reference's samples generated and executed once for the whole study."""

    def __init__(self, config, progress: bool):
        config.check()
        self.config, self.progress = config, progress
        self.problem_set = load_problems(config.problems)
        self.executor = Executor(SandboxConfig(timeout=config.timeout, workers=config.workers))
        self.ref_samples = None

    def samples(self, model) -> dict[str, list[dict]]:
        return executed_samples(model, self.problem_set, self.config, self.executor, self.progress)

    def compare(self, ref, opt) -> dict:
        result = summarize(ref, opt, self.config, self.problem_set,
                           {"ref": self.ref_samples, "opt": self.samples(opt)}, self.executor.isolation)
        data = result.to_dict()
        data.pop("samples")  # every completion of every model would dominate study.json; per_problem stays
        return data

    def close(self) -> None:
        self.executor.close()


def _filtered_corpus(corpus, languages):
    if not languages:
        return corpus
    files = [f for f in corpus.files if f.language in languages]
    if not files:
        raise CorpusError(f"corpus {corpus.root} holds no file of the selected languages {list(languages)} "
                          f"(it has {corpus.languages})")
    return Corpus(corpus.root, files, corpus.unknown_language, corpus.undecodable)


def run_study(ref_spec: str, variant_specs: list[str], config: StudyConfig = StudyConfig(), registry=None,
              progress: bool | None = None, invocation: list[str] | None = None, device="auto") -> StudyResult:
    """Measures every variant against the reference; raises CodeguardError on bad input before loading a model.

    `device` is a device request or a resolved Placement (models.devices), as for load_model.
    """
    if not variant_specs:
        raise ConfigError("codeguard study: give at least one variant spec after the reference")
    repeated = sorted({s for s in variant_specs if variant_specs.count(s) > 1})
    if repeated:
        raise ConfigError(f"codeguard study: variant(s) {repeated} listed more than once")
    check_specs([ref_spec, *variant_specs])
    device = device if isinstance(device, Placement) else resolve_placement(device)  # before any model loads
    registry = registry or load_registry()
    languages = [registry.get(name) for name in (config.languages or registry.ids)]
    corpus = _filtered_corpus(load_corpus(config.corpus, registry), config.languages)
    control, _ = load_control_words(registry)
    top = KeywordMassConfig().top
    show = sys.stderr.isatty() if progress is None else progress
    started_at, started = utc_now(), time.perf_counter()
    pass_at_k = _PassAtK(config.pass_at_k, show) if config.pass_at_k is not None else None
    per_model = 3 + (pass_at_k is not None)
    bar = _Progress(total=per_model + len(variant_specs) * (per_model + 2), show=show)
    tokenizers: dict[str, dict] = {}

    def analyse(model, label) -> int:
        key = tokenizer_key(model)
        if key not in tokenizers:
            analysis, _ = bar.step(label, "tokenizer", lambda: analyse_tokenizer(
                model_tokenizer(model), registry, [lang.id for lang in languages], corpus).to_dict())
            tokenizers[key] = {**analysis, "models": []}
        else:
            bar.step(label, "tokenizer", lambda: None)  # shared with an earlier model: already analysed
        tokenizers[key]["models"].append(model.spec)
        return list(tokenizers).index(key)

    def entry_of(model, role, start_ids, source, label) -> ModelEntry:
        entry = ModelEntry(spec=model.spec, role=role, fingerprint=model.fingerprint, backend=model.backend,
                           parameters=parameter_count(model.spec), tokenizer=analyse(model, label),
                           start_ids=start_ids, start_source=source, aggregates=None)
        if start_ids is not None:
            entry.aggregates, entry.wall_s["aggregates"] = bar.step(label, "aggregates", lambda: model_aggregates(
                model, start_ids, registry, languages, control, top))
        return entry

    try:
        ref, load_s = bar.step(ref_spec, "load", lambda: load_model(ref_spec, device=device))
        reference = entry_of(ref, "reference", *ref.start_ids(config.start_token), ref_spec)
        reference.wall_s["load"] = load_s
        if pass_at_k is not None:
            pass_at_k.ref_samples, reference.wall_s["pass-at-k"] = bar.step(ref_spec, "pass@k samples",
                                                                            lambda: pass_at_k.samples(ref))
        variants = []
        for spec in variant_specs:
            variants.append(_variant(spec, ref, reference, entry_of, bar, pass_at_k, config, corpus, registry,
                                     device))
            gc.collect()  # the next variant loads into the memory this one held
        _summarize_reference(reference, variants)
    finally:
        bar.close()
        if pass_at_k is not None:
            pass_at_k.close()
    run = {"started": started_at, "finished": utc_now(), "duration_s": time.perf_counter() - started,
           "invocation": list(invocation or []), "git": git_state(Path.cwd()), "machine": machine(),
           "device": device.describe()}
    corpus_info = {"root": str(corpus.root), "files": len(corpus.files), "languages": corpus.languages,
                   "characters": sum(len(f.text) for f in corpus.files),
                   "unknown_language": corpus.unknown_language, "undecodable": corpus.undecodable}
    return StudyResult(config=config, reference=reference, variants=variants, tokenizers=list(tokenizers.values()),
                       corpus=corpus_info, run=run)


def _variant(spec, ref, reference, entry_of, bar, pass_at_k, config, corpus, registry, device=None) -> ModelEntry:
    """Loads one variant and measures it against the reference (or says why it cannot be compared)."""
    model, load_s = bar.step(spec, "load", lambda: load_model(spec, device=device))
    reason = comparability(ref, model, config.start_token)
    if reason is None:
        start_ids, source = reference.start_ids, reference.start_source
    else:
        try:
            start_ids, source = model.start_ids(config.start_token)
        except ProbeInputError as error:
            start_ids, source = None, None
            reason += f"; own aggregates not computed either: {error}"
    entry = entry_of(model, "variant", start_ids, source, spec)
    entry.wall_s["load"] = load_s
    entry.comparable = reason is None
    if reason is not None:
        entry.not_applicable = {probe: reason for probe in COMPARATIVE}
        bar.skip(spec, "comparison", 2 + (start_ids is None))
    else:
        _compare(bar, entry, ref, model, reference.aggregates, config, corpus, registry)
    if pass_at_k is not None:
        try:
            entry.results["pass-at-k"], entry.wall_s["pass-at-k"] = bar.step(
                spec, "pass@k", lambda: pass_at_k.compare(ref, model))
        except CodeguardError as error:
            entry.not_applicable["pass-at-k"] = str(error)
    entry.summary = summary_metrics(entry)
    return entry


def _summarize_reference(reference: ModelEntry, variants: list[ModelEntry]) -> None:
    """The reference's own figures that only a comparison measures (its perplexity, its pass@k)."""
    first_corpus = next((v.results["corpus-kld"] for v in variants if "corpus-kld" in v.results), None)
    reference.summary = summary_metrics(reference)
    if first_corpus is not None:
        reference.summary["ppl"] = first_corpus["metrics"]["ppl_ref"]
    first_pass = next((v.results["pass-at-k"] for v in variants if "pass-at-k" in v.results), None)
    for name, value in (first_pass or {}).get("metrics", {}).items():
        if name.startswith("ref_pass@"):
            reference.summary[name.removeprefix("ref_")] = value


def _compare(bar, entry, ref, model, ref_aggregates, config, corpus, registry) -> None:
    """The token-by-token probes of one comparable variant; a probe's own input error is recorded, not raised."""
    spec = entry.spec

    def attempt(probes, what, action):
        try:
            value, took = bar.step(spec, what, action)
        except CodeguardError as error:
            entry.not_applicable.update({probe: str(error) for probe in probes})
            return None
        for probe in probes:
            entry.wall_s[probe] = took
        return value

    cold = attempt(("cold-start",), "cold-start", lambda: run_cold_start(
        ref, model, ColdStartConfig(start_token=config.start_token)))
    if cold is not None:
        entry.results["cold-start"] = cold.to_dict()
    if entry.aggregates is not None and ref_aggregates is not None:
        entry.results["keyword-mass"] = {"metrics": shift_metrics(ref_aggregates, entry.aggregates)}
    tf_config = TeacherForcedConfig(ctx=config.ctx, corpus=config.corpus, start_token=config.start_token)
    corpus_results = attempt(("corpus-kld", "keyword-shift"), "corpus", lambda: run_corpus_probes(
        ref, model, tf_config, corpus, registry))
    for name, result in (corpus_results or {}).items():
        entry.results[name] = result.to_dict()
