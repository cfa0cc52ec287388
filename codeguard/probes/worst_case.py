"""Worst-case search: hypothesis looks for the code prefix after which opt's next token diverges most from ref's.

Averages hide the failures users hit; this probe states "no code prefix makes opt diverge beyond the limit" and
lets hypothesis search for a counterexample. Each example is a batch of syntactically valid prefixes
(`codeguard.strategies`), evaluated with one `next_token_logprobs` call per model; the batch's worst value goes to
`hypothesis.target()`, so the search climbs towards divergent prefixes. A prefix beyond the limit is a failure
that hypothesis shrinks to the shortest prefix that still exceeds it, and stores in the example database, so the
next run replays it first.

The search's maximum is an extreme-value statistic: over 20 seeds the accepted zoo candidate's ranged 0.005-0.029
and int4's 0.023-0.040 (bench/RESULTS.md). So the gate also reads the tail mean (`tail_prefix_kl`): the mean over
the worst 5 % of the searched prefixes (expected shortfall), 0.0035-0.0062 for int8 and 0.015-0.022 for int4 over the
same seeds, with a bootstrap standard error for the within-noise checks. The maximum keeps a looser limit and its
shrunk counterexample: it catches the one prefix where a candidate breaks.

Values are cached per prefix: a prefix keeps the value of its first evaluation (batch composition changes the
last bits of a forward pass, and a re-measured shrink candidate must not flip). Shrinking stops evaluating new
prefixes after `shrink_budget` of them, which bounds the time a failing search takes.
"""
from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, example, given, seed, settings, target
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.errors import HypothesisWarning
from scipy.special import rel_entr

from codeguard.atomic_files import write_json_atomically
from codeguard.errors import ConfigError
from codeguard.languages.registry import load_registry
from codeguard.probes.pairing import matching_start_ids, require_same_vocabulary
from codeguard.probes.result import ModelInfo, ProbeResult
from codeguard.strategies import CodePrefix, prefix_batches, resolve_languages
from codeguard.strategies.reproducible import independent_of_loaded_modules

OBJECTIVES = {"kl": "max_prefix_kl", "keyword_dlogp": "max_keyword_dlogp"}
TAIL_METRICS = {"kl": "tail_prefix_kl", "keyword_dlogp": "tail_keyword_dlogp"}
TAIL_SHARE = 0.05        # the tail metrics average the worst 5 % of the searched prefixes
BOOTSTRAP_RESAMPLES = 999
KEYWORD_MIN_PROB = 1e-3  # keywords ref gives less than this are noise in |Δ log p|, not a signal
DATABASE_SUBDIR = Path(".hypothesis") / "codeguard" / "worst_case"


@dataclass(frozen=True)
class WorstCaseConfig:
    """What the search draws and how long it runs; the first four define the measurement (kept in baselines)."""

    sequence_fields: ClassVar[tuple[str, ...]] = ("languages", "sources", "constructs")
    languages: tuple[str, ...] | None = None   # None: python, javascript, java, c, go, rust
    max_tokens: int = 48                       # prefix length bound, in the pair's tokens
    objective: str = "kl"                      # "kl": KL(ref‖opt); "keyword_dlogp": max |Δ log p| of keywords
    sources: tuple[str, ...] = ("grammar", "corpus")
    constructs: tuple[str, ...] | None = None  # None: every grammar construct
    max_examples: int = 60                     # hypothesis examples (batches) before shrinking
    batch_size: int = 16                       # prefixes per example: one model call per model
    seed: int | None = 0                       # None: random; with a seed the search is reproducible
    derandomize: bool = False                  # hypothesis' derandomize (stored counterexamples still replay)
    deadline_ms: int | None = 60_000           # per example; catches a hung backend, not a slow one
    shrink_budget: int = 60                    # prefixes evaluated while shrinking, at most
    start_token: str | None = None
    corpus: str | None = None
    top: int = 5                               # next tokens reported per model
    reported: int = 3                          # worst prefixes reported per language

    @property
    def metric(self) -> str:
        """The search maximum: the metric a prefix must stay under, shrunk to a counterexample when it does not."""
        return OBJECTIVES[self.objective]

    @property
    def tail_metric(self) -> str:
        """The mean over the worst TAIL_SHARE of the searched prefixes: what separates candidates across seeds."""
        return TAIL_METRICS[self.objective]

    def check(self) -> "WorstCaseConfig":
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"worst-case objective {self.objective!r}: choose from {', '.join(OBJECTIVES)}")
        for name in ("max_tokens", "max_examples", "batch_size", "top", "reported"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"worst-case {name}={value!r}: expected a whole number >= 1")
        if not isinstance(self.shrink_budget, int) or self.shrink_budget < 0:
            raise ConfigError(f"worst-case shrink_budget={self.shrink_budget!r}: expected a whole number >= 0")
        if self.deadline_ms is not None and self.deadline_ms <= 0:
            raise ConfigError(f"worst-case deadline_ms={self.deadline_ms!r}: expected milliseconds > 0 or None")
        return self


