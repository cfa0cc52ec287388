"""What every probe result shares: the models it compared, its JSON form and the metrics a gate reads."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass
class ModelInfo:
    spec: str
    fingerprint: str
    backend: str
    approximate: bool = False  # its distributions are approximations (a served model's top-k log-probabilities)
    tail_sampled: bool = False  # approximated by top tokens and draws from the rest (a top-K reference cache)

    @classmethod
    def of(cls, model) -> "ModelInfo":
        return cls(model.spec, model.fingerprint, model.backend, not getattr(model, "exact_distributions", True))


class ProbeResult:
    """What every probe result offers a gate and a report (result dataclasses with `probe`, `metrics`, `start_ids`
    and `start_source` mix it in; each method has a default a probe overrides when it has more to say)."""

    probe: str
    needs_exact_distributions = True  # its metrics come from next-token distributions (False: from samples only)
    # Gate metrics (before any ".language" suffix) that read only the actual token's log-probability and the top-1
    # token, which an approximate source (a served model's echoed prompt log-probabilities) gives exactly.
    exact_from_top_k: frozenset[str] = frozenset()
    # Gate metrics that are unbiased, their sampling noise inside their standard error, when the approximate model
    # keeps draws from the rest of its distribution (a top-K reference cache, probes/reference_cache/reductions.py).
    unbiased_from_tail_samples: frozenset[str] = frozenset()
    # Probe-config keys a baseline records (to reproduce a run) but does not require to match: a sampling probe's
    # seed is a nuisance, and its verdict must hold for any seed, not only for the one the baseline was taken with.
    nuisance_config: frozenset[str] = frozenset()
    # probe_config keys added after baselines were accepted, with the value those baselines were measured with
    probe_config_defaults: dict = {}
    more_data = "more data"  # what a re-run needs to shrink the noise ("a larger corpus"), for within-noise notes

    @property
    def suite(self) -> str:
        """The suite that gates this result by default: the probe's name with underscores (`cold-start` ->
        `cold_start`), the name of its suite file and of its baseline file."""
        return self.probe.replace("-", "_")

    def built_in_limits(self) -> dict[str, float]:
        """Absolute limits the probe itself sets (e.g. a significance test); user limits override them."""
        return {}

    def gate_notes(self) -> list[str]:
        """Lines a reader of the verdict needs (paired statistics, what was searched)."""
        return []

    def uncertainty(self) -> dict[str, float]:
        """Standard error of each gate metric that has one (metric -> SE, in the metric's units). The gate uses it
        to mark checks within noise of their limit and tolerances below the noise; a metric absent here gets no
        noise check (an unknown SE is absent, never 0)."""
        return {}

    def warnings(self) -> list[str]:
        """Things the run should warn about without failing (e.g. a sample too small to detect a drop)."""
        return []

    def approximate_models(self) -> list[ModelInfo]:
        """The compared models whose distributions are approximate, when this probe's metrics read them."""
        if not self.needs_exact_distributions:
            return []
        return [info for info in (self.ref, self.opt) if getattr(info, "approximate", False)]

    def approximate_metrics(self) -> list[str]:
        """The gate metrics whose values rest on the approximate part of a compared model's distributions."""
        models = self.approximate_models()
        if not models:
            return []
        exact = set(self.exact_from_top_k)
        if all(info.tail_sampled for info in models):
            exact |= self.unbiased_from_tail_samples
        return sorted(name for name in self.gate_metrics() if name.split(".")[0] not in exact)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["probe"] = self.probe
        data["uncertainty"] = dict(self.uncertainty())
        return data

    def gate_metrics(self) -> dict[str, float]:
        """The flat metrics a gate checks (probes with per-language detail override this)."""
        return self.metrics

    def probe_config(self) -> dict:
        """What makes two measurements comparable (stored in baselines and checked against them)."""
        return {"probe": self.probe, "start_ids": list(self.start_ids), "start_source": self.start_source}


def with_overrides(config, **overrides):
    """`config` with the given fields replaced, None values ignored (an unset option keeps the default). Fields
    the config lists in `sequence_fields` become tuples (a bare string is one item), so configs stay hashable
    keys of the run's result cache."""
    for name in getattr(config, "sequence_fields", ()):
        if isinstance(overrides.get(name), str):
            overrides[name] = (overrides[name],)
        if overrides.get(name) is not None:
            overrides[name] = tuple(overrides[name])
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})

