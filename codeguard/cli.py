"""The `codeguard` command: the same library calls as the pytest plugin, for scripts and notebooks."""
from __future__ import annotations

import argparse
import json
import sys

from codeguard.errors import CodeguardError

PROBES = ("cold-start",)


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
    return parser


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


def _compare(args) -> int:
    from codeguard.backends import load_model
    from codeguard.probes.cold_start import ColdStartConfig, run_cold_start
    if args.rollouts < 0 or args.rollout_tokens < 1:
        raise CodeguardError("--rollouts must be >= 0 and --rollout-tokens >= 1")
    ref, opt = load_model(args.ref), load_model(args.opt)
    config = ColdStartConfig(start_token=args.start_token, rollouts=args.rollouts,
                             rollout_tokens=args.rollout_tokens, seed=args.seed)
    result = run_cold_start(ref, opt, config)
    print(_format_metrics(result))
    if args.json:
        data = result.to_dict()
        text = json.dumps(data, indent=2, sort_keys=True, allow_nan=True) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            with open(args.json, "w") as handle:
                handle.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "compare":
            return _compare(args)
    except CodeguardError as error:
        print(f"codeguard: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
