"""The GGUF types codeguard derives (`@gguf-TYPE`), by llama.cpp's names; no heavy imports, specs.py parses with it.

`f32`, `f16` and `bf16` are written by llama.cpp's converter directly; every other type is a `llama_ftype` that
`llama_model_quantize` makes from an f32 conversion. The types llama.cpp refuses without an importance matrix are
listed apart, so a spec naming one gets that reason instead of "unknown".
"""
from __future__ import annotations

CONVERTER_TYPES = ("f32", "f16", "bf16")
# name -> llama_cpp constant (llama_ftype), from llama.cpp's own `llama-quantize` list; all run without an imatrix.
QUANTIZED_TYPES = {
    "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
    "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K",
    "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
    "q5_k_s": "LLAMA_FTYPE_MOSTLY_Q5_K_S",
    "q5_1": "LLAMA_FTYPE_MOSTLY_Q5_1",
    "q5_0": "LLAMA_FTYPE_MOSTLY_Q5_0",
    "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "q4_k_s": "LLAMA_FTYPE_MOSTLY_Q4_K_S",
    "q4_1": "LLAMA_FTYPE_MOSTLY_Q4_1",
    "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0",
    "iq4_nl": "LLAMA_FTYPE_MOSTLY_IQ4_NL",
    "iq4_xs": "LLAMA_FTYPE_MOSTLY_IQ4_XS",
    "q3_k_l": "LLAMA_FTYPE_MOSTLY_Q3_K_L",
    "q3_k_m": "LLAMA_FTYPE_MOSTLY_Q3_K_M",
    "q3_k_s": "LLAMA_FTYPE_MOSTLY_Q3_K_S",
    "iq3_m": "LLAMA_FTYPE_MOSTLY_IQ3_M",
    "iq3_s": "LLAMA_FTYPE_MOSTLY_IQ3_S",
    "q2_k": "LLAMA_FTYPE_MOSTLY_Q2_K",
}
GGUF_TYPES = CONVERTER_TYPES + tuple(QUANTIZED_TYPES)
# llama.cpp refuses these without an importance matrix (computed from calibration text), which codeguard does not make.
NEEDS_IMATRIX = ("iq3_xxs", "iq3_xs", "iq2_m", "iq2_s", "iq2_xs", "iq2_xxs", "iq1_m", "iq1_s", "q2_k_s")
PREFIX = "gguf-"


def gguf_type_problem(suffix: str) -> str | None:
    """Why `@suffix` (starting 'gguf-') is not a derivation codeguard makes, or None when it is one."""
    name = suffix[len(PREFIX):]
    if name in GGUF_TYPES:
        return None
    if name.lower() in GGUF_TYPES:
        return f"GGUF type names are lower case: use '@{PREFIX}{name.lower()}'"
    if name.lower() in NEEDS_IMATRIX:
        return (f"GGUF type '{name}' needs an importance matrix (llama.cpp refuses it without one), which codeguard "
                "does not compute; quantize it with llama.cpp's llama-imatrix and llama-quantize and pass the .gguf file")
    return f"unknown GGUF type '{name}'; known types: {', '.join(GGUF_TYPES)}"
