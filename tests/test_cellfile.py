"""Cell files: each construct, the errors (with line and column), the
printer's round trip, adversarial text, and cells from files through code
generation and the finite-difference check."""

import ast
import builtins
import inspect
from pathlib import Path

import pytest
import sympy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import symrnn
from symrnn import cellfile
from symrnn.cellfile import (
    FUNCTIONS,
    MAX_DEPTH,
    POSITIVE_ARGUMENT,
    format_cell,
    format_expression,
    load_cell,
    parse_cell,
)
from symrnn.cells import Cell, parameters, vectors
from symrnn.cli import main
from symrnn.errors import CellError, CellFileError, ConfigError
from symrnn.registry import CELLS, builtin_file, get_cell
from symrnn.rules import ACTIVATIONS, ELEMENTWISE, ROW_FUNCTIONS, dot, prev, relu, sigmoid
from symrnn.verify import verify_network

HEADER = "cell t\ninput x\nstate h\n"
x, h, c, f, g = vectors("x h c f g")
w_x, w_h, w_u, b_h = parameters("w_x w_h w_u b_h")


def rhs(text, header=HEADER):
    """The right side of the last equation of ``header`` + ``text``."""
    return parse_cell(header + text).equations[-1][1]


def cell_data(cell):
    return (cell.name, cell.description, cell.input, cell.states, cell.output_state,
            [(lhs, sympy.srepr(rhs)) for lhs, rhs in cell.equations], cell.parameters)


def builtin_cells():
    cells = [get_cell(name, variant) for name, variants in CELLS.items() for variant in variants]
    return cells + [get_cell("rnn", activation=a) for a in ACTIVATIONS if a != "tanh"]


# --------------------------------------------------------------------------
# Each construct
# --------------------------------------------------------------------------


SAMPLES = Path(__file__).resolve().parent / "cells"  # sample cell files, shared by the tests
MGU = (SAMPLES / "mgu.cell").read_text(encoding="utf-8")

PEEPHOLE = (SAMPLES / "peephole.cell").read_text(encoding="utf-8")

INDRNN = (SAMPLES / "indrnn.cell").read_text(encoding="utf-8")


def test_a_whole_file():
    cell = parse_cell(MGU)
    assert (cell.name, cell.description, cell.input, cell.states) == ("mgu", "minimal gated unit", x, (h,))
    w_f, w_F, b_f, w_g, w_G, b_g = parameters("w_f w_F b_f w_g w_G b_g")
    assert cell.equations == (
        (f, sigmoid(dot(w_f, x) + dot(w_F, prev(h)) + b_f)),
        (g, sympy.tanh(dot(w_g, x) + dot(w_G, f * prev(h)) + b_g)),
        (h, (1 - f) * prev(h) + f * g),
    )


@pytest.mark.parametrize("text,expected", [
    ("h = tanh(w^(x) x + w^(h) h[t-1])", sympy.tanh(dot(w_x, x) + dot(w_h, prev(h)))),
    ("h = tanh(w_x x + w_h h[t-1])", sympy.tanh(dot(w_x, x) + dot(w_h, prev(h)))),  # code names
    ("h = tanh(w^(x)·x + w^(h) · h[ t - 1 ])", sympy.tanh(dot(w_x, x) + dot(w_h, prev(h)))),  # explicit ·
    ("h = relu(w^(x) x + w^(u) * h[t-1] + b^(h))", relu(dot(w_x, x) + w_u * prev(h) + b_h)),  # elementwise
    ("h = (w^(x) x) ⊙ h[t-1]", dot(w_x, x) * prev(h)),  # ⊙ is *; w^(x) x ⊙ h[t-1] unparenthesised is refused
    ("h = (w^(h) (w^(x) x)) * h[t-1]", dot(w_h, dot(w_x, x)) * prev(h)),
    ("h = w^(h) w^(u) h[t-1] + w^(x) x", dot(w_h, dot(w_u, prev(h))) + dot(w_x, x)),  # nested products
    ("h = w^(h) h[t-1]^2 + w^(x) x", dot(w_h, prev(h) ** 2) + dot(w_x, x)),  # ^ binds tighter
    ("h = -h[t-1]^2 + w^(x) x", -prev(h) ** 2 + dot(w_x, x)),
    ("h = 2 * (1 - h[t-1]) - -3 + w^(x) x", 5 - 2 * prev(h) + dot(w_x, x)),
    ("h = identity(w^(x) x + h[t-1])", dot(w_x, x) + prev(h)),
    ("h = log_softmax(w^(x) x + h[t-1])", FUNCTIONS["log_softmax"](dot(w_x, x) + prev(h))),
    ("h = ((((w^(x) x)))) + h[t-1]   # a comment", dot(w_x, x) + prev(h)),
])
def test_expressions(text, expected):
    assert rhs(text) == expected


