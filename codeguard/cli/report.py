"""`codeguard report`: render a results.json or the history database again, without pytest and without models."""
from __future__ import annotations

import argparse
from pathlib import Path

from codeguard.atomic_files import write_text_atomically
from codeguard.errors import ReportError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declares the subcommand's options (the parser is made by `codeguard.cli.main`)."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--results", type=Path, metavar="FILE", help="a results.json (pytest --codeguard-report DIR)")
    source.add_argument("--history", type=Path, metavar="FILE", help="a history database (pytest --codeguard-history)")
    parser.add_argument("--html", type=Path, metavar="OUT", help="write the HTML report (run report or trends)")
    parser.add_argument("--md", type=Path, metavar="OUT", help="write the Markdown report (--results, or --run)")
    parser.add_argument("--json", type=Path, metavar="OUT",
                        help="write JSON: trends per pair and metric for dashboards (--history)")
    parser.add_argument("--pair", metavar="SLUG", help="--history: only this model pair (e.g. "
                                                        "zoo-tiny-code__zoo-tiny-code-fp16)")
    parser.add_argument("--run", type=int, metavar="N", help="--history: render run N's own report instead of trends")


def run(args) -> int:
    """Renders what was asked; raises ReportError (the CLI exits 2) on bad input or an unwritable output."""
    # heavy (matplotlib, ~0.3 s): imported when this command runs, not by every `codeguard` command
    from codeguard.report.history import read_history
    from codeguard.report.html import render_html
    from codeguard.report.markdown import render_markdown
    from codeguard.report.results import dumps
    from codeguard.report.trends import analyse, render_trends_html, render_trends_json
    if not (args.html or args.md or args.json):
        raise ReportError("codeguard report: nothing to write; give --html OUT, --md OUT and/or --json OUT")
    if args.results is not None or args.run is not None:
        if args.json and args.results is not None:
            raise ReportError("--json writes history trends; with --results use the results file itself")
        if args.pair:
            raise ReportError("--pair selects a model pair of a --history trend report")
        data = _run_results(args)
        if args.html:
            write_text_atomically(args.html, render_html(data))
        if args.md:
            write_text_atomically(args.md, render_markdown(data))
        if args.json:
            write_text_atomically(args.json, dumps(data))
    else:
        if args.md:
            raise ReportError("--md renders one run: use --results FILE, or --history FILE --run N")
        trends = analyse(read_history(args.history, args.pair))
        if args.html:
            write_text_atomically(args.html, render_trends_html(trends))
        if args.json:
            write_text_atomically(args.json, render_trends_json(trends))
    for out in (args.html, args.md, args.json):
        if out:
            print(f"codeguard: wrote {out}")
    return 0


def _run_results(args) -> dict:
    from codeguard.report.history import load_run_results
    from codeguard.report.results import load_results, validate_results
    if args.results is not None:
        return load_results(args.results)
    data = load_run_results(args.history, args.run)
    validate_results(data, f"{args.history} run {args.run}")
    return data
