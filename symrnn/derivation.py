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
equations; this module only chooses what to show and in which order.

    >>> d = derivation("rnn", steps=2, wrt=["w_x"])
    >>> [s.title for s in d.sections][:2]
    ['The cell', 'The network unrolled for T = 2 steps']
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
from .derive import reverse
from .derived import derive_network
from .errors import ConfigError, LatexError
from .files import BUILD_COMMAND
from .graph import substitute
from .latex import BREAK, LINE_WIDTH, PRODUCTS, break_lines, estimate_width, latex, math_delimiters, unmarked
from .limits import MAX_STEPS as LIMIT_STEPS
from .network import COST, MASK, TOP, Network
from .notation import Notation, partial, shift, step_symbol
from .rules import prev
from .unroll import Unrolled, copy_symbol, node_expr, scalar

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


@dataclass
class Display:
    """Displayed equations: rows of (left side, [right-side lines])."""

    rows: list = field(default_factory=list)

    def add(self, lhs, rhs):
        """A row ``lhs = rhs``; ``rhs`` (with break marks) is broken to fit beside ``lhs``."""
        first_width = LINE_WIDTH - 6 - estimate_width(unmarked(lhs))
        self.rows.append((unmarked(lhs), break_lines(rhs, first_width=first_width)))

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
class Section:
    title: str
    text: str
    displays: list = field(default_factory=list)


def _text(name):
    """A checked cell name in LaTeX text: its only special character is '_'."""
    return name.replace("_", r"\_")


_partial = partial  # symrnn.notation: ∂C/∂θ, a fraction or inline


