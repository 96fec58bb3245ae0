"""Triton spelling of a step's expressions: each symbol by its register, the
functions by one table (:data:`FUNCTIONS`), a row mean as an in-kernel
reduction over the units, integer powers as products.

Imports: SymPy, the rule table's function classes and the fusion plan's error.
"""

import sympy

from ..rules import maximum, mean, relu, sigmoid, sqrt, step
from .triton_plan import Unfusable

# Each function's Triton form; ``_tanh`` is the module's jitted helper (2σ(2x) − 1).
FUNCTIONS = {
    sympy.tanh: "_tanh({0})",
    sigmoid: "tl.sigmoid({0})",
    sympy.exp: "tl.exp({0})",
    sympy.log: "tl.log({0})",
    sqrt: "tl.sqrt({0})",
    relu: "tl.maximum({0}, 0.0)",
    step: "tl.where({0} > 0, 1.0, 0.0)",
    maximum: "tl.maximum({0}, {1})",
}


class TritonPrinter:
    """Prints an expression with every symbol as its register (``aliases``)."""

    def __init__(self, aliases):
        self.aliases = aliases

    def show(self, expr):
        expr = sympy.sympify(expr)
        if isinstance(expr, sympy.Symbol):
            return self.aliases.get(expr.name, expr.name)
        if isinstance(expr, sympy.Number):
            return repr(float(expr))
        if isinstance(expr, sympy.Add):
            return "(" + " + ".join(self.show(a) for a in expr.args) + ")"
        if isinstance(expr, sympy.Mul):
            return "(" + " * ".join(self.show(a) for a in expr.args) + ")"
        if isinstance(expr, sympy.Pow):
            return self.power(expr)
        if isinstance(expr, mean):
            inner = self.show(expr.args[0])
            return f"(tl.sum(tl.where(_mask, {inner}, 0.0), axis=1, keep_dims=True) / _H)"
        if type(expr) in FUNCTIONS:
            return FUNCTIONS[type(expr)].format(*(self.show(a) for a in expr.args))
        raise Unfusable(f"no Triton form for {type(expr).__name__} in {expr}")

    def power(self, expr):
        base, e = self.show(expr.base), expr.exp
        if e == sympy.Rational(1, 2):
            return f"tl.sqrt({base})"
        if e == -sympy.Rational(1, 2):
            return f"(1.0 / tl.sqrt({base}))"
        if not e.is_Integer or e == 0:
            raise Unfusable(f"no Triton form for the power {expr}")
        product = "(" + " * ".join([base] * abs(int(e))) + ")"
        return product if e > 0 else f"(1.0 / {product})"
