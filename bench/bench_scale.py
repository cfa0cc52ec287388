"""Measures what codeguard's distribution probes cost on models of real shapes and vocabularies, in one run.

    python bench/bench_scale.py [--shapes 0.5b] [--device cpu] [--threads 2] [--max-tokens 4096] [--repeats 2]
    python bench/bench_scale.py --shapes tiny                    # a quick self-check (seconds)
    python bench/bench_scale.py --shapes 1.5b,7b --device cuda --json scale.json   # a GPU machine

RANDOM WEIGHTS: every model here has the exact shape of a published code LLM (layers, widths, heads, key-value
heads, vocabulary, tied or untied head) and its real tokenizer, but random weights. The figures are about cost (time,
memory, overhead over the bare forward passes), never about quality: the KLD values printed are those of two random
models and mean nothing.

Per shape, in a fresh interpreter of its own (so one shape's memory does not carry into the next):
  - build: a random-weight model of the shape (transformers' own initialisation, seed 0), saved with `save_pretrained`
    (float32 on the CPU, bfloat16 on a GPU, as real checkpoints ship), with the real tokenizer rebuilt from llama.cpp's
    vocab-only GGUF (`codeguard.tokenization.gguf`: Qwen2's 151,936 tokens for the Qwen2.5-Coder shapes);
  - load: the reference through codeguard's own loading (`load_model(DIR, device=...)`, which places it), and the
    candidate `DIR@bf16` (`@fp16` on a GPU) likewise, its derivation included the first time (under the bench's
    own `$CODEGUARD_CACHE`, so nothing is left in the user's cache);
  - cold start: `run_cold_start` against its anchor, both models' bare forward pass on the start ids;
  - corpus: `run_corpus_probes` over the shipped corpus capped at --max-tokens (whole files, languages taken in
    turn), once with corpus KLD alone and once with corpus KLD + keyword shift (one shared pass, as the gate runs
    them), against the anchor of bench/bench_corpus_probes.py: both models' bare forward passes over exactly the
    probe's windows with the probe's batching, opt's run ahead in a thread as the probe runs them ("overlapped").
    Anchor and probes are interleaved --repeats times; medians are reported.
  - with --min-context N, corpus KLD again scoring only tokens with N tokens of their chunk before them (llama.cpp's
    positions at N = ctx/2; transformers computes the output layer only there, `logits_to_keep`);
  - on a GPU, the anchor and corpus KLD again with one window per forward call (what codeguard did before its
    windows per call followed free GPU memory), interleaved with the others;
  - with --reference-first, last: both models freed, then REF alone loads, scores the corpus into an exact cache on
    disk and is freed, and OPT alone loads and replays it (the gate's --codeguard-reference-first), with its peaks.
Reported per phase: wall seconds, scored tokens per second (both models), peak RSS of the phase (VmHWM, reset
before each phase through /proc/self/clear_refs, so it includes the resident models), and on a GPU the peak GPU
memory (torch.cuda.max_memory_allocated, reset per phase). The probe / anchor ratio is the overhead codeguard adds
over running the models; the goal is <= 1.10 at the 0.5 B shape on the CPU (issue 16).

A GPU machine without internet access needs the vocabularies there: pass --vocab-dir with llama.cpp's
`ggml-vocab-*.gguf` files (`python -m codeguard.tokenization.vocabs` prints where codeguard cached them).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

GIB = 1024 ** 3


@dataclass(frozen=True)
class Shape:
    """A published model's architecture and tokenizer (its config.json values), for a random-weight stand-in."""

    name: str
    model_type: str        # transformers config class: qwen2, llama, starcoder2
    vocab_file: str        # llama.cpp's ggml-vocab-<name>.gguf
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int             # output rows (may exceed the tokenizer's size: padding rows)
    tied: bool
    max_positions: int
    rope_theta: float
    extra: dict = field(default_factory=dict)


