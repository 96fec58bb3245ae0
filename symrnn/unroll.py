"""The network unrolled for T steps with scalar units: every step's copy of
every parameter is a distinct symbol.

:class:`Unrolled` holds

* the forward values of every node at every step (``f_2``, ``c_3``, ...),
  each defined in terms of the previous ones (:attr:`values`), and the cost C;
* the engine's BPTT applied step by step: the adjoint of every node at every
  step (:attr:`adjoint_values`), obtained by evaluating the step's derived
  adjoint equations (the same ones code generation prints) backwards in time;
* the gradient of C with respect to each copy ``w_x_2`` (:meth:`copy_gradient`)
  and, summed over copies, each parameter (:meth:`gradient`).

:meth:`expand` writes any of these out in terms of inputs, initial states,
targets and parameter copies, which is what SymPy's own ``diff`` of the nested
cost (:meth:`nested_cost`) must equal.

Every symbol at a step is placed by :class:`symrnn.placement.Placement`, and
every copy is a :class:`~symrnn.placement.ParamCopy` value: :attr:`Unrolled.copy_of`
maps a copy's symbol to it, :meth:`Unrolled.param_copies` lists a parameter's.

Imports: the derived network (:mod:`symrnn.derived`), :mod:`symrnn.placement`,
the step graph, the network's symbols, the rule table's functions, naming,
budgets and errors only.
"""

import functools

import sympy

from . import naming
from .budgets import check_unrolled
from .derived import derive_network
from .errors import ConfigError
from .graph import Affine, Compute, Total, substitute
from .network import TOP
from .placement import OUTPUT_PARAMS, Placement
from .rules import dot, dot_t, is_units, mean, outer, row_sum


def scalar(expr):
    """An engine expression read with one unit per vector: products of scalars."""
    expr = sympy.sympify(expr)
    return substitute(expr, {s: sympy.S.One for s in expr.free_symbols if is_units(s)}, _SCALAR_CALLS)


# With one unit a sum or mean over the units is the unit itself, a transposed weight the weight,
# and every size (H in row_sum(d)/H) is 1.
_SCALAR_CALLS = {dot: lambda w, v: w * v, dot_t: lambda w, u: w * u, outer: lambda u, v: u * v,
                 row_sum: lambda u: u, mean: lambda u: u}


# Unrolling reads the same step equations at every step and layer: each is
# read in scalar units once.
_step_scalar = functools.lru_cache(maxsize=1024)(scalar)


def copy_symbol(param, t):
    """The symbol of network parameter ``param``'s copy at step ``t``: ``w_x_2``
    (kept for callers that have a name; :class:`~symrnn.placement.ParamCopy`
    is the value, and :attr:`Unrolled.copy_of` maps each copy symbol to it)."""
    return sympy.Symbol(f"{param}_{t}")


