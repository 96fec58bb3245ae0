"""LaTeX for derivations: a SymPy printer in the notes' notation, and line
breaking so that no displayed line runs off the page.

The printer writes products of vectors with ``\\odot`` (vector units) or by
juxtaposition (scalar units), ``w \\cdot v`` for the matrix-vector product,
``{w}^{\\top}`` for the transposed one, a quotient as ``\\dfrac``, ``\\sqrt{}``,
``\\log``, ``\\operatorname{mean}``, ``\\max``, real constants as the shortest
decimal (``0.95``; ``10^{-5}`` for 1e-5), and every parenthesis as a fixed-size
``\\bigl( \\bigr)`` pair. It marks with :data:`BREAK` the places where a line
may end (before a sum's operator, between a product's factors, at any depth);
fixed-size parentheses keep every piece between breaks valid LaTeX on a line
of its own, so :func:`break_lines` can cut long expressions anywhere.

Imports: naming, errors, the rule table, :func:`symrnn.printing.decimal` and
:class:`symrnn.notation.AdjointOf` only; what each symbol is called comes in
as data (``names``).
"""

import re

import sympy
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from . import naming
from .errors import ConfigError
from .notation import AdjointOf
from .printing import decimal
from .rules import RULE_BY_FUNCTION, is_units, sqrt

BREAK = "\x00"

# Width budget of one displayed line, in the units of :func:`estimate_width`
# (about one math-italic letter); A4 with 2 cm margins at 11 pt holds ~110 (the tests
# compile documents and fail on any overfull line).
LINE_WIDTH = 78
# No displayed line is narrower than this (a line holding only "(1" or
# "- y_3)" reads as a typesetting error) unless the whole expression is.
MIN_LINE_WIDTH = 12


# Math delimiters of Markdown snippets (``--math``): (inline open, close), (display open, close).
MATH_DELIMITERS = {
    "parens": ((r"\(", r"\)"), (r"\[", r"\]")),  # the notes' own; MathJax's defaults, pandoc tex_math_single_backslash
    "dollars": (("$", "$"), ("$$", "$$")),  # Jupyter Markdown cells, pandoc's and Quarto's defaults
}


# The sign of elementwise products (``--product``): the notes' × or ⊙.
PRODUCTS = {"times": r" \times ", "odot": r" \odot "}


def math_delimiters(math):
    """((inline open, close), (display open, close)) for ``math`` = parens or dollars."""
    if math not in MATH_DELIMITERS:
        raise ConfigError(f"unknown math delimiters {math!r}: expected parens or dollars")
    return MATH_DELIMITERS[math]


