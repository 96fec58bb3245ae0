"""Cell files: a cell written as text in the notes' notation, and its printer.

A cell file describes one cell; the built-in cells are such files
(``symrnn/cell_files/*.cell``). The minimal gated unit, for example::

    # MGU: one forget gate that also resets the candidate's recurrent input
    cell mgu
    description minimal gated unit
    input x
    state h
    f = sigmoid(w^(f) x + w^(F) h[t-1] + b^(f))
    g = tanh(w^(g) x + w^(G) (f * h[t-1]) + b^(g))
    h = (1 - f) * h[t-1] + f * g

The language, line by line (``#`` starts a comment; blank lines are ignored;
outside comments the text is ASCII, and control characters are refused
everywhere):

* ``cell NAME`` first: lowercase letters, digits and ``_`` (``gru_pytorch``).
* then the declarations, in any order, each at most once except ``state``
  and ``size``: ``description TEXT`` (the rest of the line up to a comment:
  letters, digits, spaces and ``, . ; : ( ) [ ] / + - ' = * ! ?``; it goes
  into generated docstrings), ``input NAME`` (exactly one),
  ``state NAME, NAME ...`` (one or more lines, in order), optionally
  ``output NAME``, the vector the layer above reads (default: the last state;
  any vector the step computes, such as QRNN's ``h = o * c``), and
  ``size NAME LETTER``, a vector's own size (every vector is H and the input
  D unless declared; an uppercase letter other than K, B and T).
* then the equations ``NAME = EXPRESSION`` in the order they are computed.
  A name assigned here and not declared as a state is an intermediate (a gate).

Expressions, from loosest to tightest binding::

    sum      := product (('+' | '-') product)*
    product  := '-' product | signed (('*' | '⊙' | '/') signed)*   elementwise
    signed   := '-' signed | matvec
    matvec   := WEIGHT ['^T'] ['·'] matvec | power     w^(f) x is the product w·x
    power    := atom ['^' ['-'] INTEGER]               integer powers -16..-1, 1..16
    atom     := NUMBER | NAME | NAME '[t-1]' | PARAM
              | FUNCTION '(' sum [',' sum] ')' | '(' sum ')'
    NUMBER   := DIGITS ['.' DIGITS] [('e' | 'E') ['+' | '-'] DIGITS]

* Vectors (input, states, gates) are a lowercase letter and up to 15 lowercase
  letters or digits (:mod:`symrnn.naming`); ``h[t-1]`` is a state's value at
  the previous step, ``x[t-1]`` the input's (zero at the first step).
* ``a / b`` is the elementwise quotient, a * b^-1; a literal 0 divisor is refused.
* Numbers are integers (up to 9 digits) or real constants ``0.95``, ``1e-5``,
  ``2.5e-3`` (up to 17 significant digits, exponents -30..30), held as the
  nearest double (a SymPy Float) and printed back as the shortest decimal
  that reads as that double.
* Parameters are written as in the notes, ``w^(f)``, ``w^(F)``, ``b^(f)``, and
  gains ``g^(n)`` (or as their code names ``w_f``, ``w_F``, ``b_f``, ``g_n``). A weight ``w^(...)`` directly
  followed by an operand is a matrix product: ``w^(G) (r * h[t-1])``; it takes
  one operand, so ``w^(f) x * y`` is (w·x) ⊙ y. Written alone, a parameter is
  an elementwise vector: ``b^(p) * c[t-1]`` (a peephole), ``w^(u) * h[t-1]``
  (IndRNN). ``w^(W)^T h[t-1]`` is the transposed product (the same weight).
  The input may only be the whole operand of a weight, ``w^(x) x``, unless
  its size is declared to be a state's: ``size x H``, then ``(1 - r) * x``.
* Functions are those of the derivative-rule table of :mod:`symrnn.rules`
  plus ``identity`` (:data:`FUNCTIONS`): ``max(a, b)`` takes two arguments
  (elementwise), the others one; ``mean(v)`` is the mean over v's units,
  one number per item broadcast back over the units.
* A cell must make sense as a whole (:class:`symrnn.cells.Cell` checks it and
  the error points at the line): names are declared or computed before they
  are used within a step (``h`` before it is computed is a cycle: write
  ``h[t-1]``), every state is updated and read as ``h[t-1]``, every gate and
  the input influence the output state, and a parameter keeps one shape.

The parser is a hand-written tokenizer and recursive-descent parser that
builds SymPy objects directly; user text never reaches ``eval``, ``exec`` or
SymPy's parsers. Every name is checked against :mod:`symrnn.naming`'s patterns.
Sizes are bounded (:data:`MAX_FILE_CHARS`, :data:`MAX_LINE_CHARS`,
:data:`MAX_DEPTH`, :data:`MAX_DIGITS`, :data:`MAX_EXPONENT`). Any mistake is a
:class:`~symrnn.errors.CellFileError` whose message starts with
``file:line:column:`` and shows the line::

    >>> parse_cell("cell c\\ninput x\\nstate h\\nh = tanh(w^(x) x + q)\\n", path="c.cell")
    Traceback (most recent call last):
    ...
    symrnn.errors.CellFileError: c.cell:4:20: cell 'c', equation for h: undeclared name q
        h = tanh(w^(x) x + q)
                           ^

:func:`format_cell` prints a cell in the language. Parsing the text of a
parsed cell gives exactly that cell again; for a cell built in Python it gives
the same equations up to SymPy's arrangement of products (SymPy may hold
``-1*2*(a + b)``, which a parser builds as ``-2*(a + b)``).

Imports: cells, naming, the printers and the rule table.
"""

