"""`tokenizers.Tokenizer` objects built straight from a GGUF file's metadata, tokenizing exactly as llama.cpp does.

transformers' `gguf_file=` loader is slow, refuses many vocabularies and mis-tokenizes several; the `gguf` package's
`GGUFReader` maps every tensor before it answers. Here a small reader parses only the header and key/value section,
and the tokenizer is assembled from the vocabulary, merges or SentencePiece scores, token types and the pre-tokenizer
split expressions of llama.cpp's `src/llama-vocab.cpp` (llama-cpp-python 0.3.36), which is the ground truth this
module follows. Encoding corresponds to llama.cpp's `tokenize(text, add_special=False, parse_special=False)`.
"""
from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from gguf import GGUFValueType, Keys, TokenType
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

from codeguard.errors import TokenizerError

_MAGIC = b"GGUF"
_SCALARS = {
    GGUFValueType.UINT8: "B", GGUFValueType.INT8: "b", GGUFValueType.UINT16: "H", GGUFValueType.INT16: "h",
    GGUFValueType.UINT32: "I", GGUFValueType.INT32: "i", GGUFValueType.FLOAT32: "f", GGUFValueType.BOOL: "?",
    GGUFValueType.UINT64: "Q", GGUFValueType.INT64: "q", GGUFValueType.FLOAT64: "d",
}


class _Truncated(Exception):
    """The file ended inside the metadata section."""


class _Cursor:
    """Reads GGUF values from a buffer, checking every length against the buffer's end."""

    def __init__(self, buf, order: str):
        self.buf, self.order, self.pos = buf, order, 0
        self._u64 = struct.Struct(order + "Q")

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self.buf):
            raise _Truncated
        data, self.pos = self.buf[self.pos:end], end
        return data

    def unpack(self, fmt: str):
        return struct.unpack(self.order + fmt, self.take(struct.calcsize(fmt)))

    def string(self) -> str:
        (size,) = self.unpack("Q")
        return self.take(size).decode("utf-8")

    def value(self, vtype: int):
        vtype = GGUFValueType(vtype)
        if vtype == GGUFValueType.STRING:
            return self.string()
        if vtype == GGUFValueType.ARRAY:
            return self.array()
        return self.unpack(_SCALARS[vtype])[0]

    def array(self) -> list:
        (etype,), (count,) = self.unpack("I"), self.unpack("Q")
        etype = GGUFValueType(etype)
        if etype in _SCALARS:
            if count * struct.calcsize(_SCALARS[etype]) > len(self.buf) - self.pos:
                raise _Truncated
            return list(self.unpack(f"{count}{_SCALARS[etype]}"))
        if etype == GGUFValueType.STRING:
            return self.strings(count)
        return [self.value(etype) for _ in range(count)]

    def strings(self, count: int) -> list[str]:
        """Many strings in one tight loop: vocabularies hold up to ~800 k of them (tokens plus merges)."""
        buf, pos, size, unpack_u64 = self.buf, self.pos, len(self.buf), self._u64.unpack_from
        out = []
        for _ in range(count):
            if pos + 8 > size:
                raise _Truncated
            (length,) = unpack_u64(buf, pos)
            start, pos = pos + 8, pos + 8 + length
            if pos > size:
                raise _Truncated
            out.append(str(buf[start:pos], "utf-8"))
        self.pos = pos
        return out


def read_gguf_metadata(path: str | Path) -> dict[str, Any]:
    """Every key/value pair of a GGUF file's metadata (arrays as lists), without reading its tensors.

    Raises TokenizerError naming the file when it is unreadable, not GGUF, of an unknown version, or cut short.
    """
    path = Path(path)
    try:
        with open(path, "rb") as file:
            if path.stat().st_size < 24:
                raise TokenizerError(f"{path} is not a GGUF file: {path.stat().st_size} bytes, too short for a header")
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _parse_metadata(path, buf)
    except OSError as exc:
        raise TokenizerError(f"cannot read GGUF file {path}: {exc}") from exc
    except _Truncated:
        raise TokenizerError(f"{path} is truncated or corrupt: its GGUF metadata runs past the end of the file") \
            from None
    except ValueError as exc:  # an unknown value type, or text that is not UTF-8
        raise TokenizerError(f"{path} has corrupt GGUF metadata: {exc}") from exc


