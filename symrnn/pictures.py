"""Pictures of the unrolled network with every weight copy coloured by its
role in dC/dθ (:mod:`symrnn.copies`): SVG for pages, TikZ for LaTeX notes.

One :func:`layout` places everything, in pixels with y pointing down:
a column per step (and one on the left for the initial states), a row per
layer with the input x_t below and the output ŷ_t above, arrows for the data
flow. Each cell box holds its step's copies as chips, one row per kind:
the weights applied to the layer's input, the recurrent weights, the
elementwise parameters. The output box holds w^(y)_t and b^(y)_t. A chip is
filled by role, and drawn with a dashed border when its gradient is exactly 0
for zero initial states. With BPTT truncated to K steps the copies the
window cuts off (role ``truncated``) have a style of their own, and the
legend an entry for it. :func:`svg` and :func:`tikz` only draw a layout, and
the interactive page (:mod:`symrnn.explorer`) draws the same layout, given as
data by :meth:`Layout.to_data`.

Names reaching the pictures come from :mod:`symrnn.naming`'s validated
patterns; they are still checked again and escaped for XML and LaTeX here.

    >>> import symrnn
    >>> from symrnn.copies import copy_table
    >>> picture = svg(copy_table(symrnn.network("rnn"), 2, "w_x"))
    >>> picture.startswith("<svg") and 'data-copy="w_a_2" data-role="chain"' in picture
    True

Imports: :mod:`symrnn.copies` (roles and tables), the copies' names from
:class:`symrnn.placement.ParamCopy`, naming and :mod:`symrnn.notation` (labels and
titles, written by its renderers) only.
"""

from dataclasses import dataclass
from html import escape

from . import naming
from .copies import ALL_ROLES, MAX_STEPS, ROLE_LABELS, check_steps
from .notation import Label, latex_escape, latex_runs, parameter_label, plain_text, state_label, svg_text
from .placement import ParamCopy

# Fill, text and border colour of each role (colour-blind safe: orange, blue, pale purple, grey, white).
COLOURS = {
    "differentiated": ("#D95F02", "#FFFFFF", "#8C3D01"),
    "chain": ("#1F78B4", "#FFFFFF", "#12476B"),
    "truncated": ("#E7D4E8", "#40004B", "#762A83"),
    "forward": ("#D9D9D9", "#000000", "#8C8C8C"),
    "unused": ("#FFFFFF", "#9A9A9A", "#BDBDBD"),
}
ZERO_LABEL = "dashed border: gradient exactly 0 (zero initial states)"

CHIP_H, GAP, PAD, TITLE_H = 20, 6, 8, 16
H_GAP, V_GAP, LEFT, TOP = 56, 34, 78, 58
INPUT_H, INITIAL_W = 24, 64


@dataclass(frozen=True)
class Layout:
    """Everything a renderer draws, in pixels (y down)."""

    width: int
    height: int
    title: tuple    # runs (symrnn.notation): text, Labels, the derivative
    texts: tuple    # (x, y, anchor, text): a str (row labels, column headers) or Labels (box titles)
    boxes: tuple    # (x, y, w, h, kind): kind input, initial, cell, output
    arrows: tuple   # (x1, y1, x2, y2)
    chips: tuple    # (copy code name, x, y, w, h, Label)
    legend_y: int

    def to_data(self):
        """Compact JSON-ready form for the page's renderer."""
        def label(lab):
            return [lab.base, lab.sup, lab.sub]
        return {
            "width": self.width, "height": self.height, "legend_y": self.legend_y,
            "texts": [[x, y, anchor, text if isinstance(text, str) else [label(lab) for lab in text]]
                      for x, y, anchor, text in self.texts],
            "boxes": [list(b) for b in self.boxes],
            "arrows": [list(a) for a in self.arrows],
            "chips": [[name, x, y, w, h, label(lab)] for name, x, y, w, h, lab in self.chips],
        }

    def to_compact_data(self, copies):
        """:meth:`to_data` with each chip as [index in ``copies``, x, y] and
        one chip size: the page draws a chip's label from its copy."""
        data = self.to_data()
        index = {name: k for k, name in enumerate(copies)}
        sizes = {(w, h) for _, _, _, w, h, _ in self.chips}
        assert len(sizes) == 1, sizes
        data["chip_size"] = list(sizes.pop())
        data["chips"] = [[index[name], x, y] for name, x, y, _, _, _ in self.chips]
        return data


# --- layout ---------------------------------------------------------------------


def _state_labels(cell, step):
    """The notes' names of a cell's states: a_t for a state named a, else a^(v)_t."""
    return tuple(state_label(s.name, step=step) for s in cell.states)