import re
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sympy

from . import naming
from .cells import CELL_NAME_PATTERN, DESCRIPTION_PATTERN, Cell
from .errors import CellError, CellFileError, ConfigError
from .printing import CellFilePrinter, decimal
from .rules import ACTIVATIONS, ELEMENTWISE, ROW_FUNCTIONS, dot, dot_t, prev

MAX_FILE_CHARS = 65536
MAX_LINE_CHARS = 400
MAX_DEPTH = 32
MAX_DIGITS = 9
MAX_CONSTANT = 10**MAX_DIGITS - 1
MAX_EXPONENT = 16

# Every function a cell file may call: the rule table's, and identity.
FUNCTIONS = {
    **{name: rule.function for name, rule in ELEMENTWISE.items()},
    **{name: rule.function for name, rule in ROW_FUNCTIONS.items()},
    **ACTIVATIONS,
}
FUNCTION_NAMES = {function: name for name, function in FUNCTIONS.items() if isinstance(function, type)}

MAX_REAL_DIGITS = 17  # significant digits of a real constant: enough for any double
MAX_DECIMAL_EXPONENT = 30
# Functions defined only for positive arguments (sqrt, log: their derivatives are infinite at 0):
# a constant outside is refused where it is written (symrnn.signs refuses any other argument the cell does not make so).
POSITIVE_ARGUMENT = {name: rule.domain for name, rule in ELEMENTWISE.items() if rule.domain}

PARAM_LETTERS = ("w", "b", "g")  # w^(f) a weight, b^(f) a bias, g^(n) a gain
KEYWORDS = ("cell", "description", "input", "state", "output", "size")
OPERATORS = {"=": "=", "+": "+", "-": "-", "*": "*", "/": "/", "\u2299": "*", "\u00b7": "\u00b7",
             "(": "(", ")": ")", "[": "[", "]": "]", ",": ",", "^": "^"}
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
IDENT_CHARS = re.compile(r"[A-Za-z0-9_]*")
SUPERSCRIPT = re.compile(r"\^\(([A-Za-z0-9_]*)\)")
NUMBER = re.compile(r"([0-9]+)(\.[0-9]*)?(?:[eE]([+-]?)([0-9]*))?")
SIZE_LETTER = re.compile(r"[A-Z]\Z")
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
DESCRIPTION_LINE = re.compile(r"[ \t]*description(?=[ \t#]|\Z)")


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


def load_cell(path):
    """The cell of the file at ``path``.

    >>> from symrnn.registry import builtin_file
    >>> load_cell(builtin_file("gru")).equations[-1]
    (h, g*z + (1 - z)*prev(h))
    """
    shown = str(path)
    try:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"cell file {shown!r} does not exist")
        if not path.is_file():
            raise ConfigError(f"cell file {shown!r} is not a regular file")
        with path.open("rb") as stream:
            data = stream.read(4 * MAX_FILE_CHARS + 1)
    except PermissionError:
        raise ConfigError(f"cell file {shown!r} cannot be read: permission denied") from None
    except (OSError, ValueError) as error:
        raise ConfigError(f"cell file {shown!r} cannot be read: {error}") from None
    return parse_cell(data, path=shown)


def parse_cell(text, path="<text>"):
    """The cell described by ``text`` (str, or bytes in UTF-8); ``path`` names
    it in error messages.

    >>> parse_cell("cell t\\ninput x\\nstate h\\nh = relu(w^(x) x + w^(u) * h[t-1])").parameters
    (Param(name='w_x', fan_in='input'), Param(name='w_u', fan_in=None))
    """
    return _Parser(_decode(text, path), path).cell()


def _decode(text, path):
    if isinstance(text, bytes):
        if len(text) > 4 * MAX_FILE_CHARS:
            raise CellFileError(f"the file is larger than {MAX_FILE_CHARS} characters", path=path)
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            before = text[:error.start]
            line = before.count(b"\n") + 1
            column = len(before.rsplit(b"\n", 1)[-1].decode("utf-8", "replace")) + 1
            raise CellFileError(f"the file is not UTF-8 text: byte 0x{text[error.start]:02x} is invalid",
                                path=path, line=line, column=column) from None
    if not isinstance(text, str):
        raise ConfigError(f"a cell file's text must be str or bytes, got {type(text).__name__}")
    if len(text) > MAX_FILE_CHARS:
        raise CellFileError(f"the file is larger than {MAX_FILE_CHARS} characters", path=path)
    return text.removeprefix("\ufeff")  # a byte-order mark some editors write