def tail_mean(values, axis: int = -1, share: float = TAIL_SHARE) -> np.ndarray | float:
    """Mean of the largest ceil(share * n) values along `axis` (the expected shortfall at `share`); NaN for none."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[axis]
    if n == 0:
        return float("nan")
    worst = np.sort(values, axis=axis)
    count = max(1, int(np.ceil(share * n)))
    return np.take(worst, range(n - count, n), axis=axis).mean(axis=axis)


def tail_mean_stderr(values) -> float:
    """Bootstrap standard error of `tail_mean` over the searched prefixes (a fixed resampling seed: a run repeats).
    The prefixes of one search are not independent draws, so this is a floor on the seed-to-seed noise, not its
    measure; NaN below two prefixes (unknown noise, never 0)."""
    from scipy.stats import bootstrap  # ~0.4 s to import: not for every `codeguard` command that imports this module
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2 or np.ptp(values) == 0:
        return float("nan") if values.size < 2 else 0.0
    result = bootstrap((values,), tail_mean, n_resamples=BOOTSTRAP_RESAMPLES, vectorized=True,
                       method="percentile", random_state=np.random.default_rng(0))
    return float(result.standard_error)


def check_limit(limit) -> float | None:
    """A usable limit: a finite number >= 0 (KL and |Δ log p| are never negative)."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not np.isfinite(limit) or limit < 0:
        raise ConfigError(f"worst-case limit {limit!r}: expected a finite number >= 0 (nats), e.g. 0.02")
    return float(limit)


class PrefixExceedsLimit(Exception):
    """Raised inside the search for a prefix beyond the limit: hypothesis shrinks it and stores it."""

    def __init__(self, record: dict, prefix, limit: float, metric: str):
        super().__init__(f"{metric}={record['value']:.4g} > {limit:.4g} after {record['text']!r}")
        self.record, self.prefix = record, prefix


@dataclass
class WorstCaseResult(ProbeResult):
    """The search's worst values, the shrunk counterexample (if any) and the worst prefixes per language."""

    probe = "worst-case"
    ref: ModelInfo
    opt: ModelInfo
    config: WorstCaseConfig
    start_ids: list[int]
    start_source: str
    metrics: dict[str, float]                 # max_prefix_kl, max_keyword_dlogp, prefixes, seconds, ...
    limit: float | None
    counterexample: dict | None               # the shrunk prefix beyond the limit
    worst: dict[str, list[dict]]              # per language, worst first
    replayed: bool = False                    # the database's stored counterexample failed first
    database: str | None = None
    languages: list[str] = field(default_factory=list)

    def probe_config(self) -> dict:
        return {**super().probe_config(), "languages": list(self.languages), "max_tokens": self.config.max_tokens,
                "objective": self.config.objective, "sources": list(self.config.sources)}

    more_data = "other seeds (--codeguard-seed N; the verdict must hold for every seed)"

    def gate_metrics(self) -> dict[str, float]:
        return {name: self.metrics[name] for name in (self.config.metric, self.config.tail_metric)}

    def uncertainty(self) -> dict[str, float]:
        """The tail mean's bootstrap SE (the maximum has none a resample could estimate)."""
        return {self.config.tail_metric: self.metrics[self.config.tail_metric + "_se"]}

    def gate_notes(self) -> list[str]:
        notes = []
        if self.counterexample is not None:
            c = self.counterexample
            notes.append(f"counterexample ({c['language']}, {c['n_tokens']} tokens, {c['source']}"
                         f"{', replayed from the example database' if self.replayed else ''}): "
                         f"{self.config.metric}={c['value']:.4g} > limit {self.limit:.4g} after the prefix")
            notes += ["    " + line for line in c["text"].splitlines() or [c["text"]]]
            notes.append(f"  prefix repr: {c['text']!r}")
            notes.append(_top_table(c))
        tail = self.config.tail_metric
        notes.append(f"{tail}={self.metrics[tail]:.4g} (± {self.metrics[tail + '_se']:.2g} SE): the mean over the "
                     f"worst {int(self.metrics['tail_prefixes'])} of {int(self.metrics['prefixes'])} searched prefixes")
        notes.append(f"searched {int(self.metrics['prefixes'])} prefixes in {int(self.metrics['examples'])} "
                     f"examples ({self.metrics['seconds']:.1f} s); worst per language: "
                     + ", ".join(f"{lang} {rows[0]['value']:.4g}" for lang, rows in self.worst.items() if rows))
        return notes