def _parse_metadata(path: Path, buf) -> dict[str, Any]:
    if buf[:4] != _MAGIC:
        raise TokenizerError(f"{path} is not a GGUF file: it starts with {bytes(buf[:4])!r}, not {_MAGIC!r}")
    order = _byte_order(path, buf)
    cursor = _Cursor(buf, order)
    cursor.take(8)
    _tensor_count, kv_count = cursor.unpack("QQ")
    metadata = {}
    for _ in range(kv_count):
        key = cursor.string()
        (vtype,) = cursor.unpack("I")
        metadata[key] = cursor.value(vtype)
    return metadata


def _byte_order(path: Path, buf) -> str:
    """GGUF versions 2 and 3, either byte order (a big-endian file reads as a huge little-endian version)."""
    for order in "<>":
        (version,) = struct.unpack(order + "I", buf[4:8])
        if version in (2, 3):
            return order
    (version,) = struct.unpack("<I", buf[4:8])
    raise TokenizerError(f"{path} is GGUF version {version}; only versions 2 and 3 are supported")


@dataclass(frozen=True)
class GGUFTokenizer:
    """A GGUF file's tokenizer as a `tokenizers.Tokenizer`, with what llama.cpp reads next to it."""

    tokenizer: Tokenizer = field(repr=False)
    special_tokens: dict[str, int]
    model: str
    pre: str | None
    add_bos: bool
    name: str

    def encode(self, text: str) -> list[int]:
        """Token ids as llama.cpp gives them without BOS/EOS and without parsing special-token text."""
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        """The text of `ids`, special tokens included.

        Like llama.cpp, the text of user-defined tokens is copied as it is: the tokenizer's decoder would read
        deepseek's user-defined "ö" as the byte-level character for byte 0xF6.
        """
        verbatim = self._verbatim
        parts, run = [], []
        for token_id in ids:
            if token_id in verbatim:
                parts += [self.tokenizer.decode(run), verbatim[token_id]]
                run = []
            else:
                run.append(token_id)
        return "".join(parts) + self.tokenizer.decode(run)

    @cached_property
    def _verbatim(self) -> dict[int, str]:
        return {token_id: token.content for token_id, token in self.tokenizer.get_added_tokens_decoder().items()}


@dataclass(frozen=True)
class _Vocab:
    """The per-token arrays of a GGUF vocabulary, and each token's id by text."""

    tokens: list[str]
    ids: dict[str, int]
    types: list[int]
    scores: list[float] | None


def tokenizer_from_gguf(path: str | Path) -> GGUFTokenizer:
    """The tokenizer stored in a GGUF file (a model or a vocab-only file).

    Raises TokenizerError naming the file for a tokenizer model or pre-tokenizer that is not supported (the message
    lists those that are), and for a file that is unreadable, not GGUF or corrupt.
    """
    path = Path(path)
    metadata = read_gguf_metadata(path)
    model = metadata.get(Keys.Tokenizer.MODEL)
    if model not in _BUILDERS:
        raise TokenizerError(
            f"{path}: tokenizer model {model!r} ({Keys.Tokenizer.MODEL}) is not supported; "
            f"supported models: {', '.join(sorted(_BUILDERS))}")
    vocab = _read_vocab(path, metadata)
    tokenizer, add_bos = _BUILDERS[model](path, metadata, vocab)
    _add_user_defined(tokenizer, metadata, vocab)
    return GGUFTokenizer(
        tokenizer=tokenizer,
        special_tokens=_special_tokens(metadata, len(vocab.tokens)),
        model=model,
        pre=metadata.get(Keys.Tokenizer.PRE),
        add_bos=add_bos,
        name=str(metadata.get("general.name", path.stem)),
    )


