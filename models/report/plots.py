"""The report's figures as PNG data URIs (nothing fetched, nothing written beside the page).

Our own figures are drawn on matplotlib's Agg canvas directly (no pyplot); the SHAP beeswarm
and dependence plots use the `shap` package's plotting, which needs pyplot, so those switch
pyplot to Agg first and close every figure they open. Text from data (touchpoint and feature
names) is drawn as pixels, with `$` escaped so matplotlib never reads it as math.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from models.artifact import BASE_VALUE, FrictionModel
from models.report.journey import Journey

__all__ = ["beeswarm", "data_uri", "dependence", "impact_bars", "journey_map", "trend"]

_DPI = 100
_RED, _BLUE, _GREY = "#c0392b", "#2e6da4", "#8a8a8a"


def _text(value: object) -> str:
    return str(value).replace("$", r"\$")


def data_uri(figure: Figure) -> str:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def impact_bars(moments: pd.DataFrame) -> str:
    """Dissatisfied sessions avoided per touchpoint fixed, with their 95 % interval."""
    shown = moments.iloc[::-1]
    figure = Figure(figsize=(7, 0.35 * len(shown) + 1.2))
    ax = figure.add_subplot()
    avoided = shown["avoided"].to_numpy(dtype=float)
    low = shown["avoided_low"].to_numpy(dtype=float, na_value=float("nan"))
    high = shown["avoided_high"].to_numpy(dtype=float, na_value=float("nan"))
    errors = np.vstack([np.clip(avoided - low, 0, None), np.clip(high - avoided, 0, None)])
    ax.barh(
        [_text(t) for t in shown["touchpoint"]],
        avoided,
        color=_RED,
        xerr=np.nan_to_num(errors),
        ecolor=_GREY,
        capsize=2,
    )
    ax.set(
        xlabel="dissatisfied sessions avoided if its friction were fixed (95 % interval)",
        title="Moments of truth: the fix list",
    )
    return data_uri(figure)


def trend(daily: pd.DataFrame, touchpoints: Sequence[str]) -> str:
    """Mean contribution per day of the given touchpoints; flagged days ringed in red."""
    figure = Figure(figsize=(9, 4.2))
    ax = figure.add_subplot()
    for touchpoint in touchpoints:
        rows = daily[daily["touchpoint"] == touchpoint]
        ax.plot(rows["day"], rows["mean_contribution"], marker=".", linewidth=1.2, label=_text(touchpoint))
        hit = rows[rows["flagged"]]
        ax.scatter(
            hit["day"], hit["mean_contribution"], s=120, facecolors="none", edgecolors=_RED, linewidths=2
        )
    ax.axhline(0, color=_GREY, linewidth=0.8)
    ax.set(
        ylabel="mean contribution (log-odds)",
        title="Contribution per touchpoint per day (flagged days ringed)",
    )
    ax.legend(loc="upper left", fontsize=8, ncols=2)
    figure.autofmt_xdate()
    return data_uri(figure)


def journey_map(journey: Journey, funnel: Sequence[str]) -> str:
    """Funnel touchpoints left to right, the others below; arrows as wide as their traffic,
    each touchpoint coloured by its mean contribution (red hurts, blue helps)."""
    nodes = journey.nodes.set_index("touchpoint")
    position: dict[str, tuple[float, float]] = {}
    on_funnel = [t for t in funnel if t in nodes.index]
    for i, touchpoint in enumerate(on_funnel):
        position[touchpoint] = (float(i), 1.0)
    others = [t for t in nodes.index if t not in position]
    for i, touchpoint in enumerate(others):
        position[str(touchpoint)] = (i * max(len(on_funnel) - 1, 1) / max(len(others) - 1, 1), 0.0)
    figure = Figure(figsize=(max(8.0, 1.1 * len(on_funnel) + 2), 4.2))
    ax = figure.add_subplot()
    weights = journey.edges["sessions"].to_numpy(dtype=np.float64)
    top = weights.max() if len(weights) and weights.max() > 0 else 1.0
    for edge, weight in zip(journey.edges.itertuples(index=False), weights, strict=True):
        if edge.source not in position or edge.target not in position:
            continue
        (x0, y0), (x1, y1) = position[str(edge.source)], position[str(edge.target)]
        bend = 0.25 if x1 < x0 or y0 == y1 == 0.0 else 0.1
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={
                "arrowstyle": "-|>",
                "color": "#555555",
                "alpha": 0.5,
                "linewidth": 0.5 + 5.0 * weight / top,
                "connectionstyle": f"arc3,rad={bend}",
                "shrinkA": 16,
                "shrinkB": 16,
            },
        )
    values = nodes["mean_contribution"].to_numpy(dtype=np.float64)
    limit = max(float(np.abs(values).max()) if len(values) else 0.0, 1e-6)
    norm = TwoSlopeNorm(vmin=-limit, vcenter=0.0, vmax=limit)
    xs = [position[str(t)][0] for t in nodes.index]
    ys = [position[str(t)][1] for t in nodes.index]
    sizes = 300 + 1500 * nodes["sessions"].to_numpy(dtype=np.float64) / max(
        float(nodes["sessions"].max()), 1.0
    )
    points = ax.scatter(xs, ys, s=sizes, c=values, cmap="RdBu_r", norm=norm, edgecolors="#333333", zorder=3)
    for touchpoint, x, y in zip(nodes.index, xs, ys, strict=True):
        ax.annotate(
            _text(touchpoint), (x, y), xytext=(0, -24), textcoords="offset points", ha="center", fontsize=9
        )
    figure.colorbar(points, ax=ax, label="mean contribution of a visit (log-odds)")
    ax.set_ylim(-0.6, 1.5)
    ax.set_axis_off()
    return data_uri(figure)


def _shap() -> Any:
    with warnings.catch_warnings():
        # shap 0.51 calls matplotlib's soon-deprecated `Colormap.set_bad` when imported.
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import shap
    return shap


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def shap_explanation(model: FrictionModel, sample: pd.DataFrame, contributions: pd.DataFrame) -> Any:
    """The same TreeSHAP values as `model.contributions` in shap's container (codes for categoricals)."""
    names = model.manifest.names
    return _shap().Explanation(
        values=contributions[names].to_numpy(dtype=np.float64),
        base_values=contributions[BASE_VALUE].to_numpy(dtype=np.float64),
        data=model.manifest.matrix(sample, strict=False),
        feature_names=[_text(n) for n in names],
    )


def _pyplot_uri(draw: Any) -> str:
    plt = _pyplot()
    figure = plt.figure()
    try:
        with warnings.catch_warnings():
            # shap's plotting hits matplotlib deprecations of the same kind as its import.
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            draw(figure.add_subplot())
            return data_uri(figure)
    finally:
        plt.close(figure)


def beeswarm(explanation: Any, top: int) -> str:
    shap = _shap()

    def draw(ax: Any) -> None:
        shap.plots.beeswarm(explanation, max_display=top, show=False, ax=ax, plot_size=None)
        ax.figure.set_size_inches(8, 0.4 * top + 1.5)

    return _pyplot_uri(draw)


def dependence(explanation: Any, feature: str) -> str:
    shap = _shap()

    def draw(ax: Any) -> None:
        ax.figure.set_size_inches(5.5, 4)
        shap.plots.scatter(explanation[:, _text(feature)], show=False, ax=ax, ylabel="SHAP value (log-odds)")

    return _pyplot_uri(draw)
