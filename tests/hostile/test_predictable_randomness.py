"""HumanEval/53's test checks add(x, y) on 100 random pairs. The checker seeded its randomness from the task id,
so a completion could draw the same pairs itself and answer only those. The draws must be unpredictable to the
sample; a verdict records what was drawn (the failing call's arguments), not how to redraw it."""
from codeguard.humaneval.problems import load_problems
from codeguard.sandbox import channel

from tests.hostile.conftest import run_one

ADD = {p.task_id: p for p in load_problems("humaneval").problems}["HumanEval/53"]

# Answers exactly the pairs a checker seeded with random.seed("HumanEval/53") would draw, and nothing else.
PRECOMPUTED = """    import random
    if not hasattr(add, "answers"):
        known = {(0, 1): 1, (1, 0): 1, (2, 3): 5, (5, 7): 12, (7, 5): 12}
        for seed in ("HumanEval/53", 53, 0, None):
            rng = random.Random(seed)
            for _ in range(100):
                a, b = rng.randint(0, 1000), rng.randint(0, 1000)
                known[(a, b)] = a + b
        add.answers = known
    return add.answers.get((x, y), -1)
"""


def test_precomputed_random_inputs_fail(executor):
    verdict = run_one(executor, PRECOMPUTED, ADD)
    assert verdict.verdict == "failed", verdict
    assert "random test inputs" in verdict.detail
    recorded = verdict.detail.split("the last call's arguments: ", 1)[1].rstrip("]")
    (x, y), kwargs, _ = channel.decode(recorded.encode())
    assert kwargs == {} and 0 <= x <= 1000 and 0 <= y <= 1000  # what was drawn: the failing call, rerunnable


def test_the_canonical_solution_still_passes_every_time(executor):
    samples = [(ADD.task_id, n, ADD.canonical_solution) for n in range(5)]
    assert [v.verdict for v in executor.run({ADD.task_id: ADD}, samples)] == ["passed"] * 5