def _top_table(record: dict) -> str:
    rows = [f"  {'ref top':<24}{'opt top':<24}"]
    for r, o in zip(record["ref_top"], record["opt_top"]):
        rows.append(f"  {r['token']!r:>14} {r['prob']:.3f}    {o['token']!r:>14} {o['prob']:.3f}")
    return "\n".join(rows)


def _top(logprobs: np.ndarray, vocabulary: list[str], n: int) -> list[dict]:
    order = np.argpartition(-logprobs, n)[:n]
    order = order[np.argsort(-logprobs[order], kind="stable")]
    return [{"id": int(i), "token": vocabulary[i], "prob": float(np.exp(logprobs[i]))} for i in order]


def keyword_token_ids(tokenizer, language) -> np.ndarray:
    """First token of each keyword, bare and after a space: where a keyword would begin at the prefix end."""
    ids = set()
    for word in language.keywords:
        for form in (word, " " + word):
            encoded = tokenizer(form, add_special_tokens=False)["input_ids"]
            if encoded:
                ids.add(int(encoded[0]))
    return np.array(sorted(ids), dtype=np.int64)


class PrefixEvaluator:
    """Measures prefixes on the pair, one forward call per model per batch, caching every prefix's record."""

    def __init__(self, ref, opt, start_ids: list[int], config: WorstCaseConfig, keyword_ids: dict[str, np.ndarray]):
        self.ref, self.opt, self.start_ids, self.config = ref, opt, list(start_ids), config
        self.keyword_ids = keyword_ids
        self.vocabulary = ref.vocabulary()
        self.cache: dict[tuple, dict] = {}
        self.prefixes: dict[tuple, object] = {}
        self.examples = 0
        self.calls = 0
        self.failed = False          # a prefix beyond the limit was seen: hypothesis is shrinking from now on
        self.shrink_evaluations = 0
        self.first_example_failed: bool | None = None

    def evaluate(self, prefixes) -> list[dict | None]:
        """Records for `prefixes` (None for new prefixes once the shrink budget is spent)."""
        todo = {}
        for p in prefixes:
            key = (p.language, p.ids)
            if key not in self.cache and key not in todo:
                if self.failed and self.shrink_evaluations + len(todo) >= self.config.shrink_budget:
                    continue
                todo[key] = p
        if todo:
            self._measure(list(todo.values()))
            if self.failed:
                self.shrink_evaluations += len(todo)
        self.examples += 1
        return [self.cache.get((p.language, p.ids)) for p in prefixes]

    def _measure(self, prefixes) -> None:
        contexts = [self.start_ids + list(p.ids) for p in prefixes]
        ref_lp = self.ref.next_token_logprobs(contexts)
        opt_lp = self.opt.next_token_logprobs(contexts)
        self.calls += 1
        kl = np.sum(rel_entr(np.exp(ref_lp), np.exp(opt_lp)), axis=-1)
        for row, p in enumerate(prefixes):
            ids = self.keyword_ids.get(p.language)
            dlogp = 0.0
            if ids is not None and ids.size:
                seen = ids[np.exp(ref_lp[row, ids]) >= KEYWORD_MIN_PROB]
                if seen.size:
                    dlogp = float(np.max(np.abs(ref_lp[row, seen] - opt_lp[row, seen])))
            record = {"language": p.language, "source": p.source, "text": p.text, "n_tokens": p.n_tokens,
                      "kl": float(max(kl[row], 0.0)), "keyword_dlogp": dlogp,
                      "ref_top": _top(ref_lp[row], self.vocabulary, self.config.top),
                      "opt_top": _top(opt_lp[row], self.vocabulary, self.config.top)}
            record["value"] = record[self.config.objective]
            self.cache[(p.language, p.ids)] = record
            self.prefixes[(p.language, p.ids)] = p


