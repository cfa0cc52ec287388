"""Times codeguard's corpus KLD on a GGUF pair against llama.cpp's own `llama-perplexity`, side by side in one run.

    python bench/bench_llama_parity.py [--repeats 3] [--threads 2] [--max-tokens 14000] [--ctx 512]
    python bench/bench_llama_parity.py --workdir /tmp/parity --json parity.json    # keep models and text

RANDOM WEIGHTS: the pair is a 23 M-parameter Llama (12 layers, hidden 256, 4 heads, intermediate 768, tied
embeddings) with StarCoder's real 49,152-token tokenizer (llama.cpp's `ggml-vocab-starcoder.gguf`) and random weights
(transformers' initialisation, seed 0, bench/bench_scale.py's `build_model`), derived by codeguard itself to
`DIR@gguf-f16` (ref) and `DIR@gguf-q4_k_m` (opt). The figures are about cost; the KLD and PPL values of two random
models mean little, and are printed only to show that the two tools measure the same thing.

What runs, each in a subprocess of its own, --repeats times interleaved (medians reported):
  - llama.cpp: `llama-perplexity -m f16.gguf -f TEXT --kl-divergence-base BASE -c CTX -t T` (scores the base and
    writes its logits), then `llama-perplexity -m q4_k_m.gguf --kl-divergence-base BASE --kl-divergence -c CTX -t T`;
    the two runs together are the anchor;
  - codeguard: `codeguard compare REF OPT --probe corpus-kld --corpus DIR --ctx CTX --device cpu` with
    `CODEGUARD_GGUF_THREADS=T` (llama-cpp-python 0.3.36 on the same llama.cpp sources), start-up included, as a user
    runs it: once scoring every position (the default), once with `--min-context CTX/2`, llama.cpp's own rule, and
    once more with `--reference-first` as well: REF scores alone into an exact cache on disk and is freed before OPT
    loads, one model resident at a time as in llama.cpp's two runs (its metrics must equal the live pair's).
Both score the same text: ~--max-tokens tokens of Python (the shipped corpus's Python files, then the standard
library's, whole files), written as one file, so both cut the same chunks of CTX tokens. llama.cpp scores only the
second half of each chunk (its rule: 255 tokens of a 512-token chunk, each with at least 256 before it, and the
output layer computed for those alone); codeguard by default every position, with `--min-context CTX/2` the same
255 a chunk. Reported per tool: wall seconds, CPU seconds and peak
RSS (GNU time's %M; `apt-get install time` where /usr/bin/time is missing, else the fork's ru_maxrss, which counts
the bench's own memory), and the ratio codeguard / llama.cpp (both runs). Goal (issue 16 §4): <= 1.3x at
comparable memory.

`llama-perplexity` is built once from the llama.cpp sources vendored in the pinned llama-cpp-python sdist (PyPI,
76 MB, sha256 checked), CPU only, Release, `-j 2`, cached in `<cache>/llama-parity/<version>/` ($CODEGUARD_CACHE,
else ~/.cache/codeguard); the folder is printed. The build took 6 min on the project's shared 2-core machine (11 min
under load ~4); cmake, a C++ compiler and ninja or make must be installed (apt-get install cmake g++ ninja-build).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
from pathlib import Path

from bench_scale import GIB, Shape, build_model, vocab_path

LLAMA_23M = Shape("llama-23m", "llama", "starcoder", 256, 12, 4, 4, 768, 49152, True, 2048, 10000.0,
                  {"rms_norm_eps": 1e-5})
REF_DERIVATION, OPT_DERIVATION = "gguf-f16", "gguf-q4_k_m"
HALF = "codeguard compare --min-context"  # llama.cpp's positions
FIRST = "codeguard ... --reference-first"  # the same, one model resident at a time, as llama-perplexity's two runs
# The CPU kernels .ci/run builds llama-cpp-python's wheel with (AVX2, no AVX-512, no AMX), so both tools run the same
# matmuls: a native build here picks AVX-512 and VNNI kernels the wheel lacks, which is a different race.
WHEEL_CPU_OPTIONS = ["-DGGML_NATIVE=OFF", "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON",
                     "-DGGML_AVX512=OFF", "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"]


# ---------------------------------------------------------------------------------------------------- building

def llama_perplexity() -> Path:
    """`llama-perplexity` built from the pinned sdist's llama.cpp, once; its path."""
    from codeguard.cache import cache_root
    from codeguard.tokenization.vocabs import LLAMA_CPP_PYTHON_VERSION, download_sdist
    folder = cache_root() / "llama-parity" / LLAMA_CPP_PYTHON_VERSION
    binary = folder / "llama-perplexity"
    print(f"llama-perplexity: {binary}", flush=True)
    if binary.is_file():
        return binary
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=folder, prefix=".build-") as tmp:
        tmp = Path(tmp)
        archive = download_sdist(tmp, folder)
        prefix = archive.name[:-len(".tar.gz")] + "/vendor/llama.cpp/"
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar if m.name.startswith(prefix) and (m.isfile() or m.isdir())]
            tar.extractall(tmp, members=members, filter="data")
        source, build = tmp / prefix, tmp / "build"
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        off = ["TESTS", "EXAMPLES", "SERVER", "APP"]
        subprocess.run(["cmake", "-S", str(source), "-B", str(build), *generator, "-DCMAKE_BUILD_TYPE=Release",
                        "-DLLAMA_BUILD_TOOLS=ON", *[f"-DLLAMA_BUILD_{name}=OFF" for name in off],
                        "-DLLAMA_OPENSSL=OFF", "-DLLAMA_CURL=OFF", "-DGGML_CUDA=OFF", "-DBUILD_SHARED_LIBS=OFF",
                        *WHEEL_CPU_OPTIONS],
                       check=True)
        subprocess.run(["cmake", "--build", str(build), "--target", "llama-perplexity", "-j", "2"], check=True)
        shutil.copy2(build / "bin" / "llama-perplexity", binary)
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    return binary