@dataclass
class _Token:
    kind: str  # 'name', 'param', 'int', 'real', 'op' or 'end'
    text: str  # as written ('w^(f)'); for 'op' the operator ('⊙' reads as '*')
    column: int
    value: object = None  # a param's code name ('w_f'), an int's value or a real's sympy.Float

    def shown(self):
        if self.kind == "end":
            return "end of line"
        return {"name": f"name '{self.text}'", "int": f"number {self.text}",
                "real": f"number {self.text}"}.get(self.kind, f"'{self.text}'")


@dataclass
class _Equation:
    lhs: sympy.Symbol
    line: int
    column: int
    rhs: sympy.Expr = None
    uses: list = field(default_factory=list)  # (name, column, how): how a name is used where
    nodes: dict = field(default_factory=dict)  # a parsed subexpression -> the column it starts at


# Characters that look like an operator of the language, and the operator to write instead.
LOOK_ALIKES = {"\u2212": "-", "\u2013": "-", "\u2014": "-", "\u00d7": "*", "\u2217": "*", "\u2219": "*",
               "\u2022": "*", "\u2215": "/", "\u00f7": "/", "\u2032": "'"}


def _shown(char):
    """A character as an error message shows it: itself where it prints (U+2212 as −,
    so the message shows what the file holds), an escape where it would not."""
    return "?" if _hidden(char) else char


def _hidden(char):
    """Whether ``char`` would not print as itself: a control, format or separator character."""
    return unicodedata.category(char)[0] in "CZ" and char != " "


def _describe_character(char):
    if " " <= char <= "~":
        return repr(char)
    name = unicodedata.name(char, "a control character" if unicodedata.category(char)[0] == "C" else "")
    shown = f"{char!a}" if _hidden(char) else f"'{char}'"
    described = f"{shown} (U+{ord(char):04X} {name})".replace(" )", ")")
    if char in LOOK_ALIKES:
        described += f"; cell files are ASCII: write '{LOOK_ALIKES[char]}'"
    elif unicodedata.category(char).startswith("L"):
        described += "; cell files are ASCII, is it a look-alike of a Latin letter?"
    return described


class _LineReader:
    """A cursor over the tokens of the line being read, and the errors that
    point at a line and column of the file."""

    def __init__(self, text, path):
        self.path = path
        self.lines = text.split("\n")
        self.line_no = 0
        self.tokens, self.pos = [], 0

    def fail(self, reason, column=1, line=None):
        line = self.line_no if line is None else line
        source = self.lines[line - 1] if 1 <= line <= len(self.lines) else ""
        raise CellFileError(reason, path=self.path, line=line, column=column, excerpt=_excerpt(source, column))

    def expected(self, what, token):
        hint = "; an elementwise product needs '*'" if ")" in what and token.kind in ("name", "int", "param") else ""
        self.fail(f"expected {what}, found {token.shown()}{hint}", token.column)

    def peek(self):
        return self.tokens[self.pos]

    def next(self):
        token = self.tokens[self.pos]
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def peek_op(self, *texts):
        token = self.peek()
        return token.kind == "op" and token.text in texts

    def expect(self, text, what):
        token = self.next()
        if token.kind != "op" or token.text != text:
            self.expected(what, token)

    def expect_end(self, what):
        token = self.peek()
        if token.kind != "end":
            operator = what != "end of line" and token.kind in ("name", "int", "param")
            hint = "; an elementwise product needs '*'" if operator else ""
            self.fail(f"expected {what}, found {token.shown()}{hint}", token.column)


