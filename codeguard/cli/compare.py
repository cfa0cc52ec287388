"""`codeguard compare REF OPT --probe NAME`: one probe on a pair, its metrics printed (and as JSON)."""
from __future__ import annotations

import argparse

from codeguard.cli.arguments import (add_device_arguments, add_min_context_argument, parse_ks, placement, split_list,
                                     write_json)
from codeguard.errors import CodeguardError
from codeguard.languages.corpus import load_corpus
from codeguard.languages.registry import load_registry

PROBES = ("cold-start", "corpus-kld", "keyword-shift", "pass-at-k")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declares the subcommand's options (the parser is made by `codeguard.cli.main`)."""
    parser.add_argument("ref", help="reference model spec (path, hf:ORG/NAME, zoo:NAME, with @derivations), or a "
                                    "reference cache directory (`codeguard reference-cache`): then only OPT loads")
    parser.add_argument("opt", help="optimized model spec")
    parser.add_argument("--probe", choices=PROBES, default="cold-start",
                        help="which probe (default: cold-start, with the keyword masses at cold start)")
    parser.add_argument("--json", metavar="FILE", help="also write the result as JSON ('-' for stdout)")
    parser.add_argument("--start-token", help="cold-start token (default: BOS, else EOS)")
    parser.add_argument("--rollouts", type=int, default=0, help="extended cold start: sampled rollouts per model")
    parser.add_argument("--rollout-tokens", type=int, default=32,
                        help="extended cold start: tokens per rollout (default 32)")
    parser.add_argument("--seed", type=int, default=0,
                        help="sampling seed for rollouts and pass-at-k (default 0: reproducible)")
    parser.add_argument("--corpus", metavar="DIR", help="corpus-kld: code to score (default: the shipped corpus)")
    parser.add_argument("--ctx", type=int, default=None, metavar="N",
                         help="corpus-kld: window length in tokens (default 512, capped at the model's maximum)")
    add_min_context_argument(parser)
    parser.add_argument("--languages", help="comma-separated registry languages for the keyword aggregates "
                                             "(default: all)")
    parser.add_argument("--registry", action="append", default=[], metavar="TOML",
                         help="an extra language registry file (repeatable)")
    parser.add_argument("--problems", default="humaneval:40",
                         help="pass-at-k: humaneval, humaneval:N, humaneval:sample:N:SEED or a HumanEval-format JSONL")
    parser.add_argument("--samples", type=int, default=5, metavar="N", help="pass-at-k: samples per problem")
    parser.add_argument("--k", default="1,5", help="pass-at-k: comma-separated k values (each <= --samples)")
    parser.add_argument("--no-completion-cache", action="store_true",
                        help="pass-at-k: generate ref's completions even when ones stored under $CODEGUARD_CACHE "
                             "match its weights, problems and sampling settings")
    parser.add_argument("--reference-first", action="store_true",
                        help="one model resident at a time (cold-start, corpus-kld, keyword-shift): REF scores alone "
                             "into an exact reference cache under $CODEGUARD_CACHE, is freed, then OPT loads; the "
                             "numbers are the same (as --codeguard-reference-first)")
    add_device_arguments(parser)


def run(args) -> int:
    from codeguard.probes.reference_cache import is_reference_cache  # light: no torch
    args.cached = is_reference_cache(args.ref)
    if args.cached and args.reference_first:
        raise CodeguardError(f"--reference-first: REF {args.ref} is already a reference cache; drop "
                             "--reference-first")
    if args.reference_first and args.probe == "pass-at-k":
        raise CodeguardError("--reference-first: pass-at-k needs both models at once; drop --reference-first")
    if args.probe == "pass-at-k":
        return _compare_pass_at_k(args)
    if args.probe == "corpus-kld":
        return _compare_corpus(args)
    if args.probe == "keyword-shift":
        return _compare_keyword_shift(args)
    return _compare_cold_start(args)


