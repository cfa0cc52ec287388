"""Hugging Face model → GGUF file with llama.cpp's own tools: convert_hf_to_gguf.py, then `llama_model_quantize`.

The converter and its `gguf-py` ship in the llama-cpp-python sdist (not in the wheel); they are extracted once into
`<cache>/llama-cpp-tools/<version>/` and run offline after that. The GGUF's tokenizer is checked against the source
model's on the shipped corpus before a derivation is accepted, and the tensor types llama.cpp really wrote are read
back (k-quants need rows that are a multiple of 256: other tensors silently get another type).
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path

from codeguard.cache import cache_root
from codeguard.errors import ModelSpecError
from codeguard.languages.corpus import load_corpus
from codeguard.models.derive.gguf_types import CONVERTER_TYPES, QUANTIZED_TYPES
from codeguard.tokenization.gguf import tokenizer_from_gguf
from codeguard.tokenization.vocabs import LLAMA_CPP_PYTHON_VERSION, download_sdist

GGUF_FILE = "model.gguf"
_TOOL_MEMBERS = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")
_RUNNER = Path(__file__).with_name("gguf_converter_run.py")
INSTALL_HINT = ("GGUF models run through llama.cpp: install codeguard's extra, `pip install 'codeguard[gguf]'` "
                "(llama-cpp-python==0.3.36, which builds from source with CMake in about 6 minutes on 2 cores; "
                "see the README's GGUF section for a wheel cache)")


def require_llama_cpp(what: str):
    """The `llama_cpp` module, or a ModelSpecError naming `what` needed it and how to install it."""
    try:
        import llama_cpp
    except ImportError as error:
        raise ModelSpecError(f"{what}: llama-cpp-python is not installed ({error}). {INSTALL_HINT}") from None
    return llama_cpp


def llama_cpp_tools_dir() -> Path:
    """llama.cpp's converter (convert_hf_to_gguf.py, conversion/, gguf-py/) of the pinned sdist, extracted once."""
    target = cache_root() / "llama-cpp-tools" / LLAMA_CPP_PYTHON_VERSION
    if not (target / "convert_hf_to_gguf.py").is_file():
        _fetch_tools(target)
    return target


def _fetch_tools(target: Path) -> None:
    """Download the sdist (hash-checked), extract the converter's files into a staging folder, rename into place."""
    # The vocabularies' fetcher pins the same sdist and checks its published hash.
    root = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}/vendor/llama.cpp/"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        staging = Path(tmp) / "tools"
        archive = download_sdist(Path(tmp), target)
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                relative = member.name[len(root):] if member.name.startswith(root) else None
                if not (member.isfile() and relative and relative.startswith(_TOOL_MEMBERS)):
                    continue
                parts = Path(relative).parts
                assert ".." not in parts and not Path(relative).is_absolute()
                destination = staging.joinpath(*parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as source:
                    destination.write_bytes(source.read())
        if not (staging / "convert_hf_to_gguf.py").is_file():
            raise ModelSpecError(f"{archive.name} has no {root}convert_hf_to_gguf.py")
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / "convert_hf_to_gguf.py").is_file():
                raise


def bpe_pre_from_tokenizer_json(source_dir: Path) -> str | None:
    """The llama.cpp pre-tokenizer that splits text as this HF tokenizer does, read from its tokenizer.json.

    Only GPT-2's own scheme is recognised: no normalizer, a byte-level BPE model and a `ByteLevel` pre-tokenizer with
    GPT-2's regex and no prefix space, which is llama.cpp's "gpt-2" (the same expression). Anything else returns None
    and is left to the converter's hash table.
    """
    path = Path(source_dir) / "tokenizer.json"
    if not path.is_file():
        return None
    config = json.loads(path.read_text(encoding="utf-8"))
    pre = config.get("pre_tokenizer") or {}
    if (config.get("normalizer") is None and (config.get("model") or {}).get("type") == "BPE"
            and pre.get("type") == "ByteLevel" and pre.get("use_regex", True)
            and not pre.get("add_prefix_space", False)):
        return "gpt-2"
    return None


def convert(source_dir: Path, out_path: Path, outtype: str, spec_text: str) -> None:
    """Runs convert_hf_to_gguf.py on a transformers directory; a failure names the spec and shows its output."""
    assert outtype in CONVERTER_TYPES
    tools = llama_cpp_tools_dir()
    pre = bpe_pre_from_tokenizer_json(source_dir) or ""
    command = [sys.executable, str(_RUNNER), str(tools), pre, "--", str(source_dir), "--outfile", str(out_path),
               "--outtype", outtype]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not out_path.is_file():
        tail = (done.stdout + done.stderr)[-3000:]
        hint = ""
        if "pre-tokenizer was not recognized" in tail:
            hint = (" The tokenizer's pre-tokenizer is neither one llama.cpp's converter knows by hash nor GPT-2's "
                    "byte-level scheme, which codeguard reads from tokenizer.json; convert it with a llama.cpp that "
                    "supports it and pass the .gguf file.")
        raise ModelSpecError(f"model spec {spec_text!r}: llama.cpp's convert_hf_to_gguf.py failed on {source_dir} "
                             f"(exit {done.returncode}).{hint}\n{tail}")