def _read_vocab(path: Path, metadata: dict) -> _Vocab:
    tokens = _array(path, metadata, Keys.Tokenizer.LIST, str)
    if not tokens:
        raise TokenizerError(f"{path} has no token list ({Keys.Tokenizer.LIST})")
    # llama.cpp renames empty tokens the same way, so ids keep their text and stay unique.
    tokens = [token or f"[EMPTY_{i}]" for i, token in enumerate(tokens)]
    ids = {token: i for i, token in enumerate(tokens)}
    if len(ids) != len(tokens):
        raise TokenizerError(f"{path}: its token list ({Keys.Tokenizer.LIST}) holds the same text twice")
    types = _array(path, metadata, Keys.Tokenizer.TOKEN_TYPE, int) or [TokenType.NORMAL] * len(tokens)
    scores = _array(path, metadata, Keys.Tokenizer.SCORES, (float, int))
    for key, values in ((Keys.Tokenizer.TOKEN_TYPE, types), (Keys.Tokenizer.SCORES, scores)):
        if values is not None and len(values) < len(tokens):
            raise TokenizerError(f"{path}: {key} has {len(values)} entries for {len(tokens)} tokens")
    return _Vocab(tokens, ids, types, scores)


def _array(path: Path, metadata: dict, key: str, kind) -> list | None:
    """`metadata[key]` if present, after checking it is an array of `kind`: corrupt files fail here, by name."""
    values = metadata.get(key)
    if values is not None and not (isinstance(values, list) and all(isinstance(v, kind) for v in values)):
        raise TokenizerError(f"{path}: {key} is not an array of {getattr(kind, '__name__', 'numbers')}")
    return values


def _special_tokens(metadata: dict, n_tokens: int) -> dict[str, int]:
    """`tokenizer.ggml.<role>_token_id` entries by role; like llama.cpp, ids outside the vocabulary are ignored."""
    prefix, suffix = "tokenizer.ggml.", "_token_id"
    renamed = {"unknown": "unk", "padding": "pad", "seperator": "sep"}
    roles = {}
    for key, value in metadata.items():
        if key.startswith(prefix) and key.endswith(suffix) and isinstance(value, int) and 0 <= value < n_tokens:
            role = key[len(prefix):-len(suffix)]
            roles[renamed.get(role, role)] = value
    return roles


# llama.cpp's load() marks tokens with these texts as control (EOG/EOT/EOM/FIM detection by text), so with
# parse_special=False they are plain text even where the file types them user-defined (phi-3's "</s>").
_EOG_TEXTS = frozenset({
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
    "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
    "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
})
_FIM_TEXTS = {
    Keys.Tokenizer.FIM_PRE_ID: ("<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>",
                                "▁<PRE>", "<|code_prefix|>", "<|prefix|>"),
    Keys.Tokenizer.FIM_SUF_ID: ("<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>",
                                "▁<SUF>", "<|code_suffix|>", "<|suffix|>"),
    Keys.Tokenizer.FIM_MID_ID: ("<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>",
                                "▁<MID>", "<|code_middle|>", "<|middle|>"),
    Keys.Tokenizer.FIM_PAD_ID: ("<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"),
    Keys.Tokenizer.FIM_REP_ID: ("<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"),
    Keys.Tokenizer.FIM_SEP_ID: ("<|file_sep|>",),
}
_FIM_LEGACY_KEYS = {Keys.Tokenizer.FIM_PRE_ID: Keys.Tokenizer.PREFIX_ID,
                    Keys.Tokenizer.FIM_SUF_ID: Keys.Tokenizer.SUFFIX_ID,
                    Keys.Tokenizer.FIM_MID_ID: Keys.Tokenizer.MIDDLE_ID}
# ...and these (gpt-oss) as user-defined whatever their type, so they are split off even then.
_ALWAYS_USER_DEFINED = frozenset({"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"})