UNARY = sorted(name for name in FUNCTIONS if name != "max")


@pytest.mark.parametrize("name", UNARY)
def test_every_function_of_the_rule_table(name):
    """sqrt and log take what the cell makes non-negative or positive (symrnn.signs): a sigmoid."""
    if name in POSITIVE_ARGUMENT:
        expected = FUNCTIONS[name](FUNCTIONS["sigmoid"](dot(w_x, x) + prev(h)))
        assert rhs(f"h = {name}(sigmoid(w^(x) x + h[t-1]))") == expected
        with pytest.raises(CellFileError, match=f"{name} of dot.w_x, x. . prev.h.: its argument must be"):
            rhs(f"h = {name}(w^(x) x + h[t-1])")
    else:
        assert rhs(f"h = {name}(w^(x) x + h[t-1])") == FUNCTIONS[name](dot(w_x, x) + prev(h))


def test_the_functions_come_from_the_rule_table():
    assert set(FUNCTIONS) == set(ELEMENTWISE) | set(ROW_FUNCTIONS) | set(ACTIVATIONS)


def test_several_states_and_the_output_declaration():
    text = "cell t\ninput x\nstate c\nstate h\noutput c\nh = tanh(w^(x) x + h[t-1] + c[t-1])\nc = h * c[t-1]\n"
    cell = parse_cell(text)
    assert cell.states == (c, h) and cell.output_state == c
    assert parse_cell(text.replace("output c\n", "")).output_state == h


def test_line_endings_blank_lines_and_comments():
    text = "\n# comment\r\n  cell t   # name\r\n\tinput x\r\nstate h\r\n\r\nh = tanh(w^(x) x + h[t-1]) # end\r\n"
    assert parse_cell(text).equations == ((h, sympy.tanh(dot(w_x, x) + prev(h))),)
    assert parse_cell(text.encode("utf-8")).equations == ((h, sympy.tanh(dot(w_x, x) + prev(h))),)


# --------------------------------------------------------------------------
# Errors: file:line:column, what was found, what was expected
# --------------------------------------------------------------------------

