"""Placing a cell's step expressions at a layer and a step of the unrolled
network, and the copies of parameters that placing creates.

The engine derives one step of one layer, in *step symbols*: the cell's
vectors (``f``, ``h``), the previous states (``h_prev``), the input ``x``,
the parameters (``w_x``), the adjoints (``d_f``) and the output layer's
``top``, ``y_pre``, ``y``, ``w_y``, ``b_y``. :class:`Placement` is the one
place that says what each becomes in layer l at step t:

* a vector or adjoint ``v`` -> ``v`` at t: ``f_3``, ``f_l2_3`` in layer 2 of
  a stack (``f@t``, ``f_l2@t`` at a generic step ``t``, ``t-1``, ``t+1``);
* a previous state -> the state at t-1; at step 0 its initial value ``h0``
  (``h0_l2``);
* the input -> ``x_t`` in layer 1, layer l-1's exposed vector at t above it;
  the previous input (``x_prev``) -> the input at t-1, 0 at the first step;
* a parameter -> the layer's shared parameter ``w_x_l2``, or (``copies``) the
  copy step t uses: a :class:`ParamCopy`;
* in the output layer, ``top`` -> the top layer's exposed state at t, ``w_y``
  and ``b_y`` -> shared or copies, the length mask kept (or 1: a derivation
  follows one item over all its steps), anything else -> itself at t.

A copy is a value, :class:`ParamCopy` (parameter, layer, step); its symbol's
name (``w_x_3``, ``w_x_l2_3``, ``w_y_3``) is only ever written from it, never
read back.

    >>> import symrnn
    >>> from symrnn.rules import prev
    >>> a, w_a = sympy.symbols("a w_a")
    >>> place = Placement(symrnn.network("rnn", layers=2))
    >>> place.at(w_a * prev(a), layer=2, time=1, copies=True)
    a0_l2*w_a_l2_1
    >>> place.copy("w_a", 2, 1)
    ParamCopy(param='w_a', layer=2, step=1, layers=2)

Imports: :mod:`symrnn.naming`, the network's output-layer symbols, the step
graph (:mod:`symrnn.derived`, :func:`symrnn.graph.substitute`) and
:func:`symrnn.rules.prev` only.
"""

import functools
from dataclasses import dataclass

import sympy

from . import naming
from .derived import derive_network
from .graph import substitute
from .network import COST, MASK, TOP
from .rules import is_units, prev

GENERIC_TIMES = ("t-1", "t", "t+1")
OUTPUT_PARAMS = (naming.OUTPUT_WEIGHT, naming.OUTPUT_BIAS)


@dataclass(frozen=True)
class ParamCopy:
    """The copy of parameter ``param`` (the cell's name, ``w_x``; or the
    output layer's ``w_y``, ``b_y``) that ``layer`` (None: the output layer)
    uses at ``step``, in a network of ``layers`` layers."""

    param: str
    layer: int | None
    step: int
    layers: int = 1

    @property
    def network_param(self):
        """The network's name of the copied parameter: ``w_x``, ``w_x_l2``, ``w_y``."""
        return self.param if self.layer is None else naming.layer_name(self.param, self.layer, self.layers)

    @property
    def name(self):
        """``w_x_3``, ``w_x_l2_3``, ``w_y_3``."""
        return f"{self.network_param}_{self.step}"

    @property
    def symbol(self):
        return sympy.Symbol(self.name)


def param_origins(network):
    """Each network parameter's (cell parameter, layer): ``w_x_l2`` -> (``w_x``, 2);
    the output layer's -> (``w_y``, None)."""
    origins = {name: (base, layer) for layer in range(1, network.layers + 1)
               for base, name in network.layer_params(layer)}
    return {**origins, **{name: (name, None) for name in OUTPUT_PARAMS}}


def generic_symbol(name, time):
    """The symbol of ``name`` at a generic step: ``f@t``."""
    return sympy.Symbol(f"{name}@{time}")


def step_symbol(name, time):
    """The symbol of ``name`` at a step: ``f@t`` for a generic time, else ``f_3``."""
    return generic_symbol(name, time) if isinstance(time, str) else sympy.Symbol(f"{name}_{time}")


def shift(time, by):
    """``time`` shifted by ``by`` steps: ('t', -1) -> 't-1', (3, 1) -> 4."""
    if not isinstance(time, str):
        return time + by
    base = {"t-1": -1, "t": 0, "t+1": 1}[time] + by
    return "t" if base == 0 else f"t{base:+d}"


