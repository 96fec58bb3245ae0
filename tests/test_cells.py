import pytest
import sympy

from symrnn.cells import Cell, parameters, vectors
from symrnn.errors import CellError, CellFileError, ConfigError
from symrnn.registry import CELLS, builtin_file, get_cell, resolve_cell
from symrnn.rules import ACTIVATIONS, dot, prev, sigmoid

# --------------------------------------------------------------------------
# The built-in cells as they were written in Python before they became cell
# files: the files must give exactly these cells (same equations in the same
# order, names, output state), so generated/ does not change.
# --------------------------------------------------------------------------


def _gate(g, weights_x, weights_h, bias, x, h_prev):
    return g(dot(weights_x, x) + dot(weights_h, h_prev) + bias)


def reference_rnn(activation="tanh"):
    x, a = vectors("x a")
    w_x, w_a, b_a = parameters("w_x w_a b_a")
    return Cell("rnn" if activation == "tanh" else f"rnn_{activation}", input=x, states=[a],
                equations=[(a, _gate(ACTIVATIONS[activation], w_x, w_a, b_a, x, prev(a)))],
                description=f"vanilla RNN, activation {activation}")


def reference_lstm():
    x, c, h, f, i, g, o = vectors("x c h f i g o")
    w_f, w_F, b_f, w_i, w_I, b_i = parameters("w_f w_F b_f w_i w_I b_i")
    w_g, w_G, b_g, w_o, w_O, b_o = parameters("w_g w_G b_g w_o w_O b_o")
    h1 = prev(h)
    return Cell("lstm", input=x, states=[c, h], equations=[
        (f, _gate(sigmoid, w_f, w_F, b_f, x, h1)),
        (i, _gate(sigmoid, w_i, w_I, b_i, x, h1)),
        (g, _gate(sympy.tanh, w_g, w_G, b_g, x, h1)),
        (o, _gate(sigmoid, w_o, w_O, b_o, x, h1)),
        (c, f * prev(c) + i * g),
        (h, o * sympy.tanh(c)),
    ], description="LSTM (forget, input, output gates; cell unit c; hidden state h)")


def reference_gru():
    x, h, z, r, g = vectors("x h z r g")
    w_z, w_Z, b_z, w_r, w_R, b_r, w_g, w_G, b_g = parameters("w_z w_Z b_z w_r w_R b_r w_g w_G b_g")
    h1 = prev(h)
    return Cell("gru", input=x, states=[h], equations=[
        (z, _gate(sigmoid, w_z, w_Z, b_z, x, h1)),
        (r, _gate(sigmoid, w_r, w_R, b_r, x, h1)),
        (g, _gate(sympy.tanh, w_g, w_G, b_g, x, r * h1)),
        (h, (1 - z) * h1 + z * g),
    ], description="GRU as in the notes (reset before the recurrent product)")


def reference_gru_pytorch():
    x, h, z, r, g = vectors("x h z r g")
    w_z, w_Z, b_z, w_r, w_R, b_r = parameters("w_z w_Z b_z w_r w_R b_r")
    w_g, w_G, b_g, b_G = parameters("w_g w_G b_g b_G")
    h1 = prev(h)
    return Cell("gru_pytorch", input=x, states=[h], equations=[
        (z, _gate(sigmoid, w_z, w_Z, b_z, x, h1)),
        (r, _gate(sigmoid, w_r, w_R, b_r, x, h1)),
        (g, sympy.tanh(dot(w_g, x) + b_g + r * (dot(w_G, h1) + b_G))),
        (h, (1 - z) * g + z * h1),
    ], description="GRU as in PyTorch/cuDNN (reset after the recurrent product)")


def cell_data(cell):
    """Everything that makes a cell: two cells with equal data are the same cell."""
    return (cell.name, cell.description, cell.input, cell.states, cell.output_state,
            [(lhs, sympy.srepr(rhs)) for lhs, rhs in cell.equations], cell.parameters)


REFERENCES = [
    *[(("rnn", None, activation), lambda a=activation: reference_rnn(a)) for activation in ACTIVATIONS],
    (("lstm", None, None), reference_lstm),
    (("gru", "notes", None), reference_gru),
    (("gru", "pytorch", None), reference_gru_pytorch),
]


