"""Standard errors over files: the clustered ratio estimator against its known forms, and its invariances."""
import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from codeguard.probes.uncertainty import (
    FEW_FILES,
    FileClusteredErrors,
    clustered_means,
    detectable_change,
    language_groups,
    ratio_stderr,
    stderr_note,
)

file_means = arrays(np.float64, st.integers(2, 30), elements=st.floats(-1e3, 1e3, allow_nan=False))


@st.composite
def clusters(draw):
    """Per file: the sum of a statistic and the count of positions it covers."""
    n = draw(st.integers(2, 30))
    counts = draw(arrays(np.float64, n, elements=st.integers(1, 500).map(float)))
    means = draw(arrays(np.float64, n, elements=st.floats(-10, 10, allow_nan=False)))
    return means * counts, counts


@given(file_means, st.integers(1, 400))
def test_equal_sized_files_give_the_textbook_sd_of_file_means_over_sqrt_files(means, size):
    counts = np.full(means.size, float(size))
    expected = means.std(ddof=1) / math.sqrt(means.size)
    assert ratio_stderr(means * counts, counts) == pytest.approx(expected, rel=1e-9, abs=1e-9)


@given(clusters())
def test_equals_the_linearised_cluster_formula(data):
    sums, counts = data
    ratio = sums.sum() / counts.sum()
    g = sums.size
    expected = math.sqrt(g / (g - 1) * sum((a - ratio * b) ** 2 for a, b in zip(sums, counts))) / counts.sum()
    assert ratio_stderr(sums, counts) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@given(clusters(), st.floats(-1e3, 1e3, allow_nan=False).filter(lambda c: abs(c) > 1e-3))
def test_scales_with_the_statistic(data, scale):
    sums, counts = data
    assert ratio_stderr(scale * sums, counts) == pytest.approx(abs(scale) * ratio_stderr(sums, counts), rel=1e-9,
                                                               abs=1e-12)


@given(clusters(), st.randoms(use_true_random=False))
def test_order_of_files_does_not_matter(data, rng):
    sums, counts = data
    order = list(range(sums.size))
    rng.shuffle(order)
    assert ratio_stderr(sums[order], counts[order]) == pytest.approx(ratio_stderr(sums, counts), rel=1e-9, abs=1e-12)


@given(st.floats(-5, 5, allow_nan=False), arrays(np.float64, st.integers(2, 20), elements=st.integers(1, 99).map(float)))
def test_files_with_one_mean_have_no_spread(mean, counts):
    assert ratio_stderr(mean * counts, counts) == pytest.approx(0.0, abs=1e-12)


@given(clusters())
def test_is_never_smaller_than_zero_and_deterministic(data):
    sums, counts = data
    first = ratio_stderr(sums, counts)
    assert first >= 0 and first == ratio_stderr(sums.copy(), counts.copy())


def test_autocorrelated_positions_get_the_files_spread_not_the_positions():
    """Two files of 1,000 identical positions each: per position the spread looks tiny, over files it is not."""
    positions = np.concatenate([np.full(1000, 0.001), np.full(1000, 0.003)])
    naive = positions.std(ddof=1) / math.sqrt(positions.size)
    clustered = ratio_stderr(np.array([1.0, 3.0]), np.array([1000.0, 1000.0]))
    assert clustered == pytest.approx(0.001) and clustered > 20 * naive


@pytest.mark.parametrize("sums, counts", [([0.5], [10.0]), ([], []), ([0.0, 0.0], [0.0, 0.0])])
def test_unknown_is_nan_never_zero(sums, counts):
    assert math.isnan(ratio_stderr(sums, counts))


def test_detectable_change_is_z_times_se_times_root_two():
    assert detectable_change(1.0) == pytest.approx(1.6448536 * math.sqrt(2), rel=1e-6)
    assert detectable_change(0.01, alpha=0.025) == pytest.approx(1.959964 * 0.01 * math.sqrt(2), rel=1e-6)
    assert math.isnan(detectable_change(math.nan))


def test_groups_per_language_and_a_one_file_language_is_unknown():
    files = [SimpleNamespace(language=lang) for lang in ("go", "go", "rust", "python")]
    counts = np.array([10.0, 30.0, 20.0, 0.0])  # the python file holds nothing to count
    groups = language_groups(files, counts)
    assert list(groups) == ["", "go", "rust"]
    found = clustered_means(np.array([1.0, 6.0, 2.0, 0.0]), counts, groups)
    assert found[""][1] == 3 and found["go"][1] == 2 and found["rust"][1] == 1
    assert math.isnan(found["rust"][0]) and found["go"][0] > 0


class _Result(FileClusteredErrors):
    def __init__(self, stderr, files):
        self.stderr, self.stderr_files = stderr, files


def test_notes_give_the_error_the_files_and_what_is_unknown():
    result = _Result({"kld_mean": 1.1e-4, "kld_mean.go": 2e-4}, {"kld_mean": 40, "kld_mean.go": 3, "kld_mean.rust": 1})
    notes = result.uncertainty_notes({"kld_mean": 0.00123, "kld_mean.go": 0.002, "kld_mean.rust": 0.001})
    assert notes[0].startswith("kld_mean 0.00123 ± 0.00011 (SE over 40 files)")
    assert "smallest change two runs can tell apart" in notes[0]
    assert "over 3 files per language" in notes[1] and "rough" in notes[1]
    assert "SE unknown" in notes[2] and "kld_mean.rust (1 file)" in notes[2]
    assert result.uncertainty() == {"kld_mean": 1.1e-4, "kld_mean.go": 2e-4}  # never a 0 for rust
    data = result._uncertainty_json({"stderr": {}, "stderr_files": {}})
    assert data == {"uncertainty": result.stderr, "uncertainty_files": result.stderr_files}


def test_few_files_are_called_rough():
    assert "rough" in stderr_note("kld_mean", 1.0, 0.1, FEW_FILES - 1)
    assert "rough" not in stderr_note("kld_mean", 1.0, 0.1, FEW_FILES)


@given(arrays(np.float64, st.integers(2, 5), elements=st.floats(0, 1)), st.integers(1, 300))
def test_matches_the_exact_bootstrap_over_equal_sized_files(means, size):
    """Every one of the G^G equally likely resamples of G files enumerated: the bootstrap variance of the mean is
    (G-1)/G · SE² (the bootstrap lacks the G/(G-1) small-sample correction)."""
    g = means.size
    resampled = [means[list(pick)].mean() for pick in itertools.product(range(g), repeat=g)]
    counts = np.full(g, float(size))
    assert np.std(resampled) == pytest.approx(ratio_stderr(means * counts, counts) * math.sqrt((g - 1) / g),
                                              rel=1e-6, abs=1e-12)
