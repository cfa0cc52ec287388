"""Argument helpers every subcommand shares: comma lists, k values, JSON output."""
from __future__ import annotations

import argparse

from codeguard.atomic_files import json_text, write_output
from codeguard.errors import CodeguardError
from codeguard.models.devices import DEVICE_FORMS, DTYPE_FORMS, parse_device, parse_dtype


def split_list(value: str | None) -> list[str] | None:
    """`"a, b,"` -> `["a", "b"]`; None or empty -> None (meaning: all)."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def parse_ks(value: str) -> list[int]:
    """`--k 1,10` -> [1, 10]; anything else is an error naming the option."""
    try:
        ks = [int(k) for k in split_list(value) or []]
    except ValueError:
        raise CodeguardError(f"--k {value!r}: expected comma-separated whole numbers, e.g. 1,10") from None
    if not ks or min(ks) < 1:
        raise CodeguardError(f"--k {value!r}: every k must be >= 1")
    return ks


def write_json(target: str, data: dict) -> None:
    """`data` as JSON to a file, or to stdout for '-'."""
    write_output(target, json_text(data))


def add_min_context_argument(parser: argparse.ArgumentParser) -> None:
    """--min-context, as the plugin's --codeguard-min-context (part of the corpus probes' measurement)."""
    parser.add_argument("--min-context", type=int, default=0, metavar="N",
                        help="corpus probes: score only tokens with at least N tokens of their chunk before them "
                             "(default 0: every token; llama.cpp's perplexity scores the second half, ctx // 2)")


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """--device and --dtype, as the plugin's --codeguard-device/--codeguard-dtype (same parsing, same meaning)."""
    parser.add_argument("--device", type=_checked(parse_device, "--device"), default="auto",
                        help=f"where models run: {DEVICE_FORMS} (default auto: the first CUDA GPU if torch sees one, "
                             "else the CPU)")
    parser.add_argument("--dtype", type=_checked(parse_dtype, "--dtype"), default="auto",
                        help=f"dtype of transformers models: {DTYPE_FORMS} (default auto: the checkpoint's own on a "
                             "GPU, float32 on the CPU; a derivation such as @bf16 always wins)")


def _checked(parse, option: str):
    """An argparse type from a parser of ours: a bad value is a usage error (exit 2) with our message."""
    def convert(text: str) -> str:
        try:
            return parse(text, option)
        except CodeguardError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return convert


def placement(args):
    """The checked Placement of --device/--dtype: an unavailable device fails here, before any model loads."""
    from codeguard.models.devices import resolve_placement
    return resolve_placement(args.device, args.dtype, "--device", "--dtype")