# Qwen2.5-Coder-{0.5B,1.5B,7B}, DeepSeek-Coder-1.3B-base and StarCoder2-3B as their config.json files give them.
SHAPES = {s.name: s for s in [
    Shape("tiny", "qwen2", "qwen2", 64, 2, 4, 2, 256, 151936, True, 32768, 1e6, {"rms_norm_eps": 1e-6}),
    Shape("0.5b", "qwen2", "qwen2", 896, 24, 14, 2, 4864, 151936, True, 32768, 1e6, {"rms_norm_eps": 1e-6}),
    Shape("1.5b", "qwen2", "qwen2", 1536, 28, 12, 2, 8960, 151936, True, 32768, 1e6, {"rms_norm_eps": 1e-6}),
    Shape("7b", "qwen2", "qwen2", 3584, 28, 28, 4, 18944, 152064, False, 32768, 1e6, {"rms_norm_eps": 1e-6}),
    Shape("deepseek-coder-1.3b", "llama", "deepseek-coder", 2048, 24, 16, 16, 5504, 32256, False, 16384, 1e5,
          {"rms_norm_eps": 1e-6, "rope_scaling": {"type": "linear", "factor": 4.0}}),
    Shape("starcoder2-3b", "starcoder2", "starcoder", 3072, 30, 24, 2, 12288, 49152, True, 16384, 999999.4420358813,
          {"norm_epsilon": 1e-5, "sliding_window": 4096, "use_bias": True}),
]}


# ---------------------------------------------------------------------------------------------------- measuring

