"""A model served behind an OpenAI-compatible HTTP API (vLLM, TGI, llama.cpp's and llama-cpp-python's servers).

The `LanguageModel` protocol as far as an endpoint allows it:

- `next_token_logprobs` asks `/completions` for one token with `logprobs=K`. A server returns only the top K
  log-probabilities, so a row holds those K exactly and spreads the remaining mass uniformly over every other token
  of the vocabulary (finite everywhere, so KL stays finite; normalised to 1). The model is marked
  `exact_distributions = False`: probe results label it approximate and a gate on a distribution metric refuses it
  (`codeguard.gating.gate.check_exact_sources`).
- `sample` asks `/completions` with `n`, `temperature`, `top_p`, `stop`, `seed` and `max_tokens` and tokenizes the
  returned text with the local tokenizer. This is exact sampling by the served model: pass@k through an endpoint is
  not approximate. Except where the server samples in another order: llama-cpp-python's cuts top-p before it
  tempers, so 0 < temperature != 1 with top-p < 1 is refused there (`check_sampling`).
- `sequence_logits` / `sequence_logprobs` (corpus probes) read the server's echoed prompt log-probabilities
  (`echo` with `logprobs=K`, codeguard.models.prompt_logprobs): at every position the actual next token's
  log-probability and the top-1 token are the model's own, the rest of the row is the same top-K-plus-spread
  approximation. Perplexity, keyword Δlog p and top-1 agreement from it are exact, KL divergence is not.

Token ids travel as token-id prompts where the server takes them (vLLM, OpenAI) and as text otherwise
(llama-cpp-python's server accepts only strings); a top-k entry names its token by text, mapped back to an id with
the local tokenizer (entries whose text several tokens share, e.g. partial UTF-8 bytes, stay in the spread mass).
Requests run on a bounded thread pool, with a timeout each and bounded exponential backoff on 429 and 5xx.
"""
from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from types import SimpleNamespace
from typing import Iterator, Sequence

import numpy as np

from codeguard.errors import CodeguardWarning, EndpointError, ModelSpecError, ProbeInputError
from codeguard.models.endpoint_spec import API_KEY_VARIABLES, EndpointSpec, parse_endpoint_spec
from codeguard.models.logprobs import window_logprobs
from codeguard.models.prompt_logprobs import PromptScorer
from codeguard.models.token_list import TokenListVocabulary
from codeguard.models.tokenizers import load_tokenizer
from codeguard.tokenization.loader import transformers_tokenizer


BACKEND = "openai-endpoint"
RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_BACKOFF_S = 30.0
# llama-cpp-python's server samples with repeat_penalty 1.1, top_k 40 and min_p 0.05 unless told otherwise; the
# other backends (and OpenAI's semantics) sample from the plain temperature/top-p distribution.
LLAMA_CPP_NEUTRAL_SAMPLING = {"repeat_penalty": 1.0, "top_k": 0, "min_p": 0.0}
# llama.cpp's sampler chain (llama-cpp-python's `_init_sampler`: top-k, typical, top-p, min-p, temperature, draw) cuts
# the top-p nucleus from the untempered distribution; transformers, vLLM and codeguard's own backends temper first.
# Only temperature 0 or 1, or top-p 1, mean the same in both orders.
TOP_P_BEFORE_TEMPERATURE = "top-p nucleus of the untempered distribution, then temperature (llama.cpp's chain)"
TEMPERATURE_BEFORE_TOP_P = "temperature, then the top-p nucleus of the tempered distribution"
TOKENIZER_CHECK_TEXT = "def add(x, y):\n    return x + y  # sum\n"


class _HTTPStatus(Exception):
    """An HTTP error answer that retries did not cure (callers turn it into a message naming model and URL)."""

    def __init__(self, status: int, body: str):
        super().__init__(status, body)
        self.status, self.body = status, body


