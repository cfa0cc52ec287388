"""Step-change detection on synthetic series (properties), and the GitHub step summary's size limit."""
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from codeguard.report.outputs import STEP_SUMMARY_LIMIT, append_step_summary, truncate_markdown
from codeguard.report.trends import StepRule, noise_band, step_flags

RULE = StepRule()
levels = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False).filter(lambda v: abs(v) > 1e-3)
noise = st.lists(st.floats(min_value=-1.0, max_value=1.0), min_size=RULE.window, max_size=30)


def series(level, jitter, scale):
    return [level + scale * j for j in jitter]


@given(levels, noise)
def test_a_series_within_its_own_noise_has_no_step(level, jitter):
    # the noise here is 1e-5 of the level, far inside the 1e-3 relative floor
    assert not any(step_flags(series(level, jitter, 1e-5 * abs(level))))


@given(levels, noise, st.floats(min_value=5.0, max_value=100.0), st.booleans())
def test_a_jump_beyond_k_times_the_band_is_flagged_once(level, jitter, size, up):
    before = series(level, jitter, 1e-5 * abs(level))
    _, half_width = noise_band(before, RULE)
    jumped = before[-1] + (1 if up else -1) * (abs(before[-1] - level) + size * half_width)
    after = [jumped] * RULE.min_history
    flags = step_flags(before + after)
    assert flags[len(before)] and sum(flags) == 1  # the new level becomes the reference


@given(levels, noise, st.floats(min_value=1e-3, max_value=1e3))
def test_flags_do_not_depend_on_units(level, jitter, factor):
    values = series(level, jitter, 0.3 * abs(level))
    assume(all(abs(v) > 1e-9 for v in values))
    assert step_flags(values) == step_flags([v * factor for v in values])


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), max_size=RULE.min_history - 1))
def test_too_short_a_history_gives_no_verdict(values):
    assert not any(step_flags(values))


def test_a_single_outlier_in_the_history_does_not_hide_a_step():
    values = [1.0, 1.0, 1.0, 50.0, 1.0, 1.0, 1.0, 1.0, 1.2]
    assert step_flags(values)[-1]  # the median and MAD ignore the outlier; a mean and s.d. would not


def test_a_nan_after_a_steady_history_is_a_step():
    assert step_flags([1.0] * 8 + [float("nan")])[-1]


@settings(max_examples=50)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=400),
       st.integers(min_value=200, max_value=2000))
def test_truncated_markdown_fits_its_budget_and_says_so(text, budget):
    cut = truncate_markdown(text * 10, budget, "out/report.html")
    assert len(cut.encode("utf-8")) <= budget
    if len((text * 10).encode("utf-8")) > budget:
        assert "summary truncated" in cut and "out/report.html" in cut


def test_step_summary_stays_under_githubs_limit_with_what_earlier_steps_wrote(tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("x" * 300_000)
    huge = "## codeguard: 1 of 1 gates FAILED: big\n" + "| row | value |\n" * 200_000
    append_step_summary(huge, summary, "report.html")
    text = summary.read_text()
    assert len(text.encode()) < STEP_SUMMARY_LIMIT
    assert "## codeguard: 1 of 1 gates FAILED" in text and text.rstrip().endswith("The full report: report.html")


def test_a_step_summary_that_cannot_be_written_is_a_clear_error(tmp_path):
    from codeguard.errors import ReportError
    with pytest.raises(ReportError, match="cannot append to the GitHub step summary .*GITHUB_STEP_SUMMARY"):
        append_step_summary("x", tmp_path / "missing-dir" / "summary.md")