BAD = [
    # syntax
    (HEADER + "h = tanh(w^(x) x + w^(h) h[t-1]",
     "t.cell:4:32: expected ')' to close tanh( at column 9, found end of line"),
    (HEADER + "h = tanh(w^(x) x h[t-1])",
     "t.cell:4:18: expected ')' to close tanh( at column 9, found name 'h'; an elementwise product needs '*'"),
    (HEADER + "h = tanh(w^(x) x + h[t-1]) h", "t.cell:4:28: expected an operator or end of line, found name 'h'"),
    (HEADER + "h = tanh(w^(x) x + h[t-1]) +",
     "t.cell:4:29: expected a vector, parameter, number, function call or '(', found end of line"),
    (HEADER + "h = tanh(w^(x) x, h[t-1])", "t.cell:4:17: expected ')' to close tanh( at column 9, found ','"),
    (HEADER + "h = tanh + x", "t.cell:4:10: expected '(' after the function tanh, found '+'"),
    (HEADER + "h := tanh(w^(x) x)", "t.cell:4:3: unexpected character ':'"),
    (HEADER + "h = tanh(w^(x) x) $ 2", "t.cell:4:19: unexpected character '$'"),
    (HEADER + "h = 1. * h[t-1]", "t.cell:4:7: expected digits after the decimal point"),
    (HEADER + "h = 1234567890 * h[t-1]", "t.cell:4:5: the number 1234567890... has more than 9 digits"),
    (HEADER + "h = h[t-1]^17 + w^(x) x", "t.cell:4:12: expected an integer exponent from 1 to 16 or -16 to -1, found number 17"),
    (HEADER + "h = w^(x) x + h[t-1] * 9^16", "t.cell:4:5: the constant 1853020188851841 is too large"),
    (HEADER + "h = w^(x) x + h[t-1] * (h[t-1]^16)^16", "t.cell:4:5: the power 257 is out of range"),
    (HEADER + "h = tanh(w^(x) x + h[t-2])", "t.cell:4:24: h[t-2]: a cell reads only the previous step, h[t-1]"),
    (HEADER + "h = tanh(b^(x) x + h[t-1])", "t.cell:4:10: b^(x) is a bias: only a weight w^(...) multiplies"),
    (HEADER + "h = sin(w^(x) x + h[t-1])",
     ("t.cell:4:5: unknown function 'sin': it has no derivative rule; the functions are exp, identity, "
     "log, log_softmax, max, mean, relu, sigmoid, softplus, sqrt, tanh")),
    (HEADER + "h = tanh(w^(y) x + h[t-1])", "t.cell:4:10: w^(y) is not a valid parameter: parameter name 'w_y' is"),
    (HEADER + "h = tanh(w^() x + h[t-1])", "t.cell:4:10: w^() is not a valid parameter"),
    (HEADER + "h = tanh(w^(x y) x)", "t.cell:4:14: expected w^(...) with letters or digits inside the parentheses, found ' '"),
    (HEADER + "h = tanh(w^(x) x + H)", "t.cell:4:20: invalid vector name 'H'"),
    (HEADER + "h = tanh(w^(x) x + np)", "t.cell:4:20: invalid vector name 'np': it is reserved"),
    (HEADER + "w^(h) = tanh(w^(x) x)", "t.cell:4:1: w^(h) is a parameter: parameters are learned, not computed"),
    (HEADER + "state = tanh(w^(x) x)", "t.cell:4:1: 'state' is a keyword of cell files, not a vector name"),
    (HEADER + "h = " + "(" * 40 + "x" + ")" * 40, f"t.cell:4:{5 + MAX_DEPTH}: the expression is nested more than"),
    (HEADER + "h = " + "x + " * 200 + "x", "t.cell:4:401: the line is longer than 400 characters"),
    # declarations
    ("", "t.cell:1:1: expected 'cell NAME' as the first statement, found the end of the file"),
    ("input x\n", "t.cell:1:1: expected 'cell NAME' as the first statement of a cell file"),
    ("cell MGU\n", "t.cell:1:6: expected a cell name (a lowercase letter, then up to 31 lowercase letters, digits"),
    ("cell t\ncell u\n", "t.cell:2:1: a second 'cell' line (the first is line 1)"),
    ("cell t\nstate h\n", "t.cell:1:6: the cell declares no input: add a line such as 'input x'"),
    ("cell t\ninput x\n", "t.cell:1:6: the cell declares no state: add a line such as 'state h'"),
    (HEADER + "input y", "t.cell:4:1: a second 'input' line (the first is line 2)"),
    ("cell t\ninput x\nstate h h\n", "t.cell:3:9: expected ',' between states, or end of line, found name 'h'"),
    ("cell t\ninput x\nstate h, h\n", "t.cell:3:10: h is already declared on line 3"),
    ("cell t\ninput x\nstate tanh\n", "t.cell:3:7: 'tanh' is a function and cannot name a state"),
    (HEADER + "output c", "t.cell:4:8: the output c is not a state or a vector the cell computes; the states are h"),
    (HEADER + "h = tanh(w^(x) x + h[t-1])\nstate c", "t.cell:5:1: 'state' after the equations: declarations come"),
    ('cell t\ndescription say "hi"\n', "t.cell:2:17: the character '\"' in the description"),
    ("cell t\ndescription(x)\n", "t.cell:2:12: expected a space, then the description text, found '('"),
    ("cell t\ndescription # none\n", "t.cell:2:13: expected the description text after 'description'"),
    # meaning, from the checks of symrnn.cells.Cell, placed on the line
    (HEADER + "h = tanh(w^(x) x + q + h[t-1])", "t.cell:4:20: cell 't', equation for h: undeclared name q"),
    (HEADER + "f = tanh(w^(x) x)\n", "t.cell:3:7: cell 't': state h is never updated (no equation for it)"),
    (HEADER + "h = tanh(w^(x) x + w^(x) h[t-1])",
     ("t.cell:4:20: cell 't': parameter w_x is used with two incompatible shapes: a matrix on the input and "
     "a matrix on a hidden vector")),
    (HEADER + "h = tanh(w^(x) x + w^(c) b^(c) + h[t-1])",
     "t.cell:4:20: cell 't', equation for h: the operand of w_c is the same at every step and for every item"),
    (HEADER + "h = tanh(w^(x) x + w^(c) (2) + h[t-1])",
     "t.cell:4:20: cell 't', equation for h: the operand of w_c is the same at every step and for every item"),
    (HEADER + "h = tanh(w^(x) x + h[t-1]) - tanh(1)",
     "t.cell:4:30: cell 't', equation for h: tanh(1) is a function of a constant"),
    (HEADER + "h = tanh(w^(x) x + h[t-1]) * log_softmax(2)",
     "t.cell:4:30: cell 't', equation for h: log_softmax(2) is a function of a constant"),
    (HEADER + "u = 2\nh = tanh(w^(x) x + u * h[t-1])",
     "t.cell:4:1: cell 't': u = 2 is a constant: every vector depends on the input, a state or a parameter"),
    (HEADER + "h = tanh(w^(x) x + h[t-1] + w^(x))",
     "t.cell:4:29: cell 't': parameter w_x is used with two incompatible shapes: an elementwise vector and "),
    (HEADER + "f = sigmoid(w^(f) x + w^(F) h)\nh = f * h[t-1]",
     ("t.cell:4:29: cell 't', equation for f: h is used before it is computed at this step (a cycle within one "
     "step?)")),
    (HEADER + "f = g\ng = f\nh = w^(x) x + h[t-1]", "t.cell:4:5: cell 't', equation for f: undeclared name g"),
    (HEADER + "f = sigmoid(w^(f) x)\nh = f[t-1] * h[t-1]",
     "t.cell:5:5: f[t-1]: f is not a declared state, so it has no previous value; the states are h"),
    (HEADER + "h = tanh(w^(x) x + h[t-1])\nh = h", "t.cell:5:1: h is assigned twice (first on line 4)"),
    (HEADER + "x = tanh(w^(x) x + h[t-1])", "t.cell:4:1: the input x cannot be assigned"),
    (HEADER + "f = sigmoid(w^(f) x)\nh = tanh(w^(x) x + h[t-1])",
     "t.cell:4:1: cell 't': f is computed but never used: it does not influence the output state h"),
    (HEADER + "h = tanh(w^(x) x + h[t-1] + x)",
     "t.cell:4:29: cell 't', equation for h: the input x may only be the whole operand of a weight"),
    (HEADER + "h = tanh(w^(x) x)", "t.cell:3:7: cell 't': state h is never read at the next step"),
    (HEADER + "h = tanh(w^(x) x + exp(1) * h[t-1])", "t.cell:4:1: cell 't', equation for h: unsupported expression E"),
    # characters that are not part of the language
    (HEADER + "h = tanh(w^(x) x + h[t-1]) * \u0430",
     ("t.cell:4:30: unexpected character '\u0430' (U+0430 CYRILLIC SMALL LETTER A); cell files are ASCII, "
     "is it a look-alike of a Latin letter?")),
    (HEADER + "\uff48 = tanh(w^(x) x)", "t.cell:4:1: unexpected character '\uff48' (U+FF48 FULLWIDTH LATIN SMALL"),
    (HEADER + "h = tanh(w^(x) x\x00)", "t.cell:4:17: unexpected character '\\x00' (U+0000 a control character)"),
    (HEADER + "h = tanh(w^(x) x + h[t-1])\rh = 1\n", "t.cell:4:27: unexpected character '\\r'"),
    (HEADER.encode() + b"h = \xff\n", "t.cell:4:5: the file is not UTF-8 text: byte 0xff is invalid"),
]