class Meter:
    """Peak memory of one phase: VmHWM (reset through /proc/self/clear_refs) and torch's peak GPU allocation."""

    def __init__(self, cuda: bool):
        self.cuda = cuda
        self.can_reset = _reset_rss_peak()

    def start(self) -> None:
        _reset_rss_peak()
        if self.cuda:
            import torch
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def synchronize(self) -> None:
        if self.cuda:
            import torch
            torch.cuda.synchronize()

    def peaks(self) -> dict:
        out = {"peak_rss_gib": round(_status_kib("VmHWM") * 1024 / GIB, 2)}
        if self.cuda:
            import torch
            torch.cuda.synchronize()
            out["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / GIB, 2)
        return out


def _reset_rss_peak() -> bool:
    """Resets this process's peak RSS (Linux >= 4.0: writing 5 to clear_refs); False where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


@contextmanager
def phase(meter: Meter, record: dict):
    """Times the block and records its peak memory into `record`."""
    meter.start()
    started = time.perf_counter()
    yield
    meter.synchronize()  # a GPU's queued kernels belong to the phase that queued them
    record["seconds"] = round(time.perf_counter() - started, 3)
    record.update(meter.peaks())


# ---------------------------------------------------------------------------------------------------- building

def vocab_path(shape: Shape, vocab_dir: Path | None) -> Path:
    if vocab_dir is not None:
        return vocab_dir / f"ggml-vocab-{shape.vocab_file}.gguf"
    from codeguard.tokenization.vocabs import vocab_files
    return vocab_files()[shape.vocab_file]  # fetched from PyPI (llama-cpp-python sdist) on first use


def build_model(shape: Shape, directory: Path, vocab_file: Path, device: str) -> int:
    """Saves a random model of `shape` with the real tokenizer into `directory`; returns its parameter count."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from codeguard.tokenization.gguf import read_gguf_metadata, tokenizer_from_gguf
    from codeguard.tokenization.loader import transformers_tokenizer
    gguf_tokenizer = tokenizer_from_gguf(vocab_file)
    tokens = [str(t) for t in read_gguf_metadata(vocab_file)["tokenizer.ggml.tokens"]]
    special = gguf_tokenizer.special_tokens
    on_gpu = device.startswith("cuda")
    dtype = torch.bfloat16 if on_gpu else torch.float32
    config = AutoConfig.for_model(
        shape.model_type, vocab_size=shape.vocab, hidden_size=shape.hidden, num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads, num_key_value_heads=shape.kv_heads, intermediate_size=shape.intermediate,
        tie_word_embeddings=shape.tied, max_position_embeddings=shape.max_positions, rope_theta=shape.rope_theta,
        bos_token_id=special.get("bos"), eos_token_id=special.get("eos"), **shape.extra)
    torch.manual_seed(0)
    # On a GPU the weights are drawn there (seconds for 7 B parameters instead of minutes on the host's cores)
    with torch.device(device if on_gpu else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.save_pretrained(directory, safe_serialization=True)
    transformers_tokenizer(gguf_tokenizer, tokens).save_pretrained(directory)
    parameters = sum(p.numel() for p in model.parameters())
    del model
    if on_gpu:
        torch.cuda.empty_cache()
    return parameters


def capped_corpus(tokenizer, max_tokens: int | None):
    """The shipped corpus, or its first whole files up to about `max_tokens` tokens, one language after another."""
    from codeguard.languages.corpus import Corpus, load_corpus
    corpus = load_corpus()
    if not max_tokens:
        return corpus
    queues = {language: corpus.by_language(language) for language in corpus.languages}
    chosen, total = [], 0
    while total < max_tokens and any(queues.values()):
        for language in list(queues):
            if not queues[language] or total >= max_tokens:
                continue
            f = queues[language].pop(0)
            chosen.append(f)
            total += len(tokenizer.backend_tokenizer.encode(f.text, add_special_tokens=False).ids)
    return Corpus(corpus.root, chosen)


# ---------------------------------------------------------------------------------------------------- one shape

def run_shape(shape: Shape, args) -> dict:
    """Every measurement of one shape, in this interpreter; returns a JSON-able record."""
    import torch

    from bench_corpus_probes import bare_forward, bare_forward_overlapped
    from codeguard import load_model
    from codeguard.probes.cold_start import run_cold_start
    from codeguard.probes.corpus.runner import run_corpus_probes
    from codeguard.probes.corpus.teacher_forced import TeacherForcedConfig, encode_corpus, make_windows
    from codeguard.models.window_batches import windows_per_call
    from codeguard.probes.pairing import matching_start_ids

    torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    meter = Meter(cuda)
    record = {"shape": asdict(shape), "device": args.device, "threads": args.threads, "phases": {},
              "rss_peak_resettable": meter.can_reset}
    phases = record["phases"]
    vocab_file = vocab_path(shape, args.vocab_dir)
    source = args.workdir / shape.name / ("model-bf16" if cuda else "model-fp32")
    if not (source / "config.json").is_file():
        phases["build"] = {}
        with phase(meter, phases["build"]):
            record["parameters"] = build_model(shape, source, vocab_file, args.device)
    record["checkpoint_gib"] = round(sum(f.stat().st_size for f in source.glob("*.safetensors")) / GIB, 2)
    candidate = args.candidate or ("fp16" if cuda else "bf16")
    stored = "bf16" if cuda else "fp32"
    record["pair"] = {"ref": f"{shape.name} ({stored} checkpoint, dtype auto)", "opt": f"{shape.name}@{candidate}"}

    phases["load_ref"] = {}
    with phase(meter, phases["load_ref"]):
        ref = load_model(str(source), device=args.device)
    phases["derive_and_load_opt"] = {}
    with phase(meter, phases["derive_and_load_opt"]):
        opt = load_model(f"{source}@{candidate}", device=args.device)
    record["parameters"] = record.get("parameters") or sum(p.numel() for p in ref.model.parameters())
    record["placed_on"] = {"ref": ref.details.get("device"), "opt": opt.details.get("device")}
    record["dtypes"] = {"ref": str(next(ref.model.parameters()).dtype), "opt": str(next(opt.model.parameters()).dtype)}
    record["resident_rss_gib"] = round(_status_kib("VmRSS") * 1024 / GIB, 2)
    if cuda:
        record["resident_gpu_gib"] = round(torch.cuda.memory_allocated() / GIB, 2)

    start_ids, _ = matching_start_ids(ref, opt, None)
    for model in (ref, opt):  # warm-up: first-call costs (kernel selection, CUDA context) are no probe's
        bare_forward(model, [start_ids + start_ids])

    # cold start: one forward pass per model; the anchor is those two passes alone
    cold = {"probe": [], "anchor": []}
    for _ in range(max(3, args.repeats)):
        started = time.perf_counter()
        bare_forward(ref, [start_ids])
        bare_forward(opt, [start_ids])
        meter.synchronize()
        cold["anchor"].append(time.perf_counter() - started)
        started = time.perf_counter()
        cold_result = run_cold_start(ref, opt)
        cold["probe"].append(time.perf_counter() - started)
    probe_s, anchor_s = statistics.median(cold["probe"]), statistics.median(cold["anchor"])
    phases["cold_start"] = {"seconds": round(probe_s, 4), "anchor_seconds": round(anchor_s, 4),
                            "ratio": round(probe_s / anchor_s, 2),
                            "kl_ref_opt_random_weights": cold_result.metrics["kl_ref_opt"]}

    corpus = capped_corpus(ref.tokenizer, args.max_tokens)
    config = TeacherForcedConfig(ctx=args.ctx)
    windows = [w.ids for w in make_windows(encode_corpus(ref.fast_tokenizer, corpus), start_ids, args.ctx)]
    scored = sum(len(w) - len(start_ids) for w in windows)
    record["corpus"] = {"files": [str(f.path.relative_to(corpus.root)) for f in corpus.files],
                        "windows": len(windows), "ctx": args.ctx, "scored_tokens": scored}
    runs = {"anchor_overlapped": lambda: bare_forward_overlapped(ref, opt, windows),
            "corpus-kld": lambda: run_corpus_probes(ref, opt, config, corpus, probes=("corpus-kld",)),
            "corpus-kld+keyword-shift": lambda: run_corpus_probes(ref, opt, config, corpus)}
    if args.torch_reduction:
        runs["corpus-kld, torch reduction"] = lambda: _with_torch_reduction(
            lambda: run_corpus_probes(ref, opt, config, corpus, probes=("corpus-kld",)))
    if args.min_context:
        half = TeacherForcedConfig(ctx=args.ctx, min_context=args.min_context)
        runs[f"corpus-kld, min_context {args.min_context}"] = lambda: run_corpus_probes(ref, opt, half, corpus,
                                                                                       probes=("corpus-kld",))
    if args.sequential:
        runs["anchor_sequential"] = lambda: (bare_forward(ref, windows), bare_forward(opt, windows))
    longest = max(len(w) for w in windows)
    record["corpus"]["windows_per_call"] = min(len(windows), windows_per_call(
        longest, ref.output_width, ref.token_budget, ref._free_gpu_bytes()))
    if args.shallow_prefetch:
        runs["corpus-kld+keyword-shift, 1 window queued"] = lambda: with_prefetch_depth(
            1, lambda: run_corpus_probes(ref, opt, config, corpus))
    if cuda:  # what one window a call (the host's batching at 152 k, and every GPU run before) costs, side by side
        runs["anchor_overlapped, 1 window a call"] = lambda: one_window_a_call(
            (ref, opt), lambda: bare_forward_overlapped(ref, opt, windows))
        runs["corpus-kld, 1 window a call"] = lambda: one_window_a_call(
            (ref, opt), lambda: run_corpus_probes(ref, opt, config, corpus, probes=("corpus-kld",)))
    walls = {name: [] for name in runs}
    peaks = {name: {} for name in runs}
    for _ in range(args.repeats):  # interleaved, so machine noise hits all alike
        for name, run in runs.items():
            one = {}
            with phase(meter, one):
                out = run()
            walls[name].append(one["seconds"])
            for key in ("peak_rss_gib", "peak_gpu_gib"):
                if key in one:
                    peaks[name][key] = max(peaks[name].get(key, 0), one[key])
            if name == "corpus-kld":
                record["corpus"]["kld_mean_random_weights"] = out["corpus-kld"].metrics["kld_mean"]
            if name.startswith("corpus-kld, min_context"):
                record["corpus"]["min_context_scored_tokens"] = int(out["corpus-kld"].metrics["positions"])
    anchor = statistics.median(walls["anchor_overlapped"])
    for name in runs:
        median = statistics.median(walls[name])
        tokens = record["corpus"]["min_context_scored_tokens"] if "min_context" in name else scored
        phases[name] = {"seconds": round(median, 3), "all_seconds": walls[name],
                        "tokens_per_second": round(tokens / median, 1), **peaks[name]}
        if name != "anchor_overlapped":
            phases[name]["ratio"] = round(median / anchor, 3)
    if args.reference_first:
        live_kld = record["corpus"]["kld_mean_random_weights"]
        del runs, ref, opt
        reference_first(source, f"{source}@{candidate}", config, corpus, args, meter, phases, live_kld)
    return record


def with_prefetch_depth(depth: int, run):
    """`run` with each model's scored windows queued at most `depth` deep (teacher_forced.prefetch_depth)."""
    from codeguard.probes.corpus import teacher_forced
    chosen = teacher_forced.prefetch_depth
    teacher_forced.prefetch_depth = lambda ref, opt, ctx: depth
    try:
        return run()
    finally:
        teacher_forced.prefetch_depth = chosen


def one_window_a_call(models, run):
    """`run` with every model scoring one corpus window per forward call."""
    for model in models:
        model.windows_per_call = 1
    try:
        return run()
    finally:
        for model in models:
            model.windows_per_call = 0


def reference_first(ref_spec, opt_spec, config, corpus, args, meter, phases: dict, live_kld: float) -> None:
    """The gate's `--codeguard-reference-first` path with both models freed first: REF alone scores the corpus into
    an exact cache on disk and is freed, then OPT alone replays it. Its peaks are one model's, not the pair's."""
    from codeguard import load_model
    from codeguard.models.devices import release_memory
    from codeguard.probes.reference_cache.first import score_reference_first

    release_memory()
    scratch = Path(tempfile.mkdtemp(dir=args.workdir))
    try:
        phases["reference_first: load ref, score, write, free"] = score = {}
        with phase(meter, score):
            cache = score_reference_first(lambda: load_model(str(ref_spec), device=args.device), scratch / "cache",
                                          corpus_config=config, corpus=corpus)
        score["cache_gib"] = round(sum(f.stat().st_size for f in (scratch / "cache").rglob("*") if f.is_file())
                                   / GIB, 2)
        phases["reference_first: load opt, replay"] = replay = {}
        with phase(meter, replay):
            opt = load_model(opt_spec, device=args.device)
            kld = cache.corpus_probes(opt, config, corpus, probes=("corpus-kld",))["corpus-kld"]
        replay["kld_mean_equals_live"] = kld.metrics["kld_mean"] == live_kld
        replay["kld_mean_relative_difference"] = abs(kld.metrics["kld_mean"] - live_kld) / abs(live_kld)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _with_torch_reduction(run):
    """`run` with the statistics reduced by torch on the CPU (the kernel a GPU uses; the CPU's before numpy's)."""
    from codeguard.probes.corpus import teacher_forced
    from codeguard.probes.corpus.pair_stats import device_pair_stats, pair_stats
    teacher_forced.pair_stats = lambda r, o: device_pair_stats(r, o, "cpu")
    try:
        return run()
    finally:
        teacher_forced.pair_stats = pair_stats


# ---------------------------------------------------------------------------------------------------- driver

def child_main(argv: list[str]) -> None:
    args = json.loads(argv[0])
    args["workdir"], args["vocab_dir"] = Path(args["workdir"]), args["vocab_dir"] and Path(args["vocab_dir"])
    record = run_shape(SHAPES[args["shape"]], argparse.Namespace(**args))
    print("RESULT " + json.dumps(record), flush=True)


def run_in_child(shape: str, args) -> dict:
    """One shape in a fresh interpreter; its last RESULT line, or the error it printed."""
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "shapes"}
    options["shape"] = shape
    # each shape derives into a cache of its own, removed with its models (a 7 B pair is ~30 GB of disk)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false",
           "CODEGUARD_CACHE": str(args.workdir / shape / "codeguard-cache")}
    command = [sys.executable, __file__, "--child", json.dumps(options)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return {"shape": {"name": shape}, "error": (done.stdout + done.stderr)[-3000:]}


def print_table(record: dict) -> None:
    shape, phases = record["shape"], record.get("phases", {})
    if "error" in record:
        print(f"\n{shape['name']}: FAILED\n{record['error']}")
        return
    corpus = record["corpus"]
    print(f"\n{shape['name']}: {shape['model_type']} {shape['layers']} layers, hidden {shape['hidden']}, heads "
          f"{shape['heads']}/{shape['kv_heads']}, vocabulary {shape['vocab']} ({shape['vocab_file']} tokenizer), "
          f"{record['parameters'] / 1e6:.0f} M parameters, checkpoint {record['checkpoint_gib']} GiB; "
          f"{record['pair']['opt']} vs ref; on {record['placed_on']} {record['dtypes']}, {record['threads']} torch "
          f"threads; resident after loading both: {record['resident_rss_gib']} GiB RSS"
          + (f", {record['resident_gpu_gib']} GiB GPU" if "resident_gpu_gib" in record else ""))
    print(f"corpus: {len(corpus['files'])} files, {corpus['windows']} windows of ctx {corpus['ctx']}, "
          f"{corpus['scored_tokens']} scored tokens, {corpus.get('windows_per_call', '?')} windows per forward call")
    gpu = "peak_gpu_gib" in phases.get("load_ref", {})
    print(f"{'phase':<46}{'seconds':>10}{'tokens/s':>10}{'peak RSS':>10}" + (f"{'peak GPU':>10}" if gpu else "")
          + f"{'/ anchor':>10}")
    for name, values in phases.items():
        if not isinstance(values, dict):
            continue
        cells = [f"{values['seconds']:>10.2f}", f"{values.get('tokens_per_second', ''):>10}",
                 f"{values.get('peak_rss_gib', ''):>10}"]
        if gpu:
            cells.append(f"{values.get('peak_gpu_gib', ''):>10}")
        cells.append(f"{values.get('ratio', ''):>10}")
        print(f"{name:<46}" + "".join(cells))
    cold = phases["cold_start"]
    print(f"(cold start anchor: {cold['anchor_seconds']:.3f} s; corpus ratios are against anchor_overlapped)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", default=None, help=f"comma-separated, of {', '.join(SHAPES)} "
                        "(default: 0.5b on the CPU, 1.5b,7b on a GPU)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (codeguard's own placement)")
    parser.add_argument("--candidate", default=None, help="derivation gated against the model (default: bf16 on "
                        "the CPU, fp16 on a GPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: 2 on the CPU, as this "
                        "shared 2-core machine has; every core on a GPU machine, where the probes reduce on the CPU)")
    parser.add_argument("--max-tokens", type=int, default=None, help="cap on corpus tokens, whole files "
                        "(default: 4096 on the CPU, 16384 on a GPU; 0: the whole shipped corpus)")
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--torch-reduction", action="store_true", help="also time corpus KLD with torch's "
                        "reduction on the CPU (what ran before numpy's), interleaved")
    parser.add_argument("--min-context", type=int, default=0, metavar="N",
                        help="also time corpus KLD scoring only tokens with N tokens of their chunk before them")
    parser.add_argument("--sequential", action="store_true", help="also time the two models one after the other")
    parser.add_argument("--shallow-prefetch", action="store_true", help="also time corpus KLD + keyword shift "
                        "with each model's scored windows queued one deep instead of prefetch_depth's (at least 2)")
    parser.add_argument("--reference-first", action="store_true", help="then free both models and time the "
                        "gate's --codeguard-reference-first path (REF scores an exact cache on disk, then OPT alone)")
    parser.add_argument("--vocab-dir", type=Path, default=None, help="folder of llama.cpp's ggml-vocab-*.gguf "
                        "(default: codeguard's cache, fetched from PyPI on first use)")
    parser.add_argument("--workdir", type=Path, default=None, help="models and derivations (kept when given)")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = parser.parse_args()
    if args.device != "cpu" and not args.device.startswith("cuda"):
        parser.error(f"--device {args.device}: use cpu, cuda or cuda:N")
    on_gpu = args.device.startswith("cuda")
    if on_gpu:
        from codeguard.errors import DeviceError
        from codeguard.models.devices import resolve_placement
        try:
            resolve_placement(args.device, option="--device")  # no such GPU: codeguard's own error, before any work
        except DeviceError as error:
            parser.error(str(error))
    shapes = (args.shapes or ("1.5b,7b" if on_gpu else "0.5b")).split(",")
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        parser.error(f"unknown shape(s) {unknown}; known: {', '.join(SHAPES)}")
    if args.max_tokens is None:
        args.max_tokens = 16384 if on_gpu else 4096
    if args.threads is None:
        args.threads = os.cpu_count() if on_gpu else 2
    keep = args.workdir is not None
    args.workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="bench-scale-"))).resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.vocab_dir is None:
        from codeguard.tokenization.vocabs import llama_vocab_dir
        args.vocab_dir = llama_vocab_dir()  # fetched here, into the user's cache, not the bench's own
    records = []
    try:
        for shape in shapes:
            started = time.perf_counter()
            record = run_in_child(shape, args)
            record["total_seconds"] = round(time.perf_counter() - started, 1)
            records.append(record)
            print_table(record)
            print(f"(whole shape, building and loading included: {record['total_seconds']:.0f} s)", flush=True)
            if not keep:
                shutil.rmtree(args.workdir / shape, ignore_errors=True)
    finally:
        if not keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    summary = {"bench": "bench_scale", "random_weights": True, "date": time.strftime("%Y-%m-%d"),
               "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()}, "shapes": records}
    print("\nJSON " + json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
