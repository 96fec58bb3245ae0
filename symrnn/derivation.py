"""The derivation of dC/dθ for a network unrolled T steps, section by section,
for lecture notes.

A :class:`Derivation` holds six sections, each a title, a paragraph and
displays of equations (SymPy expressions already written in the notes'
notation by :mod:`symrnn.latex`):

1. the cell's equations (and the output layer and cost);
2. the network unrolled for T steps, each step using its own copy of every
   parameter (``w^{(x)}_{k}``, see :mod:`symrnn.notation`);
3. the local derivatives of each equation (from the engine's rule table);
4. the BPTT recurrences: each state's adjoint in terms of the next step's,
   as the engine derives them, and (scalar units) one step's state Jacobian;
5. for each requested parameter, the exact gradient for this T: the sum over
   its copies, each copy's term in recurrence form (the engine's) and, with
   scalar units, as the product of local derivatives along its chain to C;
6. with scalar units and small T, the gradient written out in inputs and
   weights.

Everything is derived by the engine (:mod:`symrnn.derive`) from the cell's
equations, once per network (:mod:`symrnn.derived`); the chain-rule
mathematics of sections 4 to 6 is :class:`symrnn.chain.ChainRule`'s and
placing at a step is :mod:`symrnn.placement`'s. This module only chooses what
to show and in which order, and writes it: section titles, prose, LaTeX
(:mod:`symrnn.latex` in :mod:`symrnn.notation`'s names), and the two forms
(snippet and document) through the templates. It also compiles documents.

    >>> d = derivation("rnn", steps=2, wrt=["w_x"])
    >>> [s.title for s in d.sections][:2]
    ['The cell', 'The network unrolled for T = 2 steps']

Imports: :mod:`symrnn.chain`, :mod:`symrnn.notation`, :mod:`symrnn.latex`,
:mod:`symrnn.unroll`, :mod:`symrnn.derived`, templating, files, naming,
budgets, limits, errors and the network (the registry lazily, to build a
network from a cell's name).
"""

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import sympy

from . import naming, templating
from .budgets import check_derivation
from .chain import JACOBIAN, OUTPUT, OUTPUT_LAYER, ChainRule, local_derivatives
from .derived import derive_network
from .errors import ConfigError, LatexError
from .files import BUILD_COMMAND, do_not_edit
from .latex import BREAK, LINE_WIDTH, PRODUCTS, break_lines, estimate_width, latex, math_delimiters, unmarked
from .limits import MAX_STEPS as LIMIT_STEPS
from .limits import steps_problem
from .network import Network
from .notation import AdjointOf, Notation, partial
from .unroll import Unrolled, node_expr, scalar

UNITS = ("scalar", "vector")
MAX_STEPS = LIMIT_STEPS  # symrnn.limits: the same T as copies and quiz
# Section 6 writes the gradient out in inputs and weights up to this T and
# this size (nodes of the expression tree); beyond, the nesting makes it unreadable.
EXPANDED_MAX_STEPS = 3
# Sections 2 and 5 write every step and every copy's term out up to this T;
# beyond, the unrolled network shows its first and last steps and the
# gradient only its closed form with Σ and ∏ (LSTM, T = 20: 3 pages).
EXPLICIT_MAX_STEPS = 4
EXPANDED_MAX_SIZE = 1500
# A display's left side wider than this (in letters of estimate_width) is set on a line of its own.
WIDE_LHS = 24
# A local derivative wider than this does not go into section 3's columns but on lines of its own.
WIDE_ENTRY = LINE_WIDTH / 2


@dataclass
class Display:
    """Displayed equations: rows of (left side, [right-side lines])."""

    rows: list = field(default_factory=list)
    grid = False  # the macros lay a Grid out in columns

    def add(self, lhs, rhs, own_line=False):
        """A row ``lhs = rhs``; ``rhs`` (with break marks) is broken to fit beside ``lhs``.
        A left side wider than :data:`WIDE_LHS` gets a line of its own, its right side the
        lines below: the left column is as wide as its widest entry, so one wide left
        side would push every row of the display past the margin (``own_line``: whatever its width)."""
        marked, lhs = lhs, unmarked(lhs)
        if own_line or estimate_width(lhs) > WIDE_LHS:  # beside the left column of the other rows, up to WIDE_LHS / 2 on average
            width = LINE_WIDTH - 2 - WIDE_LHS / 2
            *head, last = break_lines(marked, first_width=width, width=width)
            lines = [r"\quad " + line for line in break_lines(rhs, first_width=width, width=width)]
            self.rows.append((None, [*head, last + " =", *lines]))
            return
        width = LINE_WIDTH - 6 - estimate_width(lhs)  # every line sits beside the left column
        self.rows.append((lhs, break_lines(rhs, first_width=width, width=max(width + 4, LINE_WIDTH - 8))))

    def add_packed(self, entries, separator=r" \qquad "):
        """One row of several short equations side by side, as many to a line
        as fit (lines of a table, not a continued right side)."""
        lines, line = [], ""
        for entry in entries:
            candidate = entry if not line else line + separator + entry
            if line and estimate_width(candidate) > LINE_WIDTH:
                lines.append(line)
                candidate = entry
            line = candidate
        if line:
            self.rows.append((None, lines + [line]))


