"""Parses served-model specs: `openai:URL#MODEL[?option=value&...]` (an OpenAI-compatible endpoint).

Kept apart from the backend so that parsing a --model-pair never imports an HTTP client or torch. The API key is
never part of a spec: it comes from $CODEGUARD_OPENAI_API_KEY, else $OPENAI_API_KEY.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from codeguard.errors import ModelSpecError

PREFIX = "openai:"
FORM = ("'openai:URL#MODEL?tokenizer=SPEC' (a model served behind an OpenAI-compatible API, e.g. "
        "'openai:http://127.0.0.1:8000/v1#ORG/MODEL?tokenizer=hf:ORG/MODEL'; options tokenizer=SPEC (required), "
        "max_context=N, top_logprobs=K, prompt=auto|text|ids, timeout=SECONDS, concurrency=N, retries=N; the API key "
        "comes from $CODEGUARD_OPENAI_API_KEY or $OPENAI_API_KEY)")
API_KEY_VARIABLES = ("CODEGUARD_OPENAI_API_KEY", "OPENAI_API_KEY")
PROMPT_MODES = ("auto", "text", "ids")


@dataclass(frozen=True)
class EndpointSpec:
    """Where a served model is and how to talk to it."""

    text: str
    base_url: str        # e.g. http://127.0.0.1:8000/v1, without a trailing slash
    model: str
    tokenizer: str       # a local spec of the served model's tokenizer
    max_context: int | None = None
    top_logprobs: int = 20
    prompt: str = "auto"
    timeout: float = 60.0
    concurrency: int = 4
    retries: int = 3


def parse_endpoint_spec(text: str) -> EndpointSpec:
    """Parses and checks a served-model spec; every error names the spec and the accepted form."""
    text = text.strip()
    rest = text[len(PREFIX):]
    url, hash_sign, fragment = rest.partition("#")
    if not hash_sign or not fragment.split("?", 1)[0].strip():
        raise ModelSpecError(f"model spec {text!r}: missing '#MODEL' (the model name the server serves); "
                             f"expected {FORM}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelSpecError(f"model spec {text!r}: {url!r} is not an http(s) URL; expected {FORM}")
    if parts.username or parts.password:
        raise ModelSpecError(f"model spec 'openai:{parts.scheme}://***@{parts.hostname}…' (redacted): the URL carries "
                             "credentials; an API key never goes into a spec "
                             f"(it would end up in logs and baselines): set ${API_KEY_VARIABLES[0]} instead")
    if parts.query or parts.fragment:
        raise ModelSpecError(f"model spec {text!r}: options go after the model name ('#MODEL?tokenizer=...'), "
                             f"not into the URL; expected {FORM}")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as error:
        raise ModelSpecError(f"model spec {text!r}: {error}; expected {FORM}") from None
    model, _, query = fragment.partition("?")
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise ModelSpecError(f"model spec {text!r}: cannot read the options {query!r} (KEY=VALUE joined by '&'); "
                             f"expected {FORM}") from None
    known = {"tokenizer", "max_context", "top_logprobs", "prompt", "timeout", "concurrency", "retries"}
    unknown = sorted(set(options) - known)
    if unknown:
        if {"api_key", "key", "token"} & set(unknown):
            raise ModelSpecError(f"model spec for {model.strip()!r} at {url} (options redacted): an API key never goes "
                                 "into a spec; set "
                                 f"${API_KEY_VARIABLES[0]} (or ${API_KEY_VARIABLES[1]})")
        raise ModelSpecError(f"model spec {text!r}: unknown option(s) {', '.join(unknown)}; expected {FORM}")
    if not options.get("tokenizer"):
        raise ModelSpecError(f"model spec {text!r}: missing 'tokenizer=SPEC': probes exchange token ids, so the "
                             "served model's tokenizer must be available locally (a model spec, a .gguf file or a "
                             f"tokenizer directory); expected {FORM}")
    prompt = options.get("prompt", "auto")
    if prompt not in PROMPT_MODES:
        raise ModelSpecError(f"model spec {text!r}: prompt={prompt!r}; expected one of {', '.join(PROMPT_MODES)}")
    return EndpointSpec(
        text=text, base_url=url.rstrip("/"), model=model.strip(), tokenizer=options["tokenizer"],
        max_context=_number(options, "max_context", int, 2, text), prompt=prompt,
        top_logprobs=_number(options, "top_logprobs", int, 1, text) or 20,
        timeout=_number(options, "timeout", float, 0.001, text) or 60.0,
        concurrency=_number(options, "concurrency", int, 1, text) or 4,
        retries=_number(options, "retries", int, 0, text) if "retries" in options else 3)


def _number(options: dict, name: str, kind, minimum, text: str):
    if name not in options:
        return None
    try:
        value = kind(options[name])
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ModelSpecError(f"model spec {text!r}: {name}={options[name]!r}; expected a number >= {minimum}")
    return value
