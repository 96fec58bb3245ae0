"""The one generic reverse-mode engine: adjoint equations from a node graph.

Given nodes (from :mod:`symrnn.graph`) and the adjoints flowing into some of
their outputs (the *seeds*), :func:`reverse` walks the nodes backwards and
applies each node's rule from :mod:`symrnn.rules`, producing SymPy equations
``d_y = ...`` for every node output that C depends on, the adjoints of the
graph's inputs, and each parameter's per-step gradient contributions.

For a recurrent cell the seeds of state ``s`` are ``d_s_next`` (from step
t+1) and, for the state the layer exposes, ``d_s_out`` (from the output or the
layer above at step t); the adjoint of ``s_prev`` is then the BPTT recurrence:
it becomes ``d_s_next`` of step t-1.

Imports: the step graph, naming and the rule table.
"""

from collections import defaultdict
from dataclasses import dataclass, field

import sympy

from . import naming
from .graph import Affine, Compute, Total, flatten_cell, is_param, step_sizes
from .rules import ElementwiseRule, affine_vjp, function_rule, row_sum


@dataclass
class Adjoints:
    """The result of one reverse pass.

    ``equations``: ``(d_y, expr)`` for node outputs, in the order backward
    computes them. ``node_adjoint``: the symbol holding each node output's
    adjoint (an equation's left side, or the one symbol it aliases).
    ``inputs``: adjoint expressions of graph inputs (x, previous states).
    ``params``: per-parameter list of contributions at one step; a matrix's
    are ``outer(d_u, v)`` terms, a vector's elementwise expressions, each to
    be summed over the batch (and over time, for a recurrent cell).
    """

    equations: list = field(default_factory=list)
    node_adjoint: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)


def adjoint_symbol(symbol):
    return sympy.Symbol(naming.adjoint_name(symbol.name))


def reverse(nodes, seeds, constants=(), sizes=None):
    """Reverse pass over ``nodes`` seeded with ``{symbol: adjoint expr}``.

    ``constants`` are inputs that get no adjoint (targets, masks).
    ``sizes``: symbol -> size letter (:func:`symrnn.graph.step_sizes`), for
    cells whose vectors have several sizes; None where all have one.
    """
    contributions = defaultdict(list)  # symbol -> [(term, the size letter it is held at)]
    for symbol, expr in seeds.items():
        contributions[symbol].append((expr, _size(sizes, symbol)))
    stored_values = {n.expr: n.out for n in nodes if isinstance(n, Compute)}
    result = Adjoints()
    params = defaultdict(list)
    for node in reversed(nodes):
        terms = contributions.pop(node.out, [])
        if not terms:
            continue  # C does not depend on this node
        terms, held_at = _one_size(terms)
        bar = _adjoint_of(node, terms, result)
        for target, expr in local_vjp(node, bar, held_at, sizes):
            if target in constants:
                continue
            expr = expr.xreplace(stored_values)
            if is_param(target):
                params[target.name].append(expr)
            else:  # a vector's adjoint has its size; one number per item's, the size of the place reading it
                size = _size(sizes, target)
                contributions[target].append((expr, held_at if size == PER_ITEM else size))
    result.inputs = {s: sympy.Add(*_one_size(terms)[0]) for s, terms in contributions.items() if s not in constants}
    result.params = dict(params)
    return result


PER_ITEM = "1"  # the size letter of one number per item (a mean)


def _size(sizes, symbol):
    return None if sizes is None else sizes.get(symbol)


def _one_size(terms):
    """``(terms, the size they are held at)``. A value with one number per item
    read by places of several sizes gets each place's term summed over its
    units: terms of different sizes cannot be added unit by unit."""
    held = {size for _, size in terms}
    if len(held) == 1:
        return [expr for expr, _ in terms], held.pop()
    return [expr if size == PER_ITEM else row_sum(expr) for expr, size in terms], PER_ITEM


def _adjoint_of(node, terms, result):
    """Emit ``d_y = sum(terms)``, or alias when the sum is one symbol or a number."""
    total = sympy.Add(*terms)
    if isinstance(total, (sympy.Symbol, sympy.Number)):
        bar = total
    else:
        bar = adjoint_symbol(node.out)
        result.equations.append((bar, total))
    result.node_adjoint[node.out] = bar
    return bar


def local_vjp(node, bar, held_at=None, sizes=None):
    """``(input, contribution)`` pairs for one node, from the rule table;
    ``held_at``, the size letter ``bar`` is held at, and ``sizes`` as
    :func:`reverse`'s, tell a row-wise rule where sizes differ."""
    if isinstance(node, Affine):
        arg_bar, weight_bar = affine_vjp(node.weight, node.arg, bar, node.transposed)
        pairs = [(node.arg, arg_bar), (node.weight, weight_bar)]
        return pairs + ([(node.bias, bar)] if node.bias is not None else [])
    if isinstance(node, Total):
        return _polynomial_vjp(node.expr, sympy.Integer(1))
    rule = function_rule(node.expr)
    if rule is None:
        return _polynomial_vjp(node.expr, bar)
    args = node.expr.args
    if isinstance(rule, ElementwiseRule):
        partials = rule.derivative(node.out, *args)
        partials = partials if isinstance(partials, tuple) else (partials,)
        return [(arg, bar * partial) for arg, partial in zip(args, partials) if arg.is_Symbol]
    return [(args[0], rule.vjp(node.out, bar, None if sizes is None else (held_at, sizes[args[0]])))]


def _polynomial_vjp(expr, bar):
    """Sums, products and powers: SymPy's own ``diff`` gives each partial."""
    atoms = sorted(expr.free_symbols, key=lambda s: s.name)
    return [(a, bar * sympy.diff(expr, a)) for a in atoms if sympy.diff(expr, a) != 0]


def step_seeds(cell):
    """Adjoints flowing into each state at step t: ``d_s_next`` from step
    t+1, plus ``d_s_out`` from the output or the layer above for the vector
    the cell exposes (a state, or a vector not carried to the next step)."""
    seeds = {state: sympy.Symbol(naming.next_adjoint_name(state.name)) for state in cell.states}
    exposed = cell.output_state
    seeds[exposed] = seeds.get(exposed, sympy.S.Zero) + sympy.Symbol(naming.output_adjoint_name(exposed.name))
    return seeds


def derive_cell(cell):
    """One step of ``cell`` as nodes, and its BPTT adjoint equations.

        >>> from symrnn.registry import get_cell
        >>> graph, adjoints = derive_cell(get_cell("rnn"))
        >>> adjoints.equations
        [(d_a, d_a_next + d_a_out), (d_pre_a, d_a*(1 - a**2))]
        >>> adjoints.inputs[graph.prev_symbols[graph.states[0]]]  # becomes d_a_next at t-1
        dot_t(w_a, d_pre_a)
    """
    graph = flatten_cell(cell)
    return graph, reverse(graph.nodes, step_seeds(cell), sizes=step_sizes(cell, graph))