@dataclass
class Grid:
    """Short equations in aligned columns: rows of (left side, right side) pairs.
    Each block (one equation's derivatives) starts a row; a block wider than
    the columns continues on the next row, so every column's signs line up."""

    rows: list = field(default_factory=list)
    blocks: list = field(default_factory=list)  # lists of (lhs, rhs), before laid_out()
    grid = True

    # The space between two columns, in letters of estimate_width: the \qquad, the '= ' and the
    # space align* keeps between column pairs (4 overflowed the RNN's five columns by 28pt).
    GAP = 8

    def laid_out(self):
        """The grid of :attr:`blocks` with as many columns as fit a line."""
        blocks = self.blocks
        widths = [[estimate_width(lhs) + estimate_width(rhs) for lhs, rhs in block] for block in blocks]
        most = max((len(block) for block in blocks), default=1)
        columns = next((n for n in range(most, 1, -1) if _grid_width(widths, n, self.GAP) <= LINE_WIDTH), 1)
        return Grid([tuple(block[i:i + columns]) for block in blocks for i in range(0, len(block), columns)])


def _grid_width(widths, columns, gap):
    """The width of the rows ``widths`` (per block, per entry) wrapped at ``columns``:
    each column as wide as its widest entry."""
    column = [0.0] * columns
    for block in widths:
        for i, width in enumerate(block):
            column[i % columns] = max(column[i % columns], width)
    return sum(column) + gap * (columns - 1)


@dataclass
class Section:
    title: str
    text: str
    displays: list = field(default_factory=list)


def _text(name):
    """A checked cell name in LaTeX text: its only special character is '_'."""
    return name.replace("_", r"\_")


_partial = partial  # symrnn.notation: ∂C/∂θ, a fraction or inline


