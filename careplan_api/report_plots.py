"""Plots of the reports, rendered on the server as SVG with matplotlib (Agg/SVG canvas, no pyplot
state, no images of people: only numbers).

Colours have at least 4.5:1 contrast against white, and the two series differ by shape too (bars
and a line with markers), so the chart does not rely on colour (WCAG 2.1 1.4.1, 1.4.11). Every
plot is shown in a `<figure>` with a caption and a table of the same numbers.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from matplotlib import rc_context
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from matplotlib.typing import RcKeyType

from careplan_api.i18n import Lang, number, texts
from careplan_api.reports import WeekPoint

BAR_COLOUR = "#1f4e79"  # 8.7:1 on white
LINE_COLOUR = "#8a3b00"  # 7.8:1 on white
TEXT_COLOUR = "#1a1a1a"
_RC: dict[RcKeyType, Any] = {
    "svg.hashsalt": "bidvis",  # stable ids: the same numbers give the same SVG
    "svg.fonttype": "none",  # text stays text (selectable, read by screen readers, scales)
    "font.size": 11,
    "text.color": TEXT_COLOUR,
    "axes.labelcolor": TEXT_COLOUR,
    "xtick.color": TEXT_COLOUR,
    "ytick.color": TEXT_COLOUR,
    "axes.edgecolor": TEXT_COLOUR,
}


def _number_axis(axis: Any, lang: Lang) -> None:
    """Tick labels with the language's decimal mark (`2,5` in Danish)."""
    axis.set_major_formatter(FuncFormatter(lambda value, _position: number(float(value), lang, _decimals(axis))))


def _decimals(axis: Any) -> int:
    ticks = [t for t in axis.get_majorticklocs() if abs(t) < 1e9]
    return 0 if all(float(t).is_integer() for t in ticks) else 1


def _svg(fig: Figure, title: str, description: str) -> str:
    FigureCanvasSVG(fig)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Title": title, "Description": description})
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]  # drop the XML prolog and DOCTYPE so the SVG can be inlined in HTML


def trend_svg(points: Sequence[WeekPoint], lang: Lang) -> str:
    """Bites taken per meal (bars) and pace (line) per week, as an SVG document."""
    t = texts(lang)
    labels = [f"{p.week}" for p in points]
    with rc_context(_RC):
        fig = Figure(figsize=(8.0, 3.6), dpi=96, layout="constrained")
        ax = fig.add_subplot()
        xs = list(range(len(points)))
        ax.bar(xs, [p.mean_bites_taken or 0.0 for p in points], color=BAR_COLOUR, label=t["mean_bites"])
        ax.set_ylabel(t["mean_bites"])
        ax.set_xlabel(t["week"])
        ax.set_xticks(xs, labels)
        if len(points) > 26:
            for index, tick in enumerate(ax.get_xticklabels()):
                tick.set_visible(index % 4 == 0)
        pace_ax = ax.twinx()
        pace_xs = [x for x, p in zip(xs, points, strict=True) if p.mean_pace_bites_per_min is not None]
        pace_ys = [p.mean_pace_bites_per_min for p in points if p.mean_pace_bites_per_min is not None]
        pace_ax.plot(pace_xs, pace_ys, color=LINE_COLOUR, marker="o", linewidth=2.0, label=t["mean_pace"])
        pace_ax.set_ylabel(t["pace"])
        pace_ax.set_ylim(bottom=0)
        _number_axis(ax.yaxis, lang)
        _number_axis(pace_ax.yaxis, lang)
        handles = ax.get_legend_handles_labels()[0] + pace_ax.get_legend_handles_labels()[0]
        fig.legend(handles, [str(h.get_label()) for h in handles], loc="outside upper center", ncols=2, frameon=False)
        first = f"{points[0].week}/{points[0].year}" if points else ""
        last = f"{points[-1].week}/{points[-1].year}" if points else ""
        return _svg(fig, t["trend_title"], t["trend_alt"].format(first=first, last=last))


def _plain(label: str) -> str:
    """A label drawn as written: `$` would otherwise start matplotlib math text."""
    return label.replace("$", r"\$")


def bar_svg(
    labels: Sequence[str], values: Sequence[float], lang: Lang, *, ylabel: str, title: str, description: str
) -> str:
    """A plain bar chart (the dashboard's groups) as an SVG document."""
    with rc_context(_RC):
        fig = Figure(figsize=(8.0, 3.2), dpi=96, layout="constrained")
        ax = fig.add_subplot()
        if labels:
            ax.bar(range(len(labels)), values, color=BAR_COLOUR)
            ax.set_xticks(range(len(labels)), [_plain(label) for label in labels])
        else:
            ax.text(0.5, 0.5, texts(lang)["chart_empty"], ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
        ax.set_ylabel(ylabel)
        _number_axis(ax.yaxis, lang)
        return _svg(fig, title, description)
