"""A session's driver waterfall as inline SVG: drawn by the browser, no image, no script.

SVG geometry and colours are attributes, not styles, so the page's Content-Security-Policy
needs nothing for it; every label is HTML-escaped like any other data string.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

__all__ = ["waterfall_svg"]

_ROW, _LABEL, _PLOT, _PAD = 22, 260, 520, 8
_RED, _BLUE, _GREY = "#c0392b", "#2e6da4", "#8a8a8a"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def waterfall_svg(base: float, drivers: pd.DataFrame, raw: float) -> str:
    """Base value, each driver's contribution, then all other features, ending at the raw score."""
    labels = ["base value", *map(str, drivers["feature"]), "all other features"]
    steps = drivers["contribution"].to_numpy(dtype=np.float64)
    rest = raw - base - float(steps.sum())
    # Level after the base, after each driver, after the rest (== raw); each bar spans two levels.
    levels = base + np.concatenate([[0.0], np.cumsum(np.append(steps, rest))])
    starts = np.concatenate([[0.0], levels[:-1]])
    ends = np.concatenate([[base], levels[1:]])
    low = float(min(0.0, starts.min(), ends.min()))
    high = float(max(0.0, starts.max(), ends.max()))
    scale = _PLOT / max(high - low, 1e-9)

    def x(value: float) -> float:
        return _LABEL + (value - low) * scale

    height = _ROW * (len(labels) + 1) + _PAD
    parts = [
        f'<svg class="waterfall" width="{_LABEL + _PLOT + 80}" '
        f'height="{height}" role="img" aria-label="driver waterfall">',
        f'<line x1="{x(0.0):.1f}" y1="0" x2="{x(0.0):.1f}" y2="{height - _ROW:.0f}" stroke="#999" />',
        f'<line x1="{x(raw):.1f}" y1="0" x2="{x(raw):.1f}" y2="{height - _ROW:.0f}" stroke="#333" '
        'stroke-dasharray="3,3" />',
    ]
    for i, (label, start, end) in enumerate(zip(labels, starts, ends, strict=True)):
        top = _PAD + i * _ROW
        colour = _GREY if i == 0 else (_RED if end > start else _BLUE)
        left, width = x(min(start, end)), max(abs(end - start) * scale, 1.0)
        change = end if i == 0 else end - start
        parts += [
            f'<text x="{_LABEL - 6}" y="{top + 15}" text-anchor="end" font-size="12">{_e(label)}</text>',
            f'<rect x="{left:.1f}" y="{top + 3}" width="{width:.1f}" height="{_ROW - 6}" fill="{colour}" />',
            f'<text x="{x(max(start, end)) + 4:.1f}" y="{top + 15}" font-size="11">{change:+.2f}</text>',
        ]
    parts.append(
        f'<text x="{_LABEL}" y="{height - 6}" font-size="11">log-odds; the dashed line is the raw score '
        f"{raw:+.2f}</text></svg>"
    )
    return "".join(parts)
