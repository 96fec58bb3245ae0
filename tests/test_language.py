"""The language of issue 12, construct by construct: parse and print round
trips, errors with line:column, the engine against SymPy's diff of the nested
unrolled cost (one unit per vector at T <= 3, and several units where one
cannot show the construct), the LaTeX of each construct, the new built-in
cells, and code generation's refusal of what it does not support yet."""

import pytest
import sympy

import symrnn
from symrnn.cellfile import format_cell, parse_cell
from symrnn.codegen.planner import unsupported
from symrnn.copies import CopyAnalysis
from symrnn.derivation import Derivation, compile_pdf, overfull_lines
from symrnn.errors import CellFileError
from symrnn.latex import latex, unmarked
from symrnn.network import Network
from symrnn.registry import CELLS, PAPER_CELLS, builtin_file, get_cell
from symrnn.rules import dot_t, maximum, mean, softplus, sqrt
from symrnn.verify import check_derivation, check_unrolled, check_vector_units, exact_constants

HEADER = "cell t\ninput x\nstate h\n"

# One small cell per construct (every construct of the issue, each alone where it can be).
CONSTRUCTS = {
    "division": HEADER + "h = tanh(w^(x) x + w^(h) h[t-1]) / (2 + h[t-1]^2)",
    "negative power": HEADER + "h = tanh(w^(x) x) * (1.5 + h[t-1]^2)^-1 + h[t-1] / 2",
    "real constants": HEADER + "h = tanh(w^(x) x + 0.95 * h[t-1] + 1e-5) + 2.5e-3 * h[t-1]",
    "functions": HEADER + "h = sqrt(softplus(w^(x) x)^2 + 1e-5) + log(1 + h[t-1]^2) * tanh(w^(a) x)",
    "max": HEADER + "h = max(h[t-1], tanh(w^(a) x + b^(a)))",
    "mean": HEADER + ("u = w^(x) x + w^(h) h[t-1]\nn = (u - mean(u)) / sqrt(mean((u - mean(u))^2) + 1e-5)\n"
                      "h = tanh(g^(n) * n + b^(n) + mean(u) * h[t-1])"),
    "sizes": "cell t\ninput x\nstate c, r\nsize r P\ng = tanh(w^(g) x + w^(G) r[t-1])\nc = g * c[t-1] + g\n"
             "r = w^(r) (g * tanh(c))",
    "elementwise input": "cell t\ninput x\nstate h\nsize x H\nh = tanh(w^(x) x + h[t-1]) * (1 - x)",
    "previous input": "cell t\ninput x\nstate c\nc = sigmoid(w^(f) x + w^(F) x[t-1]) * c[t-1] + tanh(w^(z) x)",
    "transposed weight": HEADER + "h = h[t-1] + 0.01 * tanh(w^(W) h[t-1] - w^(W)^T h[t-1] + w^(V) x + b^(h))",
    "output not a state": "cell t\ninput x\nstate c\noutput h\nf = sigmoid(w^(f) x + b^(f))\n"
                          "c = f * c[t-1] + (1 - f) * (w^(c) x)\nh = tanh(c) * f",
}


def network(name, **options):
    return Network(parse_cell(CONSTRUCTS[name]), **options)


# --------------------------------------------------------------------------
# Parse and print
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONSTRUCTS))
def test_round_trip(name):
    cell = parse_cell(CONSTRUCTS[name])
    again = parse_cell(format_cell(cell))
    assert again.equations == cell.equations
    assert (again.sizes, again.parameters, again.output_state) == (cell.sizes, cell.parameters, cell.output_state)
    assert format_cell(again) == format_cell(cell)


def test_printed_forms_of_the_new_constructs():
    assert format_cell(parse_cell(CONSTRUCTS["division"])).splitlines()[-1] == \
        "h = tanh(w^(x) x + w^(h) h[t-1]) / (2 + h[t-1]^2)"
    assert format_cell(parse_cell(CONSTRUCTS["real constants"])).splitlines()[-1] == \
        "h = tanh(w^(x) x + 0.95 * h[t-1] + 1e-5) + 0.0025 * h[t-1]"  # as written
    assert format_cell(parse_cell(CONSTRUCTS["transposed weight"])).splitlines()[-1] == \
        "h = h[t-1] + 0.01 * tanh(w^(W) h[t-1] - w^(W)^T h[t-1] + w^(V) x + b^(h))"  # as written
    lines = format_cell(parse_cell(CONSTRUCTS["sizes"])).splitlines()
    assert lines[2:4] == ["state c, r", "size r P"]
    assert "output h" in format_cell(parse_cell(CONSTRUCTS["output not a state"]))