@pytest.mark.parametrize("text,message", BAD, ids=range(len(BAD)))
def test_errors_name_file_line_column_and_what_was_expected(text, message):
    with pytest.raises(CellFileError) as info:
        parse_cell(text, path="t.cell")
    assert str(info.value).splitlines()[0].startswith(message)
    assert str(info.value).startswith(f"t.cell:{info.value.line}:{info.value.column}: {info.value.reason}")


def test_the_error_shows_the_line_and_a_caret():
    with pytest.raises(CellFileError) as info:
        parse_cell(HEADER + "h = tanh(w^(x) x + q + h[t-1])", path="t.cell")
    assert str(info.value).splitlines()[1:] == ["    h = tanh(w^(x) x + q + h[t-1])",
                                                "                       ^"]


def test_an_error_is_a_cell_error_and_a_symrnn_error():
    assert issubclass(CellFileError, CellError) and issubclass(CellFileError, symrnn.SymrnnError)


def test_bad_paths(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_cell(tmp_path / "missing.cell")
    with pytest.raises(ConfigError, match="is not a regular file"):
        load_cell(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_cell("bad\x00name.cell")
    (tmp_path / "big.cell").write_bytes(b"#" * (5 * cellfile.MAX_FILE_CHARS))
    with pytest.raises(CellFileError, match="big.cell:1:1: the file is larger than"):
        load_cell(tmp_path / "big.cell")


# --------------------------------------------------------------------------
# The printer: parse -> print -> parse gives the same cell
# --------------------------------------------------------------------------


@pytest.mark.parametrize("cell", builtin_cells(), ids=lambda cell: cell.name)
def test_builtin_cells_round_trip(cell):
    text = format_cell(cell)
    assert cell_data(parse_cell(text)) == cell_data(cell)
    assert format_cell(parse_cell(text)) == text


def test_builtin_cells_are_the_shipped_files():
    files = {path.stem for path in builtin_file("lstm").parent.glob("*.cell")}
    assert files == {cell.name for cell in builtin_cells()}
    for cell in builtin_cells():
        assert cell_data(load_cell(builtin_file(cell.name))) == cell_data(cell)


@pytest.mark.parametrize("text", [MGU, PEEPHOLE, INDRNN])
def test_custom_cells_round_trip(text):
    cell = parse_cell(text)
    assert cell_data(parse_cell(format_cell(cell))) == cell_data(cell)


def test_printed_forms():
    assert format_expression(dot(w_h, f * prev(h)) + 2 * dot(w_x, x) - 1) == "2 * w^(x) x + w^(h) (f * h[t-1]) - 1"
    assert format_expression(dot(w_h, prev(h)) ** 2) == "(w^(h) h[t-1])^2"
    assert format_expression(-f * g) == "-f * g"
    assert format_expression(dot(w_h, sympy.Integer(2))) == "w^(h) (2)"
    assert format_expression(f / 2 - 3 * g / 4) == "f / 2 - 3 * g / 4"
    assert format_expression(f ** -1 + sympy.Float(0.5) * g) == "f^-1 + 0.5 * g"
    for unprintable in (sympy.sin(f), sympy.sqrt(f), f ** 17, 10**12 * f, sympy.Float(1e40) * f):
        with pytest.raises(CellError, match="cannot be written in a cell file"):
            format_expression(unprintable)


# Random valid cells, built as SymPy objects: gates g1, g2 and state h.
GATES = vectors("u v")
LEAVES = [prev(h), *(parameters("b_a b_b")), sympy.Integer(1), sympy.Integer(2)]


def _expressions(available):
    leaves = st.sampled_from(LEAVES + list(available) + [dot(w, x) for w in parameters("w_a w_b")])
    functions = st.sampled_from([FUNCTIONS[name] for name in UNARY])
    hidden_weights = st.sampled_from(parameters("w_A w_B"))
    return st.recursive(leaves, lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda pair: pair[0] + pair[1]),
        st.tuples(inner, inner).map(lambda pair: pair[0] * pair[1]),
        st.tuples(inner, inner).map(lambda pair: pair[0] - pair[1]),
        st.tuples(functions, inner).map(lambda pair: pair[0](pair[1])),
        st.tuples(hidden_weights, inner).map(lambda pair: dot(*pair)),
        st.tuples(inner, st.integers(1, 3)).map(lambda pair: pair[0] ** pair[1]),
        inner.map(lambda e: -e),
    ), max_leaves=8)


