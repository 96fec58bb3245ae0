"""The chain rule of BPTT for a network unrolled T steps: the mathematics a
derivation (:mod:`symrnn.derivation`) shows, without any of its LaTeX.

:class:`ChainRule` reads the engine's result (:class:`~symrnn.derived.DerivedNetwork`)
and answers with SymPy expressions placed at a step by
:class:`~symrnn.placement.Placement` (a generic step ``"t"`` or a number):

* one step's partial derivatives, read off the engine's adjoint equations
  (linear in their seeds) as the coefficients of the seeds, with one unit per
  vector: ∂s_t/∂s'_{t-1} for every pair of states of every layer
  (:meth:`~ChainRule.state_derivative`), ∂s_t/∂θ_t
  (:meth:`~ChainRule.parameter_derivative`) and ∂C_t/∂s_t
  (:meth:`~ChainRule.output_derivative`);
* the BPTT recurrence of a layer at t, its seeds replaced by what flows into
  them from step t+1 and from above (:meth:`~ChainRule.recurrence`);
* each copy's term of the gradient in recurrence form
  (:meth:`~ChainRule.copy_term`);
* each copy's chain to C (:meth:`~ChainRule.chain`): a sum, over the output
  steps its window reaches (:meth:`~ChainRule.window`; truncated BPTT keeps
  K steps), of ordered products of :class:`ChainAtom` matrices, nested so its
  size grows linearly in T; :meth:`~ChainRule.atom_value` is an atom's matrix;
* the gradient written out in inputs and weights
  (:meth:`~ChainRule.expanded_gradient`) and its size, counted without
  writing it out (:meth:`~ChainRule.expanded_size`);
* the local derivatives of one node through the nodes inlined into it
  (:func:`local_derivatives`), by the engine on that node's subgraph.

    >>> import symrnn
    >>> rule = ChainRule(symrnn.derived.derive_network(symrnn.network("rnn")), steps=2)
    >>> rule.state_derivative(1, "a", 1, "a", 2)
    w_a_2*(1 - a_2**2)
    >>> rule.chain("w_x", 1)
    E@2*J@2*P|w_x@1

Imports: the engine (:func:`symrnn.derive.reverse`), :mod:`symrnn.placement`,
:mod:`symrnn.unroll`, the network's symbols and :mod:`symrnn.naming`.
"""

from dataclasses import dataclass

import sympy

from . import naming
from .derive import reverse
from .network import MASK, TOP
from .placement import Placement, shift
from .unroll import Unrolled, node_expr, scalar

JACOBIAN, OUTPUT, PARAMETER, OUTPUT_LAYER = "J", "E", "P", "dC"


@dataclass(frozen=True)
class ChainAtom:
    """One factor of a chain: ``kind`` J (∂s_t/∂s_{t-1}, t = ``time``),
    E (∂C_t/∂s_t), P (∂s_k/∂θ_k of ``param``'s copy at k = ``time``) or dC
    (∂C_k/∂θ_k of an output-layer copy)."""

    kind: str
    time: int | str
    param: str | None = None

    @property
    def symbol(self):
        """The atom as a non-commutative symbol (products keep their order): ``J@3``, ``P|w_x@1``."""
        kind = self.kind if self.param is None else f"{self.kind}|{self.param}"
        return sympy.Symbol(f"{kind}@{self.time}", commutative=False)


