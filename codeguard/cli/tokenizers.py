"""`codeguard tokenizers SPEC...`: how each programming language is encoded by each tokenizer."""
from __future__ import annotations

import argparse
from pathlib import Path

from codeguard.cli.arguments import split_list, write_json
from codeguard.languages.corpus import load_corpus
from codeguard.languages.registry import load_registry
from codeguard.models.tokenizers import load_tokenizer
from codeguard.probes.tokenizer_analysis import analyse_tokenizer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declares the subcommand's options (the parser is made by `codeguard.cli.main`)."""
    parser.add_argument("specs", nargs="+", metavar="SPEC",
                            help="model spec, Hugging Face tokenizer directory or GGUF file")
    parser.add_argument("--languages", help="comma-separated registry languages (default: all)")
    parser.add_argument("--corpus", metavar="DIR", help="code for fertility (default: the shipped corpus)")
    parser.add_argument("--registry", action="append", default=[], metavar="TOML",
                            help="an extra language registry file (repeatable)")
    parser.add_argument("--json", metavar="FILE", help="also write the analysis as JSON ('-' for stdout)")


def run(args) -> int:
    registry = load_registry(args.registry)
    corpus = load_corpus(args.corpus, registry)
    languages = split_list(args.languages)
    analyses = [analyse_tokenizer(load_tokenizer(spec), registry, languages, corpus) for spec in args.specs]
    print(_format_tokenizers(analyses))
    if args.json:
        write_json(args.json, {"tokenizers": [a.to_dict() for a in analyses],
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