@st.composite
def random_cells(draw):
    u, v = GATES
    first = draw(_expressions([]))
    second = draw(_expressions([u]))
    last = draw(_expressions([u, v]))
    # every gate reaches h, h[t-1] is read, and the input reaches h
    equations = [(u, first), (v, second + u), (h, last + v + dot(parameters("w_a")[0], x) * prev(h))]
    try:
        return Cell("random", input=x, states=[h], equations=equations, description="a random cell")
    except CellError:
        assume(False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(random_cells())
def test_random_cells_round_trip(cell):
    try:
        text = format_cell(cell)
    except CellError:  # e.g. a power above 16 after SymPy combined factors
        assume(False)
    parsed = parse_cell(text)
    # the same mathematics (SymPy may hold a product as -1*2*(a + b), which
    # any parser builds as -2*(a + b)) ...
    for (lhs, rhs), (lhs_again, rhs_again) in zip(cell.equations, parsed.equations, strict=True):
        assert lhs == lhs_again and sympy.expand(rhs - rhs_again) == 0, text
    # ... and from then on exactly the same cell and the same text
    again = parse_cell(format_cell(parsed))
    assert cell_data(again) == cell_data(parsed), text
    assert format_cell(again) == format_cell(parsed)


# --------------------------------------------------------------------------
# Adversarial text: a parsed cell or a CellFileError, nothing else, and no
# code run
# --------------------------------------------------------------------------


def outcome(text):
    """'cell' or 'error'; any other exception fails the test."""
    try:
        result = parse_cell(text, path="fuzz.cell")
    except CellFileError as error:
        assert str(error).startswith(f"fuzz.cell:{error.line}:{error.column}: ")
        assert error.line >= 1 and error.column >= 1
        return "error"
    assert isinstance(result, Cell)
    return "cell"


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CODE = [
    "__import__('os').system('touch /tmp/symrnn_canary')",
    "eval(\"__import__('os')\")", "exec('import os')", "lambda: 0", "[c for c in ().__class__.__bases__]",
    "().__class__.__base__.__subclasses__()", "open('/etc/passwd').read()", "import os", "os.system",
    "$(touch /tmp/symrnn_canary)", "`touch /tmp/symrnn_canary`", "; rm -rf /", "| sh", "&& echo", "> /tmp/x",
    "\"\"\"", "'''", "\\", "{{ 7*7 }}", "{% raw %}", "${HOME}", "%s%s%n", "\\input{/etc/passwd}", "\\def\\x{}",
    "Symbol('x')", "sympify('x')", "x.__dict__", "getattr(x, 'y')", "f'{x}'", "1e400", "0x10", "1_000", "--x",
]
TOKENS = ["h", "x", "f", "g", "c", "w^(x)", "w^(F)", "b^(a)", "w_x", "h[t-1]", "c[t-1]", "tanh(", "sigmoid(",
          "relu(", "exp(", "identity(", "(", ")", "+", "-", "*", "⊙", "·", "^", "2", "1", "=", "[", "]", ",",
          "t", "state", "input", "cell", "output", "description", "mgu", "#", "\n", " ", ".", "\t"]
LOOK_ALIKES = "аеорсхуіјһԁɡΑΒΕοντｈｘｗ（）＋＝ℎ𝒉ⅰﬁ\u200b\u00a0\u2028\ufeff"


@FUZZ
@given(st.text(max_size=300))
def test_any_text(text):
    outcome(text)


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes(data):
    outcome(data)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=60))
