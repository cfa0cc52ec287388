"""The report's plots, drawn with matplotlib (no pyplot, no display) and returned as inline SVG text.

Text stays text in the SVG (svg.fonttype 'none'): plots are small and their labels searchable. Labels pass
through `_label`, because matplotlib reads '$' as the start of math.

The study report's plots: variants side by side, per metric and per language, as inline SVG.

Built on the run report's helpers in `plots.py` (same figure style, SVG settings and colours).
"""
from __future__ import annotations

import io
import math
import re

import matplotlib
import numpy as np
from matplotlib.colors import LogNorm, TwoSlopeNorm
from matplotlib.figure import Figure

from codeguard.report.formatting import token_text

REF_COLOR, OPT_COLOR, FAIL_COLOR, STEP_COLOR = "#4c72b0", "#dd8452", "#c44e52", "#8172b2"
_RC = {"svg.fonttype": "none", "svg.hashsalt": "codeguard", "font.size": 9, "axes.spines.top": False,
       "axes.spines.right": False}


def _label(text: str) -> str:
    return str(text).replace("$", r"\$")


def to_svg(figure: Figure) -> str:
    """The figure as an <svg> element (no XML prolog), ready to inline in HTML."""
    buffer = io.StringIO()
    with matplotlib.rc_context(_RC):
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    svg = buffer.getvalue()
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)  # creator and date: noise in a report
    return svg[svg.index("<svg"):]


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(_RC):
        return Figure(figsize=(width, height), layout="constrained")


def top_tokens(ref: list[dict], opt: list[dict], n: int = 15) -> str:
    """Horizontal bars of the first-token probabilities of both models, over ref's top n plus opt's."""
    with matplotlib.rc_context(_RC):
        opt_prob = {t["token"]: t["prob"] for t in opt}
        ref_prob = {t["token"]: t["prob"] for t in ref}
        tokens = [t["token"] for t in ref[:n]]
        tokens += [t["token"] for t in opt[:n] if t["token"] not in tokens][:5]
        figure = _figure(6.5, 0.22 * len(tokens) + 0.9)
        axes = figure.subplots()
        y = range(len(tokens))
        axes.barh([i - 0.2 for i in y], [ref_prob.get(t, 0.0) for t in tokens], height=0.4, color=REF_COLOR,
                  label="ref")
        axes.barh([i + 0.2 for i in y], [opt_prob.get(t, 0.0) for t in tokens], height=0.4, color=OPT_COLOR,
                  label="opt")
        axes.set_yticks(list(y), [_label(token_text(t)) for t in tokens])
        axes.invert_yaxis()
        axes.set_xlabel("probability of the first token")
        axes.legend(loc="lower right")
        return to_svg(figure)


def keyword_mass(aggregates: dict) -> str:
    """Per-language keyword mass (PKP) and mean per keyword (KAP), ref vs opt, plus overall PKP/STP/NLP."""
    with matplotlib.rc_context(_RC):
        ref, opt = aggregates["ref"], aggregates["opt"]
        languages = list(ref["languages"])
        figure = _figure(8, 5.2)
        top, middle, bottom = figure.subplots(3, 1, height_ratios=[2, 2, 1.4])
        x = range(len(languages))
        for axes, key, title in ((top, "pkp", "PKP: keyword probability mass"),
                                 (middle, "kap", "KAP: mean probability per keyword")):
            axes.bar([i - 0.2 for i in x], [ref["languages"][l][key] for l in languages], width=0.4,
                     color=REF_COLOR, label="ref")
            axes.bar([i + 0.2 for i in x], [opt["languages"][l][key] for l in languages], width=0.4,
                     color=OPT_COLOR, label="opt")
            axes.set_xticks(list(x), languages, rotation=45, ha="right")
            axes.set_title(title, loc="left")
        top.legend()
        names = ["pkp", "stp", "nlp"]
        bottom.barh([i - 0.2 for i in range(3)], [ref["overall"][n] for n in names], height=0.4, color=REF_COLOR)
        bottom.barh([i + 0.2 for i in range(3)], [opt["overall"][n] for n in names], height=0.4, color=OPT_COLOR)
        bottom.set_yticks(range(3), ["PKP (all)", "STP", "NLP"])
        bottom.invert_yaxis()
        bottom.set_xlabel("probability mass of the first token")
        return to_svg(figure)


KLD_QUANTILES = (("median", 50.0, "kld_median"), ("p90", 90.0, "kld_p90"), ("p95", 95.0, "kld_p95"),
                 ("p99", 99.0, "kld_p99"), ("p99.9", 99.9, "kld_p999"), ("max", 100.0, "kld_max"))


