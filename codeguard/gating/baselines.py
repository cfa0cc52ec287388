"""The baseline store: the only module that reads and writes `baselines/<ref-slug>/<suite>[.<slot>].json`.

A baseline is the record of the optimized model last accepted for a reference: its metrics with per-metric
direction and tolerance, the reference's fingerprint (a different reference is an error, not a regression),
the accepted candidate (for the record) and the probe config that defines the measurement.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from codeguard.atomic_files import write_json_atomically
from codeguard.errors import BaselineError, ConfigError
from codeguard.gating.rules import HIGHER, LOWER, rule_for

SCHEMA_VERSION = 1
SIGNIFICANT_DIGITS = 6
_SLOT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass
class MetricBaseline:
    value: float
    direction: str
    rtol: float
    atol: float

    def limit(self) -> float:
        if self.direction == LOWER:
            return self.value * (1 + self.rtol) + self.atol
        return self.value * (1 - self.rtol) - self.atol


@dataclass
class Baseline:
    suite: str
    reference: dict
    accepted: dict
    probe_config: dict
    metrics: dict[str, MetricBaseline]
    codeguard_version: str = ""
    schema_version: int = SCHEMA_VERSION
    path: Path | None = field(default=None, compare=False)

    def to_json(self) -> dict:
        return {
            "schema_version": self.schema_version, "codeguard_version": self.codeguard_version, "suite": self.suite,
            "reference": self.reference, "accepted": self.accepted, "probe_config": self.probe_config,
            "metrics": {name: {"value": _round(m.value), "direction": m.direction, "rtol": m.rtol, "atol": m.atol}
                        for name, m in self.metrics.items()},
        }


def _round(value: float) -> float:
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def baseline_path(root: Path, ref_slug: str, suite: str, slot: str | None = None) -> Path:
    if slot is not None and not _SLOT.match(slot):
        raise ConfigError(f"baseline slot {slot!r}: use letters, digits, '-' and '_' only")
    name = f"{suite}.json" if not slot else f"{suite}.{slot}.json"
    return Path(root) / ref_slug / name


def load_baseline(path: Path) -> Baseline:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise BaselineError(f"baseline {path} does not exist") from None
    except (OSError, ValueError) as error:
        raise BaselineError(f"baseline {path} is not valid JSON ({error}); fix it, or delete it and accept the "
                            "current candidate again with --codeguard-update") from None
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        found = data.get("schema_version") if isinstance(data, dict) else type(data).__name__
        raise BaselineError(f"baseline {path} has schema_version {found!r}; this codeguard reads schema "
                            f"{SCHEMA_VERSION}. Re-create it with --codeguard-update")
    for key in ("suite", "reference", "accepted", "probe_config", "metrics"):
        if key not in data:
            raise BaselineError(f"baseline {path} lacks the key {key!r}")
    if not isinstance(data["reference"], dict) or "fingerprint" not in data["reference"]:
        raise BaselineError(f"baseline {path}: 'reference' must hold the reference model's 'fingerprint'")
    metrics = {}
    for name, entry in data["metrics"].items():
        try:
            metric = MetricBaseline(float(entry["value"]), entry["direction"], float(entry["rtol"]),
                                    float(entry["atol"]))
        except (KeyError, TypeError, ValueError) as error:
            raise BaselineError(f"baseline {path}: metric {name!r} needs numeric 'value', 'rtol', 'atol' and a "
                                f"'direction' ({error!r})") from None
        if metric.direction not in (LOWER, HIGHER):
            raise BaselineError(f"baseline {path}: metric {name!r} has direction {metric.direction!r}; "
                                f"expected {LOWER!r} or {HIGHER!r}")
        metrics[name] = metric
    return Baseline(suite=data["suite"], reference=data["reference"], accepted=data["accepted"],
                    probe_config=data["probe_config"], metrics=metrics,
                    codeguard_version=data.get("codeguard_version", ""), path=path)


def new_baseline(suite: str, reference: dict, accepted: dict, probe_config: dict, metrics: dict[str, float],
                 previous: Baseline | None, codeguard_version: str) -> Baseline:
    """Accepts a candidate: its gated metric values, keeping tolerances a reviewer tuned in the previous baseline."""
    entries = {}
    for name, value in sorted(metrics.items()):
        rule = rule_for(suite, name)
        if rule is None or not rule.baselined:
            continue  # reported (or checked against a built-in limit), not baselined
        kept = previous.metrics.get(name) if previous else None
        entries[name] = MetricBaseline(value, rule.direction, kept.rtol if kept else rule.rtol,
                                       kept.atol if kept else rule.atol)
    return Baseline(suite=suite, reference=reference, accepted=accepted, probe_config=probe_config,
                    metrics=entries, codeguard_version=codeguard_version)


def write_baseline(path: Path, baseline: Baseline) -> str:
    """Writes the baseline whole (sorted keys: a reviewer's diff shows only what moved); returns the previous text
    ('' if new) for the update summary."""
    path = Path(path)
    previous = path.read_text() if path.is_file() else ""
    write_json_atomically(path, baseline.to_json())
    baseline.path = path
    return previous
