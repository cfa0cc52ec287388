"""Standard errors of corpus means, clustered by file, and the smallest change two runs can tell apart.

Positions inside a file are strongly autocorrelated (a hard stretch of code makes many hard positions in a row),
so the per-position standard error llama.cpp prints (sd / √positions) treats 50 files as 60,000 independent draws
and understates the noise: on the zoo pair, corpus KLD's per-position SE is 2.4x smaller than the one over files.
The independent unit of a corpus is the file, so every mean a corpus probe gates is treated as a ratio of sums
over files,

    R = Σ_g a_g / Σ_g b_g        (a_g: the file's sum, e.g. of KLD; b_g: its count, e.g. of positions)

and its standard error is the linearised (delta-method) cluster estimate, the one survey statistics and Stata's
`vce(cluster)` use:

    SE(R)² = G / (G − 1) · Σ_g (a_g − R·b_g)² / (Σ_g b_g)²       (G files)

With files of equal size it is the textbook sd(file means) / √G. It needs only per-file sums, so its cost is
O(files) after one pass over the positions, it is deterministic (no resampling seed), and unlike a bootstrap it
does not degenerate on the 2-4 files a language of the shipped corpus has (a bootstrap over 2 files has 3
distinct resamples). With one file there is no spread between files to measure: the SE is unknown (NaN), never 0.
An SE from a handful of files is itself rough (with 3 files it can be off by 2x either way).
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

ALPHA = 0.05
FEW_FILES = 5  # below this many files an SE is itself rough, and the notes say so


def ratio_stderr(numerators, denominators) -> float:
    """Standard error of Σa/Σb where (a_g, b_g) are the sums of independent clusters (files); NaN when it is
    unknown (fewer than 2 clusters, or Σb = 0)."""
    a = np.asarray(numerators, dtype=np.float64)
    b = np.asarray(denominators, dtype=np.float64)
    assert a.shape == b.shape and a.ndim == 1, (a.shape, b.shape)
    clusters, total = a.size, b.sum()
    if clusters < 2 or total <= 0:
        return math.nan
    residuals = a - (a.sum() / total) * b
    return float(math.sqrt(clusters / (clusters - 1) * float(residuals @ residuals)) / total)


def detectable_change(stderr: float, alpha: float = ALPHA) -> float:
    """The smallest change of a metric that a one-sided z-test at level `alpha` calls significant when it compares
    two independent runs of equal standard error:

        z_(1−alpha) · √(SE² + SE²) = z_(1−alpha) · SE · √2        (1.645 · 1.414 = 2.33 SEs at alpha = 0.05)

    A baseline keeps no per-file values, so the two runs cannot be paired; this is the conservative, unpaired
    figure (on the same corpus the paired difference is less noisy). NaN when the SE is unknown."""
    return NormalDist().inv_cdf(1 - alpha) * stderr * math.sqrt(2)


def language_groups(files, counts: np.ndarray) -> dict[str, np.ndarray]:
    """File indexes per group: "" for the whole corpus, then each language that has a file with a count."""
    language = np.array([f.language for f in files])
    groups = {"": np.arange(len(files))}
    groups.update({str(lang): np.flatnonzero(language == lang) for lang in sorted(set(language[counts > 0]))})
    return groups


def clustered_means(sums: np.ndarray, counts: np.ndarray, groups: dict[str, np.ndarray]) -> dict[str, tuple]:
    """Per group (a language, or the whole corpus): (SE of Σsums/Σcounts, files) over the group's files that have
    at least one count. `groups` maps a name to the file indexes it holds."""
    out = {}
    for name, members in groups.items():
        members = members[counts[members] > 0]
        out[name] = (ratio_stderr(sums[members], counts[members]), int(members.size))
    return out


class FileClusteredErrors:
    """What a corpus result with standard errors over files offers the gate (mixed into its dataclass, which has
    `stderr`: metric -> SE for the metrics whose SE is known, and `stderr_files`: metric -> files, for every metric
    with an SE, known or not)."""

    more_data = "a larger corpus"  # what a re-run needs to shrink the noise (ProbeResult.more_data)
    unclustered: tuple[str, ...] = ()  # gate metrics with no SE at all, and why (notes)

    def uncertainty(self) -> dict[str, float]:
        """metric -> standard error over files (only the known ones: a 1-file metric is absent, never 0)."""
        return dict(self.stderr)

    def _uncertainty_json(self, data: dict) -> dict:
        """to_dict's form: `uncertainty` (metric -> SE) and `uncertainty_files` (metric -> files) keys."""
        data.pop("stderr", None)
        data.pop("stderr_files", None)
        data["uncertainty"] = dict(self.stderr)
        data["uncertainty_files"] = dict(self.stderr_files)
        return data

    def uncertainty_notes(self, values: dict[str, float]) -> list[str]:
        """One '± SE' line per overall metric, one line for the per-language ones, and which have no SE."""
        overall = [name for name in self.stderr if "." not in name]
        notes = [stderr_note(name, values[name], self.stderr[name], self.stderr_files[name]) for name in overall]
        per_language = [name for name in self.stderr if "." in name]
        if per_language:
            files = sorted({self.stderr_files[name] for name in per_language})
            span = f"{files[0]}" if len(files) == 1 else f"{files[0]}-{files[-1]}"
            rough = "; with so few files each SE is itself rough" if files[0] < FEW_FILES else ""
            notes.append(f"per-language SEs (the ± column) are over {span} files per language{rough}")
        unknown = sorted(name for name in self.stderr_files if name not in self.stderr)
        if unknown:
            notes.append("SE unknown (it needs 2 files or more with something to count; one file has no spread "
                         "between files to measure), so no noise check: "
                         + ", ".join(f"{name} ({self.stderr_files[name]} file{'s' * (self.stderr_files[name] != 1)})"
                                     for name in unknown))
        notes += list(self.unclustered)
        return notes


def stderr_note(metric: str, value: float, stderr: float, files: int) -> str:
    """'kld_mean 0.002063 ± 3.703e-05 (SE over 50 files); smallest change two runs can tell apart: 8.614e-05'."""
    rough = " (few files: the SE itself is rough)" if files < FEW_FILES else ""
    return (f"{metric} {value:.4g} ± {stderr:.4g} (SE over {files} files{rough}); smallest change two runs can "
            f"tell apart (one-sided, alpha {ALPHA:g}): {detectable_change(stderr):.4g}")