def _compare_pass_at_k(args) -> int:
    # heavy: torch loads when the command runs, not for `codeguard --help`
    from codeguard.models import load_model
    from codeguard.probes.pass_at_k import PassAtKConfig, run_pass_at_k
    from codeguard.probes.reference_completions import CompletionStore
    config = PassAtKConfig(problems=args.problems, n_samples=args.samples, ks=tuple(parse_ks(args.k)), seed=args.seed)
    config.check()
    where = placement(args)
    if args.cached:  # the reference's completions come from the cache; both models' samples run here
        cache = _open_cache(args)
        cache.require_pass_at_k()
        result = cache.pass_at_k(load_model(args.opt, device=where, alone=True), config)
    else:
        ref, opt = load_model(args.ref, device=where), load_model(args.opt, device=where)
        result = run_pass_at_k(ref, opt, config,
                               completion_store=None if args.no_completion_cache else CompletionStore())
    lines = [f"probe: pass-at-k   ref: {result.ref.spec}   opt: {result.opt.spec}   problems: {config.problems} "
             f"({len(result.per_problem)}), n = {config.n_samples}, T = {config.temperature}",
             "verdicts: " + "; ".join(f"{side} " + ", ".join(f"{v} {c}" for v, c in counts.items())
                                     for side, counts in result.verdict_counts.items()), ""]
    lines += result.gate_notes()
    print("\n".join(lines))
    if args.json:
        write_json(args.json, result.to_dict())
    return 0


def _corpus_inputs(args):
    """(registry, corpus, ref, opt, config) of a teacher-forced probe; the corpus is read before models load."""
    # heavy: torch loads when the command runs, not for `codeguard --help`
    from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig
    registry = load_registry(args.registry)
    corpus = load_corpus(args.corpus, registry)
    config = TeacherForcedConfig(ctx=args.ctx, corpus=args.corpus, start_token=args.start_token,
                                 min_context=args.min_context)
    # --reference-first: REF scores the corpus alone (its cold start and keyword masses would go unread)
    ref, opt = _pair(args, corpus_config=config, corpus=corpus, registry=registry, with_start=False)
    return registry, corpus, ref, opt, config


def _open_cache(args):
    """REF's reference cache, opened (and its files verified) before the candidate loads."""
    from codeguard.probes.reference_cache.replay import load_reference_cache
    return load_reference_cache(args.ref)


def _pair(args, **build_options):
    """(ref, opt) loaded together; with REF a reference cache directory (REF's cache, OPT); with --reference-first
    (REF's exact cache, OPT), REF freed before OPT loads, the cache in a folder under $CODEGUARD_CACHE removed when
    the process exits. The probes take a cache's own path when `args.cached or args.reference_first`."""
    # heavy: torch loads when the command runs, not for `codeguard --help`
    from codeguard.models import load_model
    where = placement(args)
    if args.cached:
        return _open_cache(args), load_model(args.opt, device=where, alone=True)
    if not args.reference_first:
        return load_model(args.ref, device=where), load_model(args.opt, device=where)
    import atexit
    import shutil
    from codeguard.probes.reference_cache.first import score_reference_first, scratch_directory
    scratch = scratch_directory()
    atexit.register(shutil.rmtree, scratch, True)
    cache = score_reference_first(lambda: load_model(args.ref, device=where), scratch, **build_options)
    return cache, load_model(args.opt, device=where, alone=True)


def _from_cache(args) -> bool:
    """REF's side comes from a reference cache (a directory given as REF, or --reference-first's)."""
    return args.cached or args.reference_first


