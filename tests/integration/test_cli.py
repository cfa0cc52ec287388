"""The `codeguard` command: metrics table, JSON output, exit codes."""
import json
import subprocess
import sys

import pytest
import torch

from codeguard.cli.main import main

pytestmark = pytest.mark.slow


def test_compare_prints_metrics_and_writes_json(tmp_path, capsys):
    out = tmp_path / "result.json"
    assert main(["compare", "zoo:tiny-code", "zoo:tiny-code@bf16", "--probe", "cold-start", "--json", str(out),
                 "--rollouts", "4", "--rollout-tokens", "8"]) == 0
    printed = capsys.readouterr().out
    assert "kl_ref_opt" in printed and "top tokens" in printed and "ref rollouts (n=4)" in printed
    data = json.loads(out.read_text())
    assert data["probe"] == "cold-start"
    assert data["ref"]["spec"] == "zoo:tiny-code" and data["opt"]["spec"] == "zoo:tiny-code@bf16"
    for key in ("kl_ref_opt", "kl_opt_ref", "js_divergence", "total_variation", "entropy_ref", "entropy_opt",
                "top1_agree", "topk_overlap_10", "topk_overlap_50", "spearman_top100", "ref_top1_margin"):
        assert isinstance(data["metrics"][key], float)
    assert data["start_ids"] == [0] and data["start_source"] == "bos:<|endoftext|>"
    assert data["rollouts"]["opt"]["n"] == 4


@pytest.mark.parametrize("args, fragment", [
    (["compare", "zoo:tiny-code", "zoo:tiny-code@int2"], "unknown derivation suffix '@int2'"),
    (["compare", "zoo:nope", "zoo:tiny-code"], "zoo:nope: no such zoo entry"),
    (["compare", "/no/such/dir", "zoo:tiny-code"], "path '/no/such/dir' does not exist"),
])
def test_bad_input_exits_2_with_the_message_on_stderr(args, fragment):
    proc = subprocess.run([sys.executable, "-m", "codeguard.cli.main", *args], capture_output=True, text=True)
    assert proc.returncode == 2
    assert fragment in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_compare_json_has_the_keyword_aggregates(tmp_path, capsys):
    out = tmp_path / "result.json"
    assert main(["compare", "zoo:tiny-code", "zoo:tiny-code@onnx-int8", "--languages", "python,go",
                 "--json", str(out)]) == 0
    assert "keyword mass at cold start" in capsys.readouterr().out
    aggregates = json.loads(out.read_text())["aggregates"]
    assert set(aggregates["ref"]["languages"]) == {"python", "go"}
    assert {"pkp", "stp", "nlp", "pkp_single_token"} <= set(aggregates["ref"]["overall"])
    assert {"pkp_rel_shift.python", "pkp_rel_shift.go", "language_mix_js"} <= set(aggregates["shifts"])


def test_tokenizers_command_prints_tables_and_writes_json(tmp_path, capsys):
    out = tmp_path / "tok.json"
    assert main(["tokenizers", "zoo:tiny-code", "zoo:tiny-code-distilled", "--languages", "python,rust",
                 "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "vocabulary classes" in printed and "python" in printed and "rust" in printed
    data = json.loads(out.read_text())
    first = data["tokenizers"][0]
    assert first["spec"] == "zoo:tiny-code" and first["vocab_size"] == 8192
    assert set(first["coverage"]["python"]) >= {"bare_single_token_fraction", "space_single_token_fraction",
                                                "newline_single_token_fraction", "mean_tokens_per_keyword",
                                                "split_keywords"}
    assert first["fertility"]["rust"]["tokens_per_line"] > 0
    assert data["corpus"]["unknown_language"] == [] and data["corpus"]["undecodable"] == []


@pytest.mark.parametrize("args, fragment", [
    (["tokenizers", "zoo:tiny-code", "--languages", "cobol"], "unknown language 'cobol'"),
    (["tokenizers", "zoo:tiny-code", "--corpus", "/no/such/dir"], "corpus folder /no/such/dir does not exist"),
    (["tokenizers", "/no/such/file.gguf"], "/no/such/file.gguf"),
])
def test_tokenizers_bad_input_exits_2(args, fragment):
    proc = subprocess.run([sys.executable, "-m", "codeguard.cli.main", *args], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr and "Traceback" not in proc.stderr


def test_compare_corpus_kld_json_keys(tmp_path, capsys):
    out = tmp_path / "kld.json"
    assert main(["compare", "zoo:tiny-code", "zoo:tiny-code@bf16", "--probe", "corpus-kld", "--corpus",
                 "codeguard/data/corpus/lua", "--ctx", "128", "--json", str(out)]) == 0
    assert "same top p" in capsys.readouterr().out
    data = json.loads(out.read_text())
    keys = {"kld_mean", "kld_stderr", "kld_median", "kld_p90", "kld_p95", "kld_p99", "kld_p999", "kld_max",
            "same_top_p", "ppl_ref", "ppl_opt", "ppl_ratio"}
    assert data["probe"] == "corpus-kld" and keys <= set(data["metrics"])
    assert keys <= set(data["metrics"]["per_language"]["lua"])


def test_compare_keyword_shift(tmp_path, capsys):
    out = tmp_path / "shift.json"
    assert main(["compare", "zoo:tiny-code", "zoo:tiny-code@int4-rtn", "--probe", "keyword-shift", "--corpus",
                 "codeguard/data/corpus/go", "--json", str(out)]) == 0
    assert "moved most" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["probe"] == "keyword-shift" and data["per_language"]["go"]["positions"] > 50
    assert data["per_language"]["go"]["most_moved"][0]["count"] >= 1


@pytest.mark.parametrize("command", ["compare", "study", "search"])
def test_device_is_checked_before_any_model_loads(command):
    bad = subprocess.run([sys.executable, "-m", "codeguard.cli.main", command, "zoo:tiny-code", "zoo:tiny-code",
                          "--device", "gpu"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--device 'gpu': not a device; use auto, cpu, cuda, cuda:N" in bad.stderr
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    missing = subprocess.run([sys.executable, "-m", "codeguard.cli.main", command, "zoo:tiny-code", "zoo:nope",
                              "--device", f"cuda:{gpus + 1}"], capture_output=True, text=True)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert f"codeguard: error: --device cuda:{gpus + 1}: no such CUDA GPU" in missing.stderr


def test_compare_on_the_cpu_device(capsys):
    assert main(["compare", "zoo:tiny-code", "zoo:tiny-code@bf16", "--device", "cpu", "--dtype", "auto"]) == 0
    assert "kl_ref_opt" in capsys.readouterr().out


def test_the_command_line_imports_heavy_libraries_only_for_the_commands_that_use_them():
    """Every `codeguard` command parses all subcommands' options: importing scipy.stats and matplotlib for that was
    ~0.8 s of each run's start-up (bench/RESULTS.md, llama.cpp parity)."""
    script = ("import sys, codeguard.cli.main\n"
              "print(sorted(m for m in ('scipy.stats', 'matplotlib', 'torch', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