class _ExpressionReader(_LineReader):
    """The grammar of a right-hand side (recursive descent, loosest first:
    sum, product, signed, matrix-vector product, power, atom), recording how
    each name is used where (for errors that point at it) and the order in
    which terms and factors were written."""

    def __init__(self, text, path):
        super().__init__(text, path)
        self.equations = []
        self.depth = 0
        self.written_order = {}  # a sum or product -> its terms or factors as written

    def use(self, name, column, how):
        self.equations[-1].uses.append((name, column, how))

    def node(self, value, column):
        """Remember where ``value`` starts (a check of the cell points there)."""
        self.equations[-1].nodes.setdefault(value, column)
        return value

    @contextmanager
    def nested(self):
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                self.fail(f"the expression is nested more than {MAX_DEPTH} levels deep", self.peek().column)
            yield
        finally:
            self.depth -= 1

    def sum(self):
        with self.nested():
            value = self.node(self.product(), self.peek().column)
            terms = [value]
            while self.peek_op("+", "-"):
                sign, column = self.next().text, self.peek().column
                term = self.node(self.product(), column)
                value = value + term if sign == "+" else value - term
                terms.append(term if sign == "+" else -term)
            self.written(value, terms)
            return value

    def written(self, value, parts):
        """Remember the order a sum's terms or a product's factors were written
        in (SymPy keeps its own): derivations print them in this order."""
        if len(parts) > 1:
            self.written_order.setdefault(value, tuple(parts))

    def product(self):
        if self.peek_op("-"):  # a leading minus negates the whole product, as SymPy holds -a*b
            self.next()
            with self.nested():
                return -self.product()
        value = self.factor()
        factors = [value]
        while self.peek_op("*", "/"):
            operator, column = self.next(), self.peek().column
            factor = self.factor()
            if operator.text == "/":
                if factor.is_zero:
                    self.fail("division by 0: the divisor is the constant 0", column)
                factor = factor**-1
            factors.append(factor)
            value = value * factor
        self.written(value, factors)
        return value

    def factor(self):
        column = self.peek().column
        return self.node(self.signed(), column)



    def signed(self):
        if self.peek_op("-"):
            self.next()
            with self.nested():
                return -self.signed()
        return self.matvec()

    def ahead(self, offset):
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def matvec(self):
        token = self.peek()
        transposed = token.kind == "param" and self.ahead(1).text == "^" and self.ahead(2).text == "T"
        after = self.ahead(3 if transposed else 1)
        explicit = after.kind == "op" and after.text == "\u00b7"
        if token.kind != "param" or not (transposed or explicit or _starts_operand(after)):
            return self.power()
        if not token.value.startswith("w_"):
            kind = "a gain" if token.value.startswith("g_") else "a bias"
            self.fail(f"{token.text} is {kind}: only a weight w^(...) multiplies a vector as a matrix; "
                      f"write {token.text} * ... for an elementwise product", token.column)
        if transposed and not (explicit or _starts_operand(after)):
            self.expected(f"the vector {token.text}^T multiplies (a transposed weight is a product: "
                          f"{token.text}^T h[t-1])", after)
        self.pos += 4 if transposed and explicit else 3 if transposed else 2 if explicit else 1
        self.use(token.value, token.column, "transposed" if transposed else "matrix")
        known, start = len(self.equations[-1].uses), self.peek().column
        with self.nested():
            operand = self.matvec()
        if self.peek_op("*", "/"):
            self.unparenthesised(token.column, start)
        uses = self.equations[-1].uses
        if isinstance(operand, sympy.Symbol) and len(uses) == known + 1:
            uses[-1] = (*uses[-1][:2], "operand")
        product = (dot_t if transposed else dot)(sympy.Symbol(token.value), operand)
        return self.node(product, token.column)

    def unparenthesised(self, weight_column, operand_column):
        """Refuse ``w^(G) f * h[t-1]``: the weight takes one operand, so it reads
        (w^(G) f) * h[t-1], and a forgotten pair of parentheses (the notes' MGU and
        GRU write w^(G) (f * h[t-1])) would silently give another cell."""
        line = self.lines[self.line_no - 1]
        operator = self.next()
        weight = line[weight_column - 1:operand_column - 1].strip()
        operand = line[operand_column - 1:operator.column - 1].strip()
        try:
            self.factor()
            factor = line[operator.column:self.peek().column - 1].strip()
        except CellFileError:
            factor = "..."
        rest = f"{line[operator.column - 1]} {factor}"  # as written: '⊙' reads as '*'
        self.fail(f"{weight} {operand} {rest} reads as ({weight} {operand}) {rest}: a weight multiplies one "
                  f"operand; write ({weight} {operand}) {rest} for that, or {weight} ({operand} {rest}) for "
                  f"the weight times {operand} {rest}", operator.column)

    def power(self):
        base = self.atom()
        if not self.peek_op("^"):
            return base
        self.next()
        sign = -1 if self.peek_op("-") else 1
        if sign < 0:
            self.next()
        token = self.next()
        if token.kind != "int" or not 1 <= token.value <= MAX_EXPONENT:
            self.expected(f"an integer exponent from 1 to {MAX_EXPONENT} or -{MAX_EXPONENT} to -1", token)
        if base.is_zero and sign < 0:
            self.fail("division by 0: 0 to a negative power", token.column)
        if base.is_Number and abs(base) > 1 and int(abs(base).ceiling()).bit_length() * token.value > 64:
            self.fail(f"the constant {base}^{token.value} is too large", token.column)
        return base**(sign * token.value)

    def atom(self):
        token = self.next()
        if token.kind == "int":
            return sympy.Integer(token.value)
        if token.kind == "real":
            return token.value
        if token.kind == "param":
            self.use(token.value, token.column, "elementwise")
            return sympy.Symbol(token.value)
        if token.kind == "op" and token.text == "(":
            value = self.sum()
            self.expect(")", f"')' to close the '(' at column {token.column}")
            return value
        if token.kind != "name":
            self.expected("a vector, parameter, number, function call or '('", token)
        if self.peek_op("("):
            return self.call(token)
        if token.text in FUNCTIONS:
            self.expected(f"'(' after the function {token.text}", self.peek())
        if self.peek_op("["):
            return self.previous(token)
        self.use(self.vector_name(token), token.column, "use")
        return sympy.Symbol(token.text)

    def call(self, token):
        if token.text not in FUNCTIONS:
            self.fail(f"unknown function {token.text!r}: it has no derivative rule; "
                      f"the functions are {', '.join(sorted(FUNCTIONS))}", token.column)
        opening = self.next()
        function = FUNCTIONS[token.text]
        arity = min(function.nargs) if isinstance(function, type) else 1
        starts, arguments = [self.peek().column], [self.sum()]
        while len(arguments) < arity:
            self.expect(",", f"',' and argument {len(arguments) + 1} of {token.text}(...), "
                             f"which takes {arity} arguments")
            starts.append(self.peek().column)
            arguments.append(self.sum())
        self.expect(")", f"')' to close {token.text}( at column {opening.column}")
        for argument, start in zip(arguments, starts):
            if token.text in POSITIVE_ARGUMENT and argument.is_Number and (argument < 0 or
                                                                          token.text == "log" and argument == 0):
                self.fail(f"{token.text} of the constant {argument}: its argument must be "
                          f"{POSITIVE_ARGUMENT[token.text]}", start)
        # unevaluated: SymPy's own evaluation of tanh or exp asks assumptions of the argument,
        # work that grows about threefold per level of nesting
        value = function(*arguments, evaluate=False) if isinstance(function, type) else function(*arguments)
        return self.node(value, token.column)

    def previous(self, token):
        name = self.vector_name(token)
        self.next()
        wanted = f"{name}[t-1], a state's value at the previous step (write {name} for this step's value)"
        for kind, text in (("name", "t"), ("op", "-"), ("int", "1"), ("op", "]")):
            found = self.next()
            if found.kind == "int" and text == "1" and found.value > 1:
                self.fail(f"{name}[t-{found.value}]: a cell reads only the previous step, {name}[t-1]; "
                          f"keep an older value in a state of its own", found.column)
            if found.kind != kind or found.text != text:
                self.expected(wanted, found)
        self.check_previous(name, token.column)
        self.use(name, token.column, "prev")
        return prev(sympy.Symbol(name))

    def check_previous(self, name, column):
        """Only a declared state (or the input) has a value at t-1: a state renamed on
        its 'state' line but read under its old name is caught here, in the file's words."""
        states = [state for state, _, _ in getattr(self, "states", ())]
        declared = getattr(self, "input", None)
        if not states or name in states or declared and name == declared[0]:
            return
        lines = sorted({line for _, line, _ in self.states})
        self.fail(f"{name}[t-1]: {name} is not a declared state, so it has no previous value; the states are "
                  f"{', '.join(states)} ('state' on line {', '.join(map(str, lines))})"
                  + (f" and the input is {declared[0]}" if declared else ""), column)

    def vector_name(self, token, role="vector"):
        if token.kind == "param":
            self.fail(f"{token.text} is a parameter; expected a {role} name (e.g. h)", token.column)
        if token.kind != "name":
            self.expected(f"a {role} name", token)
        if token.text in KEYWORDS or token.text in FUNCTIONS:
            kind = "keyword of cell files" if token.text in KEYWORDS else "function"
            self.fail(f"'{token.text}' is a {kind} and cannot name a {role}", token.column)
        try:
            return naming.check_vector_name(token.text, role)
        except CellError as error:
            self.fail(str(error) + _parameter_hint(token.text), token.column)


