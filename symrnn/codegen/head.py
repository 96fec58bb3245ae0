"""The plan of the output layer and cost: its nodes, what its cache holds,
which cached values each backward function reads, and its adjoint equations
from the cost and from the caller's d(outputs), as SymPy objects.

Imports: the step graph's affine node, the network's head symbols and the
algebra helpers only.
"""

from dataclasses import dataclass

import sympy

from ..graph import Affine
from ..network import MASK, TOP
from .algebra import free_symbols


@dataclass(frozen=True)
class HeadBackward:
    """One reverse pass of the output layer: ``equations`` ((lhs, rhs)),
    each parameter's gradient ``(name, total)`` (summed over rows), and the
    adjoint of ``top``; ``loads``: the cached values it reads."""

    equations: tuple
    gradients: tuple
    top_adjoint: sympy.Expr
    loads: tuple


@dataclass(frozen=True)
class HeadPlan:
    """``nodes`` of the output layer, ``outputs`` the symbol the module
    returns, ``cached`` what its forward keeps, the ``cost`` expression
    summed over rows and units, and the two reverse passes. ``keeps``: the
    cached values backward() reads, where the cost reads more (else None).
    ``unpadded``: (expression, its value where no row is past its item's
    length) for every expression of a masked head that reads the mask:
    the mask is then 1 everywhere, and is not made (None) or multiplied."""

    nodes: tuple
    outputs: sympy.Symbol
    cached: tuple
    cost: sympy.Expr
    from_outputs: HeadBackward
    from_cost: HeadBackward
    keeps: tuple | None
    unpadded: tuple = ()


def plan_head(derived):
    """The :class:`HeadPlan` of a :class:`symrnn.derived.DerivedNetwork`."""
    nodes, cost = tuple(derived.head), derived.cost.expr
    cached = (TOP,) + ((MASK,) if derived.network.masked else ()) + tuple(n.out for n in nodes)
    from_outputs = _reverse_pass(derived.from_outputs, cached)
    from_cost = _reverse_pass(derived.from_cost, cached, cost)
    # Values only the cost reads, other than the outputs the caller holds anyway.
    freed = set(cached) - set(from_outputs.loads) - {derived.outputs}
    return HeadPlan(nodes, derived.outputs, cached, cost, from_outputs, from_cost,
                    from_outputs.loads if freed else None, _unpadded(nodes, cost, from_outputs, from_cost))


def _unpadded(nodes, cost, *reverses):
    """(expression, the same with the mask 1) for each expression that reads
    the mask: substituting after differentiation is exact, the mask being a
    constant of the derivation."""
    exprs = [n.expr for n in nodes if not isinstance(n, Affine)] + [cost]
    for reverse in reverses:
        exprs += [rhs for _, rhs in reverse.equations] + [t for _, t in reverse.gradients]
        exprs.append(reverse.top_adjoint)
    reading = dict.fromkeys(e for e in exprs if MASK in e.free_symbols)
    return tuple((e, e.subs(MASK, 1)) for e in reading)


def _reverse_pass(adjoints, cached, *extra):
    exprs = list(extra) + [rhs for _, rhs in adjoints.equations] + list(adjoints.inputs.values())
    exprs += [t for terms in adjoints.params.values() for t in terms]
    read = free_symbols(exprs)
    return HeadBackward(
        equations=tuple(adjoints.equations),
        gradients=tuple((name, sympy.Add(*terms)) for name, terms in adjoints.params.items()),
        top_adjoint=adjoints.inputs[TOP],
        loads=tuple(s for s in cached if s in read),
    )
