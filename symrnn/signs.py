"""Which values of a cell are positive or non-negative by construction.

``sqrt`` and ``log`` take only what the cell makes positive (the rule
table's ``domain``): of anything else they give NaN or -inf for some inputs,
and at 0 their derivatives are infinite (sqrt(relu(u)) is 0 wherever u < 0),
so such a cell is refused when it is built. :func:`sign` proves what it can
from the expression alone and the signs of the step's earlier values,
nothing from the weights or the data: positive constants, squares, functions whose values have a sign (the
rule table's ``value_sign``: exp, sigmoid and softplus are positive, relu
non-negative), and sums, products, means and maxima of those.
Layer normalization's sqrt(mean((u - mean(u))^2) + 1e-5) is positive: a mean
of squares plus a positive constant.

Imports: the rule table.
"""

import sympy

from .rules import ELEMENTWISE, ElementwiseRule, dot, dot_t, function_rule, mean, prev

UNKNOWN, NON_NEGATIVE, POSITIVE = 0, 1, 2
DOMAINS = {"positive": POSITIVE, "non-negative": NON_NEGATIVE}


def sign(expr, known):
    """POSITIVE, NON_NEGATIVE or UNKNOWN for ``expr``; ``known`` maps the
    step's earlier values (symbols) to theirs."""
    if expr.is_Number:
        return POSITIVE if expr > 0 else NON_NEGATIVE if expr == 0 else UNKNOWN
    if isinstance(expr, sympy.Symbol):
        return known.get(expr, UNKNOWN)
    if isinstance(expr, (prev, dot, dot_t)):
        return UNKNOWN
    if isinstance(expr, mean):
        return sign(expr.args[0], known)
    if isinstance(expr, sympy.Add):
        return _combined([sign(a, known) for a in expr.args], any)
    if isinstance(expr, sympy.Mul):
        return _combined([sign(a, known) for a in expr.args], all)
    if isinstance(expr, sympy.Pow):
        return _power_sign(sign(expr.base, known), expr.exp)
    rule = function_rule(expr)
    if not isinstance(rule, ElementwiseRule):
        return UNKNOWN
    return _function_sign(rule.value_sign, [sign(a, known) for a in expr.args])


def _combined(signs, strict):
    """A sum (``strict`` = any: one positive term is enough) or a product
    (all: every factor positive) of terms of ``signs``, none negative."""
    if min(signs) == UNKNOWN:
        return UNKNOWN
    return POSITIVE if strict(s == POSITIVE for s in signs) else NON_NEGATIVE


def _power_sign(base, exponent):
    """v^n for an integer n: an even power is non-negative whatever v is; a
    negative power of v is 1/v^|n|, positive only where v is."""
    if base == POSITIVE:
        return POSITIVE
    if exponent > 0 and exponent % 2 == 0:
        return NON_NEGATIVE
    return base if exponent > 0 else UNKNOWN


def _function_sign(value_sign, arguments):
    """The sign of a function's value from its rule's ``value_sign``."""
    if value_sign == "positive":
        return POSITIVE
    if value_sign == "non-negative":
        return NON_NEGATIVE
    if value_sign == "argument":  # tanh and sqrt keep their argument's sign
        return arguments[0]
    if value_sign == "greatest":  # max(a, b) is at least each argument
        return max(arguments)
    return UNKNOWN


def outside_domain(expr, known):
    """The first application in ``expr`` of a function whose argument the
    cell does not make as its rule's ``domain`` requires, with that domain;
    else None."""
    for node in sympy.preorder_traversal(expr):
        rule = function_rule(node)
        if isinstance(rule, ElementwiseRule) and rule.domain and sign(node.args[0], known) < DOMAINS[rule.domain]:
            return node, rule.domain
    return None


def step_signs(equations):
    """The sign of each value of a step, from its equations in order."""
    known = {}
    for lhs, rhs in equations:
        known[lhs] = sign(rhs, known)
    return known


def what_is(domain):
    """How to write an argument that is ``domain`` by construction, from the rule table."""
    def signed(value_sign):
        return ", ".join(name for name, rule in ELEMENTWISE.items() if rule.value_sign == value_sign)

    assert domain == "positive", domain
    return (f"positive constants and {signed('positive')} of anything, plus non-negative terms "
            f"(squares, {signed('non-negative')}), and products and means of those, e.g. "
            "sqrt(mean(m^2) + 1e-5) or log(1 + u^2)")