def _control_texts(metadata: dict) -> set[str]:
    """Texts llama.cpp turns into control tokens for this file. FIM texts count only where the file names no token
    for that role; llama.cpp then marks just the first candidate it meets (in hash order), this marks them all."""
    texts = set(_EOG_TEXTS)
    for key, candidates in _FIM_TEXTS.items():
        if key not in metadata and _FIM_LEGACY_KEYS.get(key) not in metadata:
            texts.update(candidates)
    return texts


def _add_user_defined(tokenizer: Tokenizer, metadata: dict, vocab: _Vocab) -> None:
    """Register the tokens llama.cpp splits off the raw text before tokenizing, even with parse_special=False.

    Control and unknown tokens are deliberately not registered: their text is tokenized as plain text, which is
    what parse_special=False means, and an added special token would be matched by any copy of the tokenizer
    (`encode_special_tokens` does not survive serialization).
    """
    control = _control_texts(metadata)
    tokenizer.add_tokens([
        AddedToken(token, special=False, normalized=False) for token, kind in zip(vocab.tokens, vocab.types)
        if token in _ALWAYS_USER_DEFINED or (kind == TokenType.USER_DEFINED and token not in control)])


# Copied from llm_tokenizer_bpe's constructor in llama-vocab.cpp, C++ escapes undone. Each expression splits every
# piece the previous one left into matches and the text between them, which is `Split(..., "isolated")`.
_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
_CONTRACTIONS = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
_LLAMA3 = _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
_QWEN2 = _CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
_QWEN35 = (_CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+"
           r"|\s+(?!\S)|\s+")
_STARCODER = (r"\p{N}", _GPT2)
# Literal non-ASCII classes are written as escapes: editors and tools may normalize such characters (NFC turns
# U+1F7D into U+03CE), which would silently change the classes.
_DEEPSEEK_LLM_LETTERS = (
    "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373"
    "\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f"
    "\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77"
    "\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d"
    "\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4"
    "\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"
    "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d"
    "\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a"
    "\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2"
    "\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+")
_DEEPSEEK_LLM_PUNCTUATION = "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+"
_CJK = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"

# tokenizer.ggml.pre value -> (split expressions, ignore_merges). A missing pre means "default", as in llama.cpp.
_BPE_PRES: dict[str, tuple[tuple[str, ...], bool]] = {
    "default": ((r"[\p{P}\$\+<=>\^~\|]+", _GPT2, r"\p{N}+", "[0-9][0-9][0-9]"), False),
    "gpt-2": ((_GPT2,), False),
    "mpt": ((_GPT2,), False),
    "starcoder": (_STARCODER, False),
    "refact": (_STARCODER, False),
    "command-r": (_STARCODER, False),
    "falcon": ((r"[\p{P}\$\+<=>\^~\|`]+", _GPT2, "[0-9][0-9][0-9]"), False),
    "deepseek-coder": (("[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", _CJK, r"\p{N}"), False),
    "deepseek-llm": (("[\r\n]", _DEEPSEEK_LLM_LETTERS, _DEEPSEEK_LLM_PUNCTUATION, r"\s+$", _CJK, r"\p{N}+"),
                     False),
    "llama-bpe": ((_LLAMA3,), True),
    "qwen2": ((_QWEN2,), False),
    "qwen35": ((_QWEN35,), False),
}

# Unicode White_Space, which is what `\s` matches in llama.cpp: its std::regex sees every non-ASCII whitespace
# codepoint replaced by \x0B, and its hand-written splitters use the same set.
_WHITESPACE = r"\x{9}-\x{D}\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}"


