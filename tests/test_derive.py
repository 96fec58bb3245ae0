from pathlib import Path

import pytest
import sympy

import symrnn
from symrnn.derive import reverse, step_seeds
from symrnn.graph import flatten_cell
from symrnn.registry import get_cell
from symrnn.rules import mean, row_sum, units
from symrnn.verify import check_vector_units


def adjoints(name, variant=None, activation=None):
    cell = get_cell(name, variant, activation)
    return reverse(flatten_cell(cell).nodes, step_seeds(cell))


def equations(result):
    return {str(lhs): str(rhs) for lhs, rhs in result.equations}


def test_derivatives_use_stored_outputs():
    assert equations(adjoints("rnn"))["d_pre_a"] == "d_a*(1 - a**2)"
    assert equations(adjoints("rnn", activation="sigmoid"))["d_pre_a"] == "a*d_a*(1 - a)"
    assert equations(adjoints("rnn", activation="relu"))["d_pre_a"] == "d_a*step(a)"


def test_lstm_bptt_recurrences():
    result = adjoints("lstm")
    eq = equations(result)
    assert eq["d_h"] == "d_h_next + d_h_out"
    assert eq["d_c"] == "d_c_next + d_tanh_c*(1 - tanh_c**2)"
    assert eq["d_f"] == "c_prev*d_c"
    inputs = {str(k): str(v) for k, v in result.inputs.items()}
    assert inputs["c_prev"] == "d_c*f"
    assert inputs["h_prev"] == "dot_t(w_F, d_pre_f) + dot_t(w_G, d_pre_g) + dot_t(w_I, d_pre_i) + dot_t(w_O, d_pre_o)"


def test_parameter_gradient_accumulation_terms():
    params = {k: [str(t) for t in v] for k, v in adjoints("lstm").params.items()}
    assert params["w_F"] == ["outer(d_pre_f, h_prev)"]
    assert params["w_f"] == ["outer(d_pre_f, x)"]
    assert params["b_f"] == ["d_pre_f"]


def test_gru_update_gate_adjoint():
    assert equations(adjoints("gru"))["d_z"] == "d_h*(g - h_prev)"
    assert equations(adjoints("gru", "pytorch"))["d_u_G"] == "d_pre_g*r"


def test_equations_are_sympy_objects():
    for lhs, rhs in adjoints("gru").equations:
        assert isinstance(lhs, sympy.Symbol) and isinstance(rhs, sympy.Expr)


CODEGEN_CELLS = Path(__file__).resolve().parent / "codegen_cells"


def test_a_mean_read_at_another_size_divides_its_adjoints_sum_by_the_units_it_averages():
    """y = mean(h) (H units) read by r (P units): d_h gets sum(d_r)/H, not mean(d_r)."""
    from symrnn.derived import derive_network

    derived = derive_network(symrnn.network(str(CODEGEN_CELLS / "mean_other_size.cell")))
    d_h = dict(derived.cell.equations)[sympy.Symbol("d_h")]
    assert d_h.has(row_sum(sympy.Symbol("d_r")) / units("H")) and not d_h.has(mean)
    # a mean of a vector read at its own size keeps mean(d): the layer-normalized LSTM's code is unchanged
    assert any(rhs.has(mean) for _, rhs in derive_network(symrnn.network("lstm_ln")).cell.equations)


def test_a_value_of_means_read_at_two_sizes_sums_each_readers_adjoint_over_its_units():
    from symrnn.derived import derive_network

    derived = derive_network(symrnn.network(str(CODEGEN_CELLS / "mean_two_sizes.cell")))
    d_mean = dict(derived.cell.equations)[sympy.Symbol("d_mean_h")]
    assert all(isinstance(term, row_sum) for term in sympy.Add.make_args(d_mean))


@pytest.mark.parametrize("cell,sizes", [("mean_other_size", {"H": 2, "P": 1}), ("mean_other_size", {"H": 1, "P": 2})])
def test_means_of_other_sizes_equal_sympy_diff_with_vectors_of_several_units(cell, sizes):
    network = symrnn.network(str(CODEGEN_CELLS / f"{cell}.cell"))
    difference, entries = check_vector_units(network, 2, sizes=sizes)
    assert entries >= 10 and difference < 1e-20
