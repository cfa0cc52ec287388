"""The calibration rule: a calibrated tolerance covers every observed run, zero spread gets the floor, directions,
and the calibration block survives the baseline store (load, write, update, a reviewer's later edit)."""
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codeguard.errors import BaselineError, ConfigError
from codeguard.gating.baselines import MetricBaseline, load_baseline, new_baseline, write_baseline
from codeguard.gating.calibration import (
    FLOOR_ABS,
    FLOOR_REL,
    apply_calibration,
    calibrate_baseline,
    derive_tolerance,
    floor_for,
)
from codeguard.gating.rules import COLD_START_RULES, HIGHER, LOWER

values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
margins = st.floats(min_value=0, max_value=10, allow_nan=False)


def _passes(direction, value, atol, obtained):
    """What the gate checks (gating/gate.py): obtained against the stored limit."""
    limit = MetricBaseline(value, direction, 0.0, atol).limit()
    return obtained <= limit if direction == LOWER else obtained >= limit


@given(value=values, runs=st.lists(values, min_size=2, max_size=8), direction=st.sampled_from([LOWER, HIGHER]),
       margin=margins)
def test_the_tolerance_covers_every_observed_run_and_the_recorded_value(value, runs, direction, margin):
    t = derive_tolerance("m", direction, value, runs, margin)
    assert all(_passes(direction, value, t.atol, v) for v in [value, *runs])
    assert t.atol >= floor_for(value) * (1 - 1e-9) and t.atol > 0


@given(value=values, runs=st.lists(values, min_size=2, max_size=8), direction=st.sampled_from([LOWER, HIGHER]),
       margin=margins)
def test_the_limit_leaves_margin_times_the_spread_beyond_the_worst_run(value, runs, direction, margin):
    t = derive_tolerance("m", direction, value, runs, margin)
    observed = [value, *runs]
    spread = max(observed) - min(observed)
    worst = max(observed) if direction == LOWER else min(observed)
    room = abs(t.limit - worst)
    assert t.spread == spread and t.worst == worst
    # limit = value ± atol is computed at |value|'s scale: float rounding there may eat a room far smaller than it
    assert room >= margin * spread * (1 - 1e-9) - 1e-9 * max(abs(worst), abs(value))
    # rounded up to 3 significant digits, never more than that (or the floor) above the rule
    wanted = max(abs(worst - value) + margin * spread, floor_for(value))
    assert t.atol <= wanted * 1.01 + 1e-300


@given(value=values, n=st.integers(2, 6), direction=st.sampled_from([LOWER, HIGHER]), margin=margins)
def test_zero_spread_gets_the_floor(value, n, direction, margin):
    t = derive_tolerance("m", direction, value, [value] * n, margin)
    assert t.spread == 0 and t.sd == 0 and t.floored
    assert floor_for(value) * (1 - 1e-9) <= t.atol <= floor_for(value) * 1.01
    assert floor_for(0.0) == FLOOR_ABS and floor_for(2.0) == 2 * FLOOR_REL


def test_direction_decides_which_side_the_room_is_on():
    lower = derive_tolerance("kl_ref_opt", LOWER, 0.010, [0.011, 0.012], margin=3)
    assert lower.worst == 0.012 and lower.limit == pytest.approx(0.012 + 3 * 0.002)
    higher = derive_tolerance("same_top_p", HIGHER, 0.95, [0.94, 0.96], margin=3)
    assert higher.worst == 0.94 and higher.limit == pytest.approx(0.94 - 3 * 0.02)
    # a higher-is-better metric whose runs are all better than recorded: the recorded value is the worst
    better = derive_tolerance("same_top_p", HIGHER, 0.95, [0.96, 0.97], margin=1)
    assert better.worst == 0.95 and better.limit == pytest.approx(0.95 - 0.02)


@given(value=values, runs=st.lists(values, min_size=2, max_size=5), direction=st.sampled_from([LOWER, HIGHER]),
       a=margins, b=margins)
def test_a_larger_margin_never_tightens(value, runs, direction, a, b):
    small, large = sorted([a, b])
    assert derive_tolerance("m", direction, value, runs, large).atol >= \
        derive_tolerance("m", direction, value, runs, small).atol


