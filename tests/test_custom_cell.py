"""Cells that are not built in go through derivation, generation and both
verifications unchanged."""

import numpy as np
import pytest
import sympy

import symrnn
from symrnn.cells import Cell, parameters, vectors
from symrnn.rules import dot, prev, sigmoid
from symrnn.verify import check_gradients, check_unrolled


def peephole_lstm():
    """LSTM whose gates also see the cell unit through diagonal (elementwise) weights."""
    x, c, h, f, i, g, o = vectors("x c h f i g o")
    w_f, w_F, w_i, w_I, w_g, w_G, w_o, w_O = parameters("w_f w_F w_i w_I w_g w_G w_o w_O")
    b_f, b_i, b_g, b_o, b_pf, b_pi, b_po = parameters("b_f b_i b_g b_o b_pf b_pi b_po")
    return Cell("peephole", input=x, states=[c, h], equations=[
        (f, sigmoid(dot(w_f, x) + dot(w_F, prev(h)) + b_pf * prev(c) + b_f)),
        (i, sigmoid(dot(w_i, x) + dot(w_I, prev(h)) + b_pi * prev(c) + b_i)),
        (g, sympy.tanh(dot(w_g, x) + dot(w_G, prev(h)) + b_g)),
        (c, f * prev(c) + i * g),
        (o, sigmoid(dot(w_o, x) + dot(w_O, prev(h)) + b_po * c + b_o)),
        (h, o * sympy.tanh(c)),
    ])


def minimal_gated_unit():
    """MGU: one forget gate that also resets the recurrent input of the candidate."""
    x, h, f, g = vectors("x h f g")
    w_f, w_F, b_f, w_g, w_G, b_g = parameters("w_f w_F b_f w_g w_G b_g")
    return Cell("mgu", input=x, states=[h], equations=[
        (f, sigmoid(dot(w_f, x) + dot(w_F, prev(h)) + b_f)),
        (g, sympy.tanh(dot(w_g, x) + dot(w_G, f * prev(h)) + b_g)),
        (h, (1 - f) * prev(h) + f * g),
    ])


CUSTOM = {"peephole": peephole_lstm, "mgu": minimal_gated_unit}


@pytest.mark.parametrize("name", CUSTOM)
@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("layers", [1, 2])
def test_custom_cell_gradients_match_finite_differences(name, output, layers):
    net = symrnn.network(CUSTOM[name](), layers=layers, output=output)
    module = symrnn.load_module(net)
    for unequal in (False, True):
        result = check_gradients(module, net, unequal=unequal)
        assert result.passed, result


@pytest.mark.parametrize("name", CUSTOM)
def test_custom_cell_unrolled_gradient_equals_sympy_diff(name):
    error, copies = check_unrolled(symrnn.network(CUSTOM[name](), output="sequence"), 2)
    assert copies > 10 and error < 1e-25


def test_peephole_weights_are_vectors_summed_per_step():
    net = symrnn.network(peephole_lstm())
    source = symrnn.render(net)
    assert '"b_pf": ("H",)' in source
    assert "g_b_pf += " in source  # elementwise parameter: accumulated inside the loop
    module = symrnn.load_module(net)
    params = module.init_params(2, 3, 1)
    _, grads = module.loss_and_grad(params, np.ones((3, 2, 2)), np.zeros((2, 1)))
    assert grads["b_pf"].shape == (3,) and np.any(grads["b_pf"] != 0)