class Derivation:
    """dC/dθ of ``network`` unrolled ``steps`` steps, for θ in ``wrt``: the
    mathematics of :class:`~symrnn.chain.ChainRule` (:attr:`chains`),
    presented section by section."""

    def __init__(self, network, steps, wrt=None, units="scalar", truncate=None, product="times"):
        _check_options(network, steps, units, truncate, product)
        self.network, self.steps, self.units, self.product = network, steps, units, product
        self.truncate = truncate if truncate is not None and truncate < steps else None
        check_derivation(network, steps)
        self.derived = derive_network(network)
        self.unrolled = Unrolled(self.derived, steps)
        self.wrt = _checked_wrt(wrt, self.unrolled.parameter_names(), self.network)
        self.notation = Notation(network, steps)
        self.names, self.graph, self.placement = self.notation.names, self.notation.graph, self.notation.placement
        self.chains = ChainRule(self.derived, steps, self.truncate, self.unrolled)
        self.head_nodes, self.cost_node = list(self.derived.head), self.derived.cost
        self.state_names = self.chains.states
        self.sections = [self._cell_section(), self._unrolled_section(), self._local_section(),
                         self._recurrence_section(), self._gradient_section()]
        if units == "scalar" and steps <= EXPANDED_MAX_STEPS and self.truncate is None:
            self.sections.append(self._expanded_section())

    # --- printing helpers -------------------------------------------------------------

    def tex(self, expr):
        expr = scalar(expr) if self.units == "scalar" else expr
        return latex(expr, self.names, self.units, self.notation.order, self.product)

    def name(self, symbol):
        return unmarked(self.tex(symbol))

    def at(self, expr, layer, time, copies=False):
        """A cell expression at ``time`` of ``layer`` (:meth:`symrnn.placement.Placement.at`)."""
        return self.placement.at(expr, layer, time, copies)

    def head_at(self, expr, time, copies=False):
        """An output-layer expression at ``time``, for one item over all its steps."""
        return self.chains.head_at(expr, time, copies)

    def output_steps(self):
        return self.chains.output_steps()

    def _stacked(self, time):
        """The LaTeX of all states at ``time``: the state itself if there is one."""
        if len(self.state_names) == 1:
            layer, state = self.state_names[0]
            return self.notation.vector(state, layer, time)
        return rf"\mathbf{{s}}_{{{time}}}"

    # --- 1. the cell -----------------------------------------------------------

    def _cell_section(self):
        display = Display()
        for layer in range(1, self.network.layers + 1):
            for lhs, rhs in self.network.cell.equations:
                display.add(self.name(self.at(lhs, layer, "t")), self.tex(self.at(rhs, layer, "t")))
        head = self.head_nodes[0]
        display.add(self.name(self.head_at(head.out, "t")),
                    self.tex(self.head_at(node_expr(head), "t")))
        cost = self.tex(self.head_at(self.cost_node.expr, "t"))
        if self.network.output == "sequence":
            display.add("C", r"\sum_{t=1}^{T} C_{t}, \qquad C_{t} = " + unmarked(cost))
        else:
            display.add("C", r"C_{T} = " + unmarked(cost).replace("_{t}", "_{T}"))
        pre = self.pre_activation_display()
        output = self.name(self.placement.state(self.network.cell.output_state.name, 1, "t"))
        text = _cell_text(self.network, self.units, self.product, bool(pre.rows), output,
                          self.expression_adjoint_example())
        return Section("The cell", text, [display, pre] if pre.rows else [display])

    def expression_adjoint_example(self):
        """The LaTeX of the first δ[e] section 4 defines (``\\delta[\\tanh(a^{(c)}_t)]``), or None
        where it defines none: the notation is explained with an adjoint the document uses."""
        return next((self.name(lhs) for lhs, _ in self.chains.recurrence(1, "t")
                     if isinstance(self.names.get(lhs), AdjointOf)), None)

    def pre_activation_display(self):
        """u^(f)_t = w^(f)·x_t + ...: the pre-activations sections 3 and 4 use."""
        display = Display()
        pre_of = {gate: pre for pre, gate in self.placement.pre_activations.items()}
        for layer in range(1, self.network.layers + 1):
            for lhs, rhs in self.network.cell.equations:
                if lhs in pre_of and isinstance(rhs, sympy.Function) and len(rhs.args) == 1:
                    display.add(self.name(self.at(pre_of[lhs], layer, "t")), self.tex(self.at(rhs.args[0], layer, "t")))
        return display

    # --- 2. the unrolled network --------------------------------------------------------

    def _unrolled_section(self):
        display = Display()
        shown = self.shown_steps()
        for t in shown:
            if t > 1 and t - 1 not in shown:
                display.add_packed([r"\vdots"])
            for layer in range(1, self.network.layers + 1):
                for lhs, rhs in self.network.cell.equations:
                    display.add(self.name(self.at(lhs, layer, t)), self.tex(self.at(rhs, layer, t, copies=True)))
            if t in self.output_steps():
                head = self.head_nodes[0]
                display.add(self.name(self.head_at(head.out, t)), self.tex(self.head_at(node_expr(head), t, True)))
        terms = [self.head_at(self.cost_node.expr, t) for t in self.output_steps()]
        if len(terms) > EXPLICIT_MAX_STEPS:
            display.add("C", rf"\sum_{{t=1}}^{{{self.steps}}} C_{{t}}")
        else:
            display.add("C", self.tex(sympy.Add(*terms, evaluate=False)) if len(terms) > 1 else self.tex(terms[0]))
        initial = [self.name(s) for s in sorted(self.unrolled.initial.values(), key=str)]
        states = [self.name(self.placement.state(s, l, "t")) for l, s in self.state_names]
        text = _unrolled_text(self.name(sympy.Symbol(_default_wrt(self.network))), initial, states, self.steps)
        return Section(f"The network unrolled for T = {self.steps} steps", text, [display])

    def shown_steps(self):
        """Every step up to EXPLICIT_MAX_STEPS; beyond, steps 1, 2 and T."""
        if self.steps <= EXPLICIT_MAX_STEPS:
            return list(range(1, self.steps + 1))
        return [1, 2, self.steps]

    # --- 3. local derivatives -----------------------------------------------------------

    def displayed_nodes(self):
        """The cell's own quantities and pre-activations; other nodes are inlined."""
        shown = {lhs for lhs, _ in self.network.cell.equations}
        return [n for n in self.graph.nodes if n.out in shown or n.out in self.placement.pre_activations]

    def local_derivatives(self, node):
        """(input, d out / d input) of one displayed node (:func:`symrnn.chain.local_derivatives`),
        parameters first, then in the notes' order."""
        pairs = local_derivatives(self.graph, node, {n.out for n in self.displayed_nodes()})
        rank = self.notation.order.rank
        return sorted(pairs, key=lambda pair: (naming.is_param_name(pair[0].name),
                                               rank(self.at(pair[0], 1, "t"))))

    def _local_blocks(self):
        """Section 3's entries (∂out/∂in, marked LaTeX of the derivative), one list per
        equation: a gate's and its pre-activation's together."""
        blocks, entries = [], []
        for node in self.displayed_nodes():
            out = self.name(self.at(node.out, 1, "t"))
            for symbol, expr in self.local_derivatives(node):
                entries.append((_partial(out, self.name(self.at(symbol, 1, "t")), inline=True),
                                self.tex(self.at(expr, 1, "t"))))
            if node.out not in self.placement.pre_activations:
                blocks.append(entries)
                entries = []
        return blocks

    def _local_section(self):
        return Section("Local derivatives", _local_text(self.network.layers, self.units),
                       _local_displays(self._local_blocks()))

    # --- 4. BPTT recurrences --------------------------------------------------------------

    def _recurrence_section(self):
        displays = [self._head_recurrence(), *[self._layer_recurrence(layer)
                                               for layer in range(self.network.layers, 0, -1)]]
        if self.units == "scalar":
            displays.append(self._jacobian_display())
        return Section("BPTT recurrences", _recurrence_text(self.network.output, self.units), displays)

    def _head_recurrence(self):
        display = Display()
        for lhs, rhs in self.chains.head_recurrence("t"):
            display.add(self.name(lhs), self.tex(rhs))
        return display

    def _layer_recurrence(self, layer):
        display = Display()
        for lhs, rhs in self.chains.recurrence(layer, "t"):
            display.add(self.tex(lhs), self.tex(rhs))  # marked: a long δ[e] breaks too
        for param in self.wrt:
            if self.placement.param_layer(param) == layer:
                display.add(_partial("C", self.name(sympy.Symbol(param))),
                            r"\sum_{t=1}^{T} " + self.tex(self.chains.copy_term(param, "t")))
        return display

    def _jacobian_display(self):
        """One step's partial derivatives between states, and of C_t (scalar units)."""
        display = Display()
        for layer, state in self.state_names:
            for wrt_layer, wrt_state in self.state_names:
                entry = self.chains.state_derivative(layer, state, wrt_layer, wrt_state, "t")
                if entry != 0:
                    display.add(_partial(self.name(self.placement.state(state, layer, "t")),
                                         self.name(self.placement.state(wrt_state, wrt_layer, "t-1"))),
                                self.tex(entry))
        layer, state = self.network.layers, self.network.cell.output_state.name
        display.add(_partial("C_{t}", self.name(self.placement.state(state, layer, "t"))),
                    self.tex(self.chains.output_derivative(layer, state, "t")))
        return display

    # --- 5. the gradient for this T -------------------------------------------------------

    def chain(self, param, copy):
        """:meth:`symrnn.chain.ChainRule.chain`, each of its atoms named for printing."""
        expr = self.chains.chain(param, copy)
        for symbol in () if expr is None else expr.free_symbols:
            self.names[symbol] = self._atom_latex(self.chains.atoms[symbol])
        return expr

    def _atom_latex(self, atom):
        time = atom.time
        if atom.kind == JACOBIAN:
            return _partial(self._stacked(time), self._stacked(time - 1))
        if atom.kind == OUTPUT:
            return _partial(f"C_{{{time}}}", self._stacked(time))
        copy = self.name(self.placement.copy_of(atom.param, time).symbol)
        return _partial(f"C_{{{time}}}" if atom.kind == OUTPUT_LAYER else self._stacked(time), copy)

    def _gradient_section(self):
        displays = []
        explicit = self.steps <= EXPLICIT_MAX_STEPS
        for param in self.wrt:
            display = Display()
            output_layer = self.placement.param_layer(param) is None
            (lhs, rhs), *definitions = _closed_form(self.name(sympy.Symbol(param)), self._stacked, output_layer,
                                                    self.network.output == "sequence", self.truncate, self.steps)
            display.add(lhs, rhs)
            if explicit:  # continues ∂C/∂θ, so it goes before the δs_k it is written with
                display.add("", self._copy_sum(param))
            for lhs, rhs in definitions:
                display.add(lhs, rhs)
            if explicit:
                self._copy_terms(param, display)
            displays.append(display)
        text = _gradient_text(self.steps, self.truncate, self.units, len(self.state_names) > 1)
        return Section(f"The gradient for T = {self.steps}", text, displays)

    def _copy_sum(self, param):
        """∂C/∂θ_1 + ∂C/∂θ_2 + ...: the sum over ``param``'s copies."""
        return BREAK.join(("" if i == 0 else " + ") + _partial("C", self.name(c.symbol))
                          for i, c in enumerate(self.unrolled.param_copies(param)))

    def _copy_terms(self, param, display):
        """Each of ``param``'s copies' term (recurrence form) and chain."""
        for copy in self.unrolled.param_copies(param):
            lhs = _partial("C", self.name(copy.symbol))
            if self.truncate is None:
                display.add(lhs, self.tex(self.chains.copy_term(param, copy.step, copies=True)))
            if self.units == "scalar" or self.truncate is not None:
                chain = self.chain(param, copy.step)
                display.add("" if self.truncate is None else lhs, "0" if chain is None else latex(
                    chain, self.names, "scalar", self.notation.order, self.product))

    # --- 6. written out ------------------------------------------------------------

    def _expanded_section(self):
        displays, skipped = [], []
        for param in self.wrt:
            size = self.chains.expanded_size(self.unrolled.gradient(param))
            if size > EXPANDED_MAX_SIZE:
                skipped.append(rf"\({self.name(sympy.Symbol(param))}\) ({size} terms and symbols)")
                continue
            display = Display()
            display.add(_partial("C", self.name(sympy.Symbol(param))), self.tex(self.chains.expanded_gradient(param)))
            displays.append(display)
        return Section("Written out in inputs and weights", _expanded_text(skipped), displays)

    # --- the two forms ---------------------------------------------------------------

    @property
    def file_stem(self):
        """A file name for this derivation: ``lstm_l1_last_T3``."""
        return f"{self.network.cell.name}_l{self.network.layers}_{self.network.output}_T{self.steps}"

    @property
    def title(self):
        wrt = ", ".join(rf"\({_partial('C', self.name(sympy.Symbol(p)))}\)" for p in self.wrt)
        return f"BPTT for {_text(self.network.cell.name)}, T = {self.steps}: {wrt}"

    def _render(self, template, macros=False, **options):
        """The template's text; with ``macros``, the notes' names as macros (:func:`rendered_with_macros`)."""
        if macros:
            return rendered_with_macros(template, derivation=self, sections=self.sections, **options)
        return templating.render(template, derivation=self, sections=self.sections, macros=[], **options)

    def snippet(self, math="parens", macros=False):
        """Markdown/HTML text for MathJax, with the notes' ``\\(`` ``\\)`` and ``\\[`` ``\\]``
        (``math="dollars"``: ``$`` and ``$$``, as Jupyter and pandoc read them); with
        ``macros``, names as macros defined in one math block at its head."""
        inline, display = math_delimiters(math)
        return self._render("derivation.md.j2", macros, inline=inline, display_open=display[0],
                            display_close=display[1])

    def markdown(self):
        """The same with ``$`` and ``$$``, as Jupyter's Markdown expects."""
        return self.snippet("dollars")

    def document(self, command=BUILD_COMMAND, macros=False):
        """A standalone LaTeX document (amsmath) that pdflatex compiles; its
        header says to run ``command`` to regenerate it. With ``macros``, every
        parameter and vector name is a macro its preamble defines (``\\w{x}``)."""
        return self._render("derivation.tex.j2", macros, notice=do_not_edit(command))

    def _repr_markdown_(self):
        return self.markdown()

    def _repr_latex_(self):
        """The same content as the Markdown, every section, with ``$`` and ``$$``."""
        return self.markdown()


