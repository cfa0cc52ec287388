"""What every probe result shares: the models it compared, its JSON form and the metrics a gate reads."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class ModelInfo:
    spec: str
    fingerprint: str
    backend: str
    approximate: bool = False  # its distributions are approximations (a served model's top-k log-probabilities)

    @classmethod
    def of(cls, model) -> "ModelInfo":
        return cls(model.spec, model.fingerprint, model.backend, not getattr(model, "exact_distributions", True))


class ProbeResult:
    """Mixin for result dataclasses with `probe`, `metrics`, `start_ids` and `start_source`."""

    probe: str
    needs_exact_distributions = True  # its metrics come from next-token distributions (False: from samples only)
    # Gate metrics (before any ".language" suffix) that read only the actual token's log-probability and the top-1
    # token, which an approximate source (a served model's echoed prompt log-probabilities) gives exactly.
    exact_from_top_k: frozenset[str] = frozenset()

    def approximate_models(self) -> list[ModelInfo]:
        """The compared models whose distributions are approximate, when this probe's metrics read them."""
        if not self.needs_exact_distributions:
            return []
        return [info for info in (self.ref, self.opt) if getattr(info, "approximate", False)]

    def approximate_metrics(self) -> list[str]:
        """The gate metrics whose values rest on the approximate part of a compared model's distributions."""
        if not self.approximate_models():
            return []
        return sorted(name for name in self.gate_metrics() if name.split(".")[0] not in self.exact_from_top_k)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["probe"] = self.probe
        return data

    def gate_metrics(self) -> dict[str, float]:
        """The flat metrics a gate checks (probes with per-language detail override this)."""
        return self.metrics

    def probe_config(self) -> dict:
        """What makes two measurements comparable (stored in baselines and checked against them)."""
        return {"probe": self.probe, "start_ids": list(self.start_ids), "start_source": self.start_source}
