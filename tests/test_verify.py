"""Generated modules against central finite differences, across the matrix of
cells x output modes x 1-2 layers x costs x equal and unequal lengths."""

from pathlib import Path

import numpy as np
import pytest

import symrnn
from symrnn.verify import (
    TOLERANCE,
    VALUE_BOUND,
    _case,
    _largest_value,
    check_gradients,
    format_table,
    moderate_point,
    relative_error,
    verify_network,
)

# Every built-in cell code generation supports (codegen.planner.unsupported): the matrix of `symrnn verify`.
CELLS = [("rnn", None), ("lstm", None), ("gru", "notes"), ("gru", "pytorch"), ("indrnn", None),
         ("peephole_lstm", None), ("mgu", None), ("antisymmetric", None),
         ("sru", None), ("qrnn", None), ("lstm_ln", None), ("lstmp", None), ("lstmp_peephole", None)]
# Cells of code generation's own constructs that no built-in cell uses (max of two arguments).
CODEGEN_CELLS = Path(__file__).resolve().parent / "codegen_cells"


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


@pytest.mark.parametrize("output,layers,loss", [("last", 1, "squared"), ("sequence", 2, "xent")])
def test_max_of_two_arguments_matches_finite_differences(module_for, output, layers, loss):
    net, module = module_for(str(CODEGEN_CELLS / "max_rnn.cell"), None, None, layers, output, loss)
    for unequal in (False, True):
        result = check_gradients(module, net, unequal=unequal)
        assert result.max_error <= TOLERANCE, format_table([result])


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


# --- large values and high powers: the point, the steps and the criterion ---------

POWER_CELLS = {
    # (g + 1)^16 reaches 2^16 = 65,536 at the random point (g = tanh saturates at 1)
    "plus_one_16": "h = (tanh(w^(x) x + w^(h) h[t-1] + b^(h)) + 1)^16",
    "gate_then_power": "g = tanh(w^(x) x + w^(h) h[t-1] + b^(h))\nh = (g + 1)^16",
    "tanh_16": "h = tanh(w^(x) x + w^(h) h[t-1] + b^(h))^16",
    "product_16": "h = (w^(x) x + w^(h) h[t-1])^16",  # overflows to inf at the random point
    "sigmoid_times_two": "g = sigmoid(w^(x) x + w^(h) h[t-1] + b^(h))\nh = (g * 2)^16",
    "mixed": "h = tanh(w^(x) x + w^(h) h[t-1] + b^(h)) * 4 + (w^(u) x)^16",
    "cube_exp": "h = exp(w^(x) x + w^(h) h[t-1] + b^(h))^3",
}


def power_network(tmp_path, key, **options):
    path = tmp_path / f"{key}.cell"
    path.write_text(f"cell {key}\ninput x\nstate h\n{POWER_CELLS[key]}\n", encoding="utf-8")
    return symrnn.network(str(path), **options)


@pytest.mark.parametrize("key", sorted(POWER_CELLS))
@pytest.mark.parametrize("output,layers,loss", [("last", 1, "squared"), ("sequence", 2, "xent")])
def test_correct_gradients_of_high_power_cells_pass(tmp_path, key, output, layers, loss):
    net = power_network(tmp_path, key, output=output, layers=layers, loss=loss)
    results = verify_network(net)
    assert all(r.passed for r in results), format_table(results)


def test_a_large_point_is_scaled_down_and_a_moderate_one_is_kept(tmp_path, module_for):
    net = power_network(tmp_path, "plus_one_16")
    module = symrnn.load_module(net)
    params, x, lengths, _, state0, _ = _case(module, net, False, 0)
    assert _largest_value(module, params, x, lengths, state0) > 60_000
    scale = moderate_point(module, params, x, lengths, state0)
    assert scale < 1
    assert _largest_value(module, params, x, lengths, state0) <= VALUE_BOUND * max(1, np.max(np.abs(x)))
    net, module = module_for("lstm", None, None, 2, "sequence", "xent")
    params, x, lengths, _, state0, _ = _case(module, net, True, 0)
    assert moderate_point(module, params, x, lengths, state0) == 1


