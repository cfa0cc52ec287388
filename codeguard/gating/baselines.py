"""The baseline store: the only module that reads and writes `baselines/<ref-slug>/<suite>[.<slot>].json`.

A baseline is the record of the optimized model last accepted for a reference: its metrics with per-metric
direction and tolerance, the reference's fingerprint (a different reference is an error, not a regression),
the accepted candidate (for the record) and the probe config that defines the measurement.
"""
from __future__ import annotations

import hashlib
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
    not_gated: dict[str, str] = field(default_factory=dict)  # metric -> why a reviewer switched it off
    # How `codeguard calibrate` derived the tolerances (gating/calibration.py): kept through updates, because the
    # tolerances it set are kept too; it names the candidate it measured, so a reader sees when that was.
    calibration: dict | None = None
    path: Path | None = field(default=None, compare=False)

    def to_json(self) -> dict:
        return {
            "schema_version": self.schema_version, "codeguard_version": self.codeguard_version, "suite": self.suite,
            "reference": self.reference, "accepted": self.accepted, "probe_config": self.probe_config,
            "metrics": {name: {"value": _round(m.value), "direction": m.direction, "rtol": m.rtol, "atol": m.atol}
                        for name, m in self.metrics.items()},
            **({"not_gated": dict(sorted(self.not_gated.items()))} if self.not_gated else {}),
            **({"calibration": self.calibration} if self.calibration is not None else {}),
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
    not_gated = data.get("not_gated", {})
    if not isinstance(not_gated, dict) or not all(isinstance(v, str) and v.strip() for v in not_gated.values()):
        raise BaselineError(f"baseline {path}: 'not_gated' must map each metric a reviewer switched off to the "
                            "reason, e.g. {\"pkp_rel_shift.sql\": \"SQL keywords are rare at cold start\"}")
    calibration = data.get("calibration")
    if calibration is not None and not isinstance(calibration, dict):
        raise BaselineError(f"baseline {path}: 'calibration' must be the object `codeguard calibrate` wrote (date, "
                            "runs, perturbations, margin, metrics); delete it to keep the tolerances without it")
    return Baseline(suite=data["suite"], reference=data["reference"], accepted=data["accepted"],
                    probe_config=data["probe_config"], metrics=metrics,
                    codeguard_version=data.get("codeguard_version", ""), path=path, not_gated=dict(not_gated),
                    calibration=calibration)


def new_baseline(suite: str, reference: dict, accepted: dict, probe_config: dict, metrics: dict[str, float],
                 previous: Baseline | None, codeguard_version: str) -> Baseline:
    """Accepts a candidate: its gated metric values, keeping tolerances a reviewer tuned (or calibration derived) in
    the previous baseline, and that calibration's record."""
    entries = {}
    for name, value in sorted(metrics.items()):
        rule = rule_for(suite, name)
        if rule is None or not rule.baselined or (previous and name in previous.not_gated):
            continue  # reported (or checked against a built-in limit, or switched off by a reviewer), not baselined
        kept = previous.metrics.get(name) if previous else None
        entries[name] = MetricBaseline(value, rule.direction, kept.rtol if kept else rule.rtol,
                                       kept.atol if kept else rule.atol)
    return Baseline(suite=suite, reference=reference, accepted=accepted, probe_config=probe_config,
                    metrics=entries, codeguard_version=codeguard_version,
                    not_gated=dict(previous.not_gated) if previous else {},
                    calibration=previous.calibration if previous else None)


def write_baseline(path: Path, baseline: Baseline) -> str:
    """Writes the baseline whole (sorted keys: a reviewer's diff shows only what moved); returns the previous text
    ('' if new) for the update summary."""
    path = Path(path)
    previous = path.read_text() if path.is_file() else ""
    write_json_atomically(path, baseline.to_json())
    baseline.path = path
    return previous


def reference_folder(spec, project: Path) -> str:
    """The baseline folder name of a reference spec, unique to that reference: `zoo-tiny-code`, `hf-org-name`; a
    local model by its path relative to the project (`models-ref`), or, outside the project, by its folder name
    and a short hash of its absolute path (two folders both named `model` never share baselines). Derivations of
    the reference are part of the name (`./m@fp16` is another reference than `./m`)."""
    if spec.scheme != "path":
        return spec.slug()
    path = Path(spec.location).expanduser().absolute()
    try:
        name = "-".join(path.relative_to(Path(project).absolute()).parts)
    except ValueError:
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
        name = f"{path.name}-{digest}"
    name = "-".join([name, *spec.derivations])
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-").lower() or "model"


def metric_changes(previous: Baseline | None, new: Baseline) -> str:
    """What an update changed, one line per metric (old -> new, added, removed), not a JSON diff: what a reviewer
    reads in the terminal and in the pull request."""
    if previous is None:
        return f"new baseline: {len(new.metrics)} metric(s) recorded"
    lines = []
    for name in sorted(set(previous.metrics) | set(new.metrics)):
        old, now = previous.metrics.get(name), new.metrics.get(name)
        if old is None:
            lines.append(f"+ {name}: {_round(now.value):g} (new)")
        elif now is None:
            lines.append(f"- {name}: {_round(old.value):g} (no longer gated)")
        elif _round(old.value) != _round(now.value) or (old.rtol, old.atol) != (now.rtol, now.atol):
            change = f"{_round(old.value):g} -> {_round(now.value):g}"
            if old.value:
                change += f" ({(now.value - old.value) / abs(old.value):+.1%})"
            lines.append(f"~ {name}: {change}")
    unchanged = len(new.metrics) - sum(1 for line in lines if not line.startswith("-"))
    accepted = new.accepted.get("spec", "?")
    was = previous.accepted.get("spec", "?")
    head = f"accepted {accepted}" + (f" (was {was})" if was != accepted else "")
    return "\n".join([head, *lines, f"{unchanged} metric(s) unchanged"])
