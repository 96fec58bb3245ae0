"""Printers: SymPy expressions of the engine as NumPy code.

Vectors are batch-major arrays (B, n), so w·v prints as ``v @ w.T`` and the
transposed product w^T·u as ``u @ w``.
"""

import sympy
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.pycode import PythonCodePrinter
from sympy.printing.str import StrPrinter

from .rules import dot, dot_t, function_rule, prev


class fused_dot_t(sympy.Function):
    """Several w_k^T·u_k of one fused group, printed as one matrix product.
    Its single argument is the group's index; the printer holds the text."""

    nargs = 1
    is_commutative = True


# A matrix product binds like ``*`` in Python, so as a factor of an
# elementwise product it must be parenthesised.
for _product in (dot, dot_t, fused_dot_t):
    _product.precedence = PRECEDENCE["Mul"]


class NumPyCodePrinter(PythonCodePrinter):
    """Prints engine expressions as NumPy code over batch-major arrays."""

    def __init__(self, fused_products=None):
        super().__init__({"standard": "python3"})
        self.fused_products = fused_products or {}

    def _print_Symbol(self, expr):
        return expr.name

    def _print_Add(self, expr, order=None):
        """Positive terms first, so that a difference prints as one subtraction
        (h_prev - g), not a negation and an addition (-g + h_prev)."""
        terms = sorted(self._as_ordered_terms(expr, order=order), key=lambda t: t.could_extract_minus_sign())
        text = ""
        for term in terms:
            negative = term.could_extract_minus_sign()
            printed = self._print(-term if negative else term)
            if precedence(term) < PRECEDENCE["Add"] or (negative and precedence(-term) <= PRECEDENCE["Add"]):
                printed = f"({printed})"
            text += (" - " if negative else " + ") + printed if text else ("-" if negative else "") + printed
        return text

    def _print_dot(self, expr):
        weight, arg = expr.args
        return f"{self._print_operand(arg)} @ {self._print(weight)}.T"

    def _print_dot_t(self, expr):
        weight, arg = expr.args
        return f"{self._print_operand(arg)} @ {self._print(weight)}"

    def _print_fused_dot_t(self, expr):
        return self.fused_products[int(expr.args[0])]

    def _print_outer(self, expr):
        u, v = expr.args
        return f"{self._print_operand(u)}.T @ {self._print_operand(v)}"

    def _print_row_sum(self, expr):
        return f"{self._print_operand(expr.args[0])}.sum(axis=-1, keepdims=True)"

    def _print_step(self, expr):
        return f"({self._print(expr.args[0])} > 0)"

    def _print_Function(self, expr):
        rule = function_rule(expr)
        if rule is None:
            raise TypeError(f"no NumPy form for {type(expr).__name__}")
        return rule.numpy.format(self._print(expr.args[0]))

    _print_tanh = _print_exp = _print_Function

    def _print_operand(self, expr):
        """An operand of ``@`` or a method call: parenthesised unless atomic."""
        text = self._print(expr)
        return text if isinstance(expr, (sympy.Symbol, fused_dot_t)) else f"({text})"


def numpy_code(expr, fused_products=None):
    return NumPyCodePrinter(fused_products).doprint(expr)


class TextPrinter(StrPrinter):
    """Equations as plain text in the notes' order: w_f·x + w_F·h[t-1] + b_f."""

    def _print_dot(self, expr):
        weight, arg = expr.args
        text = self._print(arg)
        return f"{weight}·{text if isinstance(arg, (sympy.Symbol, prev)) else '(' + text + ')'}"

    def _print_prev(self, expr):
        return f"{expr.args[0]}[t-1]"

    def _print_Add(self, expr, order=None):
        terms = sorted(expr.args, key=_notes_order)
        text = self._print(terms[0])
        for term in terms[1:]:
            printed = self._print(term)
            text += f" - {printed[1:]}" if printed.startswith("-") else f" + {printed}"
        return text


def _notes_order(term):
    """Products with the input first, then recurrent products, then the rest."""
    if isinstance(term, dot):
        return (1 if term.has(prev) else 0, str(term))
    return (2, "")


def text_equation(lhs, rhs):
    return f"{lhs} = {TextPrinter().doprint(rhs)}"