class _Parser(_ExpressionReader):
    """A whole cell file: its statements (cell, description, input, state,
    output, equations) in order, then the :class:`Cell` they make."""

    def __init__(self, text, path):
        super().__init__(text, path)
        self.name = self.description = self.input = self.output = None  # (value, line, column)
        self.states = []  # (name, line, column)
        self.sizes = {}  # name -> (letter, line, column of the name)

    def cell(self):
        for number, line in enumerate(self.lines, 1):
            self.line_no, line = number, line.removesuffix("\r")
            if len(line) > MAX_LINE_CHARS:
                self.fail(f"the line is longer than {MAX_LINE_CHARS} characters", MAX_LINE_CHARS + 1)
            control = CONTROL.search(line)
            if control:  # refused everywhere, comments included
                self.fail(f"unexpected character {_describe_character(control.group())}", control.start() + 1)
            self.statement(line)
        return self.build()

    def statement(self, line):
        match = DESCRIPTION_LINE.match(line)
        if match:
            self.begin("description", len(line) - len(line.lstrip(" \t")) + 1)
            return self.read_description(line, match.end())
        self.tokens, self.pos = _tokenize(line, self.fail), 0
        first = self.tokens[0]
        if first.kind == "end":
            return
        if first.kind == "name" and first.text in KEYWORDS:
            if self.tokens[1].text == "=" and self.tokens[1].kind == "op":
                self.fail(f"'{first.text}' is a keyword of cell files, not a vector name", first.column)
            if first.text == "description":  # not followed by a space: the text is read raw, above
                self.expected("a space, then the description text", self.tokens[1])
            self.begin(first.text, first.column)
            self.next()
            getattr(self, f"read_{first.text}")(first)
            self.expect_end("end of line")
        else:
            self.begin("equation", first.column)
            self.read_equation()
            self.expect_end("an operator or end of line")

    def begin(self, kind, column):
        if self.name is None and kind != "cell":
            self.fail("expected 'cell NAME' as the first statement of a cell file", column)
        if kind not in ("equation", "cell") and self.equations:
            self.fail(f"'{kind}' after the equations: declarations come first "
                      f"(before line {self.equations[0].line})", column)

    def once(self, attribute, keyword, column):
        previous = getattr(self, attribute)
        if previous is not None:
            self.fail(f"a second '{keyword}' line (the first is line {previous[1]})", column)

    def read_cell(self, keyword):
        self.once("name", "cell", keyword.column)
        token = self.next()
        if token.kind not in ("name", "param") or not CELL_NAME_PATTERN.match(token.text):
            self.expected("a cell name (a lowercase letter, then up to 31 lowercase letters, digits or '_')", token)
        self.name = (token.text, self.line_no, token.column)

    def read_description(self, line, start):
        self.once("description", "description", start)
        text = line[start:].split("#", 1)[0]
        column = start + len(text) - len(text.lstrip(" \t")) + 1
        text = text.strip(" \t")
        if not text:
            self.fail("expected the description text after 'description'", column)
        for offset, char in enumerate(text):
            if offset >= 200 or not DESCRIPTION_PATTERN.match(char):
                what = "more than 200 characters" if offset >= 200 else f"the character {_describe_character(char)}"
                self.fail(f"{what} in the description: expected letters, digits, spaces and "
                          "the punctuation , . ; : ( ) [ ] / + - ' = * ! ?", column + offset)
        self.description = (text, self.line_no, column)

    def read_input(self, keyword):
        self.once("input", "input", keyword.column)
        self.input = self.declare(self.next(), "input")

    def read_state(self, keyword):
        self.states.append(self.declare(self.next(), "state"))
        while self.peek_op(","):
            self.next()
            self.states.append(self.declare(self.next(), "state"))
        if self.peek().kind != "end":
            self.expected("',' between states, or end of line", self.peek())

    def read_output(self, keyword):
        self.once("output", "output", keyword.column)
        token = self.next()
        self.output = (self.vector_name(token, "output"), self.line_no, token.column)

    def read_size(self, keyword):
        token = self.next()
        name = self.vector_name(token, "vector")
        if name in self.sizes:
            self.fail(f"a second size of {name} (the first is on line {self.sizes[name][1]})", token.column)
        letter = self.next()
        if letter.kind != "name" or not SIZE_LETTER.match(letter.text):
            self.expected(f"the size of {name}, an uppercase letter (size {name} P)", letter)
        self.sizes[name] = (letter.text, self.line_no, token.column)

    def declare(self, token, role):
        name = self.vector_name(token, role)
        for other, line, _ in [self.input, *self.states] if self.input else self.states:
            if other == name:
                self.fail(f"{name} is already declared on line {line}", token.column)
        return (name, self.line_no, token.column)

    def read_equation(self):
        token = self.next()
        if token.kind == "param":
            self.fail(f"{token.text} is a parameter: parameters are learned, not computed; "
                      "expected a vector name before '='", token.column)
        name = self.vector_name(token)
        if self.input and name == self.input[0]:
            self.fail(f"the input {name} cannot be assigned", token.column)
        for equation in self.equations:
            if equation.lhs.name == name:
                self.fail(f"{name} is assigned twice (first on line {equation.line})", token.column)
        equation = _Equation(sympy.Symbol(name), self.line_no, token.column)
        self.equations.append(equation)
        if not self.peek_op("="):
            self.expected("'=' after the name of the vector computed", self.peek())
        self.next()
        start = self.peek().column
        equation.rhs = self.sum()
        problem = _size_problem(equation.rhs)
        if problem:
            self.fail(problem, start)

    def build(self):
        last = len(self.lines)
        if self.name is None:
            self.line_no = 1
            self.fail("expected 'cell NAME' as the first statement, found the end of the file")
        name, line, column = self.name
        if self.input is None:
            self.fail("the cell declares no input: add a line such as 'input x'", column, line)
        if not self.states:
            self.fail("the cell declares no state: add a line such as 'state h'", column, line)
        states = [sympy.Symbol(s) for s, _, _ in self.states]
        output = None
        if self.output is not None:
            output = sympy.Symbol(self.output[0])
            if output not in states and all(e.lhs != output for e in self.equations):
                self.fail(f"the output {output} is not a state or a vector the cell computes; the states are "
                          f"{', '.join(map(str, states))}", self.output[2], self.output[1])
        try:
            cell = Cell(name, input=sympy.Symbol(self.input[0]), states=states, output_state=output,
                        equations=[(e.lhs, e.rhs) for e in self.equations],
                        description=self.description[0] if self.description else "",
                        sizes={name: letter for name, (letter, _, _) in self.sizes.items()})
            cell.written_order = self.written_order
            return cell
        except CellError as error:
            problem = error
        line, column = self.locate(problem.where, (line, column))
        self.fail(str(problem), column, min(line, last))

    def locate(self, where, fallback):
        """(line, column) of a cell error's equation and symbol."""
        equation, symbol, how = where
        name = getattr(symbol, "name", None)
        if how == "size" and name in self.sizes:
            return self.sizes[name][1:]
        if equation is None:
            for declared, line, column in [self.input, *self.states]:
                if declared == name:
                    return line, column
            return fallback
        record = next((e for e in self.equations if e.lhs == equation), None)
        if record is None:
            return fallback
        if how == "lhs":
            return record.line, record.column
        if how == "node":
            return record.line, _node_column(record, symbol)
        columns = [c for n, c, h in record.uses if n == name and (h == how or how in ("matrix", "elementwise"))
                   or n == name and how == "transposed" and h == "transposed"]
        columns = columns or [c for n, c, _ in record.uses if n == name] or [record.column]
        # a parameter's conflicting use is its later one; anything else is wrong where first used
        return record.line, (columns[-1] if how in ("matrix", "elementwise") else columns[0])


