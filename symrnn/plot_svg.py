"""A small line-plot writer: panels side by side, each with one or more rows
of plots stacked (a y axis per row, shared by the panels: log or linear), one
legend per panel under its last row.

Labels, titles and axis labels arrive as SVG markup (``symrnn.notation.svg_text``
writes them, so every plot names symbols as the pictures do); this module
only places them.

One palette (:data:`PALETTE`): line k of a panel has colour k, so colours are
unique within a panel; a line marked ``strong`` (a total) is black and thicker.
Solid and dashed are the caller's two kinds (flow: a gate's parameters solid,
a state's adjoint dashed).

Deterministic: every coordinate is printed with two decimals, nothing
depends on the time or the machine. Values that are 0 (on a log axis), None
or not finite are gaps in their line.

Imports: nothing from symrnn.
"""

import math
from dataclasses import dataclass

# Okabe-Ito's colour-blind-safe set (without black, kept for totals, and yellow, too pale on white),
# then Paul Tol's muted set: 13 colours that stay apart; beyond them, hues a golden angle apart.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#332288", "#117733", "#882255",
           "#999933", "#AA4499", "#44AA99", "#DDCC77")
STRONG = "#000000"
DASHED = "5,3"
PANEL_W, LEFT, RIGHT, TOP, ROW_H, ROW_GAP, BOTTOM, LEGEND_ROW = 480, 70, 20, 40, 260, 52, 46, 18


def palette(n):
    """``n`` distinct colours: :data:`PALETTE`, then hues 137.5° apart."""
    colours = list(PALETTE[:n])
    k = 0
    while len(colours) < n:
        hue = (k * 137.508) % 360
        colour = _hsl_hex(hue, 0.65, 0.42)
        if colour not in colours:
            colours.append(colour)
        k += 1
    return colours


def _hsl_hex(hue, saturation, lightness):
    c = (1 - abs(2 * lightness - 1)) * saturation
    x = c * (1 - abs((hue / 60) % 2 - 1))
    r, g, b = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)][int(hue // 60) % 6]
    m = lightness - c / 2
    return "#" + "".join(f"{round((v + m) * 255):02X}" for v in (r, g, b))


@dataclass(frozen=True)
class Line:
    label: str  # SVG markup
    values: list  # at x = 1, 2, ...
    dashed: bool = False
    strong: bool = False


@dataclass(frozen=True)
class Panel:
    title: str  # SVG markup
    rows: tuple  # one tuple of Lines per row; the legend names the first row's lines


@dataclass(frozen=True)
class Axis:
    """A row's y axis: ``log`` (decades around the values), else linear from ``low`` to ``high``."""

    label: str  # SVG markup
    log: bool = True
    low: float = 0.0
    high: float = 1.0


def _num(v):
    return f"{v:.2f}"


def _finite(v, log):
    return v is not None and math.isfinite(v) and (v > 0 or not log)


def _log_range(values):
    values = [v for v in values if _finite(v, True)]
    if not values:
        return 0, 1
    low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    return low, max(high, low + 1)


def _x_ticks(n):
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000) if n / s <= 10)
    return [1] + [t for t in range(step, n + 1, step) if t != 1]


@dataclass(frozen=True)
class _Frame:
    """Where one row of one panel is drawn, and how values map to pixels."""

    left: float
    top: float
    width: float
    height: float
    n: int
    axis: Axis
    low: float
    high: float

    def px(self, t):
        return self.left + (t - 1) / max(self.n - 1, 1) * self.width

    def py(self, v):
        position = math.log10(v) if self.axis.log else v
        return self.top + self.height - (position - self.low) / (self.high - self.low) * self.height

    def y_ticks(self):
        """(value, label markup) of the horizontal grid lines."""
        if self.axis.log:
            every = max(1, math.ceil((self.high - self.low) / 8))
            return [(10.0 ** d, f'10<tspan font-size="8" dy="-5">{d}</tspan>')
                    for d in range(int(self.low), int(self.high) + 1, every)]
        step = next(s for s in (0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10) if (self.high - self.low) / s <= 8)
        count = round((self.high - self.low) / step)
        return [(self.low + k * step, f"{self.low + k * step:g}") for k in range(count + 1)]


