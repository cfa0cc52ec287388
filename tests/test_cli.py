"""The `codeguard` command: metrics table, JSON output, exit codes."""
import json
import subprocess
import sys

import pytest

from codeguard.cli import main

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
    proc = subprocess.run([sys.executable, "-m", "codeguard.cli", *args], capture_output=True, text=True)
    assert proc.returncode == 2
    assert fragment in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""
