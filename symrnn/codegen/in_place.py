"""The in-place schedule: an expression computed into an existing array as
:class:`~symrnn.codegen.statements.InPlace` statements, with as few
temporary arrays as the expression allows.

Both functions decide on SymPy expressions and return statements holding
SymPy expressions; which NumPy call spells each is the emitter's business.

Imports: the algebra helpers, the statements, the rule table and the
printer's ``fused_dot_t`` (a SymPy function, not text).
"""

import sympy

from ..printing import fused_dot_t
from ..rules import ElementwiseRule, dot_t, function_rule
from .algebra import is_simple, negated, operations
from .statements import InPlace, Op


def write_into(target, rhs, fuse=lambda expr: expr):
    """``rhs`` into the existing array ``target``: its last product or sum
    goes straight there rather than through a temporary. ``fuse`` replaces a
    group's products by its fused product (:func:`symrnn.codegen.backward.fuse`)."""
    if isinstance(function_rule(rhs), ElementwiseRule):
        return InPlace(target, Op.APPLY, (rhs,))
    fused = fuse(rhs)
    if isinstance(fused, (dot_t, fused_dot_t)):
        return InPlace(target, Op.MATMUL, (fused,))
    if isinstance(fused, sympy.Mul):
        *rest, last = fused.args
        return InPlace(target, Op.MULTIPLY, (fuse(sympy.Mul(*rest)), fuse(last)))
    if isinstance(fused, sympy.Add):
        *rest, last = fused.args
        return sum_into(target, fuse(sympy.Add(*rest)), fuse(last))
    return InPlace(target, Op.FILL, (fused,))


def sum_into(target, a, b):
    """``a + b`` into ``target``, a negated operand subtracted instead."""
    if negated(b):
        return InPlace(target, Op.SUBTRACT, (a, -b))
    if negated(a):
        return InPlace(target, Op.SUBTRACT, (b, -a))
    return InPlace(target, Op.ADD, (a, b))


def evaluate_into(target, expr):
    """Statements computing ``expr`` into the existing array ``target`` with no
    temporary arrays where every sum and product has at most one compound
    operand: that operand goes into ``target`` first, and the others are
    combined with it in place (1 - g**2: square, then subtract from 1).
    A product of several compound factors takes one temporary for each
    factor after the costliest, one at a time."""
    if isinstance(expr, sympy.Pow) and expr.exp == 2 and is_simple(expr.base):
        return [InPlace(target, Op.SQUARE, (expr.base,))]
    if not isinstance(expr, (sympy.Add, sympy.Mul)):
        return [write_into(target, expr)]
    compound = [a for a in expr.args if not is_simple(a)]
    simple = [a for a in expr.args if is_simple(a)]
    if not compound and len(simple) == 2 and isinstance(expr, sympy.Add):
        return [sum_into(target, *simple)]
    if len(compound) > 1 and isinstance(expr, sympy.Mul):
        return _product_into(target, compound, simple)
    if len(compound) != 1:
        return [write_into(target, expr)]
    return _one_compound_into(target, expr, compound[0], simple)


def _product_into(target, compound, simple):
    """The costliest compound factor goes into ``target`` without temporaries,
    the others multiply it in place: one temporary at a time."""
    first = max(compound, key=operations)
    others = [factor for factor in compound if factor is not first]
    return evaluate_into(target, sympy.Mul(first, *simple)) + [InPlace(target, Op.IMUL, (f,)) for f in others]


def _one_compound_into(target, expr, inner, simple):
    """``expr``, a sum or product of ``inner`` and simple operands: ``inner``
    into ``target``, then each simple operand combined with it in place."""
    if isinstance(expr, sympy.Mul) and inner.could_extract_minus_sign() and -1 in simple:
        simple.remove(-1)
        inner = -inner
    if isinstance(expr, sympy.Mul):
        return evaluate_into(target, inner) + [InPlace(target, Op.IMUL, (a,)) for a in simple]
    if len(simple) == 1 and negated(inner):
        (a,) = simple
        return evaluate_into(target, -inner) + [InPlace(target, Op.SUBTRACT, (a, target))]
    return evaluate_into(target, inner) + [
        InPlace(target, Op.ISUB, (-a,)) if negated(a) else InPlace(target, Op.IADD, (a,)) for a in simple]
