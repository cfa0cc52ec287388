"""The README's "Custom compression assertions" example, run as written: a test file over the `codeguard` fixture
with one-line conditions, labelled with suites of their own."""
import pytest

from tests.helpers import readme_code_block

pytestmark = pytest.mark.slow
FILE_LINE = "# suites/test_python_keywords.py\n"


@pytest.fixture
def example(pytester):
    code = readme_code_block("Custom compression assertions", "python")
    assert code.startswith(FILE_LINE), "the README's example names the file it goes in on its first line"
    pytester.makepyfile(test_python_keywords=code)
    return pytester


def test_the_readme_example_passes_on_a_good_candidate_and_reports_its_suites(example):
    junit = example.path / "junit.xml"
    result = example.runpytest_subprocess("-p", "no:cacheprovider", "--model-pair",
                                          "zoo:tiny-code,zoo:tiny-code@onnx-int8", "--junitxml", str(junit))
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*codeguard gate summary*", "python_keywords: PASSED*",
                                 "*pkp_rel_shift.python*<= 0.05 ?limit?*ok", "cold_start_limits: PASSED*"])
    assert 'name="codeguard.python_keywords.pkp_rel_shift.python"' in junit.read_text()


def test_the_readme_example_fails_a_damaged_candidate_naming_the_metrics(example):
    result = example.runpytest_subprocess("-p", "no:cacheprovider", "--model-pair",
                                          "zoo:tiny-code,zoo:tiny-code@int2-rtn")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*codeguard gate 'python_keywords' failed for zoo:tiny-code@int2-rtn against zoo:tiny-code: "
        "pkp_rel_shift.python=0.5*",
        "*codeguard gate 'cold_start_limits' failed for zoo:tiny-code@int2-rtn against zoo:tiny-code: "
        "kl_ref_opt=*, topk_overlap_10=0.7*"])