def kld_distribution(metrics: dict, per_language: dict, uncertainty: dict | None = None) -> str:
    """The per-position KLD distribution as its stored quantiles, overall and per language (log scale), and
    each language's mean with its standard error (over files from `uncertainty`; per position when it has none)."""
    with matplotlib.rc_context(_RC):
        figure = _figure(8, 3.4)
        left, right = figure.subplots(1, 2, width_ratios=[3, 2])
        ticks = list(range(len(KLD_QUANTILES)))

        def quantiles(stats):
            return [max(stats[key], 1e-12) for _, _, key in KLD_QUANTILES]
        for lang, stats in per_language.items():
            left.plot(ticks, quantiles(stats), color="#bbbbbb", linewidth=0.8)
        left.plot(ticks, quantiles(metrics), color=REF_COLOR, linewidth=2, marker="o", label="all positions")
        left.plot([], [], color="#bbbbbb", label="one language")
        left.set_xticks(ticks, [name for name, _, _ in KLD_QUANTILES])
        left.set_yscale("log")
        left.set_ylabel("KL(ref‖opt) per position, nats")
        left.set_title("KLD quantiles", loc="left")
        left.legend()
        languages = list(per_language)
        means = [per_language[l]["kld_mean"] for l in languages]
        errors = [(uncertainty or {}).get(f"kld_mean.{l}", per_language[l].get("kld_stderr", 0.0)) for l in languages]
        right.barh(range(len(languages)), means, xerr=errors, color=REF_COLOR)
        right.axvline(metrics["kld_mean"], color=OPT_COLOR, linestyle="--", label="all")
        right.set_yticks(range(len(languages)), languages)
        right.invert_yaxis()
        right.set_xlabel("mean KLD, nats (± s.e.)")
        right.legend()
        return to_svg(figure)


MIN_OCCURRENCES = 3


def keyword_shift(per_language: dict, n: int = 15) -> str:
    """Mean |Δ log p| of keywords per language, and the keywords that moved most (language:keyword)."""
    with matplotlib.rc_context(_RC):
        moved = sorted(((f"{lang}:{m['keyword']}", m["mean_abs_dlogp"], m["count"])
                        for lang, s in per_language.items() for m in s["most_moved"]), key=lambda r: -r[1])
        repeated = [r for r in moved if r[2] >= MIN_OCCURRENCES]  # one occurrence is an anecdote, not a shift
        moved = (repeated if len(repeated) >= 5 else moved)[:n]
        figure = _figure(8, max(2.8, 0.2 * len(moved) + 0.8))
        left, right = figure.subplots(1, 2)
        languages = list(per_language)
        left.barh(range(len(languages)), [per_language[l]["mean_abs_dlogp"] for l in languages], color=REF_COLOR,
                  label="mean")
        left.plot([per_language[l]["max_abs_dlogp"] for l in languages], range(len(languages)), "|",
                  color=FAIL_COLOR, markersize=8, label="max")
        left.set_yticks(range(len(languages)), languages)
        left.invert_yaxis()
        left.set_xlabel("|Δ log p| of keywords in code, nats")
        left.legend()
        right.barh(range(len(moved)), [r[1] for r in moved], color=OPT_COLOR)
        right.set_yticks(range(len(moved)), [_label(f"{r[0]} ({r[2]})") for r in moved])
        right.invert_yaxis()
        right.set_xlabel("mean |Δ log p| (occurrences)")
        right.set_title("moved most", loc="left")
        return to_svg(figure)


def pass_at_k(comparisons: dict) -> str:
    """pass@k of ref and opt for each k, and opt − ref with its bootstrap confidence interval."""
    with matplotlib.rc_context(_RC):
        ks = list(comparisons)
        figure = _figure(7, 2.8)
        left, right = figure.subplots(1, 2)
        x = range(len(ks))
        left.bar([i - 0.2 for i in x], [comparisons[k]["ref_pass_at_k"] for k in ks], width=0.4, color=REF_COLOR,
                 label="ref")
        left.bar([i + 0.2 for i in x], [comparisons[k]["opt_pass_at_k"] for k in ks], width=0.4, color=OPT_COLOR,
                 label="opt")
        left.set_xticks(list(x), [f"pass@{k}" for k in ks])
        left.set_ylim(0, 1)
        left.legend()
        deltas = [comparisons[k]["delta"] for k in ks]
        low = [d - comparisons[k]["ci_low"] for d, k in zip(deltas, ks)]
        high = [comparisons[k]["ci_high"] - d for d, k in zip(deltas, ks)]
        colors = [FAIL_COLOR if comparisons[k]["ci_high"] < 0 else REF_COLOR for k in ks]
        right.axhline(0, color="#888888", linewidth=0.8)
        for i, (d, lo, hi, color) in enumerate(zip(deltas, low, high, colors)):
            right.errorbar([i], [d], yerr=[[max(lo, 0)], [max(hi, 0)]], fmt="o", color=color, capsize=4)
        right.set_xticks(list(x), [f"k={k}" for k in ks])
        right.set_ylabel("opt − ref (CI)")
        right.set_title("Δ pass@k", loc="left")
        return to_svg(figure)


