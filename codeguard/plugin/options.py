"""The plugin's options: declared once (`add_options`, for pytest's parser) and resolved once per run
(`resolve_options`: CLI > environment > ini, as pytest users expect) into one typed `Options`."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from codeguard.errors import ConfigError
from codeguard.gating.gate import parse_limits
from codeguard.languages.registry import load_registry
from codeguard.models.devices import DEVICE_FORMS, DTYPE_FORMS, parse_device, parse_dtype, resolve_placement
from codeguard.models.specs import parse_model_pair
from codeguard.probes.reference_cache import is_reference_cache


@dataclass
class Options:
    model_pair: str | None
    baseline_dir: Path
    slot: str | None
    limits: dict[str, float]
    update: bool
    seed: int
    start_token: str | None
    rollouts: int
    invocation: list[str]
    registry: object = None  # LanguageRegistry, built and validated at configure time
    corpus: str | None = None  # None: the shipped per-language corpus
    ctx: int | None = None     # None: 512, capped at the models' maximum context
    min_context: int = 0       # chunk tokens before a position is scored (0: every position)
    problems: str | None = None  # None: the pass@k probe's default subset
    samples: int | None = None   # None: the pass@k probe's default n
    rootdir: Path | None = None  # where .hypothesis/ (the worst-case search's example database) lives
    report_dir: Path | None = None  # --codeguard-report: results.json, report.md, report.html
    history: Path | None = None     # --codeguard-history: the SQLite history database
    gh_summary: bool = True         # append the Markdown summary to $GITHUB_STEP_SUMMARY when it is set
    required: bool = False          # codeguard gates collected but no pair: a usage error, not a skip
    device: str = "auto"            # --codeguard-device as asked (auto, cpu, cuda, cuda:N, mps)
    dtype: str = "auto"             # --codeguard-dtype as asked
    placement: object = None        # models.devices.Placement, resolved at configure time when a pair is given
    calibrate: bool = False         # --codeguard-calibrate: after the update, calibrate the suites it wrote
    calibrate_perturbations: list[str] | None = None  # --codeguard-calibrate-perturbations (None: all)
    reference_cache: Path | None = None  # a reference cache directory: REF's side is read from it, REF never loads
    reference_cache_auto: bool = False   # keep exact caches under $CODEGUARD_CACHE (probes/reference_cache/auto.py)
    completion_cache: bool = True   # reuse ref's pass@k completions stored under $CODEGUARD_CACHE (same key only)
    reference_first: bool = False   # score REF alone into an exact cache, free it, then load OPT (one model resident)


def add_options(parser) -> None:
    """Declares every option and its ini twin in the `codeguard` group."""
    group = parser.getgroup("codeguard", "codeguard: gate a compressed code LLM against its reference")
    group.addoption("--model-pair", dest="codeguard_model_pair", metavar="REF,OPT",
                    help="reference and optimized model specs, e.g. zoo:tiny-code,zoo:tiny-code@onnx-int8 "
                         "(env CODEGUARD_MODEL_PAIR, ini codeguard_model_pair)")
    group.addoption("--codeguard-baseline-dir", dest="codeguard_baseline_dir", metavar="DIR",
                    help="where baselines live (default: baselines/ beside the pytest ini file, else in the folder "
                         "pytest runs in)")
    group.addoption("--codeguard-required", dest="codeguard_required", action="store_true",
                    help="collected codeguard gates without --model-pair are an error, not skipped "
                         "(ini codeguard_required; the shipped suites require a pair themselves)")
    group.addoption("--codeguard-slot", dest="codeguard_slot", metavar="NAME",
                    help="a named baseline slot, e.g. per deployment target (<suite>.<NAME>.json)")
    group.addoption("--codeguard-update", dest="codeguard_update", action="store_true",
                    help="accept the current candidate: (re)write every baseline the run touches")
    group.addoption("--codeguard-calibrate", dest="codeguard_calibrate", action="store_true",
                    help="with --codeguard-update: then run the accepted candidate's suites again under other thread "
                         "counts, CPU kernel sets, batch sizes and seeds, and write tolerances derived from the "
                         "spread (as `codeguard calibrate REF OPT`)")
    group.addoption("--codeguard-calibrate-perturbations", dest="codeguard_calibrate_perturbations",
                    metavar="LIST", help="with --codeguard-calibrate: only these runs besides as-is, as in "
                                         "`codeguard calibrate --perturbations` (e.g. threads,kernels=avx2)")
    group.addoption("--codeguard-limit", dest="codeguard_limits", action="append", metavar="METRIC=VALUE",
                    help="an absolute limit on top of the baseline, e.g. js_divergence=0.01 (repeatable)")
    group.addoption("--codeguard-languages", dest="codeguard_languages", action="append", metavar="TOML",
                    help="an extra language registry file: add languages or extend keyword lists (repeatable)")
    group.addoption("--codeguard-corpus", dest="codeguard_corpus", metavar="DIR",
                    help="your own code for the teacher-forced probes, files grouped by extension "
                         "(default: the shipped per-language corpus)")
    group.addoption("--codeguard-ctx", dest="codeguard_ctx", metavar="N",
                    help="window length in tokens for the teacher-forced probes (default 512, capped at the "
                         "models' maximum context)")
    group.addoption("--codeguard-min-context", dest="codeguard_min_context", metavar="N",
                    help="teacher-forced probes score only tokens with at least N tokens of their window's chunk "
                         "before them (default 0: every token; llama.cpp's perplexity scores the second half of "
                         "each chunk, N = ctx // 2, and skips the output layer before it)")
    group.addoption("--codeguard-problems", dest="codeguard_problems", metavar="SPEC",
                    help="pass@k problems: humaneval, humaneval:N (first N), humaneval:sample:N:SEED or a JSONL file "
                         "in HumanEval format (default humaneval:40; ini codeguard_problems)")
    group.addoption("--codeguard-samples", dest="codeguard_samples", metavar="N",
                    help="pass@k samples per problem and model (default 5; ini codeguard_samples)")
    group.addoption("--codeguard-seed", dest="codeguard_seed", type=int, default=None, help="sampling seed")
    group.addoption("--codeguard-start-token", dest="codeguard_start_token", metavar="TOKEN",
                    help="cold-start token for tokenizers without BOS (default: BOS, else EOS)")
    group.addoption("--codeguard-rollouts", dest="codeguard_rollouts", type=int, default=None, metavar="N",
                    help="extended cold start: N sampled rollouts per model, reported (default 0)")
    parser.addini("codeguard_model_pair", "REF,OPT model specs", default="")
    parser.addini("codeguard_baseline_dir", "baseline folder, relative to the ini file", default="")
    parser.addini("codeguard_required", "codeguard gates without a model pair fail instead of skipping",
                  type="bool", default=False)
    parser.addini("codeguard_slot", "baseline slot name", default="")
    parser.addini("codeguard_limits", "absolute limits, one METRIC=VALUE per line", type="linelist", default=[])
    parser.addini("codeguard_languages", "extra language registry files, one per line", type="linelist",
                  default=[])
    parser.addini("codeguard_corpus", "code folder for the teacher-forced probes", default="")
    parser.addini("codeguard_ctx", "window length for the teacher-forced probes", default="")
    parser.addini("codeguard_min_context", "chunk tokens before a teacher-forced position is scored", default="")
    parser.addini("codeguard_problems", "pass@k problems spec or JSONL file", default="")
    parser.addini("codeguard_samples", "pass@k samples per problem and model", default="")
    parser.addini("codeguard_seed", "sampling seed", default="")
    parser.addini("codeguard_start_token", "cold-start token", default="")
    parser.addini("codeguard_rollouts", "extended cold-start rollouts", default="")
    group.addoption("--codeguard-report", dest="codeguard_report", metavar="DIR",
                    help="write results.json, report.md and report.html of the run into DIR (ini codeguard_report)")
    group.addoption("--codeguard-history", dest="codeguard_history", metavar="FILE",
                    help="append the run to an SQLite history database (ini codeguard_history); render trends "
                         "with: codeguard report --history FILE --html OUT")
    group.addoption("--codeguard-no-gh-summary", dest="codeguard_no_gh_summary", action="store_true",
                    help="do not append the Markdown summary to $GITHUB_STEP_SUMMARY (ini codeguard_gh_summary)")
    group.addoption("--codeguard-reference-cache", dest="codeguard_reference_cache", metavar="DIR|auto",
                    help="read the reference's side of the distribution suites from a cache built by `codeguard "
                         "reference-cache REF --out DIR`: only OPT loads (also: --model-pair DIR,OPT). `auto`: "
                         "keep exact caches under $CODEGUARD_CACHE/reference-caches (budget "
                         "$CODEGUARD_REFERENCE_CACHE_GB, default 8): the first run scores REF once, later runs of "
                         "the same reference, device, corpus and settings load only OPT")
    parser.addini("codeguard_reference_cache", "reference cache directory or auto (see --codeguard-reference-cache)",
                  default="")
    group.addoption("--codeguard-device", dest="codeguard_device", metavar="DEVICE",
                    help=f"where models run: {DEVICE_FORMS} (default auto: the first CUDA GPU if torch sees one, "
                         "else the CPU; env CODEGUARD_DEVICE, ini codeguard_device)")
    group.addoption("--codeguard-dtype", dest="codeguard_dtype", metavar="DTYPE",
                    help=f"dtype of transformers models: {DTYPE_FORMS} (default auto: the checkpoint's own on a GPU, "
                         "float32 on the CPU; a derivation such as @bf16 always wins; env CODEGUARD_DTYPE, "
                         "ini codeguard_dtype)")
    parser.addini("codeguard_device", "where models run (auto, cpu, cuda, cuda:N, mps)", default="")
    parser.addini("codeguard_dtype", "dtype of transformers models (auto, float32, bfloat16, float16)", default="")
    parser.addini("codeguard_report", "report folder, relative to the ini file", default="")
    parser.addini("codeguard_history", "history database file, relative to the ini file", default="")
    parser.addini("codeguard_gh_summary", "append the summary to $GITHUB_STEP_SUMMARY when set", type="bool",
                  default=True)
    group.addoption("--codeguard-reference-first", dest="codeguard_reference_first", action="store_true",
                    help="one model resident at a time: score REF alone for the distribution suites into an exact "
                         "reference cache under $CODEGUARD_CACHE (corpus positions x vocabulary x 4 bytes of disk, "
                         "removed at the end), free it, then load OPT; pass@k and worst_case need both models and "
                         "fail under it (ini codeguard_reference_first)")
    parser.addini("codeguard_reference_first", "score REF first and free it (see --codeguard-reference-first)",
                  type="bool", default=False)
    group.addoption("--codeguard-no-completion-cache", dest="codeguard_no_completion_cache", action="store_true",
                    help="generate ref's pass@k completions even when completions stored under $CODEGUARD_CACHE "
                         "match its weights, problems and sampling settings (ini codeguard_completion_cache)")
    parser.addini("codeguard_completion_cache", "reuse ref's stored pass@k completions (see "
                  "--codeguard-no-completion-cache)", type="bool", default=True)


def resolve_options(config) -> Options:
    """CLI > environment > ini (pytest-md-report's precedence): the run's options, each checked once here."""
    def ini(name):
        value = config.getini(name)
        return value if value not in ("", None, []) else None

    model_pair = _model_pair(config, ini)
    project = project_dir(config)
    registry = load_registry([project / f for f in ini("codeguard_languages") or []]
                             + [Path(f) for f in config.getoption("codeguard_languages") or []])
    limits = parse_limits(list(ini("codeguard_limits") or []) + list(config.getoption("codeguard_limits") or []),
                          registry.languages)
    corpus = config.getoption("codeguard_corpus") or (str(project / ini("codeguard_corpus"))
                                                      if ini("codeguard_corpus") else None)
    device, device_option = _first_set(config, "codeguard_device", "--codeguard-device", "CODEGUARD_DEVICE")
    dtype, dtype_option = _first_set(config, "codeguard_dtype", "--codeguard-dtype", "CODEGUARD_DTYPE")
    device, dtype = parse_device(device, device_option), parse_dtype(dtype, dtype_option)
    # Checked against the machine (torch is imported) only when models will load, and before any of them does.
    placement = resolve_placement(device, dtype, device_option, dtype_option) if model_pair else None
    seed = config.getoption("codeguard_seed")
    rollouts = config.getoption("codeguard_rollouts")
    update = bool(config.getoption("codeguard_update"))
    calibrate = bool(config.getoption("codeguard_calibrate"))
    perturbations = [v.strip() for v in (config.getoption("codeguard_calibrate_perturbations") or "").split(",")
                     if v.strip()] or None
    reference_cache_auto = _reference_cache_auto(config, ini, model_pair)
    reference_cache = None if reference_cache_auto else _reference_cache(config, ini, model_pair, project)
    reference_first = bool(config.getoption("codeguard_reference_first") or config.getini("codeguard_reference_first"))
    if reference_first and (reference_cache is not None or reference_cache_auto):
        raise ConfigError(f"--codeguard-reference-first scores the live reference, and this run reads it from the "
                          f"reference cache {reference_cache or 'auto'}; give one of the two"
                          + (" (auto already scores REF alone when it has no cache for it)" if reference_cache_auto
                             else ""))
    if (calibrate or perturbations) and not update:
        raise ConfigError("--codeguard-calibrate calibrates the candidate an update run accepts; give it together "
                          "with --codeguard-update (or run: codeguard calibrate REF OPT)")
    return Options(
        model_pair=model_pair, baseline_dir=_path(config.getoption("codeguard_baseline_dir"),
                                                  ini("codeguard_baseline_dir"), project, "baselines"),
        slot=config.getoption("codeguard_slot") or ini("codeguard_slot"), limits=limits,
        update=update, calibrate=calibrate, calibrate_perturbations=perturbations,
        seed=int(seed if seed is not None else (ini("codeguard_seed") or 0)),
        start_token=config.getoption("codeguard_start_token") or ini("codeguard_start_token"),
        rollouts=int(rollouts if rollouts is not None else (ini("codeguard_rollouts") or 0)),
        invocation=list(config.invocation_params.args), registry=registry,
        corpus=corpus,
        ctx=_whole_number(config.getoption("codeguard_ctx") or ini("codeguard_ctx"), "--codeguard-ctx", 2,
                          "tokens in a window"),
        min_context=_whole_number(config.getoption("codeguard_min_context") or ini("codeguard_min_context"),
                                  "--codeguard-min-context", 0, "tokens of context") or 0,
        problems=config.getoption("codeguard_problems") or ini("codeguard_problems"),
        samples=_whole_number(config.getoption("codeguard_samples") or ini("codeguard_samples"),
                              "--codeguard-samples", 1, "samples per problem"),
        rootdir=project, report_dir=_path(config.getoption("codeguard_report"), ini("codeguard_report"), project),
        history=_path(config.getoption("codeguard_history"), ini("codeguard_history"), project),
        gh_summary=not config.getoption("codeguard_no_gh_summary") and bool(config.getini("codeguard_gh_summary")),
        completion_cache=not config.getoption("codeguard_no_completion_cache")
        and bool(config.getini("codeguard_completion_cache")),
        required=bool(config.getoption("codeguard_required") or config.getini("codeguard_required")),
        device=device, dtype=dtype, placement=placement,
        reference_cache=reference_cache, reference_cache_auto=reference_cache_auto, reference_first=reference_first)


# The options that define a measurement (what a probe computes, on which device): a calibration run after an update
# passes the ones given on the command line again (ini values apply to it anyway: it runs in the same folder).
MEASUREMENT_OPTIONS = ("codeguard_corpus", "codeguard_ctx", "codeguard_min_context", "codeguard_problems",
                       "codeguard_samples", "codeguard_seed", "codeguard_start_token", "codeguard_rollouts",
                       "codeguard_languages", "codeguard_device", "codeguard_dtype")


def measurement_args(config) -> list[str]:
    """The measurement options given on this run's command line, as arguments for another pytest run."""
    args = []
    for dest in MEASUREMENT_OPTIONS:
        value = config.getoption(dest)
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                args += ["--" + dest.replace("_", "-"), str(item)]
    return args


def _first_set(config, name: str, flag: str, env: str) -> tuple[str | None, str]:
    """The value by CLI > environment > ini precedence, and the name to quote in an error about it."""
    if config.getoption(name):
        return config.getoption(name), flag
    if os.environ.get(env):
        return os.environ[env], env
    if config.getini(name):
        return config.getini(name), f"{name} (ini)"
    return None, flag


def project_dir(config) -> Path:
    """Where the project's baselines live: `--rootdir` when given, else the folder of pytest's ini file when there
    is one, else the folder pytest was started in. Never pytest's rootdir guess, which an option value given with a
    space (`--codeguard-report /abs/dir`) can move before codeguard's options are known."""
    if getattr(config.option, "rootdir", None):  # --rootdir given: the user said where the project is
        return Path(config.rootpath)
    inipath = getattr(config, "inipath", None)
    return Path(inipath).parent if inipath else Path(config.invocation_params.dir)


def _path(option, ini_value, project: Path, default: str | None = None) -> Path | None:
    """An option's path as given (relative to the folder pytest was started in, as command-line paths are), else
    the ini value or the default, relative to the project folder."""
    if option:
        return Path(option).expanduser()
    value = ini_value or default
    return None if value is None else Path(os.path.normpath(project / Path(value).expanduser()))


def _model_pair(config, ini) -> str | None:
    """--model-pair > CODEGUARD_MODEL_PAIR > ini. Given but empty (an unset CI variable expands to nothing) is a
    usage error, not a quiet skip of every gate."""
    for value, where in ((config.getoption("codeguard_model_pair"), "--model-pair"),
                         (os.environ.get("CODEGUARD_MODEL_PAIR"), "CODEGUARD_MODEL_PAIR")):
        if value is not None and not value.strip():
            raise ConfigError(f"{where} is empty (an unset CI variable?): give REF,OPT, e.g. "
                              "zoo:tiny-code,zoo:tiny-code@onnx-int8, or leave it out to skip codeguard's gates")
        if value:
            parse_model_pair(value)  # a malformed pair is a usage error before any test runs
            return value
    value = ini("codeguard_model_pair")
    if value:
        parse_model_pair(value)
    return value


def _reference_cache_auto(config, ini, model_pair: str | None) -> bool:
    """--codeguard-reference-cache auto (or the ini's): automatic caches, which need a pair with a local REF."""
    value = config.getoption("codeguard_reference_cache") or ini("codeguard_reference_cache")
    if str(value or "").strip().lower() != "auto":
        return False
    if not model_pair:
        raise ConfigError("--codeguard-reference-cache auto needs --model-pair REF,OPT (REF: the model whose "
                          "scores are kept)")
    ref, _ = parse_model_pair(model_pair)
    if ref.scheme == "openai":
        raise ConfigError(f"--codeguard-reference-cache auto: REF {ref.text} is a served model, whose top-k "
                          "log-probabilities cannot make an exact cache; gate it without a reference cache")
    if ref.scheme == "path" and not ref.derivations and is_reference_cache(ref.location):
        raise ConfigError(f"--codeguard-reference-cache auto: REF {ref.text} is itself a reference cache; give it "
                          "as --model-pair DIR,OPT without --codeguard-reference-cache")
    from codeguard.probes.reference_cache.auto import budget_bytes
    budget_bytes()  # a malformed $CODEGUARD_REFERENCE_CACHE_GB is a usage error now, not after the models load
    return True


def _reference_cache(config, ini, model_pair: str | None, project: Path) -> Path | None:
    """--codeguard-reference-cache > ini > a --model-pair REF that is a cache directory. A named cache that is not
    one is a usage error here, before any test runs."""
    option = config.getoption("codeguard_reference_cache")
    path = _path(option, ini("codeguard_reference_cache"), project)
    if path is not None:
        if not is_reference_cache(path):
            raise ConfigError(f"--codeguard-reference-cache {path}: not a reference cache directory (no manifest.json "
                              "of one); build it with `codeguard reference-cache REF --out DIR`")
        if not model_pair:
            raise ConfigError(f"--codeguard-reference-cache {path} needs --model-pair REF,OPT (REF: the cache's "
                              "reference, or the cache directory itself)")
        return path
    if model_pair:
        ref, _ = parse_model_pair(model_pair)
        if ref.scheme == "path" and not ref.derivations and is_reference_cache(ref.location):
            return Path(ref.location).expanduser()
    return None


def _whole_number(value, option: str, minimum: int, what: str) -> int | None:
    """An option's whole-number value (None when unset), at least `minimum`; anything else names the option."""
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{option} {value!r}: expected a whole number of {what}") from None
    if number < minimum:
        raise ConfigError(f"{option} {number}: at least {minimum} {what} needed")
    return number
