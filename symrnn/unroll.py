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
"""

import functools

import sympy

from . import naming
from .budgets import check_unrolled
from .derived import derive_network
from .errors import ConfigError
from .graph import Affine, Compute, Total, substitute
from .network import TARGET, TOP
from .rules import dot, dot_t, outer, row_sum


def scalar(expr):
    """An engine expression read with one unit per vector: products of scalars."""
    return substitute(expr, calls=_SCALAR_CALLS)


_SCALAR_CALLS = {dot: lambda w, v: w * v, dot_t: lambda w, u: w * u, outer: lambda u, v: u * v,
                 row_sum: lambda u: u}


# Unrolling reads the same step equations at every step and layer: each is
# read in scalar units once.
_step_scalar = functools.lru_cache(maxsize=1024)(scalar)


def copy_symbol(param, t):
    """The copy of parameter ``param`` used at step ``t``: ``w_x_2``."""
    return sympy.Symbol(f"{param}_{t}")


class Unrolled:
    """``network`` unrolled for ``steps`` steps, one unit per layer."""

    def __init__(self, network, steps):
        """``network``: a :class:`symrnn.network.Network` or its
        :class:`symrnn.derived.DerivedNetwork` (whose derivation is then reused)."""
        self.derived = derive_network(network)
        network = self.derived.network
        if not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"the number of steps must be a positive integer, got {steps!r}")
        if network.out_activation == "softmax":
            raise ConfigError("with one output unit softmax is constant; unroll a network with "
                              "identity or sigmoid output and squared cost")
        check_unrolled(network, steps)
        self.network, self.steps = network, steps
        self.graph = self.derived.graph
        self.values, self.adjoint_values, self.copy_terms = {}, {}, {}
        self.inputs = [sympy.Symbol(f"x_{t}") for t in range(1, steps + 1)]
        self.initial = {}
        tops = self._forward_layers()
        self.cost = self._forward_head(tops)
        self._backward(tops)

    # --- naming -------------------------------------------------------------

    def _layer_name(self, name, layer):
        return naming.layer_name(name, layer, self.network.layers)

    def at(self, symbol, layer, t):
        """The symbol of a node's value in ``layer`` at step ``t``."""
        return sympy.Symbol(f"{self._layer_name(symbol.name, layer)}_{t}")

    def output_steps(self):
        return range(1, self.steps + 1) if self.network.output == "sequence" else [self.steps]

    # --- forward ------------------------------------------------------------

    def _forward_layers(self):
        below = self.inputs
        for layer in range(1, self.network.layers + 1):
            below = [self._forward_step(layer, t, below[t - 1]) for t in range(1, self.steps + 1)]
        return below

    def _state_at(self, state, layer, t):
        if t > 0:
            return self.at(state, layer, t)
        symbol = sympy.Symbol(self._layer_name(naming.initial_state_name(state.name), layer))
        self.initial[symbol.name] = symbol
        return symbol

    def _step_substitution(self, layer, t, layer_input):
        subs = {self.graph.input: layer_input}
        for state, prev_symbol in self.graph.prev_symbols.items():
            subs[prev_symbol] = self._state_at(state, layer, t - 1)
        for node in self.graph.nodes:
            subs[node.out] = self.at(node.out, layer, t)
        for param in self.network.cell.parameters:
            subs[sympy.Symbol(param.name)] = copy_symbol(self._layer_name(param.name, layer), t)
        return subs

    def _forward_step(self, layer, t, layer_input):
        subs = self._step_substitution(layer, t, layer_input)
        for node in self.graph.nodes:
            self.values[subs[node.out]] = _step_scalar(node_expr(node)).xreplace(subs)
        return subs[self.network.cell.output_state]

    def _head_substitution(self, t, top):
        nodes = self.derived.head
        subs = {TOP: top, TARGET: sympy.Symbol(f"y_{t}")}
        for node in nodes:
            subs[node.out] = sympy.Symbol(f"{node.out.name}_{t}")
            if isinstance(node, Affine):
                subs[node.weight] = copy_symbol(node.weight.name, t)
                subs[node.bias] = copy_symbol(node.bias.name, t)
        return nodes, subs

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
        step_adjoints = self.derived.cell
        for layer in range(self.network.layers, 0, -1):
            d_tops = self._backward_layer(layer, step_adjoints, d_tops, tops)

    def _backward_head(self, tops):
        head_adjoints = self.derived.from_cost
        d_tops = [sympy.S.Zero] * self.steps
        for t in self.output_steps():
            _, subs = self._head_substitution(t, tops[t - 1])
            subs.update(self._adjoint_substitution(head_adjoints, subs))
            self._record(head_adjoints, subs, params_at=lambda name, t=t: copy_symbol(name, t))
            d_tops[t - 1] = _step_scalar(head_adjoints.inputs[TOP]).xreplace(subs)
        return d_tops

    def _adjoint_substitution(self, adjoints, subs):
        return {lhs: sympy.Symbol(naming.adjoint_name(subs[_primal(lhs, subs)].name))
                for lhs, _ in adjoints.equations}

    def _record(self, adjoints, subs, params_at):
        for lhs, rhs in adjoints.equations:
            self.adjoint_values[subs[lhs]] = _step_scalar(rhs).xreplace(subs)
        for name, terms in adjoints.params.items():
            self.copy_terms[params_at(name)] = _step_scalar(sympy.Add(*terms)).xreplace(subs)

    def _backward_layer(self, layer, adjoints, d_tops, tops):
        cell = self.network.cell
        carry = {s: sympy.S.Zero for s in cell.states}
        d_inputs = [sympy.S.Zero] * self.steps
        layer_inputs = self.inputs if layer == 1 else self._layer_outputs(layer - 1)
        for t in range(self.steps, 0, -1):
            subs = self._step_substitution(layer, t, layer_inputs[t - 1])
            for state in cell.states:
                subs[sympy.Symbol(naming.next_adjoint_name(state.name))] = carry[state]
            subs[sympy.Symbol(naming.output_adjoint_name(cell.output_state.name))] = d_tops[t - 1]
            subs.update(self._adjoint_substitution(adjoints, subs))
            self._record(adjoints, subs,
                         params_at=lambda name, t=t: copy_symbol(self._layer_name(name, layer), t))
            for state, prev_symbol in self.graph.prev_symbols.items():
                carry[state] = _step_scalar(adjoints.inputs.get(prev_symbol, sympy.S.Zero)).xreplace(subs)
            d_inputs[t - 1] = _step_scalar(adjoints.inputs.get(cell.input, sympy.S.Zero)).xreplace(subs)
        self.initial_adjoints = getattr(self, "initial_adjoints", {})
        for state in cell.states:
            self.initial_adjoints[self._layer_name(naming.initial_state_name(state.name), layer)] = carry[state]
        if layer == 1:
            self.input_adjoints = d_inputs
        return d_inputs

    def _layer_outputs(self, layer):
        return [self.at(self.network.cell.output_state, layer, t) for t in range(1, self.steps + 1)]

    # --- results ------------------------------------------------------------

    def parameter_names(self):
        names = [self._layer_name(p.name, layer) for layer in range(1, self.network.layers + 1)
                 for p in self.network.cell.parameters]
        return names + [naming.OUTPUT_WEIGHT, naming.OUTPUT_BIAS]

    def copies(self, param):
        """The copies of ``param`` that the unrolled network uses, in step order."""
        steps = self.output_steps() if param in (naming.OUTPUT_WEIGHT, naming.OUTPUT_BIAS) else \
            range(1, self.steps + 1)
        return [copy_symbol(param, t) for t in steps]

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
        return expr.xreplace({c: sympy.Symbol(p) for p in self.parameter_names() for c in self.copies(p)})


def node_expr(node):
    """The expression a node computes: ``dot(w, v) + b`` for an affine node."""
    if isinstance(node, Affine):
        product = dot(node.weight, node.arg)
        return product + node.bias if node.bias is not None else product
    assert isinstance(node, (Compute, Total))
    return node.expr


def _primal(adjoint, subs):
    """The node symbol whose adjoint ``d_<name>`` is (``d_pre_f`` -> ``pre_f``)."""
    name = adjoint.name.removeprefix("d_")
    return next(s for s in subs if isinstance(s, sympy.Symbol) and s.name == name)