def _checked_wrt(wrt, names, network):
    """The parameters θ asked for, each once (default: :func:`_default_wrt`)."""
    if wrt is None:
        return [_default_wrt(network)]
    if isinstance(wrt, str):
        wrt = [wrt]
    unknown = [w for w in wrt if w not in names]
    if unknown:
        raise ConfigError(f"unknown parameter {unknown[0]!r} for --wrt: expected one of {', '.join(names)}")
    return list(dict.fromkeys(wrt))


def _default_wrt(network):
    """The notes' question asks for the input weight: the first matrix on x."""
    first = next(p for p in network.cell.parameters if p.fan_in == "input")
    return naming.layer_name(first.name, 1, network.layers)


def _check_options(network, steps, units, truncate, product):
    if steps_problem(steps, MAX_STEPS):
        raise ConfigError(steps_problem(steps, MAX_STEPS))
    if units not in UNITS:
        raise ConfigError(f"unknown units {units!r}: expected one of {', '.join(UNITS)}")
    if product not in PRODUCTS:
        raise ConfigError(f"unknown product sign {product!r}: expected one of {', '.join(PRODUCTS)}")
    if product != "times" and units == "scalar":
        raise ConfigError(f"the product sign {product} (--product) needs vector units (--units vector): with "
                          "scalar units every product is one of two numbers, written × (after a weight ·)")
    if network.loss != "squared" or network.out_activation != "identity":
        raise ConfigError("derivations use the notes' output layer: identity output and squared cost")
    if truncate is not None and (not isinstance(truncate, int) or isinstance(truncate, bool) or truncate < 1):
        raise ConfigError(f"the truncation window must be an integer of at least 1, got {truncate!r}")