def trend(times: list[str], values: list[float], failed: list[bool], steps: list[bool], title: str,
          limits: list[float | None] | None = None) -> str:
    """One metric over runs: failed gates as red crosses, step changes as purple triangles, limits dashed."""
    with matplotlib.rc_context(_RC):
        figure = _figure(4.6, 1.9)
        axes = figure.subplots()
        x = list(range(len(values)))
        finite = [v if v is not None and math.isfinite(v) else float("nan") for v in values]
        axes.plot(x, finite, color=REF_COLOR, marker=".", linewidth=1)
        if limits and any(l is not None for l in limits):
            axes.plot(x, [l if l is not None else float("nan") for l in limits], color="#999999", linestyle="--",
                      linewidth=0.8, label="limit")
        bad = [i for i in x if failed[i]]
        axes.plot(bad, [finite[i] for i in bad], "x", color=FAIL_COLOR, markersize=8, label="gate failed")
        jumped = [i for i in x if steps[i]]
        axes.plot(jumped, [finite[i] for i in jumped], "^", color=STEP_COLOR, markersize=7, fillstyle="none",
                  label="step change")
        shown = sorted(set([0, len(x) - 1] + x[:: max(1, len(x) // 4)])) if x else []
        axes.set_xticks(shown, [_label(re.sub(r"T(\d\d:\d\d).*", r" \1", times[i])) for i in shown], rotation=20,
                        ha="right")
        axes.set_title(_label(title), loc="left")
        if bad or jumped:
            axes.legend(fontsize=7)
        return to_svg(figure)


ANNOTATED_CELLS = 400  # heatmaps up to this size print each value in its cell
LABEL_CHARS = 26       # longer model labels (paths) keep their end, so the plot keeps its room


def _short(label: str) -> str:
    return _label(label if len(label) <= LABEL_CHARS else "…" + label[-(LABEL_CHARS - 1):])


def variant_metrics(labels: list[str], panels: list[tuple[str, list[float | None]]]) -> str:
    """One horizontal bar panel per metric, a bar per variant, log scale (the zoo spans eight decades);
    a variant without the metric is marked n/a."""
    with matplotlib.rc_context(_RC):
        columns = min(3, len(panels))
        rows = math.ceil(len(panels) / columns)
        figure = _figure(3.2 * columns, (0.22 * len(labels) + 1.0) * rows)
        grid = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
        y = list(range(len(labels)))
        for axes, (title, values) in zip(grid, panels):
            positive = [v for v in values if v is not None and math.isfinite(v) and v > 0]
            floor = min(positive) / 10 if positive else 1e-12
            shown = [max(v, floor) if v is not None and math.isfinite(v) else 0 for v in values]
            axes.barh(y, shown, color=[OPT_COLOR if v is not None else "#cccccc" for v in values], left=0)
            for i, value in enumerate(values):
                if value is None:
                    axes.text(floor, i, " n/a", va="center", fontsize=7, color="#666666")
                elif not math.isfinite(value):
                    axes.text(floor, i, f" {value}", va="center", fontsize=7, color=FAIL_COLOR)
            if positive:
                axes.set_xscale("log")
                axes.set_xlim(floor, max(positive) * 3)
            axes.set_yticks(y, [_short(label) for label in labels])
            axes.invert_yaxis()
            axes.set_title(_label(title), loc="left")
        for axes in grid[len(panels):]:
            axes.set_visible(False)
        return to_svg(figure)


def language_heatmap(languages: list[str], labels: list[str], matrix: list[list[float | None]], colorbar: str,
                     diverging: bool) -> str:
    """Variants (columns) × languages (rows); `diverging` centres a red/blue scale on zero, else a log scale.
    Missing cells stay blank."""
    with matplotlib.rc_context(_RC):
        values = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float).T
        figure = _figure(2.6 + 0.8 * len(labels), max(2.2, 1.2 + 0.26 * len(languages)))
        axes = figure.subplots()
        finite = values[np.isfinite(values)]
        if diverging:
            reach = float(np.abs(finite).max()) if finite.size and np.abs(finite).max() > 0 else 1.0
            norm, cmap = TwoSlopeNorm(0.0, -reach, reach), "RdBu_r"
        else:
            positive = finite[finite > 0]
            low, high = (float(positive.min()), float(positive.max())) if positive.size else (1e-12, 1.0)
            norm, cmap = LogNorm(low, max(high, low * 10)), "magma_r"
            values = np.where(values > 0, values, np.nan)
        image = axes.imshow(np.ma.masked_invalid(values), aspect="auto", cmap=cmap, norm=norm)
        axes.set_xticks(range(len(labels)), [_short(label) for label in labels], rotation=30, ha="right")
        axes.set_yticks(range(len(languages)), languages)
        if values.size <= ANNOTATED_CELLS:
            for (row, column), value in np.ndenumerate(values):
                if math.isfinite(value):
                    axes.text(column, row, f"{value:.2g}", ha="center", va="center", fontsize=6.5,
                              color="black" if _light(image.cmap(image.norm(value))) else "white")
        figure.colorbar(image, ax=axes, shrink=0.9).set_label(_label(colorbar), fontsize=7)
        return to_svg(figure)


def _light(rgba) -> bool:
    r, g, b = rgba[:3]
    return 0.299 * r + 0.587 * g + 0.114 * b > 0.5
