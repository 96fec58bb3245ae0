"""The notes' notation: one place that says how every symbol of a derivation
is written in LaTeX.

Rules (after the lecture notes):

* the input is ``x_t``; a vector named ``a`` (the vanilla RNN's state) is
  ``a_t``; every other vector ``v`` of a cell is ``a^{(v)}_t``, as the notes
  write the LSTM's ``a^{(f)}_t``, ``a^{(c)}_t`` and ``a^{(h)}_t``;
* the pre-activation a gate's function is applied to is ``u^{(v)}_t``
  (``u_t`` for ``a``; not z, which is the GRU's update gate ``a^{(z)}``),
  defined in a derivation's first section;
* a parameter ``w_F`` is ``w^{(F)}``, ``b_a`` is ``b^{(a)}``; the output layer
  is ``w^{(y)}``, ``b^{(y)}``, its output ``\\hat{y}_t`` and the target ``y_t``;
* in a stack of L >= 2 layers, layer l's quantities carry ``[l]`` after their
  superscript: ``a^{(h)[2]}_t``, ``w^{(x)[2]}``; layer l's input is layer
  l-1's output state;
* **copies**: the copy of a parameter that step k uses carries k as a
  subscript: ``w^{(x)}_{2}`` is the copy of w^(x) used at step 2;
* ``\\delta q`` is the adjoint of q: the total derivative of C with respect to
  q, through every path from q to C.

Symbols at a concrete step k are those of :class:`symrnn.unroll.Unrolled`
(``f_3``, ``w_x_3``, ``h0``); symbols at a generic step are named ``f@t``,
``h@t-1`` and belong to derivations only. Internal intermediates (``tanh_c``,
``v_G``) are written as their defining expression. Where a symbol goes at a
step is :mod:`symrnn.placement`'s to say; this module only writes it.

    >>> from symrnn.network import Network
    >>> from symrnn.registry import get_cell
    >>> notation = Notation(Network(get_cell("lstm")), steps=2)
    >>> notation.names[sympy.Symbol("f_2")], notation.names[sympy.Symbol("w_F_1")]
    ('a^{\\\\left(f\\\\right)}_{2}', 'w^{\\\\left(F\\\\right)}_{1}')

Imports: :mod:`symrnn.placement`, the step graph, the network's symbols, the
rule table's functions, naming, errors and :func:`symrnn.unroll.scalar` only.
The last section writes the same names in pictures, plots and pages (:class:`Label`,
titles as runs of text and labels, one renderer per output).
"""

import re
from dataclasses import dataclass
from html import escape

import sympy

from . import naming
from .errors import ConfigError
from .graph import Compute
from .network import TARGET
from .placement import GENERIC_TIMES, Placement, step_symbol
from .rules import dot, prev
from .unroll import scalar

_TIME_NUMBER = {"t-1": -1, "t": 0, "t+1": 1}


@dataclass(frozen=True)
class AdjointOf:
    """The adjoint of an intermediate written as an expression: the printer
    writes ``\\delta[expr]``."""

    expr: sympy.Expr


def _paren(text):
    return rf"\left({text}\right)"


def _superscript(parts):
    return "^{" + "".join(parts) + "}" if parts else ""


def parameter_latex(name, layer=None, layers=1, copy=None):
    """A parameter in the notes' notation: ``w^{(x)}`` for the cell parameter
    ``w_x``, ``w^{(x)[2]}`` in layer 2 of a stack (``layer`` None: the output
    layer's ``w_y``, ``b_y``), and its copy used at step ``copy``: ``w^{(x)}_{2}``.
    One place for :class:`Notation`, the quiz and anything else that names a parameter."""
    letter, suffix = name.split("_", 1)
    layer_part = [f"[{layer}]"] if layer is not None and layers > 1 else []
    text = letter + _superscript([_paren(suffix)] + layer_part)
    return text if copy is None else text + f"_{{{copy}}}"


def partial(numerator, denominator, inline=False):
    """``∂C/∂θ``: a fraction in displays, ``\\partial C / \\partial θ`` inline (compact tables, text)."""
    if inline:
        return rf"\partial {numerator} / \partial {denominator}"
    return rf"\dfrac{{\partial {numerator}}}{{\partial {denominator}}}"