# --- the sections' prose and closed form ---------------------------------------------------


def _cell_text(network, units, product, pre_activations, output, example):
    """Section 1's paragraph (``pre_activations``: whether their equations follow the cell's;
    ``output``: the LaTeX of the layer's output at t; ``example``: the LaTeX of an adjoint
    of an expression the document uses, or None)."""
    layers = "" if network.layers == 1 else (
        rf" Layer \(l\) of the {network.layers} stacked layers carries \([l]\) in its superscripts; "
        + _layer_input_text(network.cell, output))
    sign = PRODUCTS[product].strip()
    products = (rf"\(w \cdot v\) is the matrix-vector product and \({sign}\) the elementwise product"
                if units == "vector" else
                r"every unit is a scalar (one unit per vector): \(w \cdot v\) is a weight times a value and "
                rf"\({sign}\) the product of two values")
    outputs = "at every step" if network.output == "sequence" else r"at the last step \(T\) only"
    text = (f"The cell {_text(network.cell.name)} at step \\(t\\); {products}."
            f"{layers} The output \\(\\hat{{y}}_{{t}}\\) and its cost are {outputs}.")
    if pre_activations:
        text += (" The argument of a gate's function, its pre-activation, is written \\(u\\) with the "
                 "gate's superscript; the equations after the cost define each.")
    text += (r" For any quantity \(q\), \(\delta q = \partial C / \partial q\) is the total derivative "
             r"of the cost with respect to \(q\), through every path from \(q\) to \(C\)")
    if example is None:
        return text + "."
    return text + rf"; \(\delta[e]\) is the same for an expression \(e\), such as \({example}\)."