def plot(panels, x_label, axes):
    """The SVG text of ``panels`` side by side, each with one row per axis of ``axes``."""
    ranges = [_row_range(panels, r, axis) for r, axis in enumerate(axes)]
    legend_rows = max((len(p.rows[0]) + 1) // 2 for p in panels)
    height = TOP + len(axes) * (ROW_H + ROW_GAP) - ROW_GAP + BOTTOM + LEGEND_ROW * legend_rows + 10
    width = PANEL_W * len(panels)
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">'),
           f'<rect width="{width}" height="{height}" fill="#FFFFFF"/>']
    for k, panel in enumerate(panels):
        out += _panel(panel, k * PANEL_W, axes, ranges, x_label, first=k == 0)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _row_range(panels, row, axis):
    if not axis.log:
        return axis.low, axis.high
    return _log_range([v for p in panels for line in p.rows[row] for v in line.values])


def _panel(panel, x0, axes, ranges, x_label, first):
    n = max(len(line.values) for row in panel.rows for line in row)
    plot_w = PANEL_W - LEFT - RIGHT
    out = [f'<text x="{_num(x0 + LEFT + plot_w / 2)}" y="20" text-anchor="middle" font-weight="bold">{panel.title}</text>']
    colours = palette(sum(not line.strong for line in panel.rows[0]))
    for r, (axis, (low, high)) in enumerate(zip(axes, ranges)):
        frame = _Frame(x0 + LEFT, TOP + r * (ROW_H + ROW_GAP), plot_w, ROW_H, n, axis, low, high)
        out += _axes(frame, x_label if r == len(axes) - 1 else "", axis.label if first else "", x0)
        for line, colour in zip(panel.rows[r], _line_colours(panel.rows[r], colours)):
            out += _polylines(frame, line, colour)
    legend_top = TOP + len(axes) * (ROW_H + ROW_GAP) - ROW_GAP + BOTTOM
    for k, (line, colour) in enumerate(zip(panel.rows[0], _line_colours(panel.rows[0], colours))):
        out += _legend_entry(x0 + LEFT + (k % 2) * (plot_w / 2), legend_top + LEGEND_ROW * (k // 2), line, colour)
    return out


def _line_colours(lines, colours):
    """Each line's colour: the palette in order, black for a strong line."""
    found, k = [], 0
    for line in lines:
        found.append(STRONG if line.strong else colours[k])
        k += not line.strong
    return found


def _axes(frame, x_label, y_label, x0):
    left, top, bottom = frame.left, frame.top, frame.top + frame.height
    out = [f'<rect x="{_num(left)}" y="{_num(top)}" width="{_num(frame.width)}" height="{_num(frame.height)}" '
           'fill="none" stroke="#000000"/>']
    for value, text in frame.y_ticks():
        y = _num(frame.py(value))
        out += [f'<line x1="{_num(left)}" y1="{y}" x2="{_num(left + frame.width)}" y2="{y}" stroke="#DDDDDD"/>',
                f'<text x="{_num(left - 4)}" y="{y}" text-anchor="end" dominant-baseline="middle">{text}</text>']
    for t in _x_ticks(frame.n):
        x = _num(frame.px(t))
        out += [f'<line x1="{x}" y1="{_num(bottom)}" x2="{x}" y2="{_num(bottom + 4)}" stroke="#000000"/>',
                f'<text x="{x}" y="{_num(bottom + 16)}" text-anchor="middle">{t}</text>']
    if x_label:
        out.append(f'<text x="{_num(left + frame.width / 2)}" y="{_num(bottom + 34)}" text-anchor="middle">'
                   f'{x_label}</text>')
    if y_label:
        out.append(f'<text transform="translate({_num(x0 + 16)},{_num(top + frame.height / 2)}) rotate(-90)" '
                   f'text-anchor="middle">{y_label}</text>')
    return out


def _stroke(line, colour):
    width = "2.5" if line.strong else "1.5"
    dash = f' stroke-dasharray="{DASHED}"' if line.dashed else ""
    return f'stroke="{colour}" stroke-width="{width}"{dash}'


def _polylines(frame, line, colour):
    out = []
    for run in _runs(line.values, frame.axis.log):
        points = " ".join(f"{_num(frame.px(t))},{_num(frame.py(v))}" for t, v in run)
        out.append(f'<polyline points="{points}" fill="none" {_stroke(line, colour)}/>')
    return out


def _legend_entry(x, y, line, colour):
    return [f'<line x1="{_num(x)}" y1="{_num(y)}" x2="{_num(x + 24)}" y2="{_num(y)}" {_stroke(line, colour)}/>',
            f'<text x="{_num(x + 30)}" y="{_num(y + 4)}">{line.label}</text>']


def _runs(values, log=True):
    """The stretches of (t, value) that can be drawn (t from 1): finite, and positive on a log axis."""
    runs, current = [], []
    for t, v in enumerate(values, start=1):
        if _finite(v, log):
            current.append((t, v))
        elif current:
            runs.append(current)
            current = []
    return runs + ([current] if current else [])