def _node_column(record, node):
    """The column where ``node`` (a subexpression a check of the cell names)
    was written: as parsed, or where the first vector in it was."""
    if node in record.nodes:
        return record.nodes[node]
    names = {getattr(s, "name", None) for s in getattr(node, "free_symbols", ())}
    columns = [c for n, c, _ in record.uses if n in names and not naming.is_param_name(n)]
    columns = columns or [c for n, c, _ in record.uses if n in names]
    return min(columns, default=record.column)


def _parameter_hint(name):
    """Why ``W`` is not a vector name, where it looks like a parameter written the code's way."""
    if not name[:1].isalpha() or name.islower():
        return ""
    return (f"; a parameter is written with its letter and superscript: a weight w^({name}) "
            f"(w^({name}) x is its product with x), a bias b^({name})")


def _starts_operand(token):
    return token.kind in ("name", "param") or (token.kind == "op" and token.text == "(")


def _tokenize(line, fail):
    tokens, i = [], 0
    while i < len(line):
        char = line[i]
        if char in " \t":
            i += 1
        elif char == "#":
            break
        elif char.isascii() and (char.isalpha() or char == "_"):
            i = _word(line, i, tokens, fail)
        elif char.isascii() and char.isdigit():
            i = _number(line, i, tokens, fail)
        elif char in OPERATORS:
            tokens.append(_Token("op", OPERATORS[char], i + 1))
            i += 1
        else:
            fail(f"unexpected character {_describe_character(char)}", i + 1)
    tokens.append(_Token("end", "", len(line) + 1))
    return tokens


