"""Problem sets are validated before any model loads: tests must compile, canonical solutions must pass."""
import pytest

from codeguard.humaneval.problems import Problem, ProblemSet, ProblemsError, load_problems
from codeguard.humaneval.validation import validate_problems

GOOD = Problem("own/0", "def inc(x):\n", "inc", "def check(f):\n    assert f(1) == 2\n", "    return x + 1\n")


def test_humaneval_subset_passes_its_own_canonical_solutions():
    validate_problems(load_problems("humaneval:5"))


def test_a_test_that_does_not_compile_is_refused_by_name():
    broken = Problem("own/1", GOOD.prompt, "inc", "def check(f):\n    assert f(1) == = 2\n")
    with pytest.raises(ProblemsError, match=r"1 problem\(s\) refused before any model loads(.|\n)*own/1: its test "
                                            r"does not compile \(SyntaxError"):
        validate_problems(ProblemSet("mine", (GOOD, broken)))


def test_a_canonical_solution_that_fails_its_test_is_refused_with_the_sandbox_verdict():
    wrong = Problem("own/2", GOOD.prompt, "inc", GOOD.test, "    return x + 2\n")
    with pytest.raises(ProblemsError, match=r"own/2: its canonical solution does not pass its own test \(failed"):
        validate_problems(ProblemSet("mine-wrong", (GOOD, wrong)))
