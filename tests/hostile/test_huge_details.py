"""Samples that raised exceptions with 15 MB messages grew the executor to 2 GB and the JSON report to 629 MB. A
verdict's detail is capped in the trusted checker, whatever the sample sends (its own frames included)."""
import resource

from codeguard.sandbox.session import MAX_DETAIL

from tests.hostile.conftest import ADD_ONE, forged_frame_completion, run_one


def test_a_15_mb_exception_message_is_capped(executor):
    verdict = run_one(executor, "    raise ValueError('x' * (15 << 20))\n")
    assert verdict.verdict == "error", verdict
    assert len(verdict.detail) <= MAX_DETAIL


def test_forged_error_frames_with_huge_fields_are_capped(executor):
    completion = forged_frame_completion(
        """    fields = {"type": "T" * (5 << 20), "message": "m" * (10 << 20), "where": 1}\n"""
        """    forged = b'E' + json.dumps(fields).encode()\n""")
    verdict = run_one(executor, completion)
    assert len(verdict.detail) <= MAX_DETAIL, verdict.verdict
    load = run_one(executor, "    return x + 1\nraise ValueError('y' * (15 << 20))\n")
    assert load.verdict == "error" and len(load.detail) <= MAX_DETAIL


def test_a_batch_of_huge_messages_does_not_grow_the_executor(executor):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    samples = [(ADD_ONE.task_id, n, "    raise ValueError('z' * (15 << 20))\n") for n in range(20)]
    verdicts = executor.run({ADD_ONE.task_id: ADD_ONE}, samples)
    assert all(v.verdict == "error" and len(v.detail) <= MAX_DETAIL for v in verdicts)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 32 * 1024  # KiB
