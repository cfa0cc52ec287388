"""The worst-case search's result in the reports: the shrunk counterexample and the worst prefixes per language,
with both models' top next tokens (rendered from results.json alone)."""
import pytest

from codeguard.report.html import render_html
from codeguard.report.markdown import render_markdown
from codeguard.report.results import build_results, dumps, load_results

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def worst_case_document(tmp_path_factory):
    from codeguard.models import load_model
    from codeguard.probes.worst_case import WorstCaseConfig, run_worst_case
    result = run_worst_case(load_model("zoo:tiny-code"), load_model("zoo:tiny-code@int4-rtn"),
                            WorstCaseConfig(languages=("python",), max_examples=5, seed=0), limit=0.001)
    assert result.counterexample is not None  # int4 passes 0.001 nats on some short Python prefix
    path = tmp_path_factory.mktemp("report") / "results.json"
    path.write_text(dumps(build_results([(result, 3.0)], [])))
    return load_results(path), result


def test_html_shows_the_counterexample_and_the_worst_prefixes(worst_case_document):
    data, result = worst_case_document
    page = render_html(data)
    assert "Counterexample (python" in page and "above the limit 0.001" in page
    assert "worst prefixes per language" in page
    top_token = result.worst["python"][0]["ref_top"][0]["token"]
    assert repr(top_token).replace("'", "&#39;") in page or repr(top_token) in page


def test_markdown_shows_the_counterexample(worst_case_document):
    data, result = worst_case_document
    text = render_markdown(data)
    assert f"counterexample (python, {result.counterexample['n_tokens']} tokens)" in text
    assert "| python |" in text