def _compare_keyword_shift(args) -> int:
    # heavy: torch loads when the command runs, not for `codeguard --help`
    from codeguard.probes.corpus.runner import run_keyword_shift
    registry, corpus, ref, opt, config = _corpus_inputs(args)
    result = ref.corpus_probes(opt, config, corpus, registry, ("keyword-shift",))["keyword-shift"] \
        if _from_cache(args) else run_keyword_shift(ref, opt, config, corpus=corpus, registry=registry)
    o = result.overall
    lines = [f"probe: keyword-shift   ref: {result.ref.spec}   opt: {result.opt.spec}   {_windows(result.config)}",
             f"{o['positions']} keyword positions: mean |Δlog p| {o['mean_abs_dlogp']:.4f}, max "
             f"{o['max_abs_dlogp']:.4f}; ref's top-1 lost by opt at {100 * o['top1_lost_share']:.1f} % of "
             f"{o['ref_top1_positions']} positions; {result.skipped['outside_scored_positions']} keyword(s) "
             "outside the scored positions (crossing a window boundary, or before min_context) skipped",
             *result.gate_notes(), "",
             f"{'language':<12}{'positions':>10}{'mean|Δ|':>9}{'max|Δ|':>8}{'lost top1':>10}  moved most"]
    for lang, s in result.per_language.items():
        moved = ", ".join(f"{m['keyword']}({m['count']})" for m in s["most_moved"][:4])
        lines.append(f"{lang:<12}{s['positions']:>10}{s['mean_abs_dlogp']:>9.4f}{s['max_abs_dlogp']:>8.3f}"
                     f"{s['top1_lost_share']:>10.3f}  {moved}")
    print("\n".join(lines))
    if args.json:
        write_json(args.json, result.to_dict())
    return 0


def _compare_corpus(args) -> int:
    # heavy: torch loads when the command runs, not for `codeguard --help`
    from codeguard.probes.corpus.runner import run_corpus_kld
    registry, corpus, ref, opt, config = _corpus_inputs(args)
    result = ref.corpus_probes(opt, config, corpus, registry, ("corpus-kld",))["corpus-kld"] \
        if _from_cache(args) else run_corpus_kld(ref, opt, config, corpus=corpus)
    print(_format_corpus(result))
    if args.json:
        write_json(args.json, result.to_dict())
    return 0


def _windows(config) -> str:
    return f"ctx: {config.ctx}" + (f", scored from chunk token {config.min_context}" if config.min_context else "")


def _format_corpus(result) -> str:
    m = result.metrics
    lines = [f"probe: corpus-kld   ref: {result.ref.spec}   opt: {result.opt.spec}   {_windows(result.config)}",
             f"positions {int(m['positions'])}; PPL ref {m['ppl_ref']:.3f}, opt {m['ppl_opt']:.3f}, "
             f"ratio {m['ppl_ratio']:.4f}",
             f"KLD mean {m['kld_mean']:.6f} ± {m['kld_stderr']:.6f} per position, median {m['kld_median']:.6f}, "
             f"p90 {m['kld_p90']:.5f}, p95 {m['kld_p95']:.5f}, p99 {m['kld_p99']:.5f}, p99.9 {m['kld_p999']:.5f}, "
             f"max {m['kld_max']:.4f}",
             f"same top p {100 * m['same_top_p']:.2f} ± {100 * m['same_top_p_stderr']:.2f} % per position",
             *_approximate_note(result), *result.gate_notes(),
             "Δp of the actual token: " + ", ".join(f"{k} {v:+.4f}" for k, v in result.delta_p.items()),
             "Δp of ref's top token:  " + ", ".join(f"{k} {v:+.4f}" for k, v in result.delta_p_ref_top.items()), "",
             f"{'language':<12}{'positions':>10}{'KLD mean':>11}{'p99':>9}{'max':>8}{'same top':>10}{'PPL ratio':>11}"]
    for lang, s in result.per_language.items():
        lines.append(f"{lang:<12}{int(s['positions']):>10}{s['kld_mean']:>11.5f}{s['kld_p99']:>9.4f}"
                     f"{s['kld_max']:>8.3f}{s['same_top_p']:>10.3f}{s['ppl_ratio']:>11.4f}")
    skipped = result.skipped_files
    if skipped["unknown_language"] or skipped["undecodable"]:
        lines.append(f"skipped: {len(skipped['unknown_language'])} file(s) of unknown language, "
                     f"{len(skipped['undecodable'])} not UTF-8: "
                     + ", ".join(skipped["unknown_language"] + skipped["undecodable"]))
    lines.append("\nworst positions:")
    lines += [f"  {w['kld']:.4f}  {w['file']}:{w['line']}  {w['context']!r}" for w in result.worst[:5]]
    return "\n".join(lines)