def _oniguruma(expr: str) -> str:
    r"""`expr` rewritten so that Oniguruma (tokenizers' regex engine) splits as llama.cpp's std::regex does.

    `\s`/`\S` become explicit White_Space classes; `$` (ECMAScript: end of input) becomes `\z` (Oniguruma's `$`
    also matches before a newline); and a class of literal non-ASCII characters loses the whitespace it spans
    (U+3000 in deepseek-llm's U+3000-U+3002), because llama.cpp replaced that whitespace by \x0B before matching.
    In expressions with `\p{..}` llama.cpp maps non-ASCII text to one byte per category, which Unicode properties
    reproduce as they are.
    """
    uses_categories = r"\p{" in expr
    out, i, in_class, negated, literal_non_ascii = [], 0, False, False, False
    while i < len(expr):
        char = expr[i]
        if char == "\\":
            escape = expr[i:i + 2]
            out.append({r"\s": _WHITESPACE if in_class else f"[{_WHITESPACE}]",
                        r"\S": f"[^{_WHITESPACE}]"}.get(escape, escape))
            i += 2
            continue
        if char == "[" and not in_class:
            in_class, literal_non_ascii = True, False
            negated = expr[i + 1] == "^"
        elif char == "]" and in_class:
            assert not (negated and literal_non_ascii), "llama.cpp would match \\x0B here: not translated"
            if literal_non_ascii and not uses_categories:
                out.append(f"&&[^{_WHITESPACE}]")
            in_class = False
        elif char == "$" and not in_class:
            char = r"\z"
        elif in_class and ord(char) > 127:
            literal_non_ascii = True
        out.append(char)
        i += 1
    return "".join(out)


def _splits(expressions: tuple[str, ...]) -> list[pre_tokenizers.PreTokenizer]:
    """One isolating split per expression, in llama.cpp's order."""
    return [pre_tokenizers.Split(Regex(_oniguruma(expr)), behavior="isolated") for expr in expressions]


