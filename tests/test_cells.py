import pytest
import sympy

from symrnn.cells import CELLS, Cell, get_cell, parameters, vectors
from symrnn.errors import CellError, ConfigError
from symrnn.rules import dot, prev, sigmoid


def test_builtin_parameters_follow_the_notes():
    assert [p.name for p in get_cell("rnn").parameters] == ["w_x", "w_a", "b_a"]
    assert [p.name for p in get_cell("lstm").parameters] == [
        "w_f", "w_F", "b_f", "w_i", "w_I", "b_i", "w_g", "w_G", "b_g", "w_o", "w_O", "b_o"]
    assert [p.name for p in get_cell("gru", "pytorch").parameters][-4:] == ["w_g", "w_G", "b_g", "b_G"]


def test_builtin_equations_as_text():
    assert get_cell("rnn").equations_text() == ["a = tanh(w_x·x + w_a·a[t-1] + b_a)"]
    lstm = get_cell("lstm").equations_text()
    assert lstm[0] == "f = sigmoid(w_f·x + w_F·h[t-1] + b_f)"
    assert lstm[-1] == "h = o*tanh(c)"
    assert get_cell("gru").equations_text()[2] == "g = tanh(w_g·x + w_G·(r*h[t-1]) + b_g)"


def test_parameter_kinds():
    kinds = {p.name: p.fan_in for p in get_cell("lstm").parameters}
    assert kinds["w_f"] == "input" and kinds["w_F"] == "hidden" and kinds["b_f"] is None


@pytest.mark.parametrize("name,variant,activation,message", [
    ("transformer", None, None, "unknown cell 'transformer'"),
    ("gru", "keras", None, "unknown variant 'keras'"),
    ("rnn", None, "softplus", "unknown activation 'softplus'"),
    ("lstm", None, "relu", "applies to 'rnn' only"),
])
def test_registry_errors(name, variant, activation, message):
    with pytest.raises(ConfigError, match=message):
        get_cell(name, variant, activation)


def test_every_registered_cell_builds():
    for name, variants in CELLS.items():
        for variant in variants:
            assert get_cell(name, variant).states


x, h, f, q = vectors("x h f q")
w_f, w_F, b_f = parameters("w_f w_F b_f")


def make(equations, states=(h,)):
    return Cell("test", input=x, states=list(states), equations=equations)


@pytest.mark.parametrize("equations,message", [
    ([(h, sympy.tanh(dot(w_f, x) + q))], "undeclared name q"),
    ([(f, sigmoid(dot(w_f, x)))], "state h is never updated"),
    ([(f, sigmoid(dot(w_f, h))), (h, f)], "used before it is computed"),
    ([(h, sympy.sin(dot(w_f, x)))], "function sin has no derivative rule"),
    ([(h, sympy.tanh(dot(w_f, x) + dot(w_f, prev(h))))], "two incompatible shapes"),
    ([(h, sympy.tanh(dot(w_f, x) + w_f))], "two incompatible shapes"),
    ([(h, sympy.tanh(dot(b_f, x)))], "first argument of dot must be a weight"),
    ([(h, sympy.tanh(dot(w_f, x)) + prev(f))], "prev\\(f\\) refers to something that is not a state"),
    ([(h, sympy.tanh(dot(w_f, x)) ** sympy.Rational(1, 2))], "only integer powers"),
    ([(h, dot(w_f, x)), (h, dot(w_F, x))], "assigned twice"),
    ([(x, dot(w_f, x)), (h, dot(w_F, x))], "input x cannot be assigned"),
])
def test_malformed_cells_are_rejected_with_a_reason(equations, message):
    with pytest.raises(CellError, match=message):
        make(equations)


@pytest.mark.parametrize("name", ["H", "h_1", "1h", "import", "t", "np", "h" * 17, "h;rm"])
def test_vector_names_are_checked(name):
    with pytest.raises(CellError, match="name"):
        vectors(name)


@pytest.mark.parametrize("name", ["w", "wx", "w_", "w_x y", "b_y", "w_y", "w_x__import__", "c_x"])
def test_parameter_names_are_checked(name):
    with pytest.raises(CellError):
        parameters(name)


def test_equation_sides_must_be_sympy():
    with pytest.raises(CellError, match="pair"):
        make(["h = tanh(x)"])
    with pytest.raises(sympy.SympifyError):
        make([(h, "__import__('os')")])  # user text is never parsed: strict sympify refuses strings
