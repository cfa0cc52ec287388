"""Runs llama.cpp's convert_hf_to_gguf.py in its own process: `python gguf_converter_run.py TOOLS PRE -- ARGS...`.

Run as a script, not as part of codeguard: the converter must import the `gguf` package it ships with (TOOLS/gguf-py),
not whichever one is installed, and nothing of codeguard may be imported before it.

PRE, when not empty, is the `tokenizer.ggml.pre` value to write when the converter does not recognise the BPE
pre-tokenizer by its hash (a tokenizer trained from scratch has a hash no list knows). codeguard passes one only
after reading the pre-tokenizer from tokenizer.json itself, and checks the written tokenizer against the source's
afterwards. A tokenizer the converter does recognise keeps the converter's own answer.
"""
import sys

tools, pre, separator, *args = sys.argv[1:]
assert separator == "--", "usage: gguf_converter_run.py TOOLS PRE -- ARGS..."
sys.path[0] = tools  # replaces this script's folder, whose module names must not shadow the converter's imports
sys.path.insert(1, tools + "/gguf-py")

import conversion.base  # noqa: E402

_recognised = conversion.base.TextModel.get_vocab_base_pre


def _get_vocab_base_pre(self, tokenizer):
    try:
        return _recognised(self, tokenizer)
    except NotImplementedError:
        if not pre:
            raise
        conversion.base.logger.info(f"tokenizer.ggml.pre: {pre!r}, read from tokenizer.json by codeguard")
        return pre


conversion.base.TextModel.get_vocab_base_pre = _get_vocab_base_pre

import convert_hf_to_gguf  # noqa: E402

sys.argv = ["convert_hf_to_gguf.py", *args]
convert_hf_to_gguf.main()