class Notation:
    """LaTeX names of the symbols of ``network``'s derivations up to ``steps``.

    :attr:`names` maps each symbol to its LaTeX text, or, for an internal
    intermediate, to the SymPy expression it stands for (the printer writes
    that expression in its place).
    """

    def __init__(self, network, steps):
        self.placement = Placement(network)
        self.network, self.cell = self.placement.network, self.placement.cell
        self.graph = self.placement.graph
        self.names = {}
        self.origins = {}  # symbol -> (cell-level symbol, time as a number, kind)
        times = list(range(1, steps + 1)) + list(GENERIC_TIMES)
        for layer in range(1, network.layers + 1):
            self._add_parameters(layer, steps)
            for time in times:
                self._add_step(layer, time)
            for state in self.cell.states:
                initial = self.placement.state(state.name, layer, 0)
                self.names[initial] = self.vector(state.name, layer, 0)
                self.origins[initial] = (state, 0, "vector")
        self._add_output_layer(steps)
        for symbol in list(self.names):
            adjoint = sympy.Symbol(naming.adjoint_name(symbol.name))
            self.names[adjoint] = self._adjoint_text(symbol)
            self.origins[adjoint] = (symbol, None, "adjoint")
        self.order = TermOrder(self)

    # --- how names are written ---------------------------------------------------

    def _layer_part(self, layer):
        return [f"[{layer}]"] if self.network.layers > 1 else []

    def vector(self, name, layer, time):
        """``a^{(f)[l]}_{t}``; the input of layer l >= 2 is layer l-1's output."""
        if name == self.cell.input.name:
            if layer == 1:
                return rf"x_{{{time}}}"
            return self.vector(self.cell.output_state.name, layer - 1, time)
        gate = [] if name == "a" else [_paren(name)]
        return "a" + _superscript(gate + self._layer_part(layer)) + f"_{{{time}}}"

    def pre_activation(self, name, layer, time):
        gate = [] if name == "a" else [_paren(name)]
        return "u" + _superscript(gate + self._layer_part(layer)) + f"_{{{time}}}"

    def parameter(self, name, layer=1, copy=None):
        """``w^{(x)}``, or the copy used at step ``copy``: ``w^{(x)}_{2}``."""
        output_layer = name in (naming.OUTPUT_WEIGHT, naming.OUTPUT_BIAS)
        return parameter_latex(name, None if output_layer else layer, self.network.layers, copy)

    def _adjoint_text(self, symbol):
        name = self.names[symbol]
        return r"\delta " + name if isinstance(name, str) else AdjointOf(name)

    # --- the symbols -------------------------------------------------------------

    def _add_parameters(self, layer, steps):
        for param in self.cell.parameters:
            name = naming.layer_name(param.name, layer, self.network.layers)
            self.names[sympy.Symbol(name)] = self.parameter(param.name, layer)
            self.origins[sympy.Symbol(name)] = (sympy.Symbol(param.name), None, "parameter")
            for k in range(1, steps + 1):
                copy = self.placement.copy(param.name, layer, k).symbol
                self.names[copy] = self.parameter(param.name, layer, k)
                self.origins[copy] = (sympy.Symbol(param.name), k, "parameter")

    def _layer_symbol(self, name, layer, time):
        return self.placement.symbol(name, layer, time)

    def _add_step(self, layer, time):
        vectors = {self.cell.input.name, *(s.name for s in self.cell.states),
                   *(lhs.name for lhs, _ in self.cell.equations)}
        number = _TIME_NUMBER.get(time, time)
        for name in sorted(vectors - {self.cell.input.name}):
            self.names[self._layer_symbol(name, layer, time)] = self.vector(name, layer, time)
            self.origins[self._layer_symbol(name, layer, time)] = (sympy.Symbol(name), number, "vector")
        self.names[step_symbol(self.cell.input.name, time)] = self.vector(self.cell.input.name, 1, time)
        self.origins[step_symbol(self.cell.input.name, time)] = (self.cell.input, number, "vector")
        for node in self.graph.nodes:
            name = node.out.name
            if name in vectors:
                continue
            symbol = self._layer_symbol(name, layer, time)
            if node.out in self.placement.pre_activations:
                self.names[symbol] = self.pre_activation(self.placement.pre_activations[node.out].name, layer, time)
                self.origins[symbol] = (sympy.Symbol(name), number, "vector")
            elif isinstance(node, Compute):
                self.names[symbol] = self.at_step(node.expr, layer, time)
            else:  # an affine map w·v (+ b) used as a value, as the PyTorch GRU's w^(G)·h + b^(G)
                value = dot(node.weight, node.arg) + (node.bias if node.bias is not None else 0)
                self.names[symbol] = self.at_step(value, layer, time)

    def at_step(self, expr, layer, time):
        """A cell expression with its symbols at ``time`` in ``layer``
        (previous states at ``time - 1``; parameters stay shared)."""
        return self.placement.at(expr, layer, time)

    def state_at(self, name, layer, time):
        """A state's symbol at ``time``; at step 0 its initial value ``h0``."""
        return self.placement.state(name, layer, time)

    def _add_output_layer(self, steps):
        for name in (naming.OUTPUT_WEIGHT, naming.OUTPUT_BIAS):
            self.names[sympy.Symbol(name)] = self.parameter(name)
            self.origins[sympy.Symbol(name)] = (sympy.Symbol(name), None, "parameter")
            for k in range(1, steps + 1):
                copy = self.placement.copy(name, None, k).symbol
                self.names[copy] = self.parameter(name, copy=k)
                self.origins[copy] = (sympy.Symbol(name), k, "parameter")
        for time in list(range(1, steps + 1)) + list(GENERIC_TIMES):
            number = _TIME_NUMBER.get(time, time)
            self.names[step_symbol("y_pre", time)] = rf"\hat{{y}}_{{{time}}}"
            self.names[step_symbol(TARGET.name, time)] = rf"y_{{{time}}}"
            self.origins[step_symbol("y_pre", time)] = (sympy.Symbol("y_pre"), number, "vector")
            self.origins[step_symbol(TARGET.name, time)] = (TARGET, number, "vector")