class ChainRule:
    """The chain-rule mathematics of dC/dθ for ``derived``'s network unrolled
    ``steps`` steps, BPTT truncated to ``truncate`` steps (None: full)."""

    def __init__(self, derived, steps, truncate=None, unrolled=None):
        self.derived, self.network, self.steps, self.truncate = derived, derived.network, steps, truncate
        self.cell = self.network.cell
        self.placement = Placement(derived)
        self.unrolled = unrolled if unrolled is not None else Unrolled(derived, steps)
        self.cell_adjoints, self.head_adjoints = derived.cell, derived.from_cost
        # An output that is not a state (SRU's h) joins the states here: h_t is a function of the
        # step's inputs and the states at t-1, as a state is, and C_t and the layer above read it.
        exposed = self.cell.output_state
        chained = list(self.cell.states) + ([] if exposed in self.cell.states else [exposed])
        self.states = [(layer, s.name) for layer in range(1, self.network.layers + 1) for s in chained]
        self.atoms = {}  # symbol -> ChainAtom, of every chain built

    # --- placing --------------------------------------------------------------

    def at(self, expr, layer, time, copies=False):
        return self.placement.at(expr, layer, time, copies)

    def head_at(self, expr, time, copies=False):
        """An output-layer expression at ``time``, for one item over all its steps (mask 1)."""
        return self.placement.head_at(expr, time, copies, mask=sympy.Integer(1))

    def output_steps(self):
        return list(self.unrolled.output_steps())

    # --- one step's partial derivatives (scalar units) ---------------------------

    def _inlined(self, expr):
        """A cell adjoint expression in the seeds only, one unit per vector."""
        definitions = dict(self.cell_adjoints.equations)
        previous = None
        while previous != expr:
            previous, expr = expr, expr.xreplace(definitions)
        return scalar(expr)

    def _coefficient(self, expr, state):
        """d(state at t) / d(what ``expr`` is the adjoint of): the coefficient
        of the state's seed in the linear adjoint expression (for an output
        that is not a state, such as QRNN's h, its seed ``d_h_out``)."""
        carried = any(s.name == state for s in self.cell.states)
        seed = naming.next_adjoint_name(state) if carried else naming.output_adjoint_name(state)
        return sympy.diff(self._inlined(expr), sympy.Symbol(seed))

    def _through_input(self, layer, state, time):
        """d(state of layer at time)/d(the layer's input at time)."""
        input_adjoint = self.cell_adjoints.inputs.get(self.cell.input, sympy.S.Zero)
        return self.at(self._coefficient(input_adjoint, state), layer, time, copies=isinstance(time, int))

    def state_derivative(self, layer, state, wrt_layer, wrt_state, time):
        """d(state of layer at time)/d(wrt_state of wrt_layer at time - 1)."""
        if wrt_layer == layer:
            prev_symbol = self.derived.graph.prev_symbols.get(sympy.Symbol(wrt_state))
            if prev_symbol is None:
                return sympy.S.Zero  # an output that is not a state: step t does not read its value at t-1
            local = self._coefficient(self.cell_adjoints.inputs.get(prev_symbol, sympy.S.Zero), state)
            return self.at(local, layer, time, copies=isinstance(time, int))
        if wrt_layer > layer:
            return sympy.S.Zero
        exposed = self.cell.output_state.name
        below = self.state_derivative(layer - 1, exposed, wrt_layer, wrt_state, time)
        total = self._through_input(layer, state, time) * below
        if wrt_layer == layer - 1 and wrt_state == exposed:
            total += self._through_previous_input(layer, state, time)
        return total

    def _through_previous_input(self, layer, state, time):
        """d(state of layer at time)/d(the layer's input at time - 1), read as x[t-1] (QRNN); 0 without."""
        previous = self.derived.graph.prev_input
        if previous is None:
            return sympy.S.Zero
        adjoint = self.cell_adjoints.inputs.get(previous, sympy.S.Zero)
        return self.at(self._coefficient(adjoint, state), layer, time, copies=isinstance(time, int))

    def parameter_derivative(self, layer, state, param, time):
        """d(state of layer at time)/d(the copy of network parameter ``param`` used at time)."""
        param_layer = self.placement.param_layer(param)
        if param_layer == layer:
            terms = self.cell_adjoints.params.get(self.placement.cell_param(param), [])
            return self.at(self._coefficient(sympy.Add(*terms), state), layer, time, isinstance(time, int))
        if param_layer > layer:
            return sympy.S.Zero
        below = self.parameter_derivative(layer - 1, self.cell.output_state.name, param, time)
        return self._through_input(layer, state, time) * below

    def output_derivative(self, layer, state, time):
        """d C_time / d(state at time): only the top layer's exposed state feeds the output."""
        exposed = self.cell.output_state
        if layer != self.network.layers or state != exposed.name:
            return sympy.S.Zero
        definitions = dict(self.head_adjoints.equations)
        return scalar(self.head_at(self.head_adjoints.inputs[TOP].xreplace(definitions), time,
                                   copies=isinstance(time, int)))

    # --- the recurrences and each copy's term ----------------------------------------

    def from_above(self, layer, time):
        """What flows into a layer's exposed state at ``time`` from the output or the layer above."""
        if layer == self.network.layers:
            return self.head_at(self.head_adjoints.inputs[TOP], time)
        # seeded: an output that is not a state has no adjoint equation of its own, so the
        # input's adjoint may read its seed (SRU's (1 - r)*d_h_out), which is what flows from above
        above, inputs = layer + 1, self.cell_adjoints.inputs
        now = inputs[self.cell.input]
        flow = self.seeded(now, self.step_seeds(above, time, now.free_symbols), above, time)
        previous = self.derived.graph.prev_input
        if previous is None or time == self.steps:
            return flow
        # the layer above reads this output again at the next step, as its x[t-1] (QRNN)
        later, then = shift(time, 1), inputs.get(previous, sympy.S.Zero)
        return flow + self.seeded(then, self.step_seeds(above, later, then.free_symbols), above, later)

    def step_seeds(self, layer, time, read=None):
        """Each seed of the step (``d_h_next``, ``d_h_out``) and what flows
        into it; ``read``: only the seeds among these symbols (what flows from
        above is not built where nothing reads it: in a stack of three cells
        that read x[t-1] it would reach two steps ahead)."""
        seeds = {sympy.Symbol(naming.next_adjoint_name(s.name)): s for s in self.cell.states}
        seeds[sympy.Symbol(naming.output_adjoint_name(self.cell.output_state.name))] = None
        if read is not None:
            seeds = {seed: state for seed, state in seeds.items() if seed in read}
        return {seed: self.from_above(layer, time) if state is None else self.at(
            self.cell_adjoints.inputs.get(self.derived.graph.prev_symbols[state], sympy.S.Zero), layer, shift(time, 1))
            for seed, state in seeds.items()}

    def seeded(self, expr, seeds, layer, time="t"):
        """A cell adjoint expression at ``time`` with the step's seeds replaced by ``seeds``' values."""
        placeholders = {s: sympy.Dummy(s.name) for s in seeds}
        at_time = self.at(expr.xreplace(placeholders), layer, time)
        return at_time.xreplace({placeholders[s]: value for s, value in seeds.items()})

    def recurrence(self, layer, time="t"):
        """(adjoint at time, its expression) of each of the layer's adjoint equations, seeded."""
        seeds = self.step_seeds(layer, time)
        return [(self.at(lhs, layer, time), self.seeded(rhs, seeds, layer, time))
                for lhs, rhs in self.cell_adjoints.equations]

    def head_recurrence(self, time="t"):
        """(adjoint at time, its expression) of the output layer's adjoint equations."""
        return [(self.head_at(lhs, time), self.head_at(rhs, time)) for lhs, rhs in self.head_adjoints.equations]

    def copy_term(self, param, time, copies=False):
        """The engine's contribution of network parameter ``param``'s copy at ``time`` (recurrence form)."""
        layer = self.placement.param_layer(param)
        if layer is None:
            return self.head_at(sympy.Add(*self.head_adjoints.params[param]), time, copies)
        terms = self.cell_adjoints.params[self.placement.cell_param(param)]
        return self.at(sympy.Add(*terms), layer, time, copies)

    # --- each copy's chain to C -------------------------------------------------------

    def window(self, copy):
        """The output steps whose gradient reaches the copy used at step
        ``copy``: t = copy ... copy + K - 1 with truncation to K steps."""
        last = self.steps if self.truncate is None else min(self.steps, copy + self.truncate - 1)
        return [t for t in self.output_steps() if copy <= t <= last]

    def atom(self, kind, time, param=None):
        atom = ChainAtom(kind, time, param)
        self.atoms[atom.symbol] = atom
        return atom.symbol

    def chain(self, param, copy):
        """dC/d(copy used at step ``copy`` of network parameter ``param``) as the
        product of the derivatives along its chains to C, nested so its size
        grows linearly in T; None when no output's window reaches it."""
        if self.placement.param_layer(param) is None:
            return self.atom(OUTPUT_LAYER, copy, param)
        gradient = None
        window = self.window(copy)
        if not window:
            return None
        for t in range(window[-1], copy - 1, -1):
            if gradient is not None:
                gradient = gradient * self.atom(JACOBIAN, t + 1)
            if t in window:
                direct = self.atom(OUTPUT, t)
                gradient = direct if gradient is None else direct + gradient
        return gradient * self.atom(PARAMETER, copy, param)

    def atom_value(self, symbol):
        """The matrix an atom of :meth:`chain` stands for, in step symbols."""
        atom, states = self.atoms[symbol], self.states
        if atom.kind == JACOBIAN:
            return sympy.Matrix([[self.state_derivative(l, s, m, r, atom.time) for m, r in states]
                                 for l, s in states])
        if atom.kind == OUTPUT:
            return sympy.Matrix([[self.output_derivative(l, s, atom.time) for l, s in states]])
        if atom.kind == OUTPUT_LAYER:
            term = self.copy_term(atom.param, atom.time, copies=True)
            return sympy.Matrix([[scalar(term.xreplace(dict(self.head_adjoints.equations)))]])
        return sympy.Matrix([[self.parameter_derivative(l, s, atom.param, atom.time)] for l, s in states])

    # --- written out ---------------------------------------------------------------

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


def local_derivatives(graph, node, shown):
    """(input, d out / d input) of ``node`` of the step ``graph``, through the
    nodes not in ``shown`` (outputs of nodes displayed on their own) that it
    inlines, by the engine with a unit seed; scalar units, step symbols."""
    by_out = {n.out: n for n in graph.nodes}
    feeders, pending = [], [node]
    while pending:
        current = pending.pop()
        feeders.append(current)
        for symbol in sorted(node_expr(current).free_symbols, key=str):
            if symbol in by_out and symbol not in shown:
                pending.append(by_out[symbol])
    adjoints = reverse([n for n in graph.nodes if n in feeders], {node.out: sympy.Integer(1)})
    definitions = dict(adjoints.equations)

    def inlined(expr):  # in the unit seed only: no adjoint of an inlined intermediate
        previous = None
        while previous != expr:
            previous, expr = expr, expr.xreplace(definitions)
        return scalar(expr)

    pairs = [(s, inlined(e)) for s, e in adjoints.inputs.items() if e != 0]
    return pairs + [(sympy.Symbol(p), inlined(sympy.Add(*terms))) for p, terms in adjoints.params.items()]