def _byte_level(vocab: _Vocab) -> list[pre_tokenizers.PreTokenizer]:
    """Bytes to GPT-2's printable characters, isolating those the vocabulary lacks (falcon lacks 28).

    llama.cpp keeps such a byte as a symbol that no merge touches and finally drops it; tokenizers would drop it
    first and let its neighbours merge, so each one is made a piece of its own.
    """
    steps = [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    ids = vocab.ids
    missing = "".join(f"\\x{{{ord(char):X}}}" for char in sorted(pre_tokenizers.ByteLevel.alphabet())
                      if char not in ids)
    if missing:
        steps.append(pre_tokenizers.Split(Regex(f"[{missing}]"), behavior="isolated"))
    return steps


def _add_bos(metadata: dict, default: bool) -> bool:
    """Whether llama.cpp prepends BOS: the file's `add_bos_token`, else llama.cpp's default for that tokenizer."""
    return bool(metadata.get(Keys.Tokenizer.ADD_BOS, default))


def _unsupported_pre(path: Path, pre: str, supported) -> TokenizerError:
    return TokenizerError(
        f"{path}: pre-tokenizer {pre!r} ({Keys.Tokenizer.PRE}) is not supported; "
        f"supported pre-tokenizers: {', '.join(sorted(supported))}")


def _merges(path: Path, metadata: dict, vocab: _Vocab) -> list[tuple[str, str]]:
    """`tokenizer.ggml.merges` as pairs, split at the first space after the first character as llama.cpp does.

    llama.cpp also applies merges whose parts or result are not tokens (the result falls back to bytes later);
    tokenizers cannot represent those, so such a file is refused rather than tokenized differently.
    """
    merges = _array(path, metadata, Keys.Tokenizer.MERGES, str)
    if not merges:
        raise TokenizerError(f"{path} has no BPE merges ({Keys.Tokenizer.MERGES})")
    pairs, ids = [], vocab.ids
    for merge in merges:
        cut = merge.find(" ", 1)
        left, right = (merge[:cut], merge[cut + 1:]) if cut > 0 else (merge, "")
        if left not in ids or right not in ids or left + right not in ids:
            raise TokenizerError(f"{path}: BPE merge {merge!r} uses or makes a text that is not in the vocabulary")
        pairs.append((left, right))
    return pairs


def _gpt2_bpe(path: Path, metadata: dict, vocab: _Vocab) -> tuple[Tokenizer, bool]:
    """Byte-level BPE ("gpt2"): llama.cpp splits the raw text, maps bytes to GPT-2's printable characters, merges."""
    pre = metadata.get(Keys.Tokenizer.PRE) or "default"
    if pre not in _BPE_PRES:
        raise _unsupported_pre(path, pre, _BPE_PRES)
    expressions, ignore_merges = _BPE_PRES[pre]
    tokenizer = Tokenizer(models.BPE(vocab.ids, _merges(path, metadata, vocab), ignore_merges=ignore_merges))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(_splits(expressions) + _byte_level(vocab))
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer, _add_bos(metadata, default=pre == "llama-bpe")


def _gemma4_bpe(path: Path, metadata: dict, vocab: _Vocab) -> tuple[Tokenizer, bool]:
    """Gemma 4's SentencePiece-style BPE: spaces become "▁", only newline runs are split off, raw UTF-8 symbols,
    `<0xXX>` byte tokens for what the vocabulary lacks.

    llama.cpp also takes a newline-only piece whole when it is a token; with Gemma 4's merges plain BPE gives the
    same tokens (the vocabulary has runs of 1 to 31 newlines; checked against llama.cpp for runs up to 300).
    """
    tokenizer = Tokenizer(models.BPE(vocab.ids, _merges(path, metadata, vocab), byte_fallback=True))
    tokenizer.normalizer = normalizers.Replace(" ", "▁")
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(_splits(("[^\n]+|[\n]+",)))
    tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    return tokenizer, True  # llama.cpp forces BOS on for Gemma 4 whatever the file says


def _spm(path: Path, metadata: dict, vocab: _Vocab) -> tuple[Tokenizer, bool]:
    """SentencePiece BPE ("llama"): whole-text merges by score, "▁" for spaces, a leading "▁", byte fallback."""
    if vocab.scores is None:
        raise TokenizerError(f"{path} has no token scores ({Keys.Tokenizer.SCORES}), which a 'llama' tokenizer needs")
    unk = _unknown_token(path, metadata, vocab, default_id=0)
    tokenizer = Tokenizer(models.BPE(vocab.ids, _spm_merges(vocab), unk_token=unk, byte_fallback=True))
    replace = [normalizers.Replace(" ", "▁")]
    prefix = [normalizers.Prepend("▁")] if metadata.get(Keys.Tokenizer.ADD_PREFIX, True) else []
    tokenizer.normalizer = normalizers.Sequence(prefix + replace)
    strip = [decoders.Strip(" ", 1, 0)] if prefix else []
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()] + strip)
    return tokenizer, _add_bos(metadata, default=True)


def _unknown_token(path: Path, metadata: dict, vocab: _Vocab, default_id: int) -> str:
    """The text of the unknown token: the file's `unknown_token_id`, else llama.cpp's default id for the model."""
    unk_id = metadata.get(Keys.Tokenizer.UNK_ID, default_id)
    if not 0 <= unk_id < len(vocab.tokens):
        raise TokenizerError(f"{path}: unknown token id {unk_id} ({Keys.Tokenizer.UNK_ID}) is outside the vocabulary")
    return vocab.tokens[unk_id]


def _spm_merges(vocab: _Vocab) -> list[tuple[str, str]]:
    """Every split of every token into two tokens, ranked as llama.cpp's SPM tokenizer applies them.

    llama.cpp merges the adjacent pair whose concatenation is the highest-scoring token, leftmost on ties. Ties
    occur among runs of "▁" (all scored -1e9), where leftmost-first grows the leftmost run, so among equal scores
    the longer result goes first.
    """
    ids, scores = vocab.ids, vocab.scores
    ranked = []
    for token_id, token in enumerate(vocab.tokens):
        for cut in range(1, len(token)):
            left, right = token[:cut], token[cut:]
            if left in ids and right in ids:
                ranked.append((-scores[token_id], -len(token), token_id, cut, left, right))
    ranked.sort()
    return [(left, right) for *_, left, right in ranked]