class TermOrder:
    """The order in which derivations print a sum's terms and a product's
    factors: the order the cell's file writes them (``cell.written_order``),
    the same at every step, layer and copy; elsewhere (derivatives, written-out
    forms) parameters in the order the cell first writes them, then adjoints,
    then vectors by equation, the current step before the previous one.
    SymPy's own order (by name) would change from one step to the next.
    """

    def __init__(self, notation):
        cell = notation.cell
        self.origins = notation.origins
        self.names = notation.names
        written = getattr(cell, "written_order", {})
        self.written = {**written, **{scalar(k): tuple(scalar(p) for p in v) for k, v in written.items()}}
        params = self._written_parameters(cell, written) or [p.name for p in cell.parameters]
        params += [p.name for p in cell.parameters if p.name not in params]
        params += [naming.OUTPUT_WEIGHT, naming.OUTPUT_BIAS]
        self.param_rank = {name: i for i, name in enumerate(params)}
        vectors = [cell.input.name] + [lhs.name for lhs, _ in cell.equations]
        vectors += [f"pre_{name}" for name in vectors] + ["y_pre", TARGET.name]
        self.vector_rank = {name: i for i, name in enumerate(vectors)}
        self._ranks = {}

    @staticmethod
    def _written_parameters(cell, written):
        found = []

        def walk(expr):
            if isinstance(expr, sympy.Symbol) and naming.is_param_name(expr.name) and expr.name not in found:
                found.append(expr.name)
            for part in written.get(expr, expr.args):
                walk(part)

        if written:
            for _, rhs in cell.equations:
                walk(rhs)
        return found

    def rank(self, symbol):
        """A symbol's place among factors: the same for its every step and copy."""
        if symbol not in self._ranks:
            self._ranks[symbol] = self._rank(symbol)
        return self._ranks[symbol]

    def _rank(self, symbol):
        origin = self.origins.get(symbol)
        if origin is None:
            value = self.names.get(symbol)
            expr = value.expr if isinstance(value, AdjointOf) else value
            if isinstance(expr, sympy.Basic) and expr.free_symbols:
                inner = min(self.rank(s) for s in expr.free_symbols)
                return (1, inner) if isinstance(value, AdjointOf) else inner
            return (9, symbol.name)
        base, time, kind = origin
        if kind == "parameter":
            return (0, self.param_rank.get(base.name, 99), time or 0)
        if kind == "adjoint":
            return (1, self.rank(base))
        return (2, -time, self.vector_rank.get(base.name, 99))

    def key(self, expr):
        """A sum's term or a product's factor, by the ranks of its symbols."""
        return tuple(sorted(self.rank(s) for s in expr.free_symbols if s in self.names or s in self.origins))

    def cell_level(self, expr):
        """``expr`` with its step symbols read back as the cell writes them
        (``f@t`` -> f, ``h@t-1`` -> h[t-1], ``w_x_3`` -> w_x), or None."""
        subs, times = {}, []
        for symbol in expr.free_symbols:
            origin = self.origins.get(symbol)
            if origin is None or origin[2] == "adjoint":
                return None
            if origin[2] == "vector":
                times.append(origin[1])
        now = max(times, default=0)
        for symbol in expr.free_symbols:
            base, time, kind = self.origins[symbol]
            if kind == "parameter" or time == now:
                subs[symbol] = base
            elif time == now - 1:
                subs[symbol] = prev(base)
            else:
                return None
        return subs

    def arrange(self, expr, parts, product=False):
        """``parts`` (the args of the sum or product ``expr``) in print order."""
        subs = self.cell_level(expr)
        if subs is not None:
            written = self.written.get(expr.xreplace(subs))
            if written is not None:
                position = {part: i for i, part in enumerate(written)}
                at = [position.get(part.xreplace(subs)) for part in parts]
                if None not in at and len(set(at)) == len(at):
                    return [part for _, part in sorted(zip(at, parts), key=lambda pair: pair[0])]
        def weight(part):  # a product starts with its own weights: w^(a)_2 · tanh(...)
            return product and part.is_Symbol and self.origins.get(part, (0, 0, ""))[2] == "parameter"

        return sorted(parts, key=lambda part: (not part.is_number, not weight(part), self.key(part),
                                               not part.is_Symbol, str(part)))