@pytest.mark.parametrize("spec,reference", REFERENCES, ids=[str(spec) for spec, _ in REFERENCES])
def test_builtin_files_give_exactly_the_python_cells(spec, reference):
    assert cell_data(get_cell(*spec)) == cell_data(reference())


def test_every_activation_has_a_cell_file():
    for activation in ACTIVATIONS:
        assert builtin_file("rnn" if activation == "tanh" else f"rnn_{activation}").is_file()
    assert get_cell("rnn").name == "rnn" and get_cell("rnn", activation="tanh").name == "rnn"


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
    ([(h, sympy.tanh(dot(w_f, x)) + prev(f))], ("prev\\(f\\) \\(f\\[t-1\\] in a cell file\\): f is not a state, so it "
                                                "has no previous value; the states are h and the input is x")),
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


@pytest.mark.parametrize("equations,states,message", [
    ([(f, sigmoid(dot(w_f, x))), (h, sympy.tanh(dot(w_F, x)) + prev(h))], (h,), "f is computed but never used"),
    ([(h, sympy.tanh(dot(w_f, x) + x + prev(h)))], (h,), "the input x may only be the whole operand"),
    ([(h, sympy.tanh(dot(w_f, x + prev(h))))], (h,), "the input x may only be the whole operand"),
    ([(h, sympy.tanh(b_f * prev(h)))], (h,), "the input x does not influence the output state h"),
    ([(h, sympy.tanh(dot(w_f, x)))], (h,), "state h is never read at the next step"),
    ([(q, sigmoid(dot(w_f, x))), (h, sympy.tanh(dot(w_F, x)) + prev(h))], (q, h), "q is computed but never used"),
    ([(q, sigmoid(dot(w_f, x) + prev(q))), (h, sympy.tanh(dot(w_F, x)) + prev(h))], (q, h), "q is computed but"),
])
def test_cells_whose_parts_do_not_all_matter_are_rejected(equations, states, message):
    with pytest.raises(CellError, match=message) as info:
        make(equations, states)
    assert info.value.where is not None  # a cell file uses it to point at the line


@pytest.mark.parametrize("description", ['quote """ ends a docstring', "back\\slash", "per%cent", "x" * 201,
                                         "new\nline", "brace {", 7])
def test_descriptions_are_checked(description):
    with pytest.raises(CellError, match="invalid description"):
        Cell("test", input=x, states=[h], equations=[(h, sympy.tanh(dot(w_f, x) + prev(h)))],
             description=description)


def test_resolve_cell_takes_a_name_a_file_or_a_cell(tmp_path):
    lstm = resolve_cell("lstm")
    assert resolve_cell(lstm) is lstm
    assert cell_data(resolve_cell(str(builtin_file("lstm")))) == cell_data(lstm)
    assert cell_data(resolve_cell(builtin_file("gru_pytorch"))) == cell_data(get_cell("gru", "pytorch"))
    with pytest.raises(ConfigError, match="variant and activation apply to built-in cells"):
        resolve_cell(builtin_file("lstm"), variant="pytorch")
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_cell(str(tmp_path / "mgu.cell"))
    with pytest.raises(ConfigError, match="not a regular file"):
        resolve_cell(str(tmp_path) + "/")
    with pytest.raises(ConfigError, match="expected a cell name"):
        resolve_cell(3)
    (tmp_path / "bad.cell").write_text("cell bad\ninput x\nstate h\nh = tanh(\n")
    with pytest.raises(CellFileError, match="bad.cell:4:10: expected"):
        resolve_cell(tmp_path / "bad.cell")


def test_an_unknown_name_suggests_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mygru.cell").write_text("")
    with pytest.raises(ConfigError, match="did you mean the file 'mygru.cell'"):
        get_cell("mygru")


def test_equation_sides_must_be_sympy():
    with pytest.raises(CellError, match="pair"):
        make(["h = tanh(x)"])
    with pytest.raises(sympy.SympifyError):
        make([(h, "__import__('os')")])  # user text is never parsed: strict sympify refuses strings