def database_dir(root: str | Path, ref, opt, config: WorstCaseConfig, languages: list[str]) -> Path:
    """The example database of one pair and one measurement under `root/.hypothesis/codeguard/worst_case/`.

    Keyed by both models' spec and fingerprint (a counterexample of one pair must not replay, pass and be deleted
    in another's run) and by what the strategy draws (a stored choice sequence only means something to it).
    """
    identity = {"ref": [ref.spec, ref.fingerprint], "opt": [opt.spec, opt.fingerprint], "languages": languages,
                "max_tokens": config.max_tokens, "sources": list(config.sources), "batch_size": config.batch_size,
                "constructs": list(config.constructs) if config.constructs else None, "corpus": config.corpus}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(root) / DATABASE_SUBDIR / digest
    path.mkdir(parents=True, exist_ok=True)
    about = path / "pair.json"
    if not about.exists():  # for a human browsing .hypothesis/: which pair these examples belong to
        write_json_atomically(about, identity)
    return path


class CounterexampleStore:
    """Shrunk counterexamples of one pair, kept in a hypothesis example database (one entry per prefix)."""

    KEY = b"codeguard.worst_case.counterexamples"

    def __init__(self, path: Path):
        from hypothesis.database import DirectoryBasedExampleDatabase
        self.db = DirectoryBasedExampleDatabase(str(path))

    @staticmethod
    def _encode(prefix) -> bytes:
        return json.dumps({"language": prefix.language, "source": prefix.source, "program": prefix.program,
                           "text": prefix.text, "ids": list(prefix.ids)}, sort_keys=True).encode()

    def load(self) -> list:
        prefixes = []
        for value in self.db.fetch(self.KEY):
            try:
                data = json.loads(value)
                prefixes.append(CodePrefix(data["language"], data["source"], data["program"], data["text"],
                                           tuple(int(i) for i in data["ids"])))
            except (ValueError, KeyError, TypeError):
                self.db.delete(self.KEY, value)  # unreadable (another codeguard version): dropped, not fatal
        return sorted(prefixes, key=lambda p: (len(p.ids), p.language, p.text))

    def save(self, prefix) -> None:
        self.db.save(self.KEY, self._encode(prefix))

    def delete(self, prefix) -> None:
        self.db.delete(self.KEY, self._encode(prefix))


def run_worst_case(ref, opt, config: WorstCaseConfig = WorstCaseConfig(), *, limit: float | None = None,
                   database: str | Path | None = None, registry=None) -> WorstCaseResult:
    """Searches prefixes for the largest divergence; with `limit`, shrinks the first prefix beyond it.

    `database`: a folder (the project's rootdir) under which the pair's example database lives; None runs
    without one. Without `limit` the search only maximises (e.g. to accept a baseline); nothing is shrunk.
    """
    config.check()
    limit = check_limit(limit)
    registry = registry or load_registry()
    require_same_vocabulary(ref, opt)
    start_ids, start_source = matching_start_ids(ref, opt, config.start_token)
    room = min(int(ref.max_context), int(opt.max_context)) - len(start_ids)
    if config.max_tokens > room:
        raise ConfigError(f"worst-case max_tokens={config.max_tokens}: the pair takes {room} tokens after the "
                          f"start token ({ref.spec}/{opt.spec}); lower it")
    languages = resolve_languages(config.languages, config.sources, registry, config.corpus)
    language_ids = [lang.id for lang in languages]
    keyword_ids = {lang.id: keyword_token_ids(ref.tokenizer, lang) for lang in languages}
    evaluator = PrefixEvaluator(ref, opt, start_ids, config, keyword_ids)
    strategy = prefix_batches(language_ids, batch_size=config.batch_size, tokenizer=ref.tokenizer,
                              max_tokens=config.max_tokens, constructs=config.constructs, sources=config.sources,
                              corpus=config.corpus, registry=registry)

    db_path = None
    if database is not None:
        db_path = database_dir(database, ref, opt, config, language_ids)

    store = CounterexampleStore(db_path) if db_path is not None else None
    stored = store.load() if store is not None else []
    test = _hypothesis_search(evaluator, strategy, config, limit, stored, db_path)
    started = time.perf_counter()
    counterexample = None
    try:
        with warnings.catch_warnings():
            # hypothesis measures the repr of our (large, registry-holding) strategies when it reports
            warnings.filterwarnings("ignore", message="Generating overly large repr", category=HypothesisWarning)
            with independent_of_loaded_modules():  # one seed, one search, whatever ran before in this process
                test()
    except PrefixExceedsLimit as error:
        counterexample = error.record
        if store is not None:
            store.save(error.prefix)
    seconds = time.perf_counter() - started
    if store is not None and limit is not None:
        for prefix in stored:  # fixed since: a stored counterexample now under the limit is forgotten
            record = evaluator.cache.get((prefix.language, prefix.ids))
            if record is not None and record["value"] <= limit:
                store.delete(prefix)
    return _result(ref, opt, config, start_ids, start_source, evaluator, limit, counterexample,
                   bool(stored and evaluator.first_example_failed), db_path, language_ids, seconds)