def quantize(source_gguf: Path, out_path: Path, type_name: str, spec_text: str, n_threads: int | None = None) -> None:
    """`llama_model_quantize` from an f32 GGUF to `type_name` (a key of QUANTIZED_TYPES)."""
    llama_cpp = require_llama_cpp(f"model spec {spec_text!r}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANTIZED_TYPES[type_name])
    params.nthread = n_threads or os.cpu_count() or 1
    # llama.cpp logs every tensor; what matters of it (the types it chose) is read back from the file instead.
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    status = llama_cpp.llama_model_quantize(str(source_gguf).encode(), str(out_path).encode(), params)
    if status != 0 or not out_path.is_file():
        raise ModelSpecError(f"model spec {spec_text!r}: llama_model_quantize to {type_name} failed (status {status}) "
                             f"on {source_gguf}")


def tensor_types(path: Path) -> tuple[dict[str, str], list[str]]:
    """Each tensor's GGML type as stored in the file (read back with gguf's GGUFReader), and the matrices stored in
    a float type (F32/F16/BF16): in a quantized file those are llama.cpp's silent fallbacks."""
    from gguf import GGUFReader
    tensors = GGUFReader(path).tensors
    floats = [t.name for t in tensors if len(t.shape) >= 2 and t.tensor_type.name in ("F32", "F16", "BF16")]
    return {t.name: t.tensor_type.name for t in tensors}, floats


def check_tokenizer(source_dir: Path, gguf_path: Path, spec_text: str) -> dict:
    """Encodes the shipped corpus with the source's HF tokenizer and with the GGUF's; any difference is an error.

    Returns what was compared, for the manifest.
    """
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(source_dir).backend_tokenizer
    gguf = tokenizer_from_gguf(gguf_path)
    corpus = load_corpus()
    tokens = 0
    for file in corpus.files:
        expected = hf.encode(file.text, add_special_tokens=False).ids
        got = gguf.encode(file.text)
        if got != expected:
            at = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(expected), len(got)))
            raise ModelSpecError(
                f"model spec {spec_text!r}: the GGUF tokenizer written by llama.cpp's converter (pre-tokenizer "
                f"{gguf.pre!r}) tokenizes {file.path.name} differently from the source's tokenizer, first at token "
                f"{at}: {expected[at:at + 5]} vs {got[at:at + 5]}; the GGUF would not be the same model")
        tokens += len(expected)
    return {"corpus": "shipped", "files": len(corpus.files), "tokens": tokens, "identical": True,
            "pre_tokenizer": gguf.pre}


def build_gguf(type_name: str):
    """A derivation builder (see codeguard.models.derive.derivations) writing `model.gguf` of `type_name` into the target folder."""
    def build(source_dir: Path, target: Path, spec_text: str) -> dict:
        out = target / GGUF_FILE
        if type_name in CONVERTER_TYPES:
            convert(source_dir, out, type_name, spec_text)
            tokenizer_check = check_tokenizer(source_dir, out, spec_text)
            method = f"convert_hf_to_gguf.py --outtype {type_name}"
        else:
            with tempfile.TemporaryDirectory(dir=target, prefix=".f32-") as tmp:
                f32 = Path(tmp) / "model-f32.gguf"
                convert(source_dir, f32, "f32", spec_text)
                tokenizer_check = check_tokenizer(source_dir, f32, spec_text)
                quantize(f32, out, type_name, spec_text)
            method = f"convert_hf_to_gguf.py --outtype f32, then llama_model_quantize({QUANTIZED_TYPES[type_name]})"
        types, float_matrices = tensor_types(out)
        return {"file_name": GGUF_FILE, "gguf_type": type_name, "method": method,
                "llama_cpp_python": LLAMA_CPP_PYTHON_VERSION, "tensor_types": types,
                "tensor_type_counts": dict(sorted(Counter(types.values()).items())),
                # matrices a quantized type left in float (k-quants need rows that are a multiple of 256)
                "float_fallbacks": float_matrices if type_name in QUANTIZED_TYPES else [],
                "tokenizer_check": tokenizer_check}
    return build