class TamperedBackward(Tampered):
    """A module whose backward() returns one array off by 1e-4 relative."""

    def loss_and_grad(self, *args):
        return self.module.loss_and_grad(*args)

    def backward(self, *args):
        grads = self.module.backward(*args)
        grads[self.name] = grads[self.name] * (1 + 1e-4)
        return grads


class OneEntry(Tampered):
    """A module whose gradient of one parameter has one entry changed."""

    def loss_and_grad(self, *args):
        loss, grads = self.module.loss_and_grad(*args)
        grads[self.name] = grads[self.name].copy()
        grads[self.name].flat[0] += 1e-4 * np.max(np.abs(grads[self.name]))
        return loss, grads


@pytest.mark.parametrize("key", ["plus_one_16", "gate_then_power", "sigmoid_times_two", "cube_exp"])
def test_wrong_gradients_of_high_power_cells_fail(tmp_path, key):
    net = power_network(tmp_path, key, output="sequence")
    module = symrnn.load_module(net)
    for name in [*module.PARAMS, "x", "h0"]:
        for wrong, route in ((Tampered, "loss"), (TamperedBackward, "outputs"), (OneEntry, "loss")):
            result = check_gradients(wrong(module, name), net)
            assert not result.passed and result.worst == f"{name} ({route})", (wrong.__name__, format_table([result]))


def test_a_non_finite_gradient_fails(module_for):
    class NotFinite(Tampered):
        def loss_and_grad(self, *args):
            loss, grads = self.module.loss_and_grad(*args)
            grads[self.name] = np.full_like(grads[self.name], np.nan)
            return loss, grads

    net, module = module_for("rnn", None, None, 1, "last", "squared")
    result = check_gradients(NotFinite(module, "w_a"), net)
    assert not result.passed and result.max_error == np.inf and result.worst == "w_a (loss)"


def test_relative_error_floor_and_non_finite_values():
    assert relative_error(np.array([1e-12]), np.array([2e-12]), floor=1.0) == pytest.approx(1e-12)
    assert relative_error(np.array([1.0, np.nan]), np.array([1.0, 2.0])) == np.inf
    assert relative_error(np.array([1.0, 2.0]), np.array([np.inf, 2.0])) == np.inf


def test_a_network_that_overflows_everywhere_fails_with_that_reason_and_no_warnings(tmp_path):
    """exp(exp(...)) of a state that also grows nine-fold: no point keeps the
    values finite, so there is nothing to compare; the row says so, silently."""
    path = tmp_path / "blowup.cell"
    path.write_text("cell blowup\ninput x\nstate h\nh = exp(exp(h[t-1] + w^(x) x)) + 9 * h[t-1]\n")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = verify_network(symrnn.network(str(path)))
    assert [r.status for r in results] == ["FAIL: the network overflows at every point tried"] * 2
    assert all(r.overflow and not r.passed for r in results)
    assert "overflows at every point tried" in format_table(results)


@pytest.mark.parametrize("cell", ["mean_other_size", "mean_two_sizes"])
@pytest.mark.parametrize("output,layers,loss", [("last", 1, "squared"), ("sequence", 2, "xent"),
                                               ("states", 1, "squared")])
def test_means_read_by_vectors_of_other_sizes_match_finite_differences(module_for, cell, output, layers, loss):
    """A mean's adjoint divides by the units it averages, whatever the size of
    the vectors that read it (issue 23: the mean of d_r over P units was used)."""
    net, module = module_for(str(CODEGEN_CELLS / f"{cell}.cell"), None, None, layers, output, loss)
    for unequal in (False, True):
        result = check_gradients(module, net, unequal=unequal)
        assert result.max_error <= TOLERANCE, format_table([result])