# --- names in pictures, plots and pages ---------------------------------------------
# The same symbols as above for the copy pictures (SVG, TikZ), the flow plots and
# the explorer page: a :class:`Label` is a symbol, a title is a tuple of *runs*
# (plain text, Labels, :class:`Partial` derivatives), and one renderer per output
# writes runs: :func:`plain_text`, :func:`svg_text`, :func:`latex_runs`, :func:`runs_data`
# (the page's JavaScript draws that data as svg_text does).

LABEL_PART = re.compile(r"[A-Za-z0-9ŷθ]*\Z")


@dataclass(frozen=True)
class Label:
    """A symbol as the notes write it: base, superscript in parentheses, the
    layer in brackets after it, subscript: ``Label("w", "x", "2", "1")`` is
    w^(x)[1]_2. Parts are letters and digits (names reach pictures validated;
    checked again here, since they are written into XML and LaTeX)."""

    base: str
    sup: str = ""
    sub: str = ""
    layer: str = ""

    def __post_init__(self):
        for part in (self.base, self.sup, self.sub, self.layer):
            if not LABEL_PART.match(part):
                raise ConfigError(f"cannot draw the name part {part!r}: expected letters and digits")

    def width(self):
        """Approximate drawn width in pixels (11 px letters, 8 px scripts)."""
        scripts = (len(self.sup) + 2 if self.sup else 0) + (len(self.layer) + 2 if self.layer else 0) + len(self.sub)
        return round(7 * len(self.base) + 5.2 * scripts)

    def superscript(self):
        return (f"({self.sup})" if self.sup else "") + (f"[{self.layer}]" if self.layer else "")

    def plain(self):
        """``w^(x)[2]_3``, as tables and JSON write names."""
        sup = self.superscript()
        return self.base + (f"^{sup}" if sup else "") + (f"_{self.sub}" if self.sub else "")

    def latex(self):
        """``w^{(x)[2]}_{3}`` (math mode)."""
        base = r"\hat{y}" if self.base == "ŷ" else self.base
        sup = self.superscript()
        return base + (f"^{{{sup}}}" if sup else "") + (f"_{{{self.sub}}}" if self.sub else "")