class Derivation:
    """dC/dθ of ``network`` unrolled ``steps`` steps, for θ in ``wrt``."""

    def __init__(self, network, steps, wrt=None, units="scalar", truncate=None, product="times"):
        if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= MAX_STEPS:
            raise ConfigError(f"the number of steps must be an integer from 1 to {MAX_STEPS}, got {steps!r}")
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
        self.network, self.steps, self.units, self.product = network, steps, units, product
        self.truncate = truncate if truncate is not None and truncate < steps else None
        check_derivation(network, steps)
        self.derived = derive_network(network)
        self.unrolled = Unrolled(self.derived, steps)
        self.wrt = self._check_wrt(wrt)
        self.notation = Notation(network, steps)
        self.names = self.notation.names
        self.graph = self.notation.graph
        self.cell_adjoints = self.derived.cell
        self.head_nodes, self.cost_node = list(self.derived.head), self.derived.cost
        self.head_adjoints = self.derived.from_cost
        self.state_names = [(layer, s.name) for layer in range(1, network.layers + 1) for s in network.cell.states]
        self.sections = [self._cell_section(), self._unrolled_section(), self._local_section(),
                         self._recurrence_section(), self._gradient_section()]
        if units == "scalar" and steps <= EXPANDED_MAX_STEPS and self.truncate is None:
            self.sections.append(self._expanded_section())

    # --- checks -----------------------------------------------------------------

    def _check_wrt(self, wrt):
        names = self.unrolled.parameter_names()
        if wrt is None:
            return [self._default_wrt()]
        if isinstance(wrt, str):
            wrt = [wrt]
        unknown = [w for w in wrt if w not in names]
        if unknown:
            raise ConfigError(f"unknown parameter {unknown[0]!r} for --wrt: expected one of {', '.join(names)}")
        return list(dict.fromkeys(wrt))

    def _default_wrt(self):
        """The notes' question asks for the input weight: the first matrix on x."""
        first = next(p for p in self.network.cell.parameters if p.fan_in == "input")
        return naming.layer_name(first.name, 1, self.network.layers)

    # --- printing helpers -------------------------------------------------------------

    def tex(self, expr):
        expr = scalar(expr) if self.units == "scalar" else expr
        return latex(expr, self.names, self.units, self.notation.order, self.product)

    def name(self, symbol):
        return unmarked(self.tex(symbol))

    def _layer(self, name, layer):
        return naming.layer_name(name, layer, self.network.layers)

    def at(self, expr, layer, time, copies=False):
        """A cell expression at ``time`` of ``layer``; with ``copies``, each
        parameter replaced by the copy that step uses."""
        expr = substitute(expr, {prev(s): p for s, p in self.graph.prev_symbols.items()})
        expr = self.notation.at_step(expr, layer, time)
        return self._copies(expr, time) if copies else expr

    def _copies(self, expr, time):
        return substitute(expr, {s: copy_symbol(s.name, time) for s in expr.free_symbols
                                 if naming.is_param_name(s.name) and "@" not in s.name})

    def head_at(self, expr, time, copies=False):
        """An output-layer expression at ``time``."""
        top = self.notation.state_at(self.network.cell.output_state.name, self.network.layers, time)
        subs = {TOP: top, MASK: sympy.Integer(1)}  # derivations follow one item over all its steps
        for symbol in expr.free_symbols - {TOP, MASK}:
            if symbol.name in (naming.OUTPUT_WEIGHT, naming.OUTPUT_BIAS):
                subs[symbol] = copy_symbol(symbol.name, time) if copies else symbol
            elif symbol != COST:
                subs[symbol] = step_symbol(symbol.name, time)
        return expr.xreplace(subs)

    def output_steps(self):
        return list(self.unrolled.output_steps())

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
        layers = "" if self.network.layers == 1 else (
            rf" Layer \(l\) of the {self.network.layers} stacked layers carries \([l]\) in its superscripts; "
            r"its input is the output state of layer \(l-1\).")
        sign = PRODUCTS[self.product].strip()
        products = (rf"\(w \cdot v\) is the matrix-vector product and \({sign}\) the elementwise product"
                    if self.units == "vector" else
                    r"every unit is a scalar (one unit per vector): \(w \cdot v\) is a weight times a value and "
                    rf"\({sign}\) the product of two values")
        outputs = "at every step" if self.network.output == "sequence" else r"at the last step \(T\) only"
        text = (f"The cell {_text(self.network.cell.name)} at step \\(t\\); {products}."
                f"{layers} The output \\(\\hat{{y}}_{{t}}\\) and its cost are {outputs}.")
        displays = [display]
        pre = self.pre_activation_display()
        if pre.rows:
            displays.append(pre)
            text += (" The argument of a gate's function, its pre-activation, is written \\(u\\) with the "
                     "gate's superscript (second table).")
        text += (r" For any quantity \(q\), \(\delta q = \partial C / \partial q\) is the total derivative "
                 r"of the cost with respect to \(q\), through every path from \(q\) to \(C\); "
                 r"\(\delta[e]\) is the same for an expression \(e\), such as \(\delta[\tanh(a_{t})]\).")
        return Section("The cell", text, displays)

    def pre_activation_display(self):
        """u^(f)_t = w^(f)·x_t + ...: the pre-activations sections 3 and 4 use."""
        display = Display()
        for layer in range(1, self.network.layers + 1):
            for lhs, rhs in self.network.cell.equations:
                pre = self.at(sympy.Symbol(f"pre_{lhs.name}"), layer, "t")
                if pre in self.names and isinstance(rhs, sympy.Function) and len(rhs.args) == 1:
                    display.add(self.name(pre), self.tex(self.at(rhs.args[0], layer, "t")))
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
        initial = ", ".join(self.name(s) for s in sorted(self.unrolled.initial.values(), key=str))
        first = self._default_wrt()
        text = (f"Step \\(k\\) uses its own copy of every parameter: \\({self.name(sympy.Symbol(first))}_{{k}}\\) "
                f"is the copy of \\({self.name(sympy.Symbol(first))}\\) used at step \\(k\\). All copies are equal in value; "
                "keeping them apart shows which step each term of the gradient comes from, and the gradient "
                "of a shared parameter is the sum of the gradients of its copies. The initial "
                f"{'states are' if len(self.unrolled.initial) > 1 else 'state is'} \\({initial}\\).")
        if len(self.state_names) > 1:
            text += (r" \(\mathbf{s}_{t}\) stands for all states at step \(t\) ("
                     + ", ".join(rf"\({self.name(self._state_symbol(l, s, 't'))}\)" for l, s in self.state_names)
                     + r"): \(\partial C_{t}/\partial \mathbf{s}_{t}\) is a row, "
                     r"\(\partial \mathbf{s}_{t}/\partial \mathbf{s}_{t-1}\) a matrix of partial derivatives "
                     r"(section 4) and \(\partial \mathbf{s}_{k}/\partial \theta_{k}\) a column; their products "
                     "are matrix products.")
        if self.steps > EXPLICIT_MAX_STEPS:
            text += f" Steps 3 to {self.steps - 1} are the same equations with their own step numbers."
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
        return [n for n in self.graph.nodes
                if n.out in shown or (n.out.name.startswith("pre_") and sympy.Symbol(n.out.name[4:]) in shown)]

    def local_derivatives(self, node):
        """(input, d out / d input) of one displayed node, through the nodes
        inlined into it, by the engine with a unit seed."""
        shown = {n.out for n in self.displayed_nodes()}
        by_out = {n.out: n for n in self.graph.nodes}
        feeders, pending = [], [node]
        while pending:
            current = pending.pop()
            feeders.append(current)
            for symbol in sorted(node_expr(current).free_symbols, key=str):
                if symbol in by_out and symbol not in shown:
                    pending.append(by_out[symbol])
        order = [n for n in self.graph.nodes if n in feeders]
        adjoints = reverse(order, {node.out: sympy.Integer(1)})
        definitions = dict(adjoints.equations)

        def inlined(expr):  # in the unit seed only: no adjoint of an inlined intermediate
            previous = None
            while previous != expr:
                previous, expr = expr, expr.xreplace(definitions)
            return scalar(expr)

        pairs = [(s, inlined(e)) for s, e in adjoints.inputs.items() if e != 0]
        pairs += [(sympy.Symbol(p), inlined(sympy.Add(*terms))) for p, terms in adjoints.params.items()]
        rank = self.notation.order.rank
        return sorted(pairs, key=lambda pair: (naming.is_param_name(pair[0].name),
                                               rank(self.at(pair[0], 1, "t"))))

    def _local_section(self):
        display = Display()
        entries = []
        for node in self.displayed_nodes():
            out = self.name(self.at(node.out, 1, "t"))
            for symbol, expr in self.local_derivatives(node):
                entries.append(_partial(out, self.name(self.at(symbol, 1, "t")), inline=True)
                               + " = " + unmarked(self.tex(self.at(expr, 1, "t"))))
            if not node.out.name.startswith("pre_"):  # one block per equation: its gate and pre-activation
                display.add_packed(entries)
                entries = []
        scope = "" if self.network.layers == 1 else r" (layer 1; every layer's are the same with \([l]\))"
        text = ("The derivative of each equation with respect to each quantity it uses directly"
                f"{scope}, with \\(\\tanh' = 1 - \\tanh^2\\) and \\(\\sigma' = \\sigma(1 - \\sigma)\\). "
                + ("They are per unit: an elementwise function's Jacobian is diagonal, and that of "
                   r"\(w \cdot v\) with respect to \(v\) is the matrix \(w\)." if self.units == "vector" else ""))
        return Section("Local derivatives", text, [display])

    # --- 4. BPTT recurrences --------------------------------------------------------------

    def _recurrence_section(self):
        displays = [self._head_recurrence(), *[self._layer_recurrence(layer)
                                               for layer in range(self.network.layers, 0, -1)]]
        outputs = (r"every step" if self.network.output == "sequence" else r"the last step \(T\) only")
        text = (r"Backpropagation through time: \(\delta q\) is the total derivative "
                r"\(\partial C / \partial q\). Each state's adjoint at step \(t\) collects what flows back from "
                rf"step \(t+1\) and from the output, which exists at {outputs}; at \(t = T\) the terms "
                r"from step \(T+1\) are zero, as is the output term at steps without an output.")
        sections = [displays]
        if self.units == "scalar":
            sections.append([self._jacobian_display()])
            text += (" With scalar units, one step's map from the states at \\(t-1\\) to those at \\(t\\) has "
                     "the partial derivatives below (through every path inside the step); they are the links "
                     "of the chains in the next section.")
        return Section("BPTT recurrences", text, [d for group in sections for d in group])

    def _head_recurrence(self):
        display = Display()
        for lhs, rhs in self.head_adjoints.equations:
            display.add(self.name(self.head_at(lhs, "t")), self.tex(self.head_at(rhs, "t")))
        return display

    def _from_above(self, layer, time):
        """What flows into a layer's exposed state at ``time`` from the output or the layer above."""
        if layer == self.network.layers:
            return self.head_at(self.head_adjoints.inputs[TOP], time)
        return self.at(self.cell_adjoints.inputs[self.network.cell.input], layer + 1, time)

    def _seeded(self, expr, seeds, layer, time="t"):
        """A cell adjoint expression at ``time`` with the step's seeds
        (``d_h_next``, ``d_h_out``) replaced by what flows into them."""
        placeholders = {s: sympy.Dummy(s.name) for s in seeds}
        at_time = self.at(expr.xreplace(placeholders), layer, time)
        return at_time.xreplace({placeholders[s]: value for s, value in seeds.items()})

    def _step_seeds(self, layer, time):
        cell = self.network.cell
        seeds = {sympy.Symbol(naming.next_adjoint_name(s.name)): self.at(
            self.cell_adjoints.inputs.get(self.graph.prev_symbols[s], sympy.S.Zero), layer, shift(time, 1))
            for s in cell.states}
        seeds[sympy.Symbol(naming.output_adjoint_name(cell.output_state.name))] = self._from_above(layer, time)
        return seeds

    def _layer_recurrence(self, layer):
        display = Display()
        seeds = self._step_seeds(layer, "t")
        for lhs, rhs in self.cell_adjoints.equations:
            display.add(self.name(self.at(lhs, layer, "t")), self.tex(self._seeded(rhs, seeds, layer)))
        for param in self.wrt:
            if self._param_layer(param) == layer:
                display.add(_partial("C", self.name(sympy.Symbol(param))),
                            r"\sum_{t=1}^{T} " + self.tex(self.copy_term(param, "t")))
        return display

    def _param_layer(self, param):
        if param in (naming.OUTPUT_WEIGHT, naming.OUTPUT_BIAS):
            return None
        return next(layer for layer in range(1, self.network.layers + 1)
                    for p in self.network.cell.parameters if self._layer(p.name, layer) == param)

    def _cell_param(self, param):
        layer = self._param_layer(param)
        return next(p.name for p in self.network.cell.parameters if self._layer(p.name, layer) == param)

    def copy_term(self, param, time, copies=False):
        """The engine's contribution of ``param``'s copy at ``time`` (recurrence form)."""
        if self._param_layer(param) is None:
            terms = self.head_adjoints.params[param]
            return self.head_at(sympy.Add(*terms), time, copies)
        terms = self.cell_adjoints.params[self._cell_param(param)]
        return self.at(sympy.Add(*terms), self._param_layer(param), time, copies)

    # --- one step's state Jacobian (scalar units) ---------------------------------------

    def _inlined(self, expr):
        """A cell adjoint expression in the seeds only, one unit per vector."""
        definitions = dict(self.cell_adjoints.equations)
        previous = None
        while previous != expr:
            previous, expr = expr, expr.xreplace(definitions)
        return scalar(expr)

    def _coefficient(self, expr, state):
        """d(state at t) / d(what ``expr`` is the adjoint of): the coefficient
        of the state's seed in the linear adjoint expression."""
        return sympy.diff(self._inlined(expr), sympy.Symbol(naming.next_adjoint_name(state)))

    def state_derivative(self, layer, state, wrt_layer, wrt_state, time):
        """d(state of layer at time)/d(wrt_state of wrt_layer at time - 1)."""
        cell = self.network.cell
        if wrt_layer == layer:
            prev_symbol = self.graph.prev_symbols[sympy.Symbol(wrt_state)]
            local = self._coefficient(self.cell_adjoints.inputs.get(prev_symbol, sympy.S.Zero), state)
            return self.at(local, layer, time, copies=isinstance(time, int))
        if wrt_layer > layer:
            return sympy.S.Zero
        through_input = self._coefficient(self.cell_adjoints.inputs.get(cell.input, sympy.S.Zero), state)
        below = self.state_derivative(layer - 1, cell.output_state.name, wrt_layer, wrt_state, time)
        return self.at(through_input, layer, time, copies=isinstance(time, int)) * below

    def parameter_derivative(self, layer, state, param, time):
        """d(state of layer at time)/d(the copy of cell parameter ``param`` used at time)."""
        cell = self.network.cell
        param_layer = self._param_layer(param)
        copies = isinstance(time, int)
        if param_layer == layer:
            terms = self.cell_adjoints.params.get(self._cell_param(param), [])
            return self.at(self._coefficient(sympy.Add(*terms), state), layer, time, copies)
        if param_layer > layer:
            return sympy.S.Zero
        through_input = self._coefficient(self.cell_adjoints.inputs.get(cell.input, sympy.S.Zero), state)
        below = self.parameter_derivative(layer - 1, cell.output_state.name, param, time)
        return self.at(through_input, layer, time, copies) * below

    def output_derivative(self, layer, state, time):
        """d C_time / d(state at time): only the top layer's exposed state feeds the output."""
        if layer != self.network.layers or state != self.network.cell.output_state.name:
            return sympy.S.Zero
        definitions = dict(self.head_adjoints.equations)
        return scalar(self.head_at(self.head_adjoints.inputs[TOP].xreplace(definitions), time,
                                   copies=isinstance(time, int)))

    def _state_symbol(self, layer, state, time):
        return self.notation.state_at(state, layer, time)

    def _jacobian_display(self):
        display = Display()
        for layer, state in self.state_names:
            for wrt_layer, wrt_state in self.state_names:
                entry = self.state_derivative(layer, state, wrt_layer, wrt_state, "t")
                if entry != 0:
                    display.add(_partial(self.name(self._state_symbol(layer, state, "t")),
                                         self.name(self._state_symbol(wrt_layer, wrt_state, "t-1"))),
                                self.tex(entry))
        layer, state = self.network.layers, self.network.cell.output_state.name
        display.add(_partial("C_{t}", self.name(self._state_symbol(layer, state, "t"))),
                    self.tex(self.output_derivative(layer, state, "t")))
        return display

    # --- 5. the gradient for this T -------------------------------------------------------

    def _stacked(self, time):
        """The LaTeX of all states at ``time``: the state itself if there is one."""
        if len(self.state_names) == 1:
            layer, state = self.state_names[0]
            return self.notation.vector(state, layer, time)
        return rf"\mathbf{{s}}_{{{time}}}"

    def _chain_symbol(self, kind, time, latex_text):
        symbol = sympy.Symbol(f"{kind}@{time}", commutative=False)
        self.names[symbol] = latex_text
        self.chain_atoms[symbol] = (kind, time)
        return symbol

    def chain(self, param, copy):
        """dC/d(copy ``copy`` of ``param``) as the product of the derivatives
        along its chains to C, nested so its size grows linearly in T."""
        if self._param_layer(param) is None:
            return self._chain_symbol(f"dC|{param}", copy, _partial(f"C_{{{copy}}}", self.name(
                copy_symbol(param, copy))))
        gradient = None
        window = self.window(copy)
        if not window:
            return None
        for t in range(window[-1], copy - 1, -1):
            if gradient is not None:
                gradient = gradient * self._chain_symbol(
                    "J", t + 1, _partial(self._stacked(t + 1), self._stacked(t)))
            if t in window:
                direct = self._chain_symbol("E", t, _partial(f"C_{{{t}}}", self._stacked(t)))
                gradient = direct if gradient is None else direct + gradient
        sensitivity = self._chain_symbol(f"P|{param}", copy, _partial(
            self._stacked(copy), self.name(copy_symbol(param, copy))))
        return gradient * sensitivity

    def chain_atom_value(self, symbol):
        """The matrix an atom of :meth:`chain` stands for, in step symbols."""
        kind, time = self.chain_atoms[symbol]
        states = self.state_names
        if kind == "J":
            return sympy.Matrix([[self.state_derivative(l, s, m, r, time) for m, r in states] for l, s in states])
        if kind == "E":
            return sympy.Matrix([[self.output_derivative(l, s, time) for l, s in states]])
        param = kind.split("|", 1)[1]
        if kind.startswith("dC|"):
            return sympy.Matrix([[scalar(self.copy_term(param, time, copies=True).xreplace(
                dict(self.head_adjoints.equations)))]])
        return sympy.Matrix([[self.parameter_derivative(l, s, param, time)] for l, s in states])

    def window(self, copy):
        """The output steps whose gradient reaches the copy used at step
        ``copy``: t = copy ... copy + K - 1 with truncation to K steps."""
        last = self.steps if self.truncate is None else min(self.steps, copy + self.truncate - 1)
        return [t for t in self.output_steps() if copy <= t <= last]

    def _closed_form(self, param, display):
        """∂C/∂θ with Σ and ∏, for every T (truncated: the window's sums)."""
        theta = self.name(sympy.Symbol(param))
        s_k, s_t = self._stacked("k"), self._stacked("t")
        theta_k = theta + "_{k}"
        sequence = self.network.output == "sequence"
        K = self.truncate
        lhs = _partial("C", theta) if K is None else rf"\left.{_partial('C', theta)}\right|_{{K = {K}}}"
        if self._param_layer(param) is None:  # the output layer: no chain through the states
            display.add(lhs, rf"\sum_{{k=1}}^{{T}} {_partial('C_{k}', theta_k)}" if sequence
                        else _partial("C_{T}", theta + "_{T}"))
            return
        chain = rf"\prod_{{j=k+1}}^{{t}} {_partial(self._stacked('j'), self._stacked('j-1'))}"
        local = _partial(s_k, theta_k)
        if K is None:
            display.add(lhs, rf"\sum_{{k=1}}^{{T}} \delta {s_k} \, {local}")
            if sequence:
                display.add(rf"\delta {s_k}", rf"\sum_{{t=k}}^{{T}} {_partial('C_{t}', s_t)} \, {chain}")
            else:
                display.add(rf"\delta {s_k}", _partial("C_{T}", self._stacked("T")) + " \\, "
                            + chain.replace("{t}", "{T}"))
            return
        if sequence:
            display.add(lhs, rf"\sum_{{t=1}}^{{T}} \sum_{{k=\max(1,\, t-{K - 1})}}^{{t}} "
                        rf"{_partial('C_{t}', s_t)} \, {chain} \, {local}")
        else:
            display.add(lhs, rf"\sum_{{k={self.steps - K + 1}}}^{{T}} {_partial('C_{T}', self._stacked('T'))} \, "
                        + chain.replace("{t}", "{T}") + rf" \, {local}")

    def _gradient_section(self):
        self.chain_atoms = {}
        displays = []
        explicit = self.steps <= EXPLICIT_MAX_STEPS
        for param in self.wrt:
            display = Display()
            self._closed_form(param, display)
            if explicit:
                copies = self.unrolled.copies(param)
                display.add("", BREAK.join(("" if i == 0 else " + ") + _partial("C", self.name(c))
                                            for i, c in enumerate(copies)))
                for copy in copies:
                    k = int(copy.name.rsplit("_", 1)[1])
                    if self.truncate is None:
                        display.add(_partial("C", self.name(copy)), self.tex(self.copy_term(param, k, copies=True)))
                    if self.units == "scalar" or self.truncate is not None:
                        chain = self.chain(param, k)
                        display.add("" if self.truncate is None else _partial("C", self.name(copy)),
                                    "0" if chain is None else latex(chain, self.names, "scalar",
                                                                    self.notation.order, self.product))
            displays.append(display)
        product = (r" The product \(\prod_{j=k+1}^{t}\) is taken from \(j = t\) on the left down to "
                   r"\(j = k+1\) on the right." if len(self.state_names) > 1 else "")
        closed = ("The gradient of a shared parameter is the sum of its copies' terms; each copy's term is "
                  "the adjoint of the states at its step times their derivative with respect to the copy, and "
                  "the adjoint collects every later cost term through one step's state Jacobian per step."
                  + product)
        if self.truncate is not None:
            closed = (f"Truncated to K = {self.truncate} steps, the gradient of the cost at step \\(t\\) reaches "
                      f"only the copies used at steps \\(t-{self.truncate - 1}\\) to \\(t\\): the sums below "
                      "keep only those terms (copies outside every window get 0). "
                      "Without truncation the adjoints of section 4 give the full gradient."
                      + product)
        if not explicit:
            text = closed + f" For T = {self.steps} the terms are not written out one by one."
        elif self.truncate is not None:
            text = closed + " Below, each copy's term as the product of the derivatives along its chains to C."
        elif self.units == "scalar":
            text = (closed + f" For T = {self.steps}, each copy's term written out: first with the adjoints of "
                    "section 4 at that step, then as the product of the derivatives along its chains to C.")
        else:
            text = (closed + f" For T = {self.steps}, each copy's term with the adjoints of section 4; with scalar "
                    "units also as the product of the derivatives along its chains to C.")
        return Section(f"The gradient for T = {self.steps}", text, displays)

    # --- 6. written out ------------------------------------------------------------

    def expanded_size(self, expr):
        """The tree size ``expr`` would have written out, counted through the
        definitions without writing it out (that can be exponential in T)."""
        definitions = {**self.unrolled.values, **self.unrolled.adjoint_values}
        sizes = {}
        stack = [expr]  # iteratively: chains of definitions can be deeper than Python's recursion limit
        while stack:
            node = stack[-1]
            if node in sizes:
                stack.pop()
                continue
            parts = [definitions[node]] if node in definitions else list(node.args)
            missing = [part for part in parts if part not in sizes]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            total = sum(sizes[part] for part in parts)
            sizes[node] = total if node in definitions else 1 + total
        return sizes[expr]

    def expanded_gradient(self, param):
        """dC/d(param) for this T in inputs, initial states, targets and copies."""
        return self.unrolled.expand(self.unrolled.gradient(param)).xreplace({MASK: sympy.Integer(1)})

    def _expanded_section(self):
        displays, skipped = [], []
        for param in self.wrt:
            size = self.expanded_size(self.unrolled.gradient(param))
            if size > EXPANDED_MAX_SIZE:
                skipped.append(rf"\({self.name(sympy.Symbol(param))}\) ({size} terms and symbols)")
                continue
            expr = self.expanded_gradient(param)
            display = Display()
            display.add(_partial("C", self.name(sympy.Symbol(param))), self.tex(expr))
            displays.append(display)
        text = ("The same gradient written out in the inputs, the initial states, the targets and the copies "
                "of the parameters, every intermediate replaced by its definition.")
        if skipped:
            text += (f" Omitted for {', '.join(skipped)}: more than {EXPANDED_MAX_SIZE}, beyond what "
                     "a page shows usefully; the nested forms above are exact.")
        return Section("Written out in inputs and weights", text, displays)

    # --- the two forms ---------------------------------------------------------------

    @property
    def file_stem(self):
        """A file name for this derivation: ``lstm_l1_last_T3``."""
        return f"{self.network.cell.name}_l{self.network.layers}_{self.network.output}_T{self.steps}"

    @property
    def title(self):
        wrt = ", ".join(rf"\({_partial('C', self.name(sympy.Symbol(p)))}\)" for p in self.wrt)
        return f"BPTT for {_text(self.network.cell.name)}, T = {self.steps}: {wrt}"

    def _render(self, template, **options):
        return templating.render(template, derivation=self, sections=self.sections, **options)

    def snippet(self, math="parens"):
        """Markdown/HTML text for MathJax, with the notes' ``\\(`` ``\\)`` and ``\\[`` ``\\]``
        (``math="dollars"``: ``$`` and ``$$``, as Jupyter and pandoc read them)."""
        inline, display = math_delimiters(math)
        return self._render("derivation.md.j2", inline=inline, display_open=display[0], display_close=display[1])

    def markdown(self):
        """The same with ``$`` and ``$$``, as Jupyter's Markdown expects."""
        return self.snippet("dollars")

    def document(self, command=BUILD_COMMAND):
        """A standalone LaTeX document (amsmath) that pdflatex compiles; its
        header says to run ``command`` to regenerate it."""
        return self._render("derivation.tex.j2", regenerate=command)

    def _repr_markdown_(self):
        return self.markdown()

    def _repr_latex_(self):
        """The same content as the Markdown, every section, with ``$`` and ``$$``."""
        return self.markdown()


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