def _layer_input_text(cell, output):
    """What a stacked layer reads from the layer below, and how the chains count an output that is not a state."""
    if cell.output_state in cell.states and "previous input" not in cell.constructs:
        return r"its input is the output state of layer \(l-1\)."
    text = r"its input is the output of layer \(l-1\)"
    if "previous input" in cell.constructs:
        text += r", at step \(t\) and, as its previous input, at step \(t-1\)"
    text += "."
    if cell.output_state not in cell.states:
        text += (rf" A layer's output (\({output}\) in layer 1) is not carried to the next step; the "
                 r"chains count it with the states, as a function of the states at \(t-1\) and the step's input.")
    return text


def _unrolled_text(first, initial, states, steps):
    """Section 2's paragraph: ``first`` the LaTeX of the default parameter, ``initial``
    of the initial states, ``states`` of every state at t."""
    text = (f"Step \\(k\\) uses its own copy of every parameter: \\({first}_{{k}}\\) "
            f"is the copy of \\({first}\\) used at step \\(k\\). All copies are equal in value; "
            "keeping them apart shows which step each term of the gradient comes from, and the gradient "
            "of a shared parameter is the sum of the gradients of its copies. The initial "
            f"{'states are' if len(initial) > 1 else 'state is'} \\({', '.join(initial)}\\).")
    if len(states) > 1:
        text += (r" \(\mathbf{s}_{t}\) stands for all states at step \(t\) ("
                 + ", ".join(rf"\({state}\)" for state in states)
                 + r"): \(\partial C_{t}/\partial \mathbf{s}_{t}\) is a row, "
                 r"\(\partial \mathbf{s}_{t}/\partial \mathbf{s}_{t-1}\) a matrix of partial derivatives "
                 r"(section 4) and \(\partial \mathbf{s}_{k}/\partial \theta_{k}\) a column; their products "
                 "are matrix products.")
    if steps > EXPLICIT_MAX_STEPS:
        text += f" Steps 3 to {steps - 1} are the same equations with their own step numbers."
    return text


def _local_displays(blocks):
    """Section 3's displays: short derivatives in aligned columns (a :class:`Grid`);
    an equation with a long one (a cell whose function's argument has no
    pre-activation of its own) in rows broken to fit, each left side on a line of its own."""
    displays = []
    for block in blocks:
        wide = any(estimate_width(lhs) + estimate_width(unmarked(rhs)) > WIDE_ENTRY for lhs, rhs in block)
        kind = Display if wide else Grid
        if not displays or not isinstance(displays[-1], kind):
            displays.append(kind())
        if wide:
            for lhs, rhs in block:
                displays[-1].add(lhs, rhs, own_line=True)
        else:
            displays[-1].blocks.append([(lhs, unmarked(rhs)) for lhs, rhs in block])
    return [d.laid_out() if isinstance(d, Grid) else d for d in displays]


def _local_text(layers, units):
    """Section 3's paragraph."""
    scope = "" if layers == 1 else r" (layer 1; every layer's are the same with \([l]\))"
    return ("The derivative of each equation with respect to each quantity it uses directly"
            f"{scope}, with \\(\\tanh' = 1 - \\tanh^2\\) and \\(\\sigma' = \\sigma(1 - \\sigma)\\). "
            + ("They are per unit: an elementwise function's Jacobian is diagonal, and that of "
               r"\(w \cdot v\) with respect to \(v\) is the matrix \(w\)." if units == "vector" else ""))