def test_token_soup_after_a_valid_header(tokens):
    outcome(HEADER + "h = " + " ".join(tokens))
    outcome(HEADER + "".join(tokens))


@FUZZ
@given(st.sampled_from(CODE), st.sampled_from(["h = {}", "{}", "h = tanh({})", "cell {}", "state {}",
                                                "description {}", "h = w^(x) x + {}"]))
def test_python_and_shell_fragments(code, template):
    assert outcome(HEADER + template.format(code)) == "error"


@FUZZ
@given(st.integers(min_value=1, max_value=10**400), st.integers(1, 40))
def test_huge_numbers(number, exponent):
    text = HEADER + f"h = tanh(w^(x) x + {number} * h[t-1]^{exponent})"
    small = number <= cellfile.MAX_CONSTANT and exponent <= cellfile.MAX_EXPONENT
    assert outcome(text) == ("cell" if small else "error")


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3000), st.sampled_from(["(", "tanh(", "-", "w^(A) ", "- (", "(-"]))
def test_deep_nesting(depth, opening):
    # levels of nesting each opening adds, and its closing text
    per_opening, closing = {"(": (1, ")"), "tanh(": (1, ")"), "-": (1, ""), "w^(A) ": (1, ""),
                            "- (": (2, ")"), "(-": (2, ")")}[opening]
    line = "h = w^(x) x + " + opening * depth + "h[t-1]" + closing * depth
    levels = 1 + depth * per_opening  # the whole sum, then the openings
    fits = levels <= MAX_DEPTH and len(line) <= cellfile.MAX_LINE_CHARS
    assert outcome(HEADER + line) == ("cell" if fits else "error")


def without_comments(text):
    return "\n".join(line.split("#")[0] for line in text.splitlines())


@FUZZ
@given(st.sampled_from([MGU, PEEPHOLE, INDRNN]), st.data())
def test_unicode_look_alikes(text, data):
    text = without_comments(text)  # a comment may hold any printable character
    position = data.draw(st.integers(0, len(text)))
    look_alike = data.draw(st.sampled_from(LOOK_ALIKES))
    if (position, look_alike) == (0, "\ufeff"):  # a byte-order mark that starts the file is skipped
        return
    with pytest.raises(CellFileError, match=f"character .*U\\+{ord(look_alike):04X}"):
        parse_cell(text[:position] + look_alike + text[position:])


@settings(max_examples=30, deadline=None)
@given(st.integers(cellfile.MAX_LINE_CHARS - 20, 200_000), st.sampled_from(["x", "+", " ", "#", "(", "9"]))
def test_very_long_lines(length, char):
    text = HEADER + "h = w^(x) x + h[t-1] " + char * length
    result = outcome(text)
    assert result == "error" or len(text.splitlines()[-1]) <= cellfile.MAX_LINE_CHARS


