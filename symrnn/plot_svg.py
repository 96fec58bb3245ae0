"""A small line-plot writer: panels side by side, a shared log-scale y axis,
a legend per panel, labels with superscripts and subscripts as SVG tspans.

Deterministic: every coordinate is printed with two decimals, nothing
depends on the time or the machine. Values that are 0 or not finite are
gaps in their line.

Imports: nothing from symrnn.
"""

import math
from dataclasses import dataclass
from html import escape

# Colour-blind safe (Okabe-Ito), then repeated with another dash pattern.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
# Dash patterns per round through the colours: a solid line's (solid, dotted, dash-dot),
# a dashed line's (dashed, long-short): line k of a panel is (COLOURS[k % 8], its round's pattern).
SOLID_DASHES = ("", "1.5,2.5", "8,3,1.5,3")
DASHED_DASHES = ("5,3", "9,3,3,3")


def line_style(k, dashed):
    """(colour, stroke-dasharray or "") of a panel's k-th line: distinct for every k."""
    dashes = DASHED_DASHES if dashed else SOLID_DASHES
    return COLOURS[k % len(COLOURS)], dashes[min(k // len(COLOURS), len(dashes) - 1)]
PANEL_W, PANEL_H, LEFT, RIGHT, TOP, BOTTOM, LEGEND_ROW = 440, 300, 70, 20, 40, 46, 18


@dataclass(frozen=True)
class Line:
    label: tuple  # (base, superscript, subscript)
    values: list  # at x = 1, 2, ...
    dashed: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    lines: list


def _num(v):
    return f"{v:.2f}"


def _label(label):
    base, sup, sub = (escape(part) for part in label)
    text = base
    if sup:
        text += f'<tspan baseline-shift="super" font-size="8">{sup}</tspan>'
    if sub:
        text += f'<tspan baseline-shift="sub" font-size="8">{sub}</tspan>'
    return text


def _decades(panels):
    values = [v for p in panels for line in p.lines for v in line.values if v > 0 and math.isfinite(v)]
    if not values:
        return 0, 1
    low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    return low, max(high, low + 1)


def _x_ticks(n):
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000) if n / s <= 10)
    return [1] + [t for t in range(step, n + 1, step) if t != 1]


def plot(panels, x_label, y_label):
    """The SVG text of ``panels`` side by side."""
    low, high = _decades(panels)
    legend_rows = max(len(p.lines) for p in panels)
    height = TOP + PANEL_H + BOTTOM + LEGEND_ROW * ((legend_rows + 1) // 2) + 10
    width = PANEL_W * len(panels)
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">'),
           f'<rect width="{width}" height="{height}" fill="#FFFFFF"/>']
    for k, panel in enumerate(panels):
        out += _panel(panel, k * PANEL_W, low, high, x_label, y_label if k == 0 else "")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _panel(panel, x0, low, high, x_label, y_label):
    plot_w, plot_h = PANEL_W - LEFT - RIGHT, PANEL_H - TOP
    left, top, bottom = x0 + LEFT, TOP, PANEL_H
    n = max(len(line.values) for line in panel.lines)

    def px(t):
        return left + (t - 1) / max(n - 1, 1) * plot_w

    def py(v):
        return bottom - (math.log10(v) - low) / (high - low) * plot_h

    out = [(f'<text x="{_num(left + plot_w / 2)}" y="20" text-anchor="middle" font-weight="bold">'
           f'{escape(panel.title)}</text>'),
           f'<rect x="{_num(left)}" y="{top}" width="{_num(plot_w)}" height="{plot_h}" fill="none" stroke="#000000"/>']
    every = max(1, math.ceil((high - low) / 8))
    for d in range(low, high + 1, every):
        y = _num(py(10.0 ** d))
        out += [f'<line x1="{_num(left)}" y1="{y}" x2="{_num(left + plot_w)}" y2="{y}" stroke="#DDDDDD"/>',
                (f'<text x="{_num(left - 4)}" y="{y}" text-anchor="end" dominant-baseline="middle">'
                f'10<tspan baseline-shift="super" font-size="8">{d}</tspan></text>')]
    for t in _x_ticks(n):
        x = _num(px(t))
        out += [f'<line x1="{x}" y1="{bottom}" x2="{x}" y2="{bottom + 4}" stroke="#000000"/>',
                f'<text x="{x}" y="{bottom + 16}" text-anchor="middle">{t}</text>']
    out.append(f'<text x="{_num(left + plot_w / 2)}" y="{bottom + 32}" text-anchor="middle">{escape(x_label)}</text>')
    if y_label:
        out.append(f'<text transform="translate({_num(x0 + 14)},{_num(top + plot_h / 2)}) rotate(-90)" '
                   f'text-anchor="middle">{escape(y_label)}</text>')
    for k, line in enumerate(panel.lines):
        colour, pattern = line_style(k, line.dashed)
        dash = f' stroke-dasharray="{pattern}"' if pattern else ""
        for run in _runs(line.values):
            points = " ".join(f"{_num(px(t))},{_num(py(v))}" for t, v in run)
            out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}/>')
        lx = left + (k % 2) * (plot_w / 2)
        ly = bottom + BOTTOM + LEGEND_ROW * (k // 2)
        out += [(f'<line x1="{_num(lx)}" y1="{_num(ly)}" x2="{_num(lx + 24)}" y2="{_num(ly)}" stroke="{colour}" '
                f'stroke-width="1.5"{dash}/>'),
                f'<text x="{_num(lx + 30)}" y="{_num(ly)}" dominant-baseline="middle">{_label(line.label)}</text>']
    return out


def _runs(values):
    """The stretches of (t, value) with positive finite values (t from 1)."""
    runs, current = [], []
    for t, v in enumerate(values, start=1):
        if v > 0 and math.isfinite(v):
            current.append((t, v))
        elif current:
            runs.append(current)
            current = []
    return runs + ([current] if current else [])