def _number(line, i, tokens, fail):
    """An integer (``12``) or a real constant (``0.95``, ``1e-5``, ``2.5e-3``)
    at ``line[i]``, held as the nearest double (a SymPy Float made from its
    digits, never from text); returns the index after it."""
    match = NUMBER.match(line, i)
    whole, fraction, sign, exponent = match.groups()
    text, end = match.group(), match.end()
    if fraction is None and exponent is None:
        if len(whole) > MAX_DIGITS:
            fail(f"the number {text[:12]}... has more than {MAX_DIGITS} digits", i + 1)
        tokens.append(_Token("int", text, i + 1, int(whole)))
        return end
    if fraction == ".":
        fail("expected digits after the decimal point (write 1.0 or 1)", i + len(whole) + 2)
    if exponent == "":
        fail("expected the digits of the exponent after 'e' (write 1e-5)", end + 1)
    digits = whole + (fraction or ".")[1:]
    significant = digits.lstrip("0")
    if len(significant.rstrip("0")) > MAX_REAL_DIGITS:
        fail(f"the number {text[:20]} has more than {MAX_REAL_DIGITS} significant digits", i + 1)
    power = (-1 if sign == "-" else 1) * int(exponent or "0")
    magnitude = len(significant) - len(digits) + len(whole) - 1 + power  # the decimal exponent of the first digit
    if len(exponent or "") > 3 or significant and abs(magnitude) > MAX_DECIMAL_EXPONENT:
        fail(f"the number {text[:20]} is out of range: real constants lie within 1e-{MAX_DECIMAL_EXPONENT} "
             f"and 1e{MAX_DECIMAL_EXPONENT}", i + 1)
    value = sympy.Rational(int(digits)) * sympy.Rational(10) ** (power - len(digits) + len(whole))
    tokens.append(_Token("real", text, i + 1, sympy.Float(value, 15)))  # 15 digits: 53 bits, a double
    return end