@FUZZ
@given(st.sampled_from([MGU, PEEPHOLE, INDRNN]), st.data())
def test_nul_bytes(text, data):
    position = data.draw(st.integers(0, len(text)))
    with pytest.raises(CellFileError, match="U\\+0000"):  # even in a comment
        parse_cell(text[:position] + "\x00" + text[position:])


def test_no_code_runs_while_parsing(monkeypatch, tmp_path):
    canary = tmp_path / "canary"

    def refuse(*args, **kwargs):
        raise AssertionError(f"called with {args!r}")

    original = sympy.sympify

    def sympify_no_text(value, *args, **kwargs):
        if isinstance(value, str):
            raise TypeError(f"sympify of text {value!r}")
        return original(value, *args, **kwargs)

    attacks = [f"h = __import__('os').system('touch {canary}')", f"h = $(touch {canary})",
               f"description `touch {canary}`", "h = eval('1')", f"h = exec(\"open('{canary}', 'w')\")",
               f"h = w^(x) x + h[t-1] # __import__('os').system('touch {canary}')"]
    outcomes = []
    with monkeypatch.context() as patch:
        for name in ("eval", "exec", "compile"):
            patch.setattr(builtins, name, refuse)
        patch.setattr(sympy, "sympify", sympify_no_text)
        for text in [HEADER + attack for attack in attacks] + [MGU]:
            try:
                outcomes.append(parse_cell(text).name)
            except CellFileError:
                outcomes.append("error")
            except TypeError as error:  # sympify was given text
                outcomes.append(str(error))
    assert outcomes == ["error"] * 5 + ["t", "mgu"]  # a comment is only a comment
    assert not canary.exists()


def test_the_parser_calls_no_evaluator():
    evaluators = {"eval", "exec", "compile", "sympify", "parse_expr", "__import__", "S", "parse_latex"}
    for node in ast.walk(ast.parse(inspect.getsource(cellfile))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = getattr(func.value, "id", "") if isinstance(func, ast.Attribute) else ""
            assert name not in evaluators or (owner, name) == ("re", "compile"), ast.unparse(node)


# --------------------------------------------------------------------------
# Cells from files: code generation and the finite-difference check
# --------------------------------------------------------------------------


@pytest.mark.parametrize("text", [PEEPHOLE, MGU, INDRNN], ids=["peephole", "mgu", "indrnn"])
def test_cells_from_files_pass_the_gradient_check(text, tmp_path):
    path = tmp_path / "my.cell"
    path.write_text(text)
    net = symrnn.network(str(path), output="sequence")
    assert all(result.passed for result in verify_network(net)), verify_network(net)


def test_indrnn_recurrent_weight_is_a_vector(tmp_path):
    path = tmp_path / "indrnn.cell"
    path.write_text(INDRNN)
    kinds = {p.name: p.fan_in for p in symrnn.network(path).cell.parameters}
    assert kinds == {"w_x": "input", "w_u": None, "b_h": None}


# --------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------


@pytest.fixture
def mgu_file(tmp_path):
    path = tmp_path / "mgu.cell"
    path.write_text(MGU)
    return path


def test_generate_and_verify_take_a_file(mgu_file, tmp_path, capsys):
    out = tmp_path / "mgu.py"
    assert main(["generate", str(mgu_file), "--layers", "2", "-o", str(out)]) == 0
    assert "minimal gated unit" in out.read_text() and '"w_G_l2": ("H", "H")' in out.read_text()
    assert main(["verify", str(mgu_file), "--output", "sequence"]) == 0
    assert "mgu_l1_sequence_squared" in capsys.readouterr().out


def test_cells_prints_a_builtin_file_and_checks_a_user_file(mgu_file, capsys):
    assert main(["cells", "gru", "--variant", "pytorch"]) == 0
    assert capsys.readouterr().out == builtin_file("gru_pytorch").read_text()
    assert main(["cells", str(mgu_file)]) == 0
    out = capsys.readouterr().out
    assert "a valid cell file" in out and "w_f (matrix H x D)" in out and "b_f (vector H)" in out
    assert cell_data(parse_cell(out)) == cell_data(parse_cell(MGU))


@pytest.mark.parametrize("text,args,message", [
    (MGU.replace("f * g", "f * q"), [], "mgu.cell:9:28: cell 'mgu', equation for h: undeclared name q"),
    (MGU, ["--variant", "pytorch"], "variant and activation apply to built-in cells"),
    (None, [], "does not exist"),
])
def test_bad_files_exit_2_with_the_place(tmp_path, capsys, text, args, message):
    path = tmp_path / "mgu.cell"
    if text is not None:
        path.write_text(text)
    for command in (["generate", str(path), "-o", str(tmp_path / "m.py")], ["verify", str(path)],
                    ["cells", str(path)]):
        assert main(command + args) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "m.py").exists()