class Unrolled:
    """``network`` unrolled for ``steps`` steps, one unit per layer.

    Every symbol is placed by :class:`~symrnn.placement.Placement`;
    :attr:`copy_of` maps each copy symbol to its
    :class:`~symrnn.placement.ParamCopy` (parameter, layer, step).
    """

    def __init__(self, network, steps):
        """``network``: a :class:`symrnn.network.Network` or its
        :class:`symrnn.derived.DerivedNetwork` (whose derivation is then reused)."""
        self.derived = derive_network(network)
        network = self.derived.network
        if not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"the number of steps must be a positive integer, got {steps!r}")
        if not network.has_output_layer:
            raise ConfigError("output 'states' has no output layer; derivations, copy tables and pictures "
                              "unroll a network with one (output last or sequence)")
        if network.out_activation == "softmax":
            raise ConfigError("with one output unit softmax is constant; unroll a network with "
                              "identity or sigmoid output and squared cost")
        check_unrolled(network, steps)
        self.network, self.steps = network, steps
        self.graph = self.derived.graph
        self.placement = Placement(self.derived)
        self.copy_of = {c.symbol: c for c in self._all_copies()}
        self.values, self.adjoint_values, self.copy_terms = {}, {}, {}
        self.inputs = [self.placement.layer_input(1, t) for t in range(1, steps + 1)]
        self.initial = {s.name: s for s in self.placement.initial_states()}
        tops = self._forward_layers()
        self.cost = self._forward_head(tops)
        self._backward(tops)

    def _all_copies(self):
        place = self.placement
        cell = [place.copy(p.name, layer, t) for layer in range(1, self.network.layers + 1)
                for p in self.network.cell.parameters for t in range(1, self.steps + 1)]
        return cell + [place.copy(p, None, t) for p in OUTPUT_PARAMS for t in self.output_steps()]

    # --- naming -------------------------------------------------------------

    def at(self, symbol, layer, t):
        """The symbol of a node's value in ``layer`` at step ``t``."""
        return self.placement.symbol(symbol.name, layer, t)

    def output_steps(self):
        return range(1, self.steps + 1) if self.network.output == "sequence" else [self.steps]

    # --- forward ------------------------------------------------------------

    def _forward_layers(self):
        exposed = self.network.cell.output_state
        for layer in range(1, self.network.layers + 1):
            for t in range(1, self.steps + 1):
                self._forward_step(layer, t)
        return [self.placement.state(exposed.name, self.network.layers, t) for t in range(1, self.steps + 1)]

    def _forward_step(self, layer, t):
        subs = self.placement.step_substitution(layer, t)
        for node in self.graph.nodes:
            self.values[subs[node.out]] = _step_scalar(node_expr(node)).xreplace(subs)

    def _head_substitution(self, t, top=None):
        """(the output layer's nodes, their symbols placed at step ``t``)."""
        subs = self.placement.head_step_substitution(t)
        if top is not None:
            subs[TOP] = top
        return self.derived.head, subs

    def _forward_head(self, tops):
        total = sympy.S.Zero
        for t in self.output_steps():
            nodes, subs = self._head_substitution(t, tops[t - 1])
            for node in nodes:
                self.values[subs[node.out]] = _step_scalar(node_expr(node)).xreplace(subs)
            total += _step_scalar(self.derived.cost.expr).xreplace(subs)
        return total

    # --- backward: the step's adjoint equations, evaluated in time order ------

    def _backward(self, tops):
        d_tops = self._backward_head(tops)
        for layer in range(self.network.layers, 0, -1):
            d_tops = self._backward_layer(layer, self.derived.cell, d_tops)

    def _backward_head(self, tops):
        head_adjoints = self.derived.from_cost
        d_tops = [sympy.S.Zero] * self.steps
        for t in self.output_steps():
            _, subs = self._head_substitution(t, tops[t - 1])
            self._record(head_adjoints, subs, lambda name, t=t: self.placement.copy(name, None, t))
            d_tops[t - 1] = _step_scalar(head_adjoints.inputs[TOP]).xreplace(subs)
        return d_tops

    def _record(self, adjoints, subs, copy_at):
        for lhs, rhs in adjoints.equations:
            self.adjoint_values[subs[lhs]] = _step_scalar(rhs).xreplace(subs)
        for name, terms in adjoints.params.items():
            self.copy_terms[copy_at(name).symbol] = _step_scalar(sympy.Add(*terms)).xreplace(subs)

    def _backward_layer(self, layer, adjoints, d_tops):
        cell = self.network.cell
        carry = {s: sympy.S.Zero for s in cell.states}
        d_inputs = [sympy.S.Zero] * self.steps
        carry_input = sympy.S.Zero  # the adjoint of the input at t from step t+1's x[t-1]
        for t in range(self.steps, 0, -1):
            subs = self.placement.step_substitution(layer, t)
            for state in cell.states:
                subs[sympy.Symbol(naming.next_adjoint_name(state.name))] = carry[state]
            subs[sympy.Symbol(naming.output_adjoint_name(cell.output_state.name))] = d_tops[t - 1]
            self._record(adjoints, subs, lambda name, t=t: self.placement.copy(name, layer, t))
            for state, prev_symbol in self.graph.prev_symbols.items():
                carry[state] = _step_scalar(adjoints.inputs.get(prev_symbol, sympy.S.Zero)).xreplace(subs)
            d_inputs[t - 1] = _step_scalar(adjoints.inputs.get(cell.input, sympy.S.Zero)).xreplace(subs) + carry_input
            if self.graph.prev_input is not None:
                carry_input = _step_scalar(adjoints.inputs.get(self.graph.prev_input, sympy.S.Zero)).xreplace(subs)
        self.initial_adjoints = getattr(self, "initial_adjoints", {})
        for state in cell.states:
            self.initial_adjoints[self.placement.state(state.name, layer, 0).name] = carry[state]
        if layer == 1:
            self.input_adjoints = d_inputs
        return d_inputs

    # --- results ------------------------------------------------------------

    def parameter_names(self):
        return list(self.placement.origins)

    def param_copies(self, param):
        """The :class:`~symrnn.placement.ParamCopy` values of network parameter
        ``param`` that the unrolled network uses, in step order."""
        steps = self.output_steps() if self.placement.param_layer(param) is None else range(1, self.steps + 1)
        return [self.placement.copy_of(param, t) for t in steps]

    def copies(self, param):
        """The symbols of the copies of ``param`` that the unrolled network uses, in step order."""
        return [c.symbol for c in self.param_copies(param)]

    def copy_gradient(self, copy):
        """dC/d(copy) as the engine's BPTT gives it (in adjoint and value symbols)."""
        return self.copy_terms.get(copy, sympy.S.Zero)

    def gradient(self, param):
        """dC/d(param): the sum over its copies."""
        return sympy.Add(*[self.copy_gradient(c) for c in self.copies(param)])

    def expand(self, expr):
        """``expr`` in terms of inputs, initial states, targets and copies only."""
        definitions = {**self.values, **self.adjoint_values}
        previous = None
        while previous != expr:
            previous, expr = expr, substitute(expr, definitions)
        return expr

    def nested_cost(self):
        """C as one nested expression of inputs, initial states, targets and copies."""
        return self.expand(self.cost)

    def identify_copies(self, expr):
        """Replace every copy by its parameter (all steps share one weight)."""
        return expr.xreplace({symbol: sympy.Symbol(c.network_param) for symbol, c in self.copy_of.items()})


def node_expr(node):
    """The expression a node computes: ``dot(w, v) + b`` for an affine node."""
    if isinstance(node, Affine):
        return node.product + node.bias if node.bias is not None else node.product
    assert isinstance(node, (Compute, Total))
    return node.expr