@pytest.mark.parametrize("runs, fragment", [
    ([0.1, math.nan], "metric 'kl_mean': a calibration run measured nan"),
    ([0.1, math.inf], "metric 'kl_mean': a calibration run measured inf"),
    ([0.1], "metric 'kl_mean': 1 calibration run(s); at least 2 are needed"),
])
def test_broken_or_too_few_runs_are_refused_by_name(runs, fragment):
    with pytest.raises(ConfigError) as error:
        derive_tolerance("kl_mean", LOWER, 0.1, runs)
    assert fragment in str(error.value)


def test_a_negative_margin_is_refused():
    with pytest.raises(ConfigError, match="calibration margin -1"):
        derive_tolerance("m", LOWER, 0.1, [0.1, 0.2], margin=-1)


def _baseline(tmp_path):
    metrics = {name: 0.5 for name in COLD_START_RULES}
    b = new_baseline("cold_start", {"spec": "zoo:tiny-code", "fingerprint": "sha256:ref"},
                     {"spec": "zoo:tiny-code@onnx-int8", "fingerprint": "sha256:opt"}, {"start_ids": [0]},
                     metrics, None, "0.1.0")
    write_baseline(tmp_path / "cold_start.json", b)
    return load_baseline(tmp_path / "cold_start.json")


PROVENANCE = {"date": "2026-12-03T00:00:00+00:00", "runs": 2, "margin": 3.0, "codeguard_version": "0.1.0",
              "perturbations": [{"name": "as-is", "env": {}}, {"name": "threads=1", "env": {"OMP_NUM_THREADS": "1"}}],
              "accepted": {"spec": "zoo:tiny-code@onnx-int8", "fingerprint": "sha256:opt"}}


def _calibrated(tmp_path):
    b = _baseline(tmp_path)
    runs = {name: [0.5, 0.5 + 1e-3] for name in b.metrics}
    return b, apply_calibration(b, calibrate_baseline(b, runs), PROVENANCE)


def test_the_calibration_block_round_trips_through_the_store(tmp_path):
    b, calibrated = _calibrated(tmp_path)
    write_baseline(b.path, calibrated)
    loaded = load_baseline(b.path)
    assert loaded.calibration == calibrated.calibration
    assert loaded.calibration["runs"] == 2 and loaded.calibration["margin"] == 3.0
    assert loaded.calibration["metrics"]["kl_ref_opt"]["values"] == [0.5, 0.501]
    assert loaded.calibration["metrics"]["kl_ref_opt"]["spread"] == 0.001
    for name, entry in loaded.metrics.items():
        assert entry.rtol == 0.0 and entry.atol == calibrated.metrics[name].atol
        assert entry.value == b.metrics[name].value  # calibration never moves the accepted values
    write_baseline(b.path, loaded)
    assert json.loads(b.path.read_text()) == calibrated.to_json()  # nothing lost on a second round trip


def test_a_reviewers_later_edit_stays_and_an_update_keeps_tolerances_and_provenance(tmp_path):
    b, calibrated = _calibrated(tmp_path)
    write_baseline(b.path, calibrated)
    data = json.loads(b.path.read_text())
    data["metrics"]["kl_ref_opt"]["atol"] = 0.25  # a reviewer widened one tolerance by hand
    b.path.write_text(json.dumps(data))
    edited = load_baseline(b.path)
    assert edited.metrics["kl_ref_opt"].atol == 0.25
    assert edited.calibration["metrics"]["kl_ref_opt"]["atol"] == calibrated.metrics["kl_ref_opt"].atol  # shows
    updated = new_baseline("cold_start", edited.reference, edited.accepted, edited.probe_config,
                           {name: 0.6 for name in COLD_START_RULES}, edited, "0.1.0")
    assert updated.metrics["kl_ref_opt"].atol == 0.25 and updated.metrics["kl_ref_opt"].value == 0.6
    assert updated.metrics["js_divergence"].atol == calibrated.metrics["js_divergence"].atol
    assert updated.calibration == edited.calibration


def test_a_calibration_block_that_is_not_an_object_is_refused(tmp_path):
    b = _baseline(tmp_path)
    data = json.loads(b.path.read_text())
    data["calibration"] = [1, 2]
    b.path.write_text(json.dumps(data))
    with pytest.raises(BaselineError, match="'calibration' must be the object `codeguard calibrate` wrote"):
        load_baseline(b.path)


def test_a_gated_metric_without_runs_is_refused_by_name(tmp_path):
    b = _baseline(tmp_path)
    with pytest.raises(ConfigError, match="did not measure .*kl_ref_opt"):
        calibrate_baseline(b, {name: [0.5, 0.5] for name in b.metrics if name != "kl_ref_opt"})