def _recurrence_text(output, units):
    """Section 4's paragraph."""
    outputs = (r"every step" if output == "sequence" else r"the last step \(T\) only")
    text = (r"Backpropagation through time: \(\delta q\) is the total derivative "
            r"\(\partial C / \partial q\). Each state's adjoint at step \(t\) collects what flows back from "
            rf"step \(t+1\) and from the output, which exists at {outputs}; at \(t = T\) the terms "
            r"from step \(T+1\) are zero, as is the output term at steps without an output.")
    if units == "scalar":
        text += (" With scalar units, one step's map from the states at \\(t-1\\) to those at \\(t\\) has "
                 "the partial derivatives below (through every path inside the step); they are the links "
                 "of the chains in the next section.")
    return text


def _expanded_text(skipped):
    """Section 6's paragraph (``skipped``: the parameters left out, with their sizes)."""
    text = ("The same gradient written out in the inputs, the initial states, the targets and the copies "
            "of the parameters, every intermediate replaced by its definition.")
    if skipped:
        text += (f" Omitted for {', '.join(skipped)}: more than {EXPANDED_MAX_SIZE}, beyond what "
                 "a page shows usefully; the nested forms above are exact.")
    return text


def _closed_form(theta, stacked, output_layer, sequence, K, steps):
    """The rows of ∂C/∂θ with Σ and ∏, for every T (truncated to ``K``: the
    window's sums); ``stacked(time)`` is the LaTeX of all states at a time."""
    lhs = _partial("C", theta) if K is None else rf"\left.{_partial('C', theta)}\right|_{{K = {K}}}"
    theta_k, s_k, s_t = theta + "_{k}", stacked("k"), stacked("t")
    if output_layer:  # no chain through the states
        return [(lhs, rf"\sum_{{k=1}}^{{T}} {_partial('C_{k}', theta_k)}" if sequence
                 else _partial("C_{T}", theta + "_{T}"))]
    chain = rf"\prod_{{j=k+1}}^{{t}} {_partial(stacked('j'), stacked('j-1'))}"
    local = _partial(s_k, theta_k)
    last = _partial("C_{T}", stacked("T")) + r" \, " + chain.replace("{t}", "{T}")
    if K is None:
        return [(lhs, rf"\sum_{{k=1}}^{{T}} \delta {s_k} \, {local}"),
                (rf"\delta {s_k}", rf"\sum_{{t=k}}^{{T}} {_partial('C_{t}', s_t)} \, {chain}" if sequence else last)]
    if sequence:
        return [(lhs, (rf"\sum_{{t=1}}^{{T}} \sum_{{k=\max(1,\, t-{K - 1})}}^{{t}} "
                       rf"{_partial('C_{t}', s_t)} \, {chain} \, {local}"))]
    return [(lhs, rf"\sum_{{k={steps - K + 1}}}^{{T}} {last} \, {local}")]


def _gradient_text(steps, truncate, units, several_states):
    """Section 5's paragraph."""
    product = (r" The product \(\prod_{j=k+1}^{t}\) is taken from \(j = t\) on the left down to "
               r"\(j = k+1\) on the right." if several_states else "")
    closed = ("The gradient of a shared parameter is the sum of its copies' terms; each copy's term is "
              "the adjoint of the states at its step times their derivative with respect to the copy, and "
              "the adjoint collects every later cost term through one step's state Jacobian per step."
              + product)
    if truncate is not None:
        closed = (f"Truncated to K = {truncate} steps, the gradient of the cost at step \\(t\\) reaches "
                  f"only the copies used at steps \\(t-{truncate - 1}\\) to \\(t\\): the sums below "
                  "keep only those terms (copies outside every window get 0). "
                  "Without truncation the adjoints of section 4 give the full gradient."
                  + product)
    if steps > EXPLICIT_MAX_STEPS:
        return closed + f" For T = {steps} the terms are not written out one by one."
    if truncate is not None:
        return closed + " Below, each copy's term as the product of the derivatives along its chains to C."
    if units == "scalar":
        return (closed + f" For T = {steps}, each copy's term written out: first with the adjoints of "
                "section 4 at that step, then as the product of the derivatives along its chains to C.")
    return (closed + f" For T = {steps}, each copy's term with the adjoints of section 4; with scalar "
            "units also as the product of the derivatives along its chains to C.")


