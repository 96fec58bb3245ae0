"""Generated modules against central finite differences, across the matrix of
cells x output modes x 1-2 layers x costs x equal and unequal lengths."""

import numpy as np
import pytest

from symrnn.verify import TOLERANCE, check_gradients, format_table, relative_error

CELLS = [("rnn", None), ("lstm", None), ("gru", "notes"), ("gru", "pytorch")]


@pytest.mark.parametrize("cell,variant", CELLS)
@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("loss", ["squared", "xent"])
def test_gradients_match_finite_differences(module_for, cell, variant, output, layers, loss):
    net, module = module_for(cell, variant, None, layers, output, loss)
    for unequal in (False, True):
        result = check_gradients(module, net, unequal=unequal)
        assert result.max_error <= TOLERANCE, format_table([result])
        assert result.padded_zero, "x past an item's length must get exactly zero gradient"


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "identity"])
def test_rnn_activations(module_for, activation):
    net, module = module_for("rnn", None, activation, 1, "sequence", "squared")
    assert check_gradients(module, net, unequal=True).passed


class Tampered:
    """A module whose gradient of one parameter is off by 1e-4 relative."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __getattr__(self, attr):
        return getattr(self.module, attr)

    def loss_and_grad(self, *args):
        loss, grads = self.module.loss_and_grad(*args)
        grads[self.name] = grads[self.name] * (1 + 1e-4)
        return loss, grads


def test_the_check_detects_a_wrong_gradient(module_for):
    net, module = module_for("lstm", None, None, 1, "last", "squared")
    result = check_gradients(Tampered(module, "w_G"), net)
    assert not result.passed and result.worst == "w_G (loss)"
    assert 5e-5 < result.max_error < 2e-4


def test_relative_error():
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.2])) == pytest.approx(0.2 / 2.2)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0