def test_real_constants_are_the_doubles_written():
    cell = parse_cell(CONSTRUCTS["real constants"])
    floats = sorted(float(f) for _, rhs in cell.equations for f in rhs.atoms(sympy.Float))
    assert floats == [1e-5, 2.5e-3, 0.95]


def test_sizes_are_data_on_the_cell_and_give_parameter_shapes():
    cell = parse_cell(CONSTRUCTS["sizes"])
    assert cell.sizes == {"x": "D", "c": "H", "r": "P", "g": "H"}
    assert cell.declared_sizes == {"r": "P"}
    assert {p.name: p.shape for p in cell.parameters} == {"w_g": ("H", "D"), "w_G": ("H", "P"), "w_r": ("P", "H")}
    transposed = parse_cell(CONSTRUCTS["transposed weight"])
    assert {p.name: p.shape for p in transposed.parameters}["w_W"] == ("H", "H")


def test_vectors_of_their_own_size_generate_and_verify():
    """Code generation of ``size r P``: the module's arrays take each vector's
    size (P = 5 in ``symrnn verify``, distinct from every other size), and
    its gradients match finite differences, with padded items, and the
    further size is an argument of init_params by letter."""
    from symrnn.verify import case_sizes, check_gradients

    net = network("sizes")
    assert "sizes" in net.cell.constructs and not unsupported(net.cell)
    assert case_sizes(net)["P"] not in {n for letter, n in case_sizes(net).items() if letter != "P"}
    module = symrnn.load_module(net)
    assert module.init_params(3, 4, 2, P=5)["w_r"].shape == (5, 4)
    assert module.init_params(3, 4, 2, sizes={"P": 6})["w_G"].shape == (4, 6)
    with pytest.raises(symrnn.InputError, match="needs the sizes P"):
        module.init_params(3, 4, 2)
    for unequal in (False, True):
        result = check_gradients(module, net, unequal=unequal)
        assert result.passed, result


# --------------------------------------------------------------------------
# Errors: line and column
# --------------------------------------------------------------------------

