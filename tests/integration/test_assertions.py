"""The assertion helpers users call from their own tests."""
import pytest

from codeguard import assert_divergence, assert_within_baseline, load_model, run_cold_start
from codeguard.errors import BaselineError
from tests.helpers import REPO

pytestmark = pytest.mark.slow
BASELINE = REPO / "baselines" / "zoo-tiny-code" / "cold_start.json"


@pytest.fixture(scope="module")
def int4_result():
    return run_cold_start(load_model("zoo:tiny-code"), load_model("zoo:tiny-code@int4-rtn"))


def test_absolute_limits_pass_and_fail_with_a_table(int4_result):
    assert assert_divergence(int4_result, max_js=0.5, min_topk_overlap_10=0.5).passed
    with pytest.raises(AssertionError) as info:
        assert_divergence(int4_result, max_js=1e-6, max_kl=10.0)
    message = str(info.value)
    assert "js_divergence" in message and "<= 1e-06 [limit]" in message and "FAIL" in message
    assert "kl_ref_opt" in message  # passing rows are shown too, for context


def test_unknown_limit_name_is_refused(int4_result):
    with pytest.raises(TypeError, match="unknown limit"):
        assert_divergence(int4_result, max_jsd=0.1)


def test_baseline_relative_form(int4_result):
    with pytest.raises(AssertionError, match="failed for zoo:tiny-code@int4-rtn"):
        assert_within_baseline(int4_result, BASELINE)
    ok = run_cold_start(load_model("zoo:tiny-code"), load_model("zoo:tiny-code@bf16"))
    assert assert_within_baseline(ok, BASELINE).passed


def test_baseline_of_another_reference_is_refused():
    result = run_cold_start(load_model("zoo:tiny-code-python"), load_model("zoo:tiny-code-python"))
    with pytest.raises(BaselineError, match="belongs to another reference model"):
        assert_within_baseline(result, BASELINE)