class EndpointClient:
    """JSON requests to one server with timeouts, bounded retries and the API key from the environment.

    The key is read from $CODEGUARD_OPENAI_API_KEY, else $OPENAI_API_KEY, and sent only as a bearer header; it is
    never part of a message, a repr or a result.
    """

    def __init__(self, endpoint: EndpointSpec):
        self.endpoint = endpoint
        self._local = threading.local()
        self.key_variable = next((name for name in API_KEY_VARIABLES if os.environ.get(name)), None)
        self._headers = {"Content-Type": "application/json"}
        if self.key_variable:
            self._headers["Authorization"] = "Bearer " + os.environ[self.key_variable]
        self.retried = 0

    def __repr__(self) -> str:
        return f"EndpointClient({self.endpoint.base_url!r}, key from {self.key_variable or 'no variable'})"

    @property
    def root_url(self) -> str:
        """The server's root: the base URL without a trailing /v1 (where llama.cpp's and vLLM's extras live)."""
        base = self.endpoint.base_url
        return base[: -len("/v1")] if base.endswith("/v1") else base

    def _session(self):
        import requests
        if getattr(self._local, "session", None) is None:
            self._local.session = requests.Session()
        return self._local.session

    def request(self, method: str, url: str, payload: dict | None = None, retries: int | None = None) -> dict:
        """One JSON request; 429/5xx and timeouts are retried with exponential backoff, at most `retries` times."""
        import requests
        retries = self.endpoint.retries if retries is None else retries
        timeout = self.endpoint.timeout
        for attempt in range(retries + 1):
            last = attempt == retries
            try:
                response = self._session().request(method, url, json=payload, headers=self._headers,
                                                   timeout=(min(timeout, 10.0), timeout))
            except requests.ConnectionError as error:
                if _refused(error):
                    raise ModelSpecError(
                        f"model spec {self.endpoint.text!r}: cannot connect to {self.endpoint.base_url} (connection "
                        "refused): no server listens there. Start the server (e.g. 'vllm serve MODEL --port 8000' or "
                        "'python -m llama_cpp.server --model FILE.gguf --port 8000') or fix the URL") from None
                if last:
                    raise EndpointError(f"{url}: connection failed after {retries + 1} tries: {error}") from None
                self._backoff(attempt, None)
                continue
            except requests.Timeout:
                if last:
                    raise EndpointError(f"{url}: no answer within {timeout:g} s, {retries + 1} tries; raise the "
                                        "spec's timeout=SECONDS or lower concurrency=N") from None
                self._backoff(attempt, None)
                continue
            if response.status_code in RETRY_STATUSES and not last:
                self._backoff(attempt, response.headers.get("Retry-After"))
                continue
            if response.status_code in (401, 403):
                where = (f"the key in ${self.key_variable} was refused" if self.key_variable else
                         f"no API key was sent (set ${API_KEY_VARIABLES[0]} or ${API_KEY_VARIABLES[1]})")
                raise EndpointError(f"{self.endpoint.base_url} answered HTTP {response.status_code} for model "
                                    f"{self.endpoint.model!r}: {where}")
            if response.status_code >= 400:
                raise _HTTPStatus(response.status_code, response.text[:2000])
            try:
                return response.json()
            except ValueError:
                raise EndpointError(f"{url} answered HTTP {response.status_code} with something that is not JSON: "
                                    f"{response.text[:200]!r}") from None
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, retry_after: str | None) -> None:
        self.retried += 1
        delay = 0.25 * 2 ** attempt
        if retry_after:
            try:
                delay = max(delay, float(retry_after))
            except ValueError:
                pass
        time.sleep(min(delay, MAX_BACKOFF_S))


def _refused(error: Exception) -> bool:
    seen, current = set(), error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError) or getattr(current, "errno", None) == errno.ECONNREFUSED:
            return True
        for arg in getattr(current, "args", ()):
            if isinstance(arg, BaseException) and _refused_leaf(arg):
                return True
        current = current.__cause__ or current.__context__ or getattr(current, "reason", None)
    return "Connection refused" in str(error)


def _refused_leaf(error: BaseException) -> bool:
    return isinstance(error, ConnectionRefusedError) or "Connection refused" in str(error)


