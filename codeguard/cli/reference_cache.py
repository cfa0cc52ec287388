"""`codeguard reference-cache REF --out DIR`: scores the reference once for the distribution suites; a later gate
with `--model-pair DIR,OPT` (or `--codeguard-reference-cache DIR`) loads only OPT.

The measurement options are the plugin's (--corpus, --ctx, --min-context, --start-token, --rollouts, --seed, and with
--pass-at-k --problems and --samples): the cache serves runs with the same values, and refuses others by name."""
from __future__ import annotations

import argparse

from codeguard.cli.arguments import add_device_arguments, add_min_context_argument, placement
from codeguard.errors import CodeguardError
from codeguard.languages.corpus import load_corpus
from codeguard.languages.registry import load_registry

MODES = ("auto", "exact", "top-k")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declares the subcommand's options (the parser is made by `codeguard.cli.main`)."""
    parser.add_argument("ref", help="reference model spec (path, hf:ORG/NAME, zoo:NAME, with @derivations)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="the cache directory (created; an older cache there is replaced)")
    parser.add_argument("--mode", choices=MODES, default="auto",
                        help="exact: ref's full logits (every metric exact; positions x vocabulary x 4 bytes); "
                             "top-k: per position ref's top tokens up to --mass and draws from the rest (kld_mean "
                             "is unbiased, the other KL statistics are flagged estimates); auto (default): exact "
                             "when that stays under 64 MiB, else top-k")
    parser.add_argument("--mass", type=float, default=0.999, help="top-k: probability mass kept per position")
    parser.add_argument("--top-k", type=int, default=64, metavar="K", help="top-k: at most K tokens per position")
    parser.add_argument("--tail-samples", type=int, default=None, metavar="S",
                        help="top-k: tokens drawn per position from the mass outside the top tokens (seeded), from "
                             "which the KL divergences are estimated without bias (default: one per 256 vocabulary "
                             "entries, at least 32)")
    parser.add_argument("--corpus", metavar="DIR", help="code the corpus suites score (default: the shipped corpus)")
    parser.add_argument("--no-corpus", action="store_true",
                        help="score no corpus: a cache for the cold_start and keyword_mass suites only")
    parser.add_argument("--ctx", type=int, default=None, metavar="N",
                        help="corpus window length (default 512, capped at the model's maximum context)")
    add_min_context_argument(parser)
    parser.add_argument("--start-token", help="start token (default: BOS, else EOS), as --codeguard-start-token")
    parser.add_argument("--rollouts", type=int, default=0, help="cold start rollouts, as --codeguard-rollouts")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed, as --codeguard-seed")
    parser.add_argument("--pass-at-k", action="store_true",
                        help="also generate the reference's pass@k completions (--problems, --samples, --seed), so "
                             "the pass_at_k suite runs with only the candidate loaded")
    parser.add_argument("--problems", default=None, metavar="SPEC",
                        help="pass@k problems, as --codeguard-problems (default humaneval:40)")
    parser.add_argument("--samples", type=int, default=None, metavar="N",
                        help="pass@k samples per problem, as --codeguard-samples (default 5)")
    parser.add_argument("--registry", action="append", default=[], metavar="TOML",
                        help="an extra language registry file (repeatable), as --codeguard-languages")
    add_device_arguments(parser)


def run(args) -> int:
    # heavy: torch loads when the command runs, not for `codeguard --help`
    from codeguard.models import load_model
    from codeguard.probes.cold_start import ColdStartConfig
    from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig
    from codeguard.probes.keyword_mass import KeywordMassConfig
    from codeguard.probes.reference_cache.build import build_reference_cache
    from codeguard.probes.pass_at_k import PassAtKConfig
    from codeguard.probes.result import with_overrides
    if args.no_corpus and args.corpus:
        raise CodeguardError("--no-corpus and --corpus: give one of the two")
    if not args.pass_at_k and (args.problems or args.samples):
        raise CodeguardError("--problems and --samples set what --pass-at-k generates: add --pass-at-k")
    pass_at_k = None
    if args.pass_at_k:
        pass_at_k = with_overrides(PassAtKConfig(), problems=args.problems, n_samples=args.samples, seed=args.seed)
        pass_at_k.check()
    registry = load_registry(args.registry)
    corpus = None if args.no_corpus else load_corpus(args.corpus, registry)
    ref = load_model(args.ref, device=placement(args))
    manifest = build_reference_cache(
        ref, args.out, TeacherForcedConfig(ctx=args.ctx, corpus=args.corpus, start_token=args.start_token,
                                       min_context=args.min_context),
        ColdStartConfig(start_token=args.start_token, rollouts=args.rollouts, seed=args.seed),
        KeywordMassConfig(start_token=args.start_token), corpus=corpus, registry=registry, mode=args.mode,
        mass=args.mass, k=args.top_k, tail_samples=args.tail_samples, with_corpus=not args.no_corpus,
        pass_at_k=pass_at_k)
    size = sum(f["bytes"] for f in manifest.files.values())
    if pass_at_k is not None:
        print(f"pass@k: the reference's {pass_at_k.n_samples} completions per problem of {pass_at_k.problems} "
              f"(seed {pass_at_k.seed}) are in the cache; the pass_at_k suite runs with only the candidate loaded")
    if args.no_corpus:
        suites = " ".join(f"suites/test_{name}.py" for name in ("cold_start", "keyword_mass")
                          + (("pass_at_k",) if pass_at_k else ()))
        print(f"reference cache for {ref.spec} written to {args.out}: cold start and keyword mass only (no corpus), "
              f"{size / 2**20:.2f} MiB\ngate a candidate with: pytest {suites} --model-pair {args.out},OPT")
        return 0
    detail = (f"top-{manifest.top_k['k']} sets up to mass {manifest.top_k['mass']} (mean "
              f"{manifest.probes['corpus']['mean_top_set']:.1f} tokens) and {manifest.top_k['tail_samples']} draws "
              "from the rest" if manifest.mode == "top-k" else
              "full logits")
    print(f"reference cache for {ref.spec} written to {args.out}: {manifest.mode} mode, {detail}, "
          f"{manifest.positions} corpus positions, {size / 2**20:.1f} MiB\n"
          f"gate a candidate with: pytest suites --model-pair {args.out},OPT")
    return 0