def derivation(cell, steps, *, wrt=None, units="scalar", output="last", layers=1, variant=None, activation=None,
               truncate=None, product="times"):
    """A :class:`Derivation` from a built-in cell name or a :class:`~symrnn.cells.Cell`.

        >>> d = derivation("rnn", 2)
        >>> d.wrt
        ['w_x']
    """
    from .cells import Cell
    from .registry import get_cell

    if not isinstance(cell, Cell):
        cell = get_cell(cell, variant, activation)
    return Derivation(Network(cell, layers=layers, output=output), steps, wrt=wrt, units=units, truncate=truncate,
                      product=product)


# --- macros (``symrnn latex --macros``) ---------------------------------------------------

# The notes' names, each letter a macro: w^{(x)} is \w{x}, and in a stack w^{(x)[2]} is \wl{x}{2}.
# A document to edit by hand then says each name once per use, and renaming a gate is one edit.
MACROS = {"w": "w", "b": "bias", "g": "gain", "a": "act", "u": "pre"}
_NAME = re.compile(r"(?<![A-Za-z\\])([wbgau])\^\{\\left\(([A-Za-z0-9]+)\\right\)(?:\[(\d+)\])?\}")
_MACRO = re.compile(r"\\(" + "|".join(sorted(MACROS.values(), key=len, reverse=True))
                    + r")(l?)\{([A-Za-z0-9]+)\}(?:\{(\d+)\})?")


def rendered_with_macros(template, **values):
    """``template`` rendered with the notes' names written as macros (:func:`with_macros`),
    defined once where the template puts ``macros`` (the definitions a first rendering needs)."""
    definitions = macro_definitions(templating.render(template, macros=[], **values))
    return with_macros(templating.render(template, macros=definitions, **values))


def macro_definitions(text):
    """The ``\\newcommand`` lines of the macros ``text`` needs, in a fixed order."""
    used = {(letter, layer != "") for letter, _, layer in _NAME.findall(text)}
    lines = []
    for letter, name in MACROS.items():
        if (letter, False) in used:
            lines.append(rf"\newcommand{{\{name}}}[1]{{{letter}^{{\left(#1\right)}}}}")
        if (letter, True) in used:
            lines.append(rf"\newcommand{{\{name}l}}[2]{{{letter}^{{\left(#1\right)[#2]}}}}")
    return lines


def with_macros(text):
    """``text`` with every name of the notes written as its macro: ``w^{\\left(x\\right)}``
    is ``\\w{x}``, ``a^{\\left(h\\right)[2]}`` is ``\\actl{h}{2}``."""
    def macro(match):
        letter, label, layer = match.groups()
        return rf"\{MACROS[letter]}{{{label}}}" if layer is None else rf"\{MACROS[letter]}l{{{label}}}{{{layer}}}"
    return _NAME.sub(macro, text)


def expand_macros(text):
    """The inverse of :func:`with_macros` (what TeX does): every macro replaced by its body."""
    letters = {name: letter for letter, name in MACROS.items()}

    def body(match):
        name, stacked, label, layer = match.groups()
        return rf"{letters[name]}^{{\left({label}\right){'' if not stacked else f'[{layer}]'}}}"
    return _MACRO.sub(body, text)


# --- compiling ---------------------------------------------------------------------


def compile_pdf(tex):
    """Compile the document ``tex`` with pdflatex; returns (PDF bytes, log).
    Raises :class:`LatexError` with LaTeX's own messages.

    The PDF is reproducible: SOURCE_DATE_EPOCH fixes its dates and the
    template empties its trailer ID."""
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        raise LatexError("pdflatex not found: install TeX Live (Debian: texlive-latex-base "
                         "texlive-latex-recommended, as .ci/deps does)")
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}
    with tempfile.TemporaryDirectory() as work:
        Path(work, "derivation.tex").write_text(tex, encoding="utf-8")
        result = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "derivation.tex"],
                                cwd=work, env=env, capture_output=True, text=True, errors="replace",
                                timeout=300, check=False)
        log_path, pdf_path = Path(work, "derivation.log"), Path(work, "derivation.pdf")
        log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else result.stdout
        if result.returncode != 0 or not pdf_path.exists():
            raise LatexError("pdflatex failed:\n" + "\n".join(latex_errors(log)))
        return pdf_path.read_bytes(), log


def latex_errors(log):
    """LaTeX's error lines (``! ...``) with the source line each points at."""
    lines = log.splitlines()
    errors = []
    for i, line in enumerate(lines):
        if line.startswith("!"):
            where = next((m for m in lines[i + 1:i + 12] if re.match(r"l\.\d+", m)), "")
            errors.append(f"  {line[1:].strip()} {where.strip()}".rstrip())
    return errors or ["  (no error message in the log; see the pdflatex output)"]


def overfull_lines(log):
    """The 'Overfull \\hbox' warnings of a pdflatex log."""
    return [line for line in log.splitlines() if line.startswith("Overfull \\hbox")]