@dataclass
class OpenAIEndpointLM(TokenListVocabulary):
    """A served model: distributions approximate (top-k), sampling exact, tokenizer from a local spec."""

    spec: str
    fingerprint: str
    endpoint: EndpointSpec
    client: EndpointClient = field(repr=False)
    hf_tokenizer: object = field(repr=False)
    code_tokenizer: object = field(repr=False)   # codeguard.tokenization.loader.CodeTokenizer
    tokens: list[str] = field(repr=False)
    special: dict[str, int]
    prompt_mode: str                           # "ids" or "text"
    server_adds_bos: bool = False
    served_max_context: int | None = None
    details: dict = field(default_factory=dict)
    backend: str = BACKEND
    exact_distributions: bool = False          # top-k log-probs plus spread mass: metrics from it are approximate
    sampling_defaults: dict = field(default_factory=dict)  # server-specific parameters that make sampling plain
    top_p_before_temperature: bool = False     # llama-cpp-python's server: its sampler order differs from ours
    echo_drops_bos: bool = False               # llama-cpp-python's server: echoed prompt log-probs skip a leading BOS
    _mismatches: int = field(default=0, init=False, repr=False)  # contexts whose text re-tokenizes differently
    _unresolved: int = field(default=0, init=False, repr=False)  # top-k entries whose text names several tokens
    _scorer: object = field(default=None, init=False, repr=False)  # PromptScorer, made on the first corpus window

    @classmethod
    def connect(cls, spec_text: str) -> "OpenAIEndpointLM":
        """Checks the server and the model name, loads the local tokenizer, and finds how prompts travel."""
        endpoint = parse_endpoint_spec(spec_text)
        client = EndpointClient(endpoint)
        served = _served_models(client)
        if served is not None and endpoint.model not in served:
            raise ModelSpecError(_unknown_model_message(endpoint, list(served)))
        code_tokenizer = load_tokenizer(endpoint.tokenizer)
        tokens = code_tokenizer.vocabulary()
        special = dict(code_tokenizer.special_tokens)
        hf_tokenizer = transformers_tokenizer(
            SimpleNamespace(tokenizer=code_tokenizer.backend, special_tokens=special), tokens)
        entry = (served or {}).get(endpoint.model) or {}
        max_len = entry.get("max_model_len") or entry.get("context_length")
        identity = json.dumps({"url": endpoint.base_url, "model": endpoint.model, "tokenizer": endpoint.tokenizer,
                               "vocabulary": hashlib.sha256("\n".join(tokens).encode()).hexdigest()}, sort_keys=True)
        model = cls(spec=spec_text, fingerprint="endpoint-sha256:" + hashlib.sha256(identity.encode()).hexdigest(),
                    endpoint=endpoint, client=client, hf_tokenizer=hf_tokenizer, code_tokenizer=code_tokenizer,
                    tokens=tokens, special=special, prompt_mode="text",
                    served_max_context=int(max_len) if max_len else None)
        model.prompt_mode = endpoint.prompt if endpoint.prompt != "auto" else model._detect_prompt_mode()
        tokenizer_check = model._check_server_tokenizer()
        model.details = {"kind": "openai", "url": endpoint.base_url, "model": endpoint.model,
                         "tokenizer": endpoint.tokenizer, "top_logprobs": endpoint.top_logprobs,
                         "prompt_mode": model.prompt_mode, "server_adds_bos": model.server_adds_bos,
                         "tokenizer_check": tokenizer_check, "approximate": True,
                         "sampler_order": (TOP_P_BEFORE_TEMPERATURE if model.top_p_before_temperature
                                           else TEMPERATURE_BEFORE_TOP_P),
                         "approximation": f"top-{endpoint.top_logprobs} log-probabilities from the server, the "
                                          "remaining mass spread uniformly over the other tokens",
                         "concurrency": endpoint.concurrency, "timeout_s": endpoint.timeout,
                         "retries": endpoint.retries, "api_key_from": client.key_variable}
        return model

    # -- vocabulary and tokenizer: TokenListVocabulary, and the context length ----------------------------------
    @property
    def max_context(self) -> int:
        """The spec's max_context=N, else the context length the server reports (vLLM's max_model_len)."""
        value = self.endpoint.max_context or self.served_max_context
        if value is None:
            raise ProbeInputError(f"{self.spec}: the server does not report the model's context length; add "
                                  "max_context=N to the spec's options (e.g. '...#MODEL?tokenizer=...&max_context=4096')")
        return int(value)

    # -- prompts ------------------------------------------------------------------------------------------------
    def _detect_prompt_mode(self) -> str:
        """'ids' where the server takes a token-id prompt (one try, no retries), else 'text'."""
        first = self.start_ids()[0] if self.special else [0]
        try:
            answer = self.client.request("POST", self.endpoint.base_url + "/completions",
                                         {"model": self.endpoint.model, "prompt": first, "max_tokens": 1,
                                          "temperature": 0}, retries=0)
        except (_HTTPStatus, EndpointError):
            return "text"
        return "ids" if answer.get("choices") else "text"

    def _check_server_tokenizer(self) -> str:
        """Compares the local tokenizer with the server's (llama.cpp's /extras/tokenize, vLLM's /tokenize) where
        the server has one; a disagreement is an error, since ids and texts would then mean different things."""
        local = self.code_tokenizer.encode(TOKENIZER_CHECK_TEXT)
        for path, payload in (("/extras/tokenize", {"model": self.endpoint.model, "input": TOKENIZER_CHECK_TEXT}),
                              ("/tokenize", {"model": self.endpoint.model, "prompt": TOKENIZER_CHECK_TEXT})):
            try:
                answer = self.client.request("POST", self.client.root_url + path, payload, retries=0)
            except (_HTTPStatus, EndpointError):
                continue
            served = answer.get("tokens")
            if not isinstance(served, list):
                continue
            bos = self.special.get("bos")
            if path == "/extras/tokenize":  # llama-cpp-python's server
                self.sampling_defaults = dict(LLAMA_CPP_NEUTRAL_SAMPLING)
                self.top_p_before_temperature = True
                self.echo_drops_bos = True
            if served == local:
                return f"agrees ({path})"
            if bos is not None and served == [bos] + local:
                self.server_adds_bos = True
                return f"agrees, the server prepends BOS ({path})"
            raise ModelSpecError(
                f"model spec {self.spec!r}: the local tokenizer ({self.endpoint.tokenizer}) disagrees with the "
                f"server's for model {self.endpoint.model!r} on {TOKENIZER_CHECK_TEXT!r}: local {local[:12]}, "
                f"server {served[:12]} ({self.client.root_url}{path}); give the tokenizer of the served model")
        return "not available (the server exposes no tokenize route)"

    def _prompt(self, ids: Sequence[int], where: str):
        ids = [int(i) for i in ids]
        if not ids:
            raise ProbeInputError(f"{self.spec}: every context needs at least one token id ({where})")
        if min(ids) < 0 or max(ids) >= self.output_width:
            bad = next(i for i in ids if not 0 <= i < self.output_width)
            raise ProbeInputError(f"{self.spec}: token id {bad} in {where} is outside the vocabulary "
                                  f"(0..{self.output_width - 1})")
        if self.prompt_mode == "ids":
            return ids
        if self.server_adds_bos:
            if ids[0] != self.special.get("bos"):
                raise ProbeInputError(f"{self.spec}: {where} does not start with BOS, but the server prepends one "
                                      "to every text prompt; use a server that takes token-id prompts (prompt=ids)")
            ids = ids[1:]
        # Special tokens travel as their text: the server parses them back (llama.cpp tokenizes with special=True).
        text = self.hf_tokenizer.decode(ids, skip_special_tokens=False)
        if self.hf_tokenizer.encode(text, add_special_tokens=False) != ids:
            self._mismatches += 1
            if self._mismatches == 1:
                warnings.warn(CodeguardWarning(
                    f"{self.spec}: {where} does not survive the text round trip (its text tokenizes differently), "
                    "and this server takes text prompts only: the served model sees other ids than the reference. "
                    "Counted in the model's details (text_prompt_mismatches)"), stacklevel=3)
            self.details["text_prompt_mismatches"] = self._mismatches
        return text

    # -- next-token distributions ------------------------------------------------------------------------------
    @cached_property
    def _ids_by_text(self) -> dict[str, int | None]:
        """Token text as a server names it -> id; None where several tokens share a text (ambiguous)."""
        special_ids = self.code_tokenizer.special_ids
        names: dict[str, set[int]] = {}
        for token_id in range(self.output_width):
            raw = self.code_tokenizer.token_bytes(token_id)
            texts = {raw.decode("utf-8", errors="ignore"), raw.decode("utf-8", errors="replace")}
            if token_id in special_ids:
                texts |= {"", self.tokens[token_id]}  # llama.cpp prints control tokens as "", vLLM as themselves
            for text in texts:
                names.setdefault(text, set()).add(token_id)
        return {text: next(iter(ids)) if len(ids) == 1 else None for text, ids in names.items()}

    def _token_id(self, name: str) -> int | None:
        if name.startswith("token_id:"):  # vLLM's return_tokens_as_token_ids
            try:
                return int(name[len("token_id:"):])
            except ValueError:
                return None
        return self._ids_by_text.get(name)

    def _top_logprobs(self, index: int, context: Sequence[int]) -> dict[int, float]:
        prompt = self._prompt(context, f"context {index}")
        payload = {"model": self.endpoint.model, "prompt": prompt, "max_tokens": 1,
                   "logprobs": self.endpoint.top_logprobs, "temperature": 0, "seed": 0}
        for attempt in range(3):
            choice = self._completion(payload)[0]
            logprobs = choice.get("logprobs")
            top = logprobs.get("top_logprobs") if isinstance(logprobs, dict) else None
            if not isinstance(top, list):
                raise EndpointError(
                    f"{self.endpoint.base_url} returned no logprobs for model {self.endpoint.model!r} (asked for the "
                    f"top {self.endpoint.top_logprobs}): a served model's distributions need a server that returns "
                    "completion log-probabilities (llama.cpp's server needs logits_all; vLLM caps them at "
                    "--max-logprobs, default 20: lower top_logprobs=K)")
            if top:
                entry = top[0]
                pairs = entry.items() if isinstance(entry, dict) else (
                    (item.get("token"), item.get("logprob")) for item in entry or [])
                resolved: dict[int, float] = {}
                for name, value in pairs:
                    token_id = self._token_id(str(name))
                    if token_id is None:
                        self._unresolved += 1
                        continue
                    resolved[token_id] = float(value)
                return resolved
            # llama-cpp-python leaves out a position whose chosen token is BOS/EOS: choose by sampling instead
            # (the top-k it reports are the model's, whichever token was drawn).
            payload = {**payload, "temperature": 1.0, "seed": attempt + 1}
        raise EndpointError(f"{self.endpoint.base_url} returned an empty logprobs list for model "
                            f"{self.endpoint.model!r} at context {index} three times")

    def _completion(self, payload: dict) -> list[dict]:
        try:
            answer = self.client.request("POST", self.endpoint.base_url + "/completions", payload)
        except _HTTPStatus as error:
            if error.status in (400, 404, 422) and "model" in error.body.lower() and not self._model_served():
                raise ModelSpecError(_unknown_model_message(self.endpoint, self._served_names())) from None
            raise EndpointError(f"{self.endpoint.base_url}/completions answered HTTP {error.status} for model "
                                f"{self.endpoint.model!r}: {error.body[:500]}") from None
        choices = answer.get("choices")
        if not choices:
            raise EndpointError(f"{self.endpoint.base_url}/completions returned no choices for model "
                                f"{self.endpoint.model!r}: {json.dumps(answer)[:300]}")
        return sorted(choices, key=lambda c: c.get("index", 0))

    def _served_names(self) -> list[str]:
        served = _served_models(self.client)
        return list(served or {})

    def _model_served(self) -> bool:
        served = _served_models(self.client)
        return served is None or self.endpoint.model in served

    def _pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self.endpoint.concurrency, thread_name_prefix="codeguard-endpoint")

    def next_token_logprobs(self, contexts: Sequence[Sequence[int]]) -> np.ndarray:
        """float64 (n, vocab) log-probabilities: the server's top k exactly, the rest of the mass spread uniformly.

        Approximate (see the module docstring); each row sums to 1 and is finite everywhere.
        """
        if not contexts:
            raise ProbeInputError(f"{self.spec}: every context needs at least one token id (no contexts given)")
        with self._pool() as pool:
            tops = list(pool.map(self._top_logprobs, range(len(contexts)), contexts))
        self.details["unresolved_top_entries"] = self._unresolved
        rows = np.empty((len(contexts), self.output_width), dtype=np.float64)
        for row, top in zip(rows, tops):
            spread_into = self.output_width - len(top)
            rest = 1.0 - sum(math.exp(v) for v in top.values())
            row[:] = math.log(max(rest, 1e-12) / spread_into) if spread_into else -np.inf
            for token_id, value in top.items():
                row[token_id] = value
            row -= np.logaddexp.reduce(row)
        return rows

    def sequence_logits(self, windows: Sequence[Sequence[int]], first_row: int = 0) -> Iterator[np.ndarray]:
        """Per-window (len - first_row, vocab) float32 rows of log-probabilities from the server's echoed prompt
        log-probabilities (codeguard.models.prompt_logprobs): the actual next token's and the top K exact, the
        rest of the mass spread. Windows go out `concurrency` at a time and come back in order. The server scores
        every position (the prompt is echoed whole); rows before `first_row` are dropped here. numpy arrays, as
        llama.cpp's: host rows, reduced by numpy."""
        scorer = self._scorer = self._scorer or PromptScorer(self)
        step = self.endpoint.concurrency
        with self._pool() as pool:
            for start in range(0, len(windows), step):
                batch = windows[start:start + step]
                for rows in pool.map(scorer.window_rows, range(start, start + len(batch)), batch):
                    yield rows[first_row:]
                self.details["unresolved_top1_positions"] = scorer.unresolved_top1
                self.details["forced_logprob_requests"] = scorer.filled_requests

    def sequence_logprobs(self, windows: Sequence[Sequence[int]]) -> Iterator[np.ndarray]:
        """Per-window (len, vocab) float64 log-probabilities, as sequence_logits (approximate beyond the top K)."""
        return window_logprobs(self.sequence_logits(windows))

    # -- sampling -----------------------------------------------------------------------------------------------
    def check_sampling(self, temperature: float, top_p: float) -> None:
        """Refuses sampling parameters this server would apply with other semantics than every other backend.

        llama-cpp-python's server keeps the top-p nucleus of the *untempered* distribution and tempers afterwards;
        the reference samples from the nucleus of the tempered one. For a peaked model the two are different
        procedures, not noise (zoo:tiny-code-he@gguf-q8_0, T 0.8, top-p 0.95: pass@1 0.405 served, 0.985 for the
        same file in process, 0.44 in process with llama.cpp's order), so a pass@k gate on them would compare
        samplers, not models.
        """
        if self.top_p_before_temperature and temperature > 0 and temperature != 1 and top_p < 1:
            raise ProbeInputError(
                f"{self.spec}: this server (llama-cpp-python) cannot sample with temperature {temperature:g} and "
                f"top-p {top_p:g} as the other model does: llama.cpp's sampler chain cuts the top-p nucleus from the "
                "untempered distribution and applies the temperature afterwards, while transformers, vLLM and "
                "codeguard's backends temper first, and for a peaked model the two sample very differently. Serve "
                "the model with vLLM, or gate pass@k on the .gguf file in process (the same weights through "
                "llama.cpp); temperature 0 or 1, or top-p 1, mean the same on both")

    def sample(self, contexts: Sequence[Sequence[int]], max_new_tokens: int, temperature: float = 1.0,
               top_p: float = 1.0, seed: int = 0, stop_strings: Sequence[str] = ()) -> list[list[int]]:
        """Samples from the served model; returns the new tokens of each row (the returned text, tokenized).

        Identical contexts go out as one request with `n`; where the server returns fewer choices (llama-cpp-python
        ignores `n`), the missing rows are asked for one by one, each with its own seed. The server stops at EOS
        and at a stop string (which it leaves out of the text).
        """
        self.check_sampling(temperature, top_p)
        if max_new_tokens < 1:
            return [[] for _ in contexts]
        groups: dict[tuple[int, ...], list[int]] = {}
        for row, context in enumerate(contexts):
            groups.setdefault(tuple(int(i) for i in context), []).append(row)
        base = {"model": self.endpoint.model, "max_tokens": int(max_new_tokens), "temperature": float(temperature),
                "top_p": float(top_p), **self.sampling_defaults}
        if stop_strings:
            base["stop"] = list(stop_strings)

        def run_group(item):
            context, rows = item
            prompt = self._prompt(context, f"context {rows[0]}")
            texts = [c.get("text") or "" for c in self._completion(
                {**base, "prompt": prompt, "n": len(rows), "seed": _row_seed(seed, rows[0])})][:len(rows)]
            for row in rows[len(texts):]:
                texts.append(self._completion({**base, "prompt": prompt, "n": 1,
                                               "seed": _row_seed(seed, row)})[0].get("text") or "")
            return rows, texts

        samples: list[list[int]] = [[] for _ in contexts]
        with self._pool() as pool:
            for rows, texts in pool.map(run_group, groups.items()):
                for row, text in zip(rows, texts):
                    samples[row] = self.hf_tokenizer.encode(text, add_special_tokens=False)[:max_new_tokens]
        return samples


def _row_seed(seed: int, row: int) -> int:
    return (int(seed) * 1_000_003 + row) % (1 << 31)


def _served_models(client: EndpointClient) -> dict[str, dict] | None:
    """The server's models by id (GET /models), or None where the server has no such route."""
    try:
        answer = client.request("GET", client.endpoint.base_url + "/models", retries=1)
    except _HTTPStatus as error:
        if error.status in (404, 405):
            return None
        raise EndpointError(f"{client.endpoint.base_url}/models answered HTTP {error.status}: {error.body[:300]}") \
            from None
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list):
        return None
    return {str(entry.get("id")): entry for entry in data if isinstance(entry, dict) and entry.get("id")}


def _unknown_model_message(endpoint: EndpointSpec, served: list[str]) -> str:
    listed = ", ".join(repr(name) for name in served) or "none"
    return (f"model spec {endpoint.text!r}: the server at {endpoint.base_url} does not serve a model named "
            f"{endpoint.model!r}; it serves: {listed}. Put one of these after '#'")