BAD = [
    (HEADER + "h = tanh(w^(x) x + x[t-2] * h[t-1])", "t.cell:4:24: x[t-2]: a cell reads only the previous step"),
    ("cell t\ninput x\nstate c, r\nsize r P\nc = tanh(w^(x) x) * c[t-1]\nr = tanh(w^(r) c + r[t-1] * c)",
     ("t.cell:6:20: cell 't', equation for r: an elementwise operation of vectors of different sizes: "
     "c has size H, prev(r) has size P")),
    ("cell t\ninput x\nstate c, r\nsize r P\nc = tanh(w^(x) x + w^(r)^T c[t-1]) * c[t-1]\nr = w^(r) c",
     ("t.cell:6:5: cell 't', equation for r: w_r is a H x H matrix where it is first used, but this "
     "product needs a P x H matrix")),
    ("cell t\ninput x\nstate c, r\nsize r P\nc = tanh(w^(x) x + w^(r) c[t-1]) * c[t-1]\nr = w^(r)^T c",
     ("t.cell:6:5: cell 't', equation for r: w_r is a H x H matrix where it is first used, but this "
     "transposed product needs a H x P matrix")),
    (HEADER + "h = tanh(w^(x) x) + mean(mean(h[t-1]))", "t.cell:4:21: cell 't', equation for h: the mean of a scalar"),
    (HEADER + "h = tanh(w^(x) x) + mean(2) * h[t-1]", ("t.cell:4:21: cell 't', equation for h: mean(2) is a function "
                                                       "of a constant")),
    (HEADER + "h = tanh(w^(x) x + h[t-1]) * sqrt(-2)", ("t.cell:4:35: sqrt of the constant -2: its argument must be "
                                                      "positive")),
    (HEADER + "h = tanh(w^(x) x + h[t-1]) * log(0)", ("t.cell:4:34: log of the constant 0: its argument must be "
                                                    "positive")),
    (HEADER + "u = w^(x) x + h[t-1]\nh = tanh(u) * sqrt(u)", ("t.cell:5:15: cell 't', equation for h: sqrt of u: "
                                                            "its argument must be positive, and nothing in the "
                                                            "cell makes it so")),
    (HEADER + "h = tanh(w^(x) x + h[t-1]) * sqrt(relu(w^(x) x))", ("t.cell:4:30: cell 't', equation for h: sqrt of "
                                                                  "relu(dot(w_x, x)): its argument must be positive")),
    (HEADER + "h = tanh(w^(x) x + h[t-1]) * log(relu(w^(x) x))", ("t.cell:4:30: cell 't', equation for h: log of "
                                                                 "relu(dot(w_x, x)): its argument must be positive")),
    (HEADER + "h = tanh(w^(x) x + h[t-1]) / 0", "t.cell:4:30: division by 0: the divisor is the constant 0"),
    (HEADER + "h = tanh(w^(x) x + h[t-1]) / (1 - 1)", "t.cell:4:30: division by 0"),
    (HEADER + "h = tanh(w^(x) x + h[t-1]) * 0^-1", "t.cell:4:33: division by 0: 0 to a negative power"),
    (HEADER + "h = tanh(w^(x) x + w^(h)^T + h[t-1])", "t.cell:4:28: expected the vector w^(h)^T multiplies"),
    (HEADER + "h = tanh(b^(x)^T h[t-1] + w^(x) x)", "t.cell:4:10: b^(x) is a bias"),
    (HEADER + "h = max(h[t-1])", "t.cell:4:15: expected ',' and argument 2 of max(...), which takes 2 arguments"),
    (HEADER + "h = tanh(w^(x) x + h[t-1]) * x", ("t.cell:4:30: cell 't', equation for h: the input x may only be the "
                                               "whole operand of a weight")),
    (HEADER + "size h K\nh = tanh(w^(x) x + h[t-1])", ("t.cell:4:6: cell 't': the size of h must be an uppercase "
                                                      "letter other than K, B and T")),
    (HEADER + "size h p\nh = tanh(w^(x) x + h[t-1])", "t.cell:4:8: expected the size of h, an uppercase letter"),
    (HEADER + "size q P\nh = tanh(w^(x) x + h[t-1])", "t.cell:4:6: cell 't': size of q: q is not a vector of the cell"),
    (HEADER + "h = tanh(w^(x) x + 1.5e40 * h[t-1])", "t.cell:4:20: the number 1.5e40 is out of range"),
    (HEADER + "output q\nh = tanh(w^(x) x + h[t-1])", "t.cell:4:8: the output q is not a state or a vector the cell"),
]


@pytest.mark.parametrize("text, message", BAD, ids=range(len(BAD)))
def test_bad_uses_are_errors_with_line_and_column(text, message):
    with pytest.raises(CellFileError) as info:
        parse_cell(text, path="t.cell")
    assert str(info.value).splitlines()[0].startswith(message)


# --------------------------------------------------------------------------
# The engine against SymPy's diff of the nested unrolled cost
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONSTRUCTS))
@pytest.mark.parametrize("output", ["last", "sequence"])
def test_engine_equals_sympy_diff_with_one_unit(name, output):
    steps = 2 if name == "mean" else 3
    error, copies = check_unrolled(network(name, output=output), steps)
    assert copies >= steps and error < 1e-25


@pytest.mark.parametrize("name", ["previous input", "output not a state", "sizes", "transposed weight"])
def test_two_layers_with_one_unit(name):
    error, _ = check_unrolled(network(name, layers=2, output="sequence"), 2)
    assert error < 1e-25


@pytest.mark.parametrize("name, steps", [("mean", 1), ("transposed weight", 2), ("sizes", 1), ("previous input", 2),
                                         ("elementwise input", 2), ("output not a state", 2), ("max", 2)])
def test_engine_equals_sympy_diff_with_several_units(name, steps):
    """One unit cannot show a mean (it is the unit itself), a transposed
    weight (it is the weight) or vectors of different sizes."""
    error, entries = check_vector_units(network(name, output="sequence"), steps, sizes={"H": 2, "D": 2, "P": 3})
    assert entries > 0 and error < 1e-25


# --------------------------------------------------------------------------
# LaTeX
# --------------------------------------------------------------------------

u, v, w_W = sympy.symbols("u v w_W")
NAMES = {u: "u", v: "v", w_W: r"w^{\left(W\right)}"}