class NotesLatexPrinter(LatexPrinter):
    """Prints derivation expressions; every symbol must have a name in ``names``."""

    def __init__(self, names, units="scalar", order=None, product="times"):
        super().__init__({"mul_symbol": None})
        if product not in PRODUCTS:
            raise ConfigError(f"unknown product sign {product!r}: expected times or odot")
        self.names = names
        self.vector_units = units == "vector"
        self.term_order = order
        self.elementwise = PRODUCTS[product]

    def _print_Symbol(self, symbol, style="plain"):
        name = self.names.get(symbol)
        if name is None and is_units(symbol):  # a size letter: the number of units of its vectors
            return symbol.name
        if name is None:
            raise AssertionError(f"no LaTeX name for symbol {symbol}")  # internal: every symbol is named
        if isinstance(name, AdjointOf):
            return rf"\delta\bigl[{self._print(name.expr)}\bigr]"
        if isinstance(name, sympy.Function):
            return self._print(name)
        if isinstance(name, sympy.Basic):  # an intermediate stands for a compound expression
            return self._add_parens(self._print(name))
        return name

    def _add_parens(self, s):
        return rf"\bigl({s}\bigr)"

    def _add_parens_lspace(self, s):
        return rf"\bigl( {s}\bigr)"

    def _print_Add(self, expr, order=None):
        if self.term_order is not None:  # the cell's own order (symbol.notation.TermOrder)
            terms = self.term_order.arrange(expr, list(expr.args))
            if terms[0].could_extract_minus_sign():  # y-hat - y, not -y + y-hat
                terms = sorted(terms, key=lambda t: t.could_extract_minus_sign())
        else:  # positive terms first: the notes write y-hat - y, not -y + y-hat
            terms = sorted(self._as_ordered_terms(expr, order=order), key=lambda t: t.could_extract_minus_sign())
        pieces = []
        for i, term in enumerate(terms):
            if term.could_extract_minus_sign():
                pieces.append(("-" if i == 0 else BREAK + " - ") + self._term(-term))
            else:
                pieces.append(("" if i == 0 else BREAK + " + ") + self._term(term))
        return "".join(pieces)

    def _term(self, term):
        return self.parenthesize(term, PRECEDENCE["Add"], strict=True) if term.is_Add else self._print(term)

    def _print_Mul(self, expr):
        coefficient, factors = expr.as_coeff_mul()
        if any(f.is_Pow and f.exp.is_negative for f in factors):
            return self._quotient(expr)
        if not expr.is_commutative:
            factors = expr.args[1:] if coefficient != 1 else expr.args
        elif self.term_order is not None:
            factors = self.term_order.arrange(sympy.Mul(*factors), list(factors), product=True) if len(factors) > 1 else factors
        else:  # parameters first, as in w^(a) a_{t-1}
            factors = sorted(sympy.Mul(*factors).as_ordered_factors() if len(factors) > 1 else factors,
                             key=lambda f: not (f.is_Symbol and naming.is_param_name(f.name)))
        body = ""
        for i, f in enumerate(factors):
            if i:
                body += BREAK + self._product_sign(factors[i - 1], expr.is_commutative)
            body += self.parenthesize(f, PRECEDENCE["Mul"], strict=False)
        if coefficient == 1:
            return body
        if coefficient == -1:
            return "-" + body
        return self._print(coefficient) + r" \, " + body

    def _product_sign(self, left, commutative):
        """The notes' signs: with scalar units w · v after a weight (it stands
        for the matrix-vector product) and × between two numbers; with vector
        units × for the elementwise products of vectors (``product="odot"``: ⊙;
        w · v is a dot()); derivatives in a chain (non-commutative) side by side."""
        if not commutative:
            return r" \, "
        if self.vector_units:
            return self.elementwise
        weight = left.is_Symbol and left.name.startswith("w_")
        return r" \cdot " if weight else r" \times "

    def _quotient(self, expr):
        """``\\dfrac{numerator}{denominator}`` on one line (no break inside its braces)."""
        numerator, denominator = sympy.fraction(expr, exact=True)
        sign = ""
        if numerator.could_extract_minus_sign():
            sign, numerator = "-", -numerator
        return rf"{sign}\dfrac{{{unmarked(self._print(numerator))}}}{{{unmarked(self._print(denominator))}}}"

    def _print_Pow(self, expr, exp=None):
        if expr.exp.is_Integer and expr.exp < 0:
            return self._quotient(expr)
        return super()._print_Pow(expr)

    def _print_Float(self, expr):
        mantissa, _, exponent = decimal(expr).partition("e")
        if not exponent:
            return mantissa
        power = f"10^{{{exponent}}}"
        if mantissa in ("1", "-1"):
            return mantissa[:-1] + power
        return rf"{mantissa} \cdot {power}"

    def _print_Rational(self, expr):
        if expr.q == 1:
            return str(expr.p)
        sign = "-" if expr.p < 0 else ""
        return rf"{sign}\tfrac{{{abs(expr.p)}}}{{{expr.q}}}"

    def _print_Function(self, expr, exp=None):
        # f^{2}(u) rather than {f(u)}^{2}: no brace may span a line break
        rule = RULE_BY_FUNCTION.get(type(expr))
        name = rule.latex if rule is not None else rf"\operatorname{{{type(expr).__name__}}}"
        power = "" if exp is None else f"^{{{exp}}}"
        if type(expr) is sqrt:  # a root's bar spans its argument: one line
            root = rf"\sqrt{{{unmarked(self._print(expr.args[0]))}}}"
            return root if exp is None else rf"\bigl({root}\bigr)^{{{exp}}}"
        arguments = ", ".join(self._print(arg) for arg in expr.args)
        return rf"{name}{power}\bigl({arguments}\bigr)"

    def _print_row_sum(self, expr, exp=None):
        """The sum over a vector's units, as mean is printed: sum(d)."""
        power = "" if exp is None else f"^{{{exp}}}"
        return rf"\operatorname{{sum}}{power}\bigl({self._print(expr.args[0])}\bigr)"

    def _print_log(self, expr, exp=None):
        return self._print_Function(expr, exp)

    def _print_tanh(self, expr, exp=None):
        return self._print_Function(expr, exp)

    def _print_exp(self, expr, exp=None):
        return self._print_Function(expr, exp)

    def _print_dot(self, expr):
        weight, vector = expr.args
        return self._print(weight) + r" \cdot " + self._factor(vector)

    def _print_dot_t(self, expr):
        weight, adjoint = expr.args
        return rf"{{{self._print(weight)}}}^{{\top}} \cdot {self._factor(adjoint)}"

    def _print_outer(self, expr):
        left, right = expr.args
        return rf"{self._factor(left)} \, {{{self._factor(right)}}}^{{\top}}"

    def _factor(self, expr):
        return self.parenthesize(expr, PRECEDENCE["Mul"], strict=False)


