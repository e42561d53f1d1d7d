"""Chart geometry for server-rendered SVG: columns, bars and a step line, in a fixed viewBox.

The templates draw what these return; no script runs in the browser.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..stats import COUNT_STEPS, axis_ticks

WIDTH, HEIGHT = 640.0, 220.0
LEFT, RIGHT, TOP, BOTTOM = 56.0, 12.0, 12.0, 36.0
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    series: int
    title: str  # read out by screen readers and shown on hover


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: float
    height: float
    rects: list[Rect]
    y_ticks: list[Label]
    x_labels: list[Label]
    grid: list[float]  # y of each horizontal grid line
    path: str = ""  # a step line's outline, when the chart has one
    area: str = ""
    values: list[Label] = field(default_factory=list)  # written after a bar's end


def _y_axis(
    highest: float, fmt: Callable[[float], str], steps: Sequence[float]
) -> tuple[float, list[Label], list[float]]:
    """The axis' top value, its tick labels and the y of each grid line."""
    values = axis_ticks(highest, steps)
    top_value = values[-1]
    ticks, grid = [], []
    for value in values:
        y = TOP + PLOT_H - PLOT_H * value / top_value
        ticks.append(Label(LEFT - 6, y + 4, fmt(value)))
        grid.append(y)
    return top_value, ticks, grid


def _every(count: int, most: int) -> int:
    return max(1, -(-count // most))


def columns(
    groups: Sequence[tuple[str, Sequence[float | None]]],
    series: Sequence[str],
    fmt: Callable[[float], str],
    steps: Sequence[float] = COUNT_STEPS,
) -> Chart:
    """Grouped vertical columns: one group per label, one column per series (None: no column)."""
    highest = max((v for _, vs in groups for v in vs if v is not None), default=0)
    top_value, ticks, grid = _y_axis(highest, fmt, steps)
    slot = PLOT_W / max(1, len(groups))
    column = slot * 0.8 / max(1, len(series))
    rects, labels = [], []
    shown = _every(len(groups), 14)
    for i, (label, values) in enumerate(groups):
        x0 = LEFT + i * slot + slot * 0.1
        for s, v in enumerate(values):
            if v is None:
                continue
            height = PLOT_H * v / top_value
            rects.append(
                Rect(
                    x0 + s * column,
                    TOP + PLOT_H - height,
                    max(column - 1, 1),
                    height,
                    s,
                    f"{label} {series[s]}: {fmt(v)}",
                )
            )
        if i % shown == 0:
            labels.append(Label(LEFT + i * slot + slot / 2, HEIGHT - BOTTOM + 16, label))
    return Chart(WIDTH, HEIGHT, rects, ticks, labels, grid)


def steps(points: Sequence[tuple[str, float]], fmt: Callable[[float], str]) -> Chart:
    """A step line with its area filled: a value held over each time bucket.

    Points with an empty label get no label under the axis.
    """
    top_value, ticks, grid = _y_axis(max((v for _, v in points), default=0), fmt, COUNT_STEPS)
    slot = PLOT_W / max(1, len(points))
    base = TOP + PLOT_H
    outline, labels = [], []
    for i, (label, v) in enumerate(points):
        y = base - PLOT_H * v / top_value
        x = LEFT + i * slot
        outline.append(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f} L{x + slot:.1f},{y:.1f}")
        if label:
            labels.append(Label(x, HEIGHT - BOTTOM + 16, label))
    path = " ".join(outline)
    area = f"{path} L{LEFT + slot * len(points):.1f},{base:.1f} L{LEFT:.1f},{base:.1f} Z"
    if not points:
        return Chart(WIDTH, HEIGHT, [], ticks, labels, grid)
    return Chart(WIDTH, HEIGHT, [], ticks, labels, grid, path, area)


def bars(items: Sequence[tuple[str, float]], fmt: Callable[[float], str]) -> Chart:
    """Horizontal bars, one row per item, longest first as given; labels on the left."""
    row = 26.0
    height = TOP + row * max(1, len(items)) + 8
    top_value = axis_ticks(max((v for _, v in items), default=0))[-1]
    left = 140.0
    span = WIDTH - left - 70
    rects, labels, values = [], [], []
    for i, (label, v) in enumerate(items):
        y = TOP + i * row
        w = span * v / top_value
        rects.append(Rect(left, y, max(w, 1), row - 8, 0, f"{label}: {fmt(v)}"))
        labels.append(Label(left - 8, y + row / 2, label))
        values.append(Label(left + w + 6, y + row / 2, fmt(v)))
    return Chart(WIDTH, height, rects, labels, [], [], values=values)
