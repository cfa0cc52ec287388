"""`codeguard calibrate REF OPT`: tolerances from the accepted candidate's measured spread, written into its baselines.

The runs, the perturbations and the refusals are `codeguard.calibrate`'s; the rule is `codeguard.gating.calibration`'s.
"""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from codeguard.calibrate import DEFAULT_SEEDS, calibrate, table
from codeguard.cli.arguments import split_list
from codeguard.cli.init import SUITES
from codeguard.errors import ConfigError
from codeguard.gating.calibration import DEFAULT_MARGIN


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declares the subcommand's options (the parser is made by `codeguard.cli.main`)."""
    parser.add_argument("ref", help="reference model spec (as in --model-pair)")
    parser.add_argument("opt", help="the accepted candidate's spec (the one its baselines record)")
    parser.add_argument("--suites", metavar="LIST", default=None,
                        help="comma-separated suites to calibrate (default: every ready-made suite with a baseline "
                             f"for REF: {', '.join(SUITES)})")
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, metavar="N",
                        help=f"the sampling suites (pass_at_k, worst_case) also run with seeds 1..N-1 (default "
                             f"{DEFAULT_SEEDS}: seeds 0-{DEFAULT_SEEDS - 1})")
    parser.add_argument("--perturbations", metavar="LIST", default=None,
                        help="keep only these runs besides as-is: names (threads=1, kernels=avx2, batch=small, "
                             "seed=2) or kinds (threads, kernels, batch, seed); default: all this machine supports")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                        help=f"room beyond the worst run, in multiples of the runs' spread (max - min; default "
                             f"{DEFAULT_MARGIN:g})")
    parser.add_argument("--baseline-dir", default="baselines", metavar="DIR",
                        help="where the baselines live (default: baselines/ in the current folder)")
    parser.add_argument("--slot", metavar="NAME", help="a named baseline slot (<suite>.<NAME>.json)")
    parser.add_argument("--tests", metavar="DIR", default=None,
                        help="the folder holding test_<suite>.py (default: ./suites if it has them, else the "
                             "suites shipped with codeguard)")
    parser.add_argument("--pytest-args", metavar="ARGS", default="",
                        help="more options for every gate run, as one string, e.g. \"--codeguard-ctx 256\" (the "
                             "measurement options your gate runs with; the project's pytest ini file applies anyway)")
    parser.add_argument("--timeout", type=float, default=None, metavar="S", help="seconds one run may take")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the proposed tolerances without writing them")


def run(args) -> int:
    if args.seeds < 1:
        raise ConfigError(f"--seeds {args.seeds}: at least 1 (seed 0 alone: no seed runs)")
    baseline_dir = Path(args.baseline_dir)
    suites = split_list(args.suites) or _suites_with_baselines(args.ref, baseline_dir, args.slot)
    calibrations = calibrate(args.ref, args.opt, suites, baseline_dir, slot=args.slot, margin=args.margin,
                             seeds=args.seeds, only=split_list(args.perturbations),
                             tests=Path(args.tests) if args.tests else None,
                             pytest_args=shlex.split(args.pytest_args), dry_run=args.dry_run, timeout=args.timeout)
    for calibration in calibrations:
        print()
        print(table(calibration))
        print(f"  {'proposed, not written (--dry-run)' if args.dry_run else 'written'}: {calibration.path}")
    return 0


def _suites_with_baselines(ref: str, baseline_dir: Path, slot: str | None) -> list[str]:
    from codeguard.gating.baselines import baseline_path, reference_folder
    from codeguard.models.specs import parse_spec
    folder = reference_folder(parse_spec(ref), Path.cwd())
    found = [s for s in SUITES if baseline_path(baseline_dir, folder, s, slot).is_file()]
    if not found:
        raise ConfigError(f"no baseline for {ref} under {baseline_dir / folder}: calibration measures an accepted "
                          "candidate; accept one first with pytest suites --model-pair REF,OPT --codeguard-update")
    return found
