"""pass@k with a served OPT: zoo:tiny-code-he@gguf-q8_0 behind llama-cpp-python's own server on loopback.

Through the real suite (suites/test_pass_at_k.py, the committed baseline's settings: T 0.8, top-p 0.95) the served
model is refused before any generation, naming the sampler order: llama.cpp cuts the top-p nucleus before it
tempers, the reference tempers first, and on this peaked model that is a different sampler (measured: pass@1 0.405
served against 0.985 for the same file in process, 0.44 in process with llama.cpp's order). Where the two orders
agree (greedy), the served model's pass@k run equals the in-process backend's on the same file, completion for
completion.
"""
import pytest

from codeguard import load_model
from tests.helpers import REPO, llama_server

pytest.importorskip("llama_cpp", reason="the gguf extra (llama-cpp-python) is not installed")

pytestmark = pytest.mark.slow

GGUF = "zoo:tiny-code-he@gguf-q8_0"
ALIAS = "tiny-code-he-q8_0"


@pytest.fixture(scope="module")
def local():
    return load_model(GGUF)


@pytest.fixture(scope="module")
def server(local):
    with llama_server(local.path, ALIAS, n_ctx=local.max_context) as port:
        yield port


def served_spec(port: int, local) -> str:
    return f"openai:http://127.0.0.1:{port}/v1#{ALIAS}?tokenizer={GGUF}&max_context={local.max_context}"


def test_the_pass_at_k_suite_refuses_a_server_that_cuts_top_p_before_temperature(pytester, server, local):
    spec = served_spec(server, local)
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest_subprocess(str(REPO / "suites" / "test_pass_at_k.py"), "-p", "no:cacheprovider",
                                           "--rootdir", str(REPO), "--codeguard-baseline-dir", str(REPO / "baselines"),
                                           "--model-pair", f"zoo:tiny-code-he,{spec}")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert spec in output and "llama-cpp-python" in output
    assert "temperature 0.8 and top-p 0.95" in output and "untempered distribution" in output
    assert "generating with" not in output  # refused before minutes of generation, not after


def test_greedy_pass_at_k_through_the_server_equals_the_in_process_backend(server, local):
    from codeguard.probes.pass_at_k import PassAtKConfig, run_pass_at_k
    served = load_model(served_spec(server, local))
    result = run_pass_at_k(local, served, PassAtKConfig(n_samples=1, temperature=0.0, ks=(1,)), progress=False)
    differing = [task for task, rows in result.samples["ref"].items()
                 if rows[0]["completion"] != result.samples["opt"][task][0]["completion"]]
    assert differing == []
    assert result.metrics["pass@1"] == result.metrics["ref_pass@1"] >= 0.9
    assert result.approximate_models() == [] and result.opt.approximate  # pass@k reads samples, not distributions
    assert served.details["sampler_order"].startswith("top-p nucleus of the untempered")