def python_text(tokenizer, max_tokens: int) -> tuple[str, int]:
    """Whole Python files, the shipped corpus's first, then the standard library's, up to ~`max_tokens` tokens."""
    from codeguard.languages.corpus import load_corpus
    corpus = load_corpus()
    texts = [f.text for f in corpus.by_language("python")]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts += [(stdlib / name).read_text() for name in ("textwrap.py", "shlex.py", "fnmatch.py", "glob.py",
                                                      "bisect.py", "heapq.py", "colorsys.py", "graphlib.py")]
    chosen, total = [], 0
    for text in texts:
        if total >= max_tokens:
            break
        chosen.append(text)
        total += len(tokenizer.backend_tokenizer.encode(text, add_special_tokens=False).ids)
    return "\n".join(chosen), total


# ---------------------------------------------------------------------------------------------------- measuring

def timed(command: list[str], env: dict, log: Path) -> dict:
    """Runs `command`; its wall seconds, CPU seconds and peak RSS.

    The peak comes from GNU time's own child (`/usr/bin/time -f %M`): this process's child starts as a fork of the
    bench, and its ru_maxrss counted the bench's own resident memory (0.44-0.62 GiB for llama-perplexity, whose own
    peak is far lower)."""
    peak_file = log.with_suffix(".peak")
    wrapper = ["/usr/bin/time", "-f", "%M", "-o", str(peak_file)] if Path("/usr/bin/time").is_file() else []
    started = time.perf_counter()
    with open(log, "w") as out:
        # cwd: not wherever the bench was started, whose codeguard `python -m` would put ahead of $PYTHONPATH
        process = subprocess.Popen(wrapper + command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed; its output:\n{log.read_text()[-3000:]}")
    peak_kib = int(peak_file.read_text().split()[-1]) if wrapper else usage.ru_maxrss
    return {"seconds": seconds, "peak_rss_gib": peak_kib * 1024 / GIB, "cpu_seconds": usage.ru_utime +
            usage.ru_stime}


def llama_cpp_figures(log: str) -> dict:
    """KLD mean, PPL ratio and same-top share from llama-perplexity's --kl-divergence report."""
    def number(pattern):
        found = re.search(pattern, log)
        return float(found.group(1)) if found else None
    same = number(r"Same top p:\s+([\d.]+)")
    return {"kld_mean": number(r"Mean\s+KLD:\s+([-\d.]+)"),
            "ppl_ratio": number(r"Mean PPL\(Q\)/PPL\(base\)\s*:\s+([\d.]+)"),
            "same_top_p": same / 100 if same is not None else None}


def run(args) -> dict:
    from codeguard import load_model
    binary = llama_perplexity()
    work = args.workdir
    source = work / "model"
    if not (source / "config.json").is_file():
        started = time.perf_counter()
        parameters = build_model(LLAMA_23M, source, vocab_path(LLAMA_23M, None), "cpu")
        print(f"built {parameters / 1e6:.1f} M parameters in {time.perf_counter() - started:.0f} s", flush=True)
    import codeguard
    here = str(Path(codeguard.__file__).resolve().parents[1])  # the child runs the codeguard this process imported
    env = {**os.environ, "CODEGUARD_CACHE": str(work / "codeguard-cache"), "CODEGUARD_GGUF_THREADS": str(args.threads),
           "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    os.environ["CODEGUARD_CACHE"] = env["CODEGUARD_CACHE"]  # derivations land in the bench's own cache
    ggufs = {}
    for derivation in (REF_DERIVATION, OPT_DERIVATION):
        model = load_model(f"{source}@{derivation}")
        ggufs[derivation] = model.path
        tokenizer = model.tokenizer
        del model
    text, tokens = python_text(tokenizer, args.max_tokens)
    corpus = work / "corpus"
    corpus.mkdir(exist_ok=True)
    (corpus / "python.py").write_text(text)
    base = work / "base.kld"
    ref, opt = f"{source}@{REF_DERIVATION}", f"{source}@{OPT_DERIVATION}"
    threads = str(args.threads)
    perplexity = [str(binary), "-c", str(args.ctx), "-t", threads, "-tb", threads, "--kl-divergence-base", str(base)]
    compare = [sys.executable, "-m", "codeguard.cli", "compare", ref, opt, "--probe", "corpus-kld", "--corpus",
               str(corpus), "--ctx", str(args.ctx), "--device", "cpu"]  # as llama-perplexity's CPU-only build
    runs = {
        "llama-perplexity base": perplexity + ["-m", str(ggufs[REF_DERIVATION]), "-f", str(corpus / "python.py")],
        "llama-perplexity kld": perplexity + ["-m", str(ggufs[OPT_DERIVATION]), "--kl-divergence"],
        "codeguard compare": compare + ["--json", str(work / "codeguard.json")],
        HALF: compare + ["--min-context", str(args.ctx // 2), "--json", str(work / "codeguard-half.json")],
        FIRST: compare + ["--min-context", str(args.ctx // 2), "--reference-first", "--json",
                          str(work / "codeguard-first.json")],
    }
    figures = {name: [] for name in runs}
    for repeat in range(args.repeats):  # interleaved, so machine noise hits both tools alike
        for name, command in runs.items():
            figures[name].append(timed(command, env, work / f"{name.replace(' ', '-')}.log"))
            print(f"repeat {repeat + 1}: {name}: {figures[name][-1]['seconds']:.2f} s, "
                  f"{figures[name][-1]['peak_rss_gib']:.2f} GiB", flush=True)
    metrics = json.loads((work / "codeguard.json").read_text())["metrics"]
    half = json.loads((work / "codeguard-half.json").read_text())["metrics"]
    if json.loads((work / "codeguard-first.json").read_text())["metrics"] != half:
        raise SystemExit("--reference-first gave other metrics than the live pair: its cache is exact, so this is a bug")
    median = {name: {key: statistics.median(f[key] for f in values) for key in values[0]}
              for name, values in figures.items()}
    llama_seconds = statistics.median(a["seconds"] + b["seconds"] for a, b in
                                      zip(figures["llama-perplexity base"], figures["llama-perplexity kld"]))
    return {
        "bench": "bench_llama_parity", "random_weights": True, "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()}, "threads": args.threads,
        "ctx": args.ctx, "text_tokens": tokens, "ggufs": {k: str(v) for k, v in ggufs.items()},
        "runs": figures, "median": median, "llama_cpp_seconds": llama_seconds,
        "ratio": median["codeguard compare"]["seconds"] / llama_seconds,
        "ratio_llama_cpp_positions": median[HALF]["seconds"] / llama_seconds,
        "ratio_reference_first": median[FIRST]["seconds"] / llama_seconds,
        "llama_cpp": llama_cpp_figures((work / "llama-perplexity-kld.log").read_text()),
        "codeguard": _figures(metrics), "codeguard_llama_cpp_positions": _figures(half),
    }


def _figures(metrics: dict) -> dict:
    return {key: metrics[key] for key in ("kld_mean", "ppl_ratio", "same_top_p", "positions")}


def print_summary(record: dict) -> None:
    load = record["machine"]["load_average_at_end"]
    repeats = len(record["runs"]["codeguard compare"])
    print(f"\n{record['text_tokens']} tokens of Python, ctx {record['ctx']}, {record['threads']} threads each; load "
          f"average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; medians of {repeats}")
    print(f"{'run':<36}{'seconds':>10}{'CPU s':>10}{'peak RSS GiB':>14}")
    for name, values in record["median"].items():
        print(f"{name:<36}{values['seconds']:>10.2f}{values['cpu_seconds']:>10.2f}{values['peak_rss_gib']:>14.2f}")
    print(f"codeguard / llama.cpp (both runs): {record['ratio']:.2f}x every position, "
          f"{record['ratio_llama_cpp_positions']:.2f}x with llama.cpp's positions (--min-context ctx/2), "
          f"{record['ratio_reference_first']:.2f}x with them and one model resident (--reference-first)  "
          "(goal <= 1.3)")
    for tool in ("llama_cpp", "codeguard", "codeguard_llama_cpp_positions"):
        f = record[tool]
        print(f"{tool:<30} KLD mean {f['kld_mean']}, PPL ratio {f['ppl_ratio']}, same top {f['same_top_p']}, "
              f"positions {f.get('positions', 'second half of each chunk')}  (random weights)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=512)
    parser.add_argument("--max-tokens", type=int, default=14000, help="Python tokens to score, whole files")
    parser.add_argument("--workdir", type=Path, default=None, help="models, derivations and text (kept when given)")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = parser.parse_args()
    keep = args.workdir is not None
    args.workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="bench-parity-"))).resolve()
    args.workdir.mkdir(parents=True, exist_ok=True)
    try:
        record = run(args)
    finally:
        if not keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    print_summary(record)
    print("\nJSON " + json.dumps(record))
    if args.json:
        args.json.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