def _hypothesis_search(evaluator, strategy, config: WorstCaseConfig, limit: float | None, stored: list, db_path):
    """The hypothesis test that drives the search: it targets the batch's worst value and raises
    PrefixExceedsLimit on the first prefix beyond `limit` (hypothesis then shrinks it); stored counterexamples
    run first."""
    def search(batch):
        records = [(p, r) for p, r in zip(batch, evaluator.evaluate(batch)) if r is not None]
        if not records:
            return  # only new prefixes after the shrink budget: not evaluated, not a failure
        prefix, worst = max(records, key=lambda pr: pr[1]["value"])
        # 4 significant digits: the last bits of a KL differ between CPU kernels (AVX2, AVX-512), and hypothesis
        # steers by comparing these scores; rounded, one seed follows one path on every machine far more often.
        target(float(f"{worst['value']:.4g}"), label=config.metric)
        exceeded = limit is not None and worst["value"] > limit
        if evaluator.first_example_failed is None:
            evaluator.first_example_failed = exceeded
        if exceeded:
            evaluator.failed = True
            raise PrefixExceedsLimit(worst, prefix, limit, config.metric)

    # Stored counterexamples run first, as explicit examples: hypothesis' own database is off whenever a seed is
    # set (every gate run has one), and an explicit example replays even when the strategy's code has changed.
    for prefix in reversed(stored):
        search = example([prefix])(search)

    # The profile a user loaded (e.g. the repo's CI profile) must not change the measurement: parent=default.
    test = settings(
        settings.get_profile("default"), max_examples=config.max_examples, derandomize=config.derandomize,
        database=DirectoryBasedExampleDatabase(str(db_path)) if db_path and not config.derandomize else None,
        deadline=config.deadline_ms, verbosity=Verbosity.quiet, report_multiple_bugs=False, print_blob=False,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink),
        suppress_health_check=list(HealthCheck))(given(strategy)(search))
    if config.seed is not None and not config.derandomize:
        test = seed(config.seed)(test)

    return test


def _result(ref, opt, config, start_ids, start_source, evaluator, limit, counterexample, replayed, db_path,
            language_ids, seconds) -> WorstCaseResult:
    records = list(evaluator.cache.values())
    worst: dict[str, list[dict]] = {}
    for lang in language_ids:
        rows = sorted((r for r in records if r["language"] == lang), key=lambda r: -r["value"])
        seen, kept = set(), []
        for r in rows:
            if r["text"] not in seen:
                seen.add(r["text"])
                kept.append(r)
            if len(kept) == config.reported:
                break
        if kept:
            worst[lang] = kept
    nothing = float("nan")  # no prefix measured: every statistic is unknown (fails a gate), never 0
    metrics = {"mean_prefix_kl": float(np.mean([r["kl"] for r in records])) if records else nothing,
               "prefixes": float(len(records)),
               "tail_prefixes": float(max(1, int(np.ceil(TAIL_SHARE * len(records)))) if records else 0),
               "examples": float(evaluator.examples), "model_calls": float(evaluator.calls),
               "shrink_evaluations": float(evaluator.shrink_evaluations), "seconds": seconds}
    for objective in OBJECTIVES:
        values = np.array([r[objective] for r in records], dtype=np.float64)
        metrics[OBJECTIVES[objective]] = float(values.max()) if values.size else nothing
        metrics[TAIL_METRICS[objective]] = float(tail_mean(values))
        metrics[TAIL_METRICS[objective] + "_se"] = tail_mean_stderr(values)
    return WorstCaseResult(ref=ModelInfo.of(ref), opt=ModelInfo.of(opt), config=config, start_ids=list(start_ids),
                           start_source=start_source, metrics=metrics, limit=limit, counterexample=counterexample,
                           worst=worst, replayed=replayed, database=str(db_path) if db_path else None,
                           languages=language_ids)
