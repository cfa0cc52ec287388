"""The study report's plots: variants side by side, per metric and per language, as inline SVG.

Built on the run report's helpers in `plots.py` (same figure style, SVG settings and colours).
"""
from __future__ import annotations

import math

import matplotlib
import numpy as np
from matplotlib.colors import LogNorm, TwoSlopeNorm

from codeguard.report.plots import _RC, FAIL_COLOR, OPT_COLOR, _figure, _label, to_svg

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
