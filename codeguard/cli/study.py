"""`codeguard study REF VARIANT...`: every variant against the reference, one report (the library: study.py)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codeguard.atomic_files import write_text_atomically
from codeguard.cli.arguments import add_device_arguments, parse_ks, placement, split_list
from codeguard.errors import ConfigError
from codeguard.languages.registry import load_registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declares the subcommand's options (the parser is made by `codeguard.cli.main`)."""
    parser.add_argument("ref", help="reference model spec")
    parser.add_argument("variants", nargs="+", metavar="VARIANT", help="variant specs (quantized, distilled, ...)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="write study.json, study.md and study.html here")
    parser.add_argument("--json", metavar="FILE", help="write study.json to FILE ('-' for stdout)")
    parser.add_argument("--corpus", metavar="DIR", help="code for the corpus probes (default: the shipped corpus)")
    parser.add_argument("--ctx", type=int, default=None, metavar="N", help="corpus window length in tokens")
    parser.add_argument("--languages", help="comma-separated registry languages (default: all); also filters the "
                                           "corpus")
    parser.add_argument("--registry", action="append", default=[], metavar="TOML",
                       help="an extra language registry file (repeatable)")
    parser.add_argument("--start-token", help="cold-start token (default: BOS, else EOS)")
    parser.add_argument("--pass-at-k", action="store_true", help="also generate and execute: pass@k per variant")
    parser.add_argument("--problems", default="humaneval:40", help="pass@k problems (as for compare)")
    parser.add_argument("--samples", type=int, default=5, metavar="N", help="pass@k samples per problem")
    parser.add_argument("--k", default="1,5", help="pass@k: comma-separated k values (each <= --samples)")
    parser.add_argument("--seed", type=int, default=0, help="pass@k sampling seed (default 0: reproducible)")
    add_device_arguments(parser)
    parser.add_argument("--progress", action="store_true", help="show progress on stderr even when it is not a "
                                                               "terminal")


def run(args) -> int:
    """`codeguard study`: checks its outputs can be written, runs the study, writes the report, prints the table."""
    from codeguard.study import StudyConfig, run_study  # imports torch: only when a study runs
    # heavy (scipy.stats, matplotlib): imported when this command runs, not by every `codeguard` command
    from codeguard.probes.pass_at_k import PassAtKConfig
    from codeguard.report.markdown import table
    from codeguard.report.results import dumps
    from codeguard.report.study import check_writable, study_table, write_study_dir
    if args.ctx is not None and args.ctx < 2:
        raise ConfigError(f"--ctx {args.ctx}: a window needs at least 2 tokens")
    where = placement(args)  # an unavailable device fails before anything runs
    if args.out is not None:
        check_writable(args.out)
    if args.json and args.json != "-":
        check_writable(Path(args.json).parent, "--json")
    pass_config = None
    if args.pass_at_k:
        pass_config = PassAtKConfig(problems=args.problems, n_samples=args.samples, ks=tuple(parse_ks(args.k)),
                                    seed=args.seed)
    languages = split_list(args.languages)
    config = StudyConfig(corpus=args.corpus, ctx=args.ctx, languages=tuple(languages) if languages else None,
                         start_token=args.start_token, pass_at_k=pass_config)
    result = run_study(args.ref, args.variants, config, load_registry(args.registry),
                       progress=True if args.progress else None, invocation=["codeguard", *sys.argv[1:]],
                       device=where)
    data = result.to_dict()
    if args.json:
        text = dumps(data)
        if args.json == "-":
            sys.stdout.write(text)
        else:
            write_text_atomically(Path(args.json), text)
    report = sys.stderr if args.json == "-" else sys.stdout
    header, rows = study_table(data)
    print("\n".join(table(header, rows)).rstrip(), file=report)
    print(f"codeguard study: {len(result.variants)} variant(s) in {data['run']['duration_s']:.0f} s", file=report)
    if args.out is not None:
        written = write_study_dir(data, args.out)
        print(f"codeguard study: wrote {', '.join(str(p) for p in written)}", file=report)
    return 0
