"""Printers of engine expressions, each a SymPy printer subclass:

* :class:`NumPyCodePrinter`: NumPy code. Vectors are batch-major arrays
  (B, n), so w·v prints as ``v @ w.T`` and the transposed product w^T·u as
  ``u @ w``; :class:`TorchCodePrinter` is the same for PyTorch tensors, with
  each function's torch form from its rule row;
* :class:`TextPrinter`: plain-text equations for docstrings (w_f·x + b_f);
* :class:`CellFilePrinter`: the cell-file language (w^(f) x + b^(f)), which
  :mod:`symrnn.cellfile` parses back to the same expression.

The LaTeX printer of the notes is :mod:`symrnn.latex`. All three order a sum
as the notes write a pre-activation (:func:`notes_order`), and write a real
constant (a SymPy ``Float`` of 53 bits) as the shortest decimal that reads back
as the same double (:func:`decimal`: 0.95, 1e-5).

Imports: the rule table (:mod:`symrnn.rules`), naming and errors only.
"""

import sympy
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.printer import Printer
from sympy.printing.pycode import PythonCodePrinter
from sympy.printing.str import StrPrinter

from . import naming
from .errors import CellError
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

    form = "numpy"  # the field of a function's rule row that spells its call

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
            raise TypeError(f"no {self.form} form for {type(expr).__name__}")
        return getattr(rule, self.form).format(*[self._print(arg) for arg in expr.args])

    _print_tanh = _print_exp = _print_log = _print_sqrt = _print_Function

    def _print_Float(self, expr):
        return decimal(expr)

    def _print_operand(self, expr):
        """An operand of ``@`` or a method call: parenthesised unless atomic."""
        text = self._print(expr)
        return text if isinstance(expr, (sympy.Symbol, fused_dot_t)) else f"({text})"


def numpy_code(expr, fused_products=None):
    return NumPyCodePrinter(fused_products).doprint(expr)


class TorchCodePrinter(NumPyCodePrinter):
    """Engine expressions as PyTorch code: the operators and methods NumPy
    and torch share, and each function's ``torch`` form from the rule table."""

    form = "torch"


def torch_code(expr, fused_products=None):
    return TorchCodePrinter(fused_products).doprint(expr)


def written_parts(written, expr):
    """The terms or factors of ``expr`` in the order a cell file wrote them
    (``written``: a parsed cell's ``written_order``), or None: only where they are
    exactly its arguments (``x + x`` is 2*x, not a sum of them) and, for a product,
    where no number but the first is among them (``1 / 2 * x`` is held as 1, 1/2, x)."""
    parts = written.get(expr)
    if parts is None or sorted(map(sympy.srepr, parts)) != sorted(map(sympy.srepr, expr.args)):
        return None
    if isinstance(expr, sympy.Mul) and any(part.is_Number for part in parts[1:]):
        return None
    return parts


class TextPrinter(StrPrinter):
    """Equations as plain text in the notes' order: w_f·x + w_F·h[t-1] + b_f;
    ``written`` (a parsed cell's ``written_order``) keeps its file's order."""

    def __init__(self, written=None):
        super().__init__()
        self.written = written or {}

    def _print_Mul(self, expr):
        parts = written_parts(self.written, expr)
        if parts is None:
            return super()._print_Mul(expr)
        text = ""
        for i, part in enumerate(parts):
            if i and part.is_Pow and part.exp.is_Integer and part.exp < 0:
                text += "/" + self.parenthesize(sympy.Pow(part.base, -part.exp), precedence(expr) + 1)
            else:
                text += ("*" if i else "") + self.parenthesize(part, precedence(expr))
        return text

    def _print_dot(self, expr, transposed=""):
        weight, arg = expr.args
        text = self._print(arg)
        return f"{weight}{transposed}·{text if isinstance(arg, (sympy.Symbol, prev)) else '(' + text + ')'}"

    def _print_dot_t(self, expr):
        return self._print_dot(expr, "^T")

    def _print_maximum(self, expr):
        return f"max({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_Float(self, expr):
        return decimal(expr)

    def _print_prev(self, expr):
        return f"{expr.args[0]}[t-1]"

    def _print_Add(self, expr, order=None):
        terms = written_parts(self.written, expr) or sorted(expr.args, key=notes_order)
        text = self._print(terms[0])
        for term in terms[1:]:
            printed = self._print(term)
            text += f" - {printed[1:]}" if printed.startswith("-") else f" + {printed}"
        return text


def notes_order(term):
    """The sort key of a sum's term as the notes write a pre-activation: input
    products first, then recurrent products, then the rest (a sorted() keeps
    SymPy's own order within each group)."""
    core = term.as_coeff_Mul()[1]
    if isinstance(core, (dot, dot_t)):
        return 1 if core.has(prev) else 0
    return 2


def decimal(number):
    """A real constant as the shortest decimal that reads back as the same
    double: ``0.95``, ``1e-5``, ``2.5e-7`` (Python's ``repr``, the exponent
    without a sign or leading zeros it does not need).

    >>> decimal(sympy.Float(0.95)), decimal(sympy.Float(1e-5)), decimal(sympy.Float(-2e20))
    ('0.95', '1e-5', '-2e20')
    """
    mantissa, _, exponent = repr(float(number)).partition("e")
    return mantissa + (f"e{int(exponent)}" if exponent else "")


def text_equation(lhs, rhs, written=None):
    return f"{lhs} = {TextPrinter(written).doprint(rhs)}"