@pytest.mark.parametrize("expr, text", [
    (u / (1 + u**2), r"\dfrac{u}{u^{2} + 1}"),
    ((1 + u) ** -1, r"\dfrac{1}{u + 1}"),
    (sqrt(mean((u - mean(u)) ** 2) + sympy.Float(1e-5)),
     r"\sqrt{\operatorname{mean}\bigl(\bigl(u - \operatorname{mean}\bigl(u\bigr)\bigr)^{2}\bigr) + 10^{-5}}"),
    (sympy.log(1 + u, evaluate=False), r"\log\bigl(u + 1\bigr)"),
    (softplus(u), r"\operatorname{softplus}\bigl(u\bigr)"),
    (maximum(u, v), r"\max\bigl(u, v\bigr)"),
    (dot_t(w_W, v), r"{w^{\left(W\right)}}^{\top} \cdot v"),
    (sympy.Float(0.95), "0.95"),
    (sympy.Float(2.5e-7), r"2.5 \cdot 10^{-7}"),
])
def test_latex_of_each_construct(expr, text):
    assert unmarked(latex(expr, NAMES, units="vector")) == text


def test_a_derivation_writes_the_cell_as_written():
    derivation = Derivation(Network(get_cell("antisymmetric")), 2, units="vector")
    snippet = derivation.snippet()
    assert r"{w^{\left(W\right)}}^{\top}" in snippet and "0.01" in snippet
    layer_norm = Derivation(Network(get_cell("lstm_ln")), 1, units="vector").snippet()
    assert r"\operatorname{mean}" in layer_norm and r"\sqrt{" in layer_norm and r"\dfrac{" in layer_norm


# --------------------------------------------------------------------------
# The built-in cells from papers
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAPER_CELLS)
def test_builtin_cells_load_cite_their_paper_and_round_trip(name):
    cell = get_cell(name)
    assert name in CELLS and cell.name == name
    assert any(char.isdigit() for char in cell.description)  # the paper's year
    assert parse_cell(format_cell(cell)).equations == cell.equations
    assert builtin_file(name).read_text().startswith("#")


def test_which_builtin_cells_code_generation_supports():
    supported = [name for name in PAPER_CELLS if not unsupported(get_cell(name))]
    assert supported == list(PAPER_CELLS)


@pytest.mark.parametrize("name", PAPER_CELLS)
def test_builtin_cells_derive_and_analyse_copies(name):
    net = exact_constants(Network(get_cell(name), output="sequence"))
    analysis = CopyAnalysis(net, 2)
    assert analysis.table(analysis.params[0]).copies
    differences = check_derivation(Derivation(net, 2))
    assert max(differences.values()) < 1e-25


def test_a_transposed_use_is_the_same_copy():
    analysis = CopyAnalysis(Network(get_cell("antisymmetric")), 2)
    assert [c.copy for c in analysis.table("w_W").copies if c.param == "w_W"] == ["w_W_1", "w_W_2"]


@pytest.mark.parametrize("name, steps, wrt", [
    ("qrnn", 3, ["w_Z_l1", "w_f_l1", "w_F_l2", "b_o_l2"]),  # x[t-1] reads the layer below at t-1
    ("sru", 2, ["w_r_l1", "w_c_l1", "w_f_l2"]),  # h, not a state, is the layer above's input
])
def test_stacks_of_cells_that_read_across_steps_are_derived_exactly(name, steps, wrt):
    """The chains count an output that is not a state with the states, and a
    layer's x[t-1] as a link to the layer below at t-1; both forms equal
    SymPy's diff of the nested cost."""
    net = exact_constants(Network(get_cell(name), layers=2, output="sequence"))
    differences = check_derivation(Derivation(net, steps, wrt=wrt))
    assert len(differences) == 2 * len(wrt) and max(differences.values()) < 1e-25
    assert CopyAnalysis(Network(get_cell(name), layers=2), 2).table(wrt[0])


def test_a_stacked_qrnn_derivation_compiles_and_reads_the_layer_below_at_t_minus_1():
    d = Derivation(Network(get_cell("qrnn"), layers=2, output="sequence"), 2, wrt=["w_f_l1"])
    document = d.document()
    assert r"as its previous input, at step \(t-1\)" in document
    assert r"w^{\left(Z\right)[2]} \cdot \delta u^{\left(z\right)[2]}_{t+1}" in document
    pdf, log = compile_pdf(document)
    assert pdf.startswith(b"%PDF") and overfull_lines(log) == []
