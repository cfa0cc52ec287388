"""Completion generation: stop sequences, seeding, batching, both backends."""
import pytest

from codeguard import load_model
from codeguard.errors import ProbeInputError
from codeguard.humaneval.generation import GenerationConfig, generate_completions, problem_seed, truncate
from codeguard.humaneval.problems import load_problems


@pytest.mark.parametrize("text, expected", [
    ("    return x\n\ndef other():\n    pass", "    return x\n"),
    ("    return x\nif __name__ == '__main__':", "    return x"),
    ("    return x\n# trailing comment", "    return x"),
    ("    return x  # fine inline\n    y = 1", "    return x  # fine inline\n    y = 1"),
    ("", ""),
])
def test_truncation_at_the_humaneval_stop_sequences(text, expected):
    assert truncate(text) == expected


def test_problem_seeds_do_not_depend_on_order():
    assert problem_seed(0, "HumanEval/3") == problem_seed(0, "HumanEval/3") != problem_seed(1, "HumanEval/3")


@pytest.mark.parametrize("config, fragment", [
    (GenerationConfig(n_samples=0), "n_samples >= 1"), (GenerationConfig(temperature=-1), "temperature"),
    (GenerationConfig(top_p=0), "top_p"), (GenerationConfig(temperature=0, n_samples=3), "greedy"),
])
def test_bad_generation_configs(config, fragment):
    with pytest.raises(ProbeInputError, match=fragment):
        config.check()


@pytest.mark.slow
def test_seeded_batched_and_identical_across_backends():
    problems = load_problems("humaneval:3").problems
    config = GenerationConfig(n_samples=3, max_new_tokens=24, seed=5)
    torch_model = load_model("zoo:tiny-code")
    first = generate_completions(torch_model, problems, config, progress=False)
    assert set(first) == {p.task_id for p in problems} and all(len(v) == 3 for v in first.values())
    assert generate_completions(torch_model, problems, config, progress=False) == first
    # one problem alone gets the same samples as in the batch of problems
    assert generate_completions(torch_model, problems[1:2], config, progress=False)[problems[1].task_id] == \
        first[problems[1].task_id]
    assert generate_completions(load_model("zoo:tiny-code@onnx"), problems, config, progress=False) == first
    for samples in first.values():
        assert all(not any(stop in s for stop in config.stop) for s in samples)