@dataclass(frozen=True)
class Partial:
    """∂C/∂θ for a symbol θ (a :class:`Label`)."""

    of: Label


def _layer_mark(layer, layers):
    return str(layer) if layer is not None and layers > 1 else ""


def parameter_label(name, layer=None, layers=1, step=""):
    """A cell or output-layer parameter: ``w_x`` -> w^(x), in layer 2 of a
    stack w^(x)[2], its copy at step 3 w^(x)_3 (``layer`` None: the output layer)."""
    letter, suffix = name.split("_", 1)
    return Label(letter, suffix, str(step), _layer_mark(layer, layers))


def state_label(name, layer=None, layers=1, step=""):
    """A cell's state as the notes write it: a_t for a state named a, else a^(v)_t."""
    return Label("a", "" if name == "a" else name, str(step), _layer_mark(layer, layers))


def copies_title(wrt, cell_name, steps, output, layers, truncate=None):
    """The title of a copy picture or table as runs: ∂C/∂θ for the network, T, the window."""
    count = f"{layers} layer" + ("s" if layers > 1 else "")
    runs = [Partial(wrt), f" for {cell_name}, ", Label("T"), f" = {steps}, output {output}, {count}"]
    if truncate is not None:
        runs += [", BPTT truncated to ", Label("K"), f" = {truncate}"]
    return tuple(runs)


def plain_text(runs, unicode=True):
    """Runs as plain text: ∂C/∂w^(x) (``unicode`` False: dC/dw^(x), for terminals and JSON)."""
    d = "∂" if unicode else "d"
    return "".join(run if isinstance(run, str) else
                   f"{d}C/{d}{run.of.plain()}" if isinstance(run, Partial) else run.plain() for run in runs)


def _svg_label(label):
    """A label's tspans; returns (markup, how far its last script leaves the baseline)."""
    text, shift = escape(label.base), 0
    if label.sup or label.layer:
        text += f'<tspan font-size="8" dy="-4">{escape(label.superscript())}</tspan>'
        shift = -4
    if label.sub:
        text += f'<tspan font-size="8" dy="{7 if shift else 3}">{escape(label.sub)}</tspan>'
        shift = 3
    return text, shift


def svg_text(runs):
    """Runs as the content of an SVG ``<text>``: scripts as tspans shifted by dy
    (which every renderer supports, unlike baseline-shift); the text after a
    label shifts back to the baseline."""
    out, shift = [], 0
    for run in runs:
        if isinstance(run, str):
            out.append(f'<tspan dy="{-shift}">{escape(run)}</tspan>' if shift else escape(run))
            shift = 0
            continue
        if isinstance(run, Partial):
            out.append(f'<tspan dy="{-shift}">∂C/∂</tspan>' if shift else "∂C/∂")
            run = run.of
        markup, shift = _svg_label(run)
        out.append(markup)
    return "".join(out)


def latex_runs(runs):
    """Runs as LaTeX text: symbols and derivatives in math mode, text escaped;
    a label and the ``= value`` after it one formula ($T = 3$, not $T$ = 3)."""
    out, runs = [], list(runs)
    for k, run in enumerate(runs):
        if isinstance(run, str):
            out.append(latex_escape(run))
        elif isinstance(run, Partial):
            out.append(rf"$\partial C/\partial {run.of.latex()}$")
        else:
            value = _EQUALS.match(runs[k + 1]) if k + 1 < len(runs) and isinstance(runs[k + 1], str) else None
            if value:
                runs[k + 1] = runs[k + 1][value.end():]
            out.append(f"${run.latex()}{value.group(0) if value else ''}$")
    return "".join(out)


_EQUALS = re.compile(r" = [0-9]+")


def latex_escape(text):
    """Plain text for LaTeX with its special characters escaped."""
    specials = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
    return "".join(specials.get(ch, ch) for ch in text)


def runs_data(runs):
    """Runs as JSON for the page: text as is, a label [base, sup, sub, layer],
    a derivative {"partial": label}."""
    def label(lab):
        return [lab.base, lab.sup, lab.sub, lab.layer]

    return [run if isinstance(run, str) else {"partial": label(run.of)} if isinstance(run, Partial) else label(run)
            for run in runs]