class CellFilePrinter(Printer):
    """Cell expressions in the cell-file language (:mod:`symrnn.cellfile`):
    ``w^(x) x + w^(a) a[t-1] + b^(a)``. Each form is printed with its binding
    strength, and an operand is parenthesised where it binds more loosely
    than its place needs; what the language cannot write raises CellError.

    ``function_names`` maps each function class to its name in the language;
    ``max_constant`` and ``max_exponent`` are the language's limits, and
    ``writable_decimal(text)`` says whether the language can write a real
    constant printed as ``text``.
    """

    # Binding strengths of printed forms, loosest first (the grammar's levels).
    SUM, PRODUCT, MATVEC, POWER, ATOM = range(5)

    def __init__(self, function_names, max_constant, max_exponent, writable_decimal=lambda text: True,
                 written=None):
        super().__init__()
        self.function_names, self.max_constant, self.max_exponent = function_names, max_constant, max_exponent
        self.writable_decimal = writable_decimal
        self.written = written or {}


    def factor(self, expr, followed):
        """A factor of a product; a weight's product followed by ``*`` or ``/`` is
        parenthesised, as the parser refuses ``w^(G) f * h[t-1]`` written without."""
        return self.operand(expr, self.POWER if followed else self.MATVEC)

    def strength(self, expr):
        """How tightly the printed form of ``expr`` binds."""
        if isinstance(expr, sympy.Add):
            return self.SUM
        if isinstance(expr, sympy.Mul) or (expr.is_Number and (expr < 0 or not expr.is_Integer and expr.is_Rational)):
            return self.PRODUCT
        if isinstance(expr, (dot, dot_t)):
            return self.MATVEC
        return self.POWER if isinstance(expr, sympy.Pow) else self.ATOM

    def operand(self, expr, strength):
        """``expr`` printed as an operand that must bind at least ``strength``."""
        text = self._print(expr)
        return text if self.strength(expr) >= strength else f"({text})"

    def emptyPrinter(self, expr):
        raise CellError(f"{expr} ({type(expr).__name__}) cannot be written in a cell file")

    def _print_Symbol(self, expr):
        name = expr.name
        return f"{name[0]}^({naming.param_suffix(name)})" if naming.is_param_name(name) else name

    def _print_Integer(self, expr):
        if abs(expr) > self.max_constant:
            return self.emptyPrinter(expr)
        return str(expr)

    def _print_Rational(self, expr):
        return f"{self._print(sympy.Integer(expr.p))} / {self._print(sympy.Integer(expr.q))}"

    def _print_Float(self, expr):
        text = decimal(expr)
        if not self.writable_decimal(text):
            return self.emptyPrinter(expr)
        return text

    def _print_prev(self, expr):
        return f"{expr.args[0]}[t-1]"

    def _print_dot(self, expr, transposed=""):
        weight, arg = expr.args
        operand = f"({self._print(arg)})" if arg.is_Number else self.operand(arg, self.MATVEC)
        return f"{self._print(weight)}{transposed} {operand}"

    def _print_dot_t(self, expr):
        return self._print_dot(expr, "^T")

    def _print_Pow(self, expr):
        if not (expr.exp.is_Integer and 1 <= abs(expr.exp) <= self.max_exponent):
            return self.emptyPrinter(expr)
        return f"{self.operand(expr.base, self.ATOM)}^{expr.exp}"

    def _written_product(self, parts):
        """``a / b * c`` as written: a factor of negative integer power is a division."""
        text = ""
        for i, part in enumerate(parts):
            followed = i < len(parts) - 1
            if i and part.is_Pow and part.exp.is_Integer and part.exp < 0:
                text += " / " + self.factor(sympy.Pow(part.base, -part.exp), followed)
            else:
                text += (" * " if i else "") + self.factor(part, followed)
        return text

    def _print_Mul(self, expr):
        """``c * a * b / d / e``: the literal leading number (as SymPy stores it),
        the factors, then one division by each factor of negative power (a parsed
        cell's products: as written, where no number but the first is among them)."""
        parts = written_parts(self.written, expr)
        if parts:
            return self._written_product(parts)
        coefficient, rest = expr.as_coeff_Mul()
        numerator, denominator = [], []
        for factor in sympy.Mul.make_args(rest):
            if factor.is_Pow and factor.exp.is_Integer and factor.exp < 0:
                denominator.append(sympy.Pow(factor.base, -factor.exp))
            else:
                numerator.append(factor)
        sign, coefficient = ("-", -coefficient) if coefficient < 0 else ("", coefficient)
        if coefficient.is_Rational and not coefficient.is_Integer:
            denominator.insert(0, sympy.Integer(coefficient.q))
            coefficient = sympy.Integer(coefficient.p)
        parts = [self.factor(f, i < len(numerator) - 1 or bool(denominator)) for i, f in enumerate(numerator)]
        if coefficient != 1 or not parts:
            parts.insert(0, self._print(coefficient))
        return sign + " * ".join(parts) + "".join(f" / {self.factor(d, i < len(denominator) - 1)}"
                                                  for i, d in enumerate(denominator))

    def _print_Add(self, expr):
        terms = written_parts(self.written, expr) or sorted(expr.args, key=notes_order)
        text = self._print(terms[0])
        for term in terms[1:]:
            negative = term.could_extract_minus_sign()
            text += f" - {self._print(-term)}" if negative else f" + {self._print(term)}"
        return text

    def _print_Function(self, expr):
        if type(expr) not in self.function_names:
            return self.emptyPrinter(expr)
        return f"{self.function_names[type(expr)]}({', '.join(self._print(arg) for arg in expr.args)})"

    _print_log = _print_Function
