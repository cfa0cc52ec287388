"""`codeguard search REF OPT`: the worst-case prefix search from the command line (probes/worst_case.py)."""
from __future__ import annotations

import argparse
from pathlib import Path

from codeguard.cli.arguments import add_device_arguments, placement, write_json
from codeguard.languages.registry import load_registry
from codeguard.probes.worst_case import WorstCaseConfig, run_worst_case
from codeguard.strategies import resolve_languages


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declares the subcommand's options (the parser is made by `codeguard.cli.main`)."""
    parser.add_argument("ref", help="reference model spec (path, hf:ORG/NAME, zoo:NAME, with @derivations)")
    parser.add_argument("opt", help="optimized model spec")
    parser.add_argument("--language", action="append", metavar="L",
                        help="registry language to search (repeatable; default: python, javascript, java, c, go, rust)")
    parser.add_argument("--max-examples", type=int, default=WorstCaseConfig.max_examples, metavar="N",
                        help="hypothesis examples, each a batch of prefixes (default "
                             f"{WorstCaseConfig.max_examples}, as the worst-case suite)")
    parser.add_argument("--batch-size", type=int, default=16, metavar="N", help="prefixes per example (default 16)")
    parser.add_argument("--max-tokens", type=int, default=48, metavar="N", help="longest prefix in tokens (default 48)")
    parser.add_argument("--objective", choices=("kl", "keyword_dlogp"), default="kl")
    parser.add_argument("--limit", type=float, default=None, metavar="X",
                        help="shrink the first prefix above X (nats) to the shortest that still exceeds it; exit 1")
    parser.add_argument("--seed", type=int, default=0, help="search seed (default 0: reproducible)")
    parser.add_argument("--database", metavar="DIR", default=".",
                        help="folder whose .hypothesis/ keeps counterexamples (default: current folder)")
    parser.add_argument("--no-database", action="store_true", help="neither replay nor store counterexamples")
    parser.add_argument("--registry", action="append", default=[], metavar="TOML",
                        help="an extra language registry file (repeatable)")
    parser.add_argument("--json", metavar="FILE", help="also write the result as JSON ('-' for stdout)")
    add_device_arguments(parser)


def format_result(result) -> str:
    m, c = result.metrics, result.config
    lines = [f"worst-case search   ref: {result.ref.spec}   opt: {result.opt.spec}   objective: {c.metric}",
             f"{int(m['prefixes'])} prefixes in {int(m['examples'])} examples, {int(m['model_calls'])} model calls, "
             f"{m['seconds']:.1f} s; {c.metric} {m[c.metric]:.5g} (mean prefix KL {m['mean_prefix_kl']:.5g})"]
    if result.limit is not None:
        lines.append(f"limit {result.limit:.5g}: " + ("exceeded" if result.counterexample else "never exceeded"))
    lines += [""] + result.gate_notes()[:-1]
    for lang, rows in result.worst.items():
        lines.append(f"\n{lang}:")
        for r in rows:
            ref_top = ", ".join(f"{t['token']!r} {t['prob']:.2f}" for t in r["ref_top"][:3])
            opt_top = ", ".join(f"{t['token']!r} {t['prob']:.2f}" for t in r["opt_top"][:3])
            lines.append(f"  {r['value']:.5f}  {r['n_tokens']:>3} tok  {r['text'][-60:]!r}")
            lines.append(f"           ref: {ref_top}   opt: {opt_top}")
    return "\n".join(lines)


def run(args) -> int:
    # heavy: torch loads when the command runs, not for `codeguard --help`
    from codeguard.models import load_model
    config = WorstCaseConfig(languages=tuple(args.language) if args.language else None,
                             max_examples=args.max_examples, batch_size=args.batch_size, max_tokens=args.max_tokens,
                             objective=args.objective, seed=args.seed).check()
    registry = load_registry(args.registry)
    # heavy: torch loads when the command runs, not for `codeguard --help`
    resolve_languages(config.languages, config.sources, registry)  # bad language: an error before models load
    where = placement(args)
    ref, opt = load_model(args.ref, device=where), load_model(args.opt, device=where)
    result = run_worst_case(ref, opt, config, limit=args.limit, registry=registry,
                            database=None if args.no_database else Path(args.database))
    print(format_result(result))
    if args.json:
        write_json(args.json, result.to_dict())
    return 1 if result.counterexample is not None else 0