def test_a_path_with_a_separator_is_a_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("cells").mkdir()
    Path("cells/mine").write_text(INDRNN)
    assert main(["cells", "cells/mine"]) == 0 and "cell indrnn" in capsys.readouterr().out


# --- issue 25: messages in the cell file's words --------------------------------------------

MGU_FORGOT = HEADER + "f = sigmoid(w^(f) x + w^(F) h[t-1] + b^(f))\ng = tanh(w^(g) x + w^(G) f * h[t-1] + b^(g))\n" \
    "h = (1 - f) * h[t-1] + f * g\n"


def test_a_weights_product_followed_by_a_product_is_refused_with_both_readings():
    """w^(G) f * h[t-1] (the parentheses of the MGU's w^(G) (f * h[t-1]) forgotten) was read
    silently as (w^(G) f) * h[t-1]."""
    with pytest.raises(CellFileError) as error:
        parse_cell(MGU_FORGOT, "t.cell")
    assert str(error.value).startswith(
        "t.cell:5:28: w^(G) f * h[t-1] reads as (w^(G) f) * h[t-1]: a weight multiplies one operand; "
        "write (w^(G) f) * h[t-1] for that, or w^(G) (f * h[t-1]) for the weight times f * h[t-1]")
    for meant in ("(w^(G) f) * h[t-1]", "w^(G) (f * h[t-1])"):
        parse_cell(MGU_FORGOT.replace("w^(G) f * h[t-1]", meant))
    with pytest.raises(CellFileError, match=r"w\^\(x\) x / 2 reads as \(w\^\(x\) x\) / 2"):
        parse_cell(HEADER + "h = tanh(w^(x) x / 2 + w^(h) h[t-1])")


def test_the_printer_parenthesises_a_weights_product_before_a_factor():
    x, h, f = vectors("x h f")
    w_a, w_b = parameters("w_a w_b")
    expr = dot(w_a, x) * prev(h) + dot(w_b, x) * f / prev(h)
    text = format_expression(expr)
    assert "(w^(a) x) * h[t-1]" in text and "(w^(b) x) / h[t-1]" in text
    assert rhs("h = " + text, HEADER + "f = sigmoid(w^(f) x)\n") == expr


def test_cells_prints_a_files_sums_and_products_in_written_order(tmp_path, capsys):
    text = (HEADER + "f = sigmoid(b^(f) + w^(F) h[t-1] + w^(f) x)\n"
            "h = tanh(w^(G) (h[t-1] * f) + w^(g) x + b^(g)) * (1 - f) + f\n")
    (tmp_path / "t.cell").write_text(text)
    assert main(["cells", str(tmp_path / "t.cell")]) == 0
    printed = capsys.readouterr().out
    assert "f = sigmoid(b^(f) + w^(F) h[t-1] + w^(f) x)\n" in printed
    assert "h = tanh(w^(G) (h[t-1] * f) + w^(g) x + b^(g)) * (1 - f) + f\n" in printed


def test_a_renamed_state_read_under_its_old_name_lists_the_states():
    with pytest.raises(CellFileError) as error:
        parse_cell("cell t\ninput x\nstate s\nh = tanh(w^(x) x + w^(h) h[t-1] + b^(h))\ns = h\n", "t.cell")
    assert str(error.value).startswith(
        "t.cell:4:26: h[t-1]: h is not a declared state, so it has no previous value; the states are s "
        "('state' on line 3) and the input is x")
    assert "refers to something" not in str(error.value)


def test_an_uppercase_vector_name_hints_at_the_parameter_notation():
    with pytest.raises(CellFileError, match=r"invalid vector name 'W'.*a weight w\^\(W\) \(w\^\(W\) x is its "
                                            r"product with x\), a bias b\^\(W\)"):
        parse_cell(HEADER + "h = tanh(W x + w^(h) h[t-1])")


def test_a_non_ascii_character_is_echoed_as_itself_with_its_code_point():
    with pytest.raises(CellFileError) as error:
        parse_cell(HEADER + "h = tanh(w^(x) x \u2212 w^(h) h[t-1])", "t.cell")
    message = str(error.value)
    assert "unexpected character '\u2212' (U+2212 MINUS SIGN); cell files are ASCII: write '-'" in message
    assert "    h = tanh(w^(x) x \u2212 w^(h) h[t-1])\n" in message and "?" not in message
    with pytest.raises(CellFileError, match=r"'\\x01' \(U\+0001"):
        parse_cell(HEADER + "h = tanh(w^(x) x\x01)")