def _word(line, i, tokens, fail):
    """A name at ``line[i]``: a vector or function name, or a parameter
    ``w^(f)`` / ``w_f``; returns the index after it."""
    word = IDENT.match(line, i).group()
    end = i + len(word)
    superscript = SUPERSCRIPT.match(line, end) if word in PARAM_LETTERS else None
    if word in PARAM_LETTERS and line.startswith("^(", end) and superscript is None:
        bad = IDENT_CHARS.match(line, end + 2).end()  # the first character that is not part of a name
        if bad < len(line) and not " " <= line[bad] <= "~":
            fail(f"unexpected character {_describe_character(line[bad])}", bad + 1)
        found = repr(line[bad]) if bad < len(line) else "end of line"
        fail(f"expected {word}^(...) with letters or digits inside the parentheses, found {found}", bad + 1)
    if superscript:
        name, end = f"{word}_{superscript.group(1)}", superscript.end()
    elif naming.is_param_name(word):
        name = word
    else:
        tokens.append(_Token("name", word, i + 1))
        return end
    try:
        naming.check_param_name(name)
    except CellError as error:
        fail(f"{line[i:end]} is not a valid parameter: {error}", i + 1)
    tokens.append(_Token("param", line[i:end], i + 1, name))
    return end


def _size_problem(expr):
    """Why an equation's constants or powers are too large to print or
    generate, if they are (SymPy folds ``999999999 * 999999999``)."""
    for node in sympy.preorder_traversal(expr):
        if node.is_Rational and max(abs(node.p), node.q) > MAX_CONSTANT:
            return f"the constant {node} is too large: at most {MAX_DIGITS} digits"
        if node.is_Float and not _writable_decimal(decimal(node)):
            return f"the constant {decimal(node)} is out of range: within 1e-{MAX_DECIMAL_EXPONENT} and " \
                   f"1e{MAX_DECIMAL_EXPONENT}, at most {MAX_REAL_DIGITS} significant digits"
        if node.is_Pow and not (node.exp.is_Integer and 1 <= abs(node.exp) <= MAX_EXPONENT):
            return f"the power {node.exp} is out of range: integer powers 1 to {MAX_EXPONENT} and their negatives"
    return None


def _writable_decimal(text):
    """Whether a real constant printed as ``text`` (:func:`symrnn.printing.decimal`) reads back."""
    try:
        tokens = _tokenize(text.lstrip("-"), _refuse)
    except CellFileError:
        return False
    return len(tokens) == 2 and tokens[0].kind == "real" or text.lstrip("-").isdigit()


def _refuse(reason, column=1):
    raise CellFileError(reason)


def _excerpt(line, column):
    """The line (at most 100 characters; a tab as a space, a character that would not
    print as ``?``) and a caret under ``column``."""
    shown = "".join(" " if c == "\t" else _shown(c) for c in line)
    start = max(0, min(column - 1 - 60, len(shown) - 100))
    prefix = "..." if start > 0 else ""
    window = prefix + shown[start:start + 100] + ("..." if len(shown) > start + 100 else "")
    return f"    {window}\n    {' ' * (len(prefix) + column - 1 - start)}^"


# --------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------

def format_cell(cell):
    """The text of ``cell`` in the cell-file language; parsing it gives the
    same cell.

    >>> from symrnn.registry import get_cell
    >>> print(format_cell(get_cell("rnn", activation="relu")))
    cell rnn_relu
    description vanilla RNN, activation relu
    input x
    state a
    a = relu(w^(a) a[t-1] + w^(x) x + b^(a))
    <BLANKLINE>
    """
    lines = [f"cell {cell.name}"]
    if cell.description:
        lines.append(f"description {cell.description}")
    lines += [f"input {cell.input}", f"state {', '.join(map(str, cell.states))}"]
    if cell.output_state != cell.states[-1]:
        lines.append(f"output {cell.output_state}")
    lines += [f"size {name} {letter}" for name, letter in cell.declared_sizes.items()]
    written = getattr(cell, "written_order", {})  # a parsed cell's sums and products as its file wrote them
    lines += [f"{lhs} = {format_expression(rhs, written)}" for lhs, rhs in cell.equations]
    return "\n".join(lines) + "\n"


def format_expression(expr, written=None):
    """One right-hand side in the cell-file language; ``written`` (a parsed cell's
    ``written_order``) keeps the terms and factors in the order the file wrote them."""
    return CellFilePrinter(FUNCTION_NAMES, MAX_CONSTANT, MAX_EXPONENT, _writable_decimal, written).doprint(expr)