def _param_label(param, step):
    return parameter_label(param, step=step)


def _chip_rows(cell):
    """Cell parameters grouped as drawn: input weights, recurrent weights, elementwise."""
    groups = [[p.name for p in cell.parameters if p.fan_in == kind] for kind in ("input", "hidden", None)]
    return [g for g in groups if g]


def layout(network, steps, title=()):
    """Place the unrolled ``network`` of ``steps`` steps."""
    check_steps(steps, MAX_STEPS, "a picture")
    grid = _Grid.of(network, steps)
    texts, boxes, arrows, chips = [], [], [], []
    texts.append((12, grid.out_y + grid.out_h // 2 + 4, "start", "output"))
    texts.append((12, grid.input_y + INPUT_H // 2 + 4, "start", "input"))
    for layer in range(1, network.layers + 1):
        y = grid.layer_y[layer]
        texts.append((12, y + grid.box_h // 2 + 4, "start", f"layer {layer}"))
        init_h = TITLE_H + 2 * PAD
        init_y = y + (grid.box_h - init_h) // 2
        boxes.append((LEFT, init_y, INITIAL_W, init_h, "initial"))
        texts.append((LEFT + INITIAL_W // 2, init_y + init_h // 2 + 4, "middle", _state_labels(network.cell, 0)))
        arrows.append((LEFT + INITIAL_W, y + grid.box_h // 2, grid.x0, y + grid.box_h // 2))
    output_steps = range(1, steps + 1) if network.output == "sequence" else [steps]
    for t in range(1, steps + 1):
        _place_step(network, grid, t, t in output_steps, (texts, boxes, arrows, chips))
    return Layout(grid.width, grid.legend_y + 44, title, tuple(texts), tuple(boxes), tuple(arrows), tuple(chips),
                  grid.legend_y)


@dataclass(frozen=True)
class _Grid:
    """The sizes and positions every step of a :func:`layout` shares."""

    steps: int
    rows: list      # the cell's parameters, one list per chip row
    chip_w: int
    box_w: int
    box_h: int
    out_h: int
    col_w: int
    x0: int         # the left edge of step 1's boxes
    out_y: int
    layer_y: dict   # layer -> top of its boxes
    input_y: int
    width: int
    legend_y: int

    @classmethod
    def of(cls, network, steps):
        rows = _chip_rows(network.cell)
        labels = [_param_label(p, steps) for row in rows for p in row]
        labels += [_param_label(p, steps) for p in (naming.OUTPUT_WEIGHT, naming.OUTPUT_BIAS)]
        chip_w = max(44, max(lab.width() for lab in labels) + 14)
        per_row = max(2, max(len(r) for r in rows))
        box_w = 2 * PAD + per_row * chip_w + (per_row - 1) * GAP
        box_h = TITLE_H + 2 * PAD + len(rows) * CHIP_H + (len(rows) - 1) * GAP
        out_h = TITLE_H + 2 * PAD + CHIP_H
        x0, out_y, layers = LEFT + INITIAL_W + H_GAP, TOP + 18, network.layers
        layer_y = {layer: out_y + out_h + V_GAP + (layers - layer) * (box_h + V_GAP) for layer in range(1, layers + 1)}
        input_y = layer_y[1] + box_h + V_GAP
        return cls(steps, rows, chip_w, box_w, box_h, out_h, box_w + H_GAP, x0, out_y, layer_y, input_y,
                   x0 + steps * (box_w + H_GAP) - H_GAP + 24, input_y + INPUT_H + 30)


def _place_step(network, grid, t, has_output, drawn):
    """Step ``t``'s column: its input, a cell box per layer with the copies as chips, its output."""
    texts, boxes, arrows, chips = drawn
    layers = network.layers
    x = grid.x0 + (t - 1) * grid.col_w
    cx = x + grid.box_w // 2
    texts.append((cx, TOP, "middle", f"t = {t}"))
    boxes.append((cx - 18, grid.input_y, 36, INPUT_H, "input"))
    texts.append((cx, grid.input_y + INPUT_H // 2 + 4, "middle", (Label("x", "", str(t)),)))
    arrows.append((cx, grid.input_y, cx, grid.layer_y[1] + grid.box_h))
    for layer in range(1, layers + 1):
        y = grid.layer_y[layer]
        boxes.append((x, y, grid.box_w, grid.box_h, "cell"))
        texts.append((cx, y + TITLE_H - 2, "middle", _state_labels(network.cell, t)))
        if t < grid.steps:
            arrows.append((x + grid.box_w, y + grid.box_h // 2, x + grid.col_w, y + grid.box_h // 2))
        if layer < layers:
            arrows.append((cx, y, cx, grid.layer_y[layer + 1] + grid.box_h))
        for k, row in enumerate(grid.rows):
            row_y = y + TITLE_H + PAD + k * (CHIP_H + GAP)
            row_x = cx - (len(row) * grid.chip_w + (len(row) - 1) * GAP) // 2
            for j, param in enumerate(row):
                chips.append((ParamCopy(param, layer, t, layers).name, row_x + j * (grid.chip_w + GAP), row_y,
                              grid.chip_w, CHIP_H, _param_label(param, t)))
    if has_output:
        out_w = 2 * PAD + 2 * grid.chip_w + GAP
        boxes.append((cx - out_w // 2, grid.out_y, out_w, grid.out_h, "output"))
        texts.append((cx, grid.out_y + TITLE_H - 2, "middle", (Label("ŷ", "", str(t)),)))
        arrows.append((cx, grid.layer_y[layers], cx, grid.out_y + grid.out_h))
        for j, param in enumerate((naming.OUTPUT_WEIGHT, naming.OUTPUT_BIAS)):
            chips.append((ParamCopy(param, None, t).name, cx - out_w // 2 + PAD + j * (grid.chip_w + GAP),
                          grid.out_y + TITLE_H + PAD, grid.chip_w, CHIP_H, _param_label(param, t)))


def _roles(table):
    lay = layout(table.network, table.steps, table.title_runs())
    by_name = table.by_name()
    missing = [c[0] for c in lay.chips if c[0] not in by_name]
    assert not missing, f"chips without a copy: {missing}"
    return lay, by_name


# --- SVG --------------------------------------------------------------------------

BOX_STYLE = {"cell": ("#FAFAFA", "#555555"), "output": ("#FAFAFA", "#555555"),
             "input": ("#FFFFFF", "#555555"), "initial": ("#FFFFFF", "#555555")}


def _svg_text(text):
    """A plain string, or labels separated by commas."""
    if isinstance(text, str):
        return escape(text)
    return svg_text([run for k, lab in enumerate(text) for run in ((", ", lab) if k else (lab,))])


def svg(table):
    """The unrolled network of ``table`` (a :class:`~symrnn.copies.CopyTable`) as SVG text."""
    lay, by_name = _roles(table)
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{lay.width}" height="{lay.height}" '
           f'viewBox="0 0 {lay.width} {lay.height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" '
           f'font-size="11">'),
           f"<title>{escape(plain_text(lay.title))}</title>",
           ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555555"/></marker></defs>'),
           f'<rect width="{lay.width}" height="{lay.height}" fill="#FFFFFF"/>',
           f'<text x="12" y="22" font-size="14" font-weight="bold">{svg_text(lay.title)}</text>']
    for x1, y1, x2, y2 in lay.arrows:
        out.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#555555" stroke-width="1.3" '
                   'marker-end="url(#arrow)"/>')
    for x, y, w, h, kind in lay.boxes:
        fill, stroke = BOX_STYLE[kind]
        rx = 12 if kind == "input" else 6
        out.append(f'<rect class="box {kind}" x="{x}" y="{y}" width="{w}" height="{h}" rx="{rx}" '
                   f'fill="{fill}" stroke="{stroke}"/>')
    for x, y, anchor, text in lay.texts:
        out.append(f'<text x="{x}" y="{y}" text-anchor="{anchor}">{_svg_text(text)}</text>')
    for name, x, y, w, h, lab in lay.chips:
        copy = by_name[name]
        fill, ink, stroke = COLOURS[copy.role]
        dash = ' stroke-dasharray="3 2" stroke-width="1.6"' if copy.zero else ""
        stroke = "#000000" if copy.zero else stroke
        zero = ' data-zero="true"' if copy.zero else ""
        out.append(f'<g class="chip" data-copy="{escape(name)}" data-role="{copy.role}"{zero}>'
                   f"<title>{escape(copy.display)}: {ROLE_LABELS[copy.role]}"
                   f"{', gradient exactly 0' if copy.zero else ''}</title>"
                   f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" fill="{fill}" stroke="{stroke}"{dash}/>'
                   f'<text x="{x + w // 2}" y="{y + 14}" text-anchor="middle" fill="{ink}">{svg_text([lab])}</text>'
                   "</g>")
    out += _svg_legend(lay, table.shown_roles())
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _svg_legend(lay, roles):
    out, x = [], 12
    for role in roles:
        fill, _, stroke = COLOURS[role]
        out.append(f'<rect x="{x}" y="{lay.legend_y}" width="22" height="14" rx="3" fill="{fill}" stroke="{stroke}"/>')
        out.append(f'<text x="{x + 28}" y="{lay.legend_y + 11}">{escape(ROLE_LABELS[role])}</text>')
        x += 40 + 7 * len(ROLE_LABELS[role])
    out.append(f'<rect x="12" y="{lay.legend_y + 22}" width="22" height="14" rx="3" fill="#FFFFFF" '
               'stroke="#000000" stroke-dasharray="3 2" stroke-width="1.6"/>')
    out.append(f'<text x="40" y="{lay.legend_y + 33}">{escape(ZERO_LABEL)}</text>')
    return out


# --- TikZ ---------------------------------------------------------------------------

TIKZ_COLOUR = {role: f"symrnn{role.capitalize()}" for role in ALL_ROLES}
LINE_WIDTH_PT = 440  # the picture is scaled down to this width (an article's text width)


def _latex_text_or_labels(text):
    if isinstance(text, str):
        return latex_text(text)
    return "$" + ", ".join(lab.latex() for lab in text) + "$"


latex_text = latex_escape  # the name the tests and callers know


def tikz(table, standalone=False):
    """The picture as a TikZ ``tikzpicture`` (needs ``\\usepackage{tikz}``);
    ``standalone`` wraps it in a compilable document."""
    lay, by_name = _roles(table)
    scale = min(1.0, LINE_WIDTH_PT / lay.width)
    out = [f"% {plain_text(lay.title, unicode=False)}", "% symrnn: generated picture, needs \\usepackage{tikz}",
           (f"\\begin{{tikzpicture}}[x=1pt, y=-1pt, scale={scale:.4f}, every node/.style={{transform shape}}, "
           "font=\\sffamily\\small, >=stealth]")]
    for role in table.shown_roles():
        for part, colour in zip(("", "Ink", "Line"), COLOURS[role]):
            out.append(f"\\definecolor{{{TIKZ_COLOUR[role]}{part}}}{{HTML}}{{{colour[1:]}}}")
    out.append(f"\\node[anchor=base west, font=\\sffamily\\bfseries] at (12, 22) {{{latex_runs(lay.title)}}};")
    for x1, y1, x2, y2 in lay.arrows:
        out.append(f"\\draw[->, gray!80!black, line width=0.6pt] ({x1}, {y1}) -- ({x2}, {y2});")
    for x, y, w, h, kind in lay.boxes:
        radius = 6 if kind == "input" else 3
        out.append(f"\\draw[gray!80!black, fill=gray!4, rounded corners={radius}pt] ({x}, {y}) rectangle "
                   f"({x + w}, {y + h});")
    for x, y, anchor, text in lay.texts:
        where = {"start": "base west", "middle": "base"}[anchor]
        out.append(f"\\node[anchor={where}] at ({x}, {y}) {{{_latex_text_or_labels(text)}}};")
    for name, x, y, w, h, lab in lay.chips:
        copy = by_name[name]
        colour = TIKZ_COLOUR[copy.role]
        line = "black, dashed, line width=0.8pt" if copy.zero else f"{colour}Line"
        out.append(f"\\filldraw[fill={colour}, draw={line}, rounded corners=2pt] ({x}, {y}) rectangle "
                   f"({x + w}, {y + h}); % {name}: {copy.role}{' zero' if copy.zero else ''}")
        out.append(f"\\node[text={colour}Ink] at ({x + w / 2:g}, {y + h / 2:g}) {{${lab.latex()}$}};")
    out += _tikz_legend(lay, table.shown_roles())
    out.append("\\end{tikzpicture}")
    body = "\n".join(out) + "\n"
    if standalone:
        return ("\\documentclass{article}\n\\usepackage{tikz}\n\\pagestyle{empty}\n\\begin{document}\n"
                "\\noindent\n" + body + "\\end{document}\n")
    return body


def _tikz_legend(lay, roles):
    out, x, y = [], 12, lay.legend_y
    for role in roles:
        colour = TIKZ_COLOUR[role]
        out.append(f"\\filldraw[fill={colour}, draw={colour}Line, rounded corners=2pt] ({x}, {y}) rectangle "
                   f"({x + 22}, {y + 14});")
        out.append(f"\\node[anchor=base west] at ({x + 28}, {y + 11}) {{{latex_text(ROLE_LABELS[role])}}};")
        x += 40 + 7 * len(ROLE_LABELS[role])
    out.append(f"\\draw[black, dashed, line width=0.8pt, rounded corners=2pt] (12, {y + 22}) rectangle "
               f"(34, {y + 36});")
    out.append(f"\\node[anchor=base west] at (40, {y + 33}) {{{latex_text(ZERO_LABEL)}}};")
    return out