# Characters llama.cpp's WPM makes one-character words: punctuation, ASCII symbols, and is_chinese_char's ranges
# (which keep HF's 0x2B920 start).
_WORD_OF_ITS_OWN = (r"\p{P}$+<=>^`|~\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
                    r"\x{2B740}-\x{2B81F}\x{2B920}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}")


def _wordpiece(path: Path, metadata: dict, vocab: _Vocab) -> tuple[Tokenizer, bool]:
    """BERT WordPiece ("bert") as llama.cpp's WPM tokenizer does it, which is not quite HF's BertNormalizer.

    llama.cpp drops control characters and (with strip_accents) every combining mark, Mc and Me included, after
    its NFD; lowercases; splits at whitespace and around punctuation, ASCII symbols and CJK ideographs; then matches
    the longest tokens greedily in "▁" + word against the vocabulary as stored ("▁" marks word starts, pieces after
    the first have no prefix), and a word with any unmatched rest becomes one unknown token. The "▁" is inserted by
    the normalizer, not by Metaspace, which skips words that already start with a "▁" of the text's own.
    """
    lowercase = bool(metadata.get("tokenizer.ggml.normalizer.lowercase", True))
    strip_accents = bool(metadata.get("tokenizer.ggml.normalizer.strip_accents", lowercase))
    steps = _hangul_to_leading_jamo() + [normalizers.NFD()] if strip_accents else []
    dropped = rf"[\x{{0}}\x{{FFFD}}\p{{Cc}}\p{{Cf}}\p{{Co}}\p{{Cs}}&&[^{_WHITESPACE}]]"  # whitespace splits instead
    steps.append(normalizers.Replace(Regex(dropped), ""))
    steps += [normalizers.Replace(Regex(r"\p{M}"), "")] if strip_accents else []
    # Rust's lowercasing is contextual for a final sigma and maps U+0130 to two codepoints; llama.cpp's is not.
    steps += [normalizers.Replace("\u03a3", "\u03c3"), normalizers.Replace("\u0130", "i"),
              normalizers.Lowercase()] if lowercase else []
    word_start = rf"(?:\A|(?<=[{_WHITESPACE}{_WORD_OF_ITS_OWN}]))(?=[^{_WHITESPACE}])|(?=[{_WORD_OF_ITS_OWN}])"
    steps.append(normalizers.Replace(Regex(word_start), "▁"))
    unk = _unknown_token(path, metadata, vocab, default_id=100)
    tokenizer = Tokenizer(models.WordPiece(vocab.ids, unk_token=unk, continuing_subword_prefix="",
                                           max_input_chars_per_word=2**31))
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(f"[{_WHITESPACE}]+"), behavior="removed"),
        pre_tokenizers.Split(Regex(f"▁[{_WORD_OF_ITS_OWN}]"), behavior="isolated"),
    ])
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    return tokenizer, _add_bos(metadata, default=True)


def _hangul_to_leading_jamo() -> list[normalizers.Normalizer]:
    """llama.cpp's NFD keeps only the first codepoint of a decomposition; past the combining marks that strip_accents
    drops anyway, that differs from NFD only for Hangul syllables, which become their leading consonant."""
    first, per_lead = 0xAC00, 21 * 28
    starts = [first + lead * per_lead for lead in range(19)]
    return [normalizers.Replace(Regex(f"[\\x{{{start:X}}}-\\x{{{start + per_lead - 1:X}}}]"), chr(0x1100 + lead))
            for lead, start in enumerate(starts)]


_BUILDERS: dict[str, Callable[[Path, dict, _Vocab], tuple[Tokenizer, bool]]] = {
    "gpt2": _gpt2_bpe,
    "gemma4": _gemma4_bpe,
    "llama": _spm,
    "bert": _wordpiece,
}