class Placement:
    """Where ``network``'s step symbols go at each layer and step (a
    :class:`~symrnn.network.Network` or its :class:`~symrnn.derived.DerivedNetwork`)."""

    def __init__(self, network):
        derived = derive_network(network)
        self.network, self.cell, self.graph = derived.network, derived.network.cell, derived.graph
        self.layers = self.network.layers
        self.state_of_prev = {p: s for s, p in self.graph.prev_symbols.items()}
        self.origins = param_origins(self.network)

    # --- single symbols ----------------------------------------------------------

    def layer_name(self, name, layer):
        return naming.layer_name(name, layer, self.layers)

    def symbol(self, name, layer, time):
        """Layer ``layer``'s vector (or adjoint) ``name`` at ``time``: ``f_l2_3``, ``f@t``."""
        return step_symbol(self.layer_name(name, layer), time)

    def state(self, name, layer, time):
        """A state's symbol at ``time``; at step 0 its initial value ``h0``."""
        if time == 0:
            return sympy.Symbol(self.layer_name(naming.initial_state_name(name), layer))
        return self.symbol(name, layer, time)

    def initial_states(self):
        """Every layer's initial states, layer by layer."""
        return [self.state(s.name, layer, 0) for layer in range(1, self.layers + 1) for s in self.graph.prev_symbols]

    def layer_input(self, layer, time):
        """What ``layer`` reads as its input at ``time``: x_t, or the exposed state below."""
        if layer == 1:
            return step_symbol(self.cell.input.name, time)
        return self.state(self.cell.output_state.name, layer - 1, time)

    def copy(self, param, layer, step):
        """The :class:`ParamCopy` of cell parameter ``param`` (layer None: ``w_y``, ``b_y``)."""
        assert isinstance(step, int), f"a copy is used at a concrete step, not {step!r}"
        return ParamCopy(param, layer, step, self.layers)

    def copy_of(self, network_param, step):
        """The :class:`ParamCopy` of network parameter ``network_param`` (``w_x_l2``) at ``step``."""
        base, layer = self.origins[network_param]
        return self.copy(base, layer, step)

    def param_layer(self, network_param):
        """The layer of a network parameter; None for the output layer's."""
        return self.origins[network_param][1]

    def cell_param(self, network_param):
        """The cell's name of a network parameter: ``w_x_l2`` -> ``w_x``."""
        return self.origins[network_param][0]

    def place(self, symbol, layer, time, copies=False):
        """One cell step symbol in ``layer`` at ``time`` (the rules of the module docstring)."""
        if symbol in self.state_of_prev:
            return self.state(self.state_of_prev[symbol].name, layer, shift(time, -1))
        if symbol == self.cell.input:
            return self.layer_input(layer, time)
        if symbol == self.graph.prev_input:
            return sympy.S.Zero if time == 1 else self.layer_input(layer, shift(time, -1))
        if is_units(symbol):  # a size (H in row_sum(d)/H) is the same at every step and layer
            return symbol
        if naming.is_param_name(symbol.name):
            if copies:
                return self.copy(symbol.name, layer, time).symbol
            return sympy.Symbol(self.layer_name(symbol.name, layer))
        return self.symbol(symbol.name, layer, time)

    def place_head(self, symbol, time, copies=False, mask=MASK):
        """One output-layer symbol at ``time``; the mask becomes ``mask``."""
        if symbol == TOP:
            return self.state(self.cell.output_state.name, self.layers, time)
        if symbol == MASK:
            return mask
        if symbol == COST:
            return symbol
        if symbol.name in OUTPUT_PARAMS:
            return self.copy(symbol.name, None, time).symbol if copies else symbol
        return step_symbol(symbol.name, time)

    # --- expressions ---------------------------------------------------------------

    def at(self, expr, layer, time, copies=False):
        """A cell expression (``prev(h)`` or ``h_prev`` for the previous state) in
        ``layer`` at ``time``; with ``copies``, each parameter replaced by the copy
        that step uses. Dummies are placeholders the caller fills in."""
        lowered = {prev(s): p for s, p in self.graph.prev_symbols.items()}
        if self.graph.prev_input is not None:
            lowered[prev(self.cell.input)] = self.graph.prev_input
        expr = substitute(expr, lowered)
        return substitute(expr, self.substitution(expr.free_symbols, layer, time, copies))

    def substitution(self, symbols, layer, time, copies=False):
        """``{symbol: placed}`` for cell step ``symbols`` (Dummies left out)."""
        return {s: self.place(s, layer, time, copies) for s in symbols if not isinstance(s, sympy.Dummy)}

    def head_at(self, expr, time, copies=False, mask=MASK):
        """An output-layer expression at ``time``."""
        return expr.xreplace(self.head_substitution(expr.free_symbols, time, copies, mask))

    def head_substitution(self, symbols, time, copies=False, mask=MASK):
        return {s: self.place_head(s, time, copies, mask) for s in symbols}

    @functools.cached_property
    def pre_activations(self):
        """The step graph's pre-activation nodes, each to its gate: ``pre_f`` -> ``f`` (the
        graph names the argument of an equation's function ``pre_<gate>``; this is the one
        place that reads that name)."""
        gates = {lhs.name: lhs for lhs, _ in self.cell.equations}
        prefix = "pre_"
        return {n.out: gates[n.out.name[len(prefix):]] for n in self.graph.nodes
                if n.out.name.startswith(prefix) and n.out.name[len(prefix):] in gates}

    @functools.cached_property
    def cell_step_symbols(self):
        """Every symbol the cell's step equations and their adjoints are written in."""
        derived = derive_network(self.network)
        symbols = {self.cell.input, *self.graph.prev_symbols.values(), *(n.out for n in self.graph.nodes)}
        symbols |= {self.graph.prev_input} - {None}
        symbols |= {sympy.Symbol(p.name) for p in self.cell.parameters}
        return symbols | {lhs for lhs, _ in derived.cell.equations}

    @functools.cached_property
    def head_step_symbols(self):
        """Every symbol of the output layer, its cost and their adjoints (not the mask or C)."""
        derived = derive_network(self.network)
        symbols = {TOP, *(n.out for n in derived.head)} | {lhs for lhs, _ in derived.from_cost.equations}
        for node in derived.head:
            symbols |= node_symbols(node)
        return symbols | (derived.cost.expr.free_symbols - {MASK})

    def step_substitution(self, layer, time, copies=True):
        """:meth:`substitution` of every symbol of the cell's step and its adjoints."""
        return self.substitution(self.cell_step_symbols, layer, time, copies)

    def head_step_substitution(self, time, copies=True, mask=MASK):
        """:meth:`head_substitution` of every symbol of the output layer and its adjoints."""
        return self.head_substitution(self.head_step_symbols, time, copies, mask)


def node_symbols(node):
    """The symbols a node of the output layer reads and writes."""
    expr = getattr(node, "expr", None)
    if expr is not None:
        return {node.out} | expr.free_symbols
    return {node.out, node.weight, node.arg} | ({node.bias} if node.bias is not None else set())