def _approximate_note(result) -> list[str]:
    """Which printed metrics are estimates a gate refuses (a top-K reference cache's quantiles, a served model's KL)."""
    flagged = sorted({name.split(".")[0] for name in result.approximate_metrics()})
    if not flagged:
        return []
    source = result.approximate_models()[0]
    return [f"estimates a gate refuses ({source.spec}: {source.backend}): {', '.join(flagged)}"]


def _compare_cold_start(args) -> int:
    # heavy: torch loads when the command runs, not for `codeguard --help`
    from codeguard.probes.cold_start import ColdStartConfig, run_cold_start
    from codeguard.probes.keyword_mass import KeywordMassConfig, run_keyword_mass
    if args.rollouts < 0 or args.rollout_tokens < 1:
        raise CodeguardError("--rollouts must be >= 0 and --rollout-tokens >= 1")
    config = ColdStartConfig(start_token=args.start_token, rollouts=args.rollouts,
                             rollout_tokens=args.rollout_tokens, seed=args.seed)
    registry = load_registry(args.registry)
    languages = split_list(args.languages)
    mass_config = KeywordMassConfig(languages=tuple(languages) if languages else None, start_token=args.start_token)
    # the cold start reads no corpus: a reference-first cache scores none
    ref, opt = _pair(args, cold_start=config, keyword_mass=mass_config, registry=registry, with_corpus=False)
    if _from_cache(args):
        result, mass = ref.cold_start(opt, config, registry), ref.keyword_mass(opt, mass_config, registry)
    else:
        result, mass = run_cold_start(ref, opt, config), run_keyword_mass(ref, opt, mass_config, registry)
    print(_format_metrics(result))
    print(_format_aggregates(mass))
    if args.json:
        data = result.to_dict()
        data["aggregates"] = {"ref": mass.aggregates["ref"], "opt": mass.aggregates["opt"], "shifts": mass.metrics,
                              "control_words_excluded": mass.control_words_excluded}
        write_json(args.json, data)
    return 0


def _format_metrics(result) -> str:
    lines = [f"probe: {result.probe}", f"ref:   {result.ref.spec} [{result.ref.backend}] {result.ref.fingerprint}",
             f"opt:   {result.opt.spec} [{result.opt.backend}] {result.opt.fingerprint}",
             f"start: {result.start_ids} ({result.start_source})", ""]
    width = max(len(name) for name in result.metrics)
    lines += [f"{name.ljust(width)}  {value:.6g}" for name, value in result.metrics.items()]
    lines.append("")
    lines.append("top tokens   ref                      opt")
    for r, o in zip(result.top_tokens["ref"][:10], result.top_tokens["opt"][:10]):
        lines.append(f"             {r['token']!r:>14} {r['prob']:.4f}    {o['token']!r:>14} {o['prob']:.4f}")
    for side, summary in result.rollouts.items():
        lines.append(f"\n{side} rollouts (n={summary['n']}), first lines:")
        lines += [f"  {row['count']:>4}  {row['line']!r}" for row in summary["first_lines"]]
    return "\n".join(lines)


def _format_aggregates(mass) -> str:
    ref, opt = mass.aggregates["ref"], mass.aggregates["opt"]
    lines = ["", "keyword mass at cold start (chain rule; single-token-only in brackets)",
             f"{'language':<12}{'PKP ref':>18}{'PKP opt':>18}{'rel shift':>11}  top keywords (ref)"]
    for lang, r in ref["languages"].items():
        o = opt["languages"][lang]
        top = ", ".join(k["keyword"] for k in r["top_keywords"][:4])
        lines.append(f"{lang:<12}{r['pkp']:>9.4f} [{r['pkp_single_token']:.4f}]{o['pkp']:>9.4f} "
                     f"[{o['pkp_single_token']:.4f}]{mass.metrics['pkp_rel_shift.' + lang]:>11.4f}  {top}")
    for name in ("pkp", "stp", "nlp"):
        lines.append(f"{name.upper():<12}{ref['overall'][name]:>9.4f}{'':9}{opt['overall'][name]:>9.4f}")
    lines.append(f"language-mix JS (bits): {mass.metrics['language_mix_js']:.3g}")
    return "\n".join(lines)