def latex(expr, names, units="scalar", order=None, product="times"):
    """``expr`` in the notes' notation, with :data:`BREAK` marks; sums and
    products in ``order`` (a :class:`symrnn.notation.TermOrder`) if given;
    elementwise products with ``product``'s sign (:data:`PRODUCTS`)."""
    return NotesLatexPrinter(names, units, order, product).doprint(expr)


def unmarked(text):
    """LaTeX without break marks (for a short expression kept on one line)."""
    return text.replace(BREAK, "")


# --- widths and line breaking ------------------------------------------------

_COMMAND = re.compile(r"\\([A-Za-z]+|.)")
_WIDTH_OF_COMMAND = {"left": 0, "right": 0, "bigl": 0.4, "bigr": 0.4, "quad": 2, "qquad": 4, ",": 0.3,
                     "top": 0.8, "odot": 1.6, "cdot": 1.2, "delta": 1, "sigma": 1, "partial": 1,
                     "tanh": 3, "exp": 2.5, "hat": 0, "sum": 2, "limits": 0, "operatorname": 0,
                     "tfrac": 0, "dfrac": 0, "Bigl": 0.5, "Bigr": 0.5, "mathbf": 0, "text": 0, "Big": 0.5}


def estimate_width(text):
    """Rough rendered width of inline LaTeX ``text`` in letters: scripts count
    0.7, a fraction its wider part, binary operators with their spacing."""
    width, i = 0.0, 0
    while i < len(text):
        char = text[i]
        if char in "^_":
            group, i = _group(text, i + 1)
            width += 0.7 * estimate_width(group)
            continue
        if text.startswith(("\\dfrac", "\\tfrac", "\\frac"), i):
            scale = 0.75 if text.startswith("\\tfrac", i) else 1.0
            numerator, i = _group(text, text.index("frac", i) + 4)
            denominator, i = _group(text, i)
            width += scale * max(estimate_width(numerator), estimate_width(denominator)) + 0.6
            continue
        if char == "\\":
            match = _COMMAND.match(text, i)
            width += _WIDTH_OF_COMMAND.get(match.group(1), 1.0)
            i = match.end()
            continue
        if char in "{} " + BREAK:
            i += 1
            continue
        width += 2.2 if char in "+-=" else 1.0
        i += 1
    return width


def _group(text, i):
    """The braced group (or single character) starting at ``text[i]``."""
    if text[i] != "{":
        if text[i] == "\\":
            match = _COMMAND.match(text, i)
            return match.group(0), match.end()
        return text[i], i + 1
    depth, j = 0, i
    while True:
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1:j], j + 1
        j += 1


def _is_sum_mark(piece):
    return piece.lstrip().startswith(("+", "-"))


def _short_tail(pieces, width):
    rest = estimate_width("".join(pieces))
    return rest < MIN_LINE_WIDTH and rest <= width


def break_lines(text, first_width=LINE_WIDTH, width=LINE_WIDTH):
    """Split marked ``text`` into lines that fit, at :data:`BREAK` marks;
    when a line must end, at the least nested mark on it, a sum's before a
    product's, the latest of those: sums break before their factors do."""
    pieces = text.split(BREAK)
    depths, depth = [], 0
    for piece in pieces[:-1]:
        depth += piece.count(r"\bigl") - piece.count(r"\bigr")
        depths.append(depth)
    lines, start, budget = [], 0, first_width
    while start < len(pieces):
        end = start + 1
        while end < len(pieces) and estimate_width("".join(pieces[start:end + 1])) <= budget:
            end += 1
        if end == len(pieces):
            lines.append("".join(pieces[start:]))
            break
        marks = range(start + 1, end + 1)  # the mark before piece i lies at depths[i - 1]
        # neither this line nor a last line after it may hold only a lone factor or parenthesis
        good = [i for i in marks if estimate_width("".join(pieces[start:i])) >= MIN_LINE_WIDTH
                and not _short_tail(pieces[i:], width)]
        cut = min(good or marks, key=lambda i: (depths[i - 1], not _is_sum_mark(pieces[i]), -i))
        lines.append("".join(pieces[start:cut]))
        pieces[cut] = pieces[cut].lstrip()
        start, budget = cut, width
    return lines
