"""symrnn.flax_module.Recurrent, a Flax linen module for any cell: in
float64, a model of it and a Dense head has the gradients of ``jax.grad``
of the same model written with Flax's own ``nn.RNN(nn.OptimizedLSTMCell)``
(parameters moved by :mod:`symrnn.jax_interop`), and of a plain
``lax.scan`` of the cell's equations (mgu, a stack of lstm_ln, lstmp with
its further size); unequal lengths, an initial carry and ``return_carry``;
batch- and time-major; the notes' names and initialisation; refusals.
Skipped without flax.
"""

import os
import sys

import numpy as np
import pytest

if "jax" not in sys.modules:  # XLA's cheaper compilation: compile time dominates these tiny problems
    os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")
jax = pytest.importorskip("jax")
nn = pytest.importorskip("flax.linen")
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp

import symrnn
from symrnn import jax_interop
from symrnn.codegen.jax_loop import render_loop
from symrnn.errors import ConfigError, InputError
from symrnn.flax_module import Recurrent

B, T, D, H, K = 3, 5, 2, 4, 2
LENGTHS = jnp.asarray([5, 2, 4])


class Model(nn.Module):
    """A recurrent layer and a Dense head on its outputs: the model a user writes."""

    rnn: nn.Module

    @nn.compact
    def __call__(self, x, seq_lengths=None):
        return nn.Dense(K, param_dtype=jnp.float64)(self.rnn(x, seq_lengths=seq_lengths))


def data(seed=0):
    """x, and targets zero past each item's length (nn.RNN's outputs there are
    not its concern; Recurrent's are zero)."""
    rng = np.random.default_rng(seed)
    mask = (np.arange(T)[None, :] < np.asarray(LENGTHS)[:, None])[:, :, None]
    return jnp.asarray(rng.normal(size=(B, T, D))), jnp.asarray(rng.normal(size=(B, T, K)) * mask)


def loss(model, x, y):
    def of(variables, x):
        return jnp.sum(jnp.tanh(model.apply(variables, x, seq_lengths=LENGTHS)) * y)
    return jax.jit(jax.value_and_grad(of, argnums=(0, 1)))


def assert_close(actual, expected, name):
    expected = np.asarray(expected)
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=0, atol=1e-12 * scale, err_msg=name)


def test_drops_in_for_flax_nn_rnn_of_the_lstm_cell():
    """Same parameters (moved by jax_interop, random biases), same loss, same gradients."""
    cell = nn.OptimizedLSTMCell(features=H, param_dtype=jnp.float64)
    flax_model = Model(nn.RNN(cell))
    ours = Model(Recurrent("lstm", features=H, param_dtype=jnp.float64))
    x, y = data()
    theirs = flax_model.init(jax.random.key(0), x)
    rng = np.random.default_rng(3)
    theirs = jax.tree.map(lambda v: v + 0.3 * jnp.asarray(rng.normal(size=v.shape)), theirs)
    variables = ours.init(jax.random.key(1), x)
    rnn_variables = {"params": theirs["params"]["rnn"]}
    variables = {"params": {"Dense_0": theirs["params"]["Dense_0"],
                            "rnn": jax_interop.from_flax(cell, rnn_variables)}}
    value, (grads, d_x) = loss(ours, x, y)(variables, x)
    expected, (want, want_x) = loss(flax_model, x, y)(theirs, x)
    assert_close(value, expected, "loss")
    assert_close(d_x, want_x, "x")
    moved = jax_interop.from_flax(cell, {"params": want["params"]["rnn"]})  # a gradient maps as parameters do
    for name, value in moved.items():
        assert_close(grads["params"]["rnn"][name], value, name)
    for name in ("kernel", "bias"):
        assert_close(grads["params"]["Dense_0"][name], want["params"]["Dense_0"][name], f"Dense {name}")


def scan_outputs(cell, variant, layers):
    """The top layer's outputs of a plain lax.scan of the cell (jax_loop), (T, B, H)."""
    namespace = {}
    net = symrnn.network(cell, variant=variant, output="states", layers=layers)
    exec(compile(render_loop(net), f"<jax loop {net.module_name}>", "exec"), namespace)  # noqa: S102 (our own text)
    return namespace["run"]


@pytest.mark.parametrize("cell, layers, sizes", [("mgu", 1, None), ("lstm_ln", 2, None), ("lstmp", 1, {"P": 3})])
def test_gradients_equal_jax_grad_of_a_plain_scan(cell, layers, sizes):
    """Through the Dense head, with unequal lengths and an initial carry."""
    rnn = Recurrent(cell, features=H, num_layers=layers, sizes=sizes, param_dtype=jnp.float64)
    model = Model(rnn)
    x, y = data(1)
    variables = model.init(jax.random.key(2), x)
    run = scan_outputs(cell, None, layers)
    names = [name for name in variables["params"]["rnn"]]
    carry, _ = rnn.apply({"params": variables["params"]["rnn"]}, x, return_carry=True)
    rng = np.random.default_rng(4)
    carry0 = {name: jnp.asarray(rng.normal(size=value.shape)) for name, value in carry.items()}

    def with_carry(params, x, carry0):
        top = rnn.apply({"params": params["params"]["rnn"]}, x, seq_lengths=LENGTHS, initial_carry=carry0)
        dense = params["params"]["Dense_0"]
        return jnp.sum(jnp.tanh(top @ dense["kernel"] + dense["bias"]) * y)

    def reference(params, x, carry0):
        top, _ = run(params["params"]["rnn"], jnp.swapaxes(x, 0, 1), LENGTHS, carry0)
        dense = params["params"]["Dense_0"]
        return jnp.sum(jnp.tanh(jnp.swapaxes(top, 0, 1) @ dense["kernel"] + dense["bias"]) * y)

    got = jax.jit(jax.grad(with_carry, argnums=(0, 1, 2)))(variables, x, carry0)
    want = jax.jit(jax.grad(reference, argnums=(0, 1, 2)))(variables, x, carry0)
    for (path, g), (_, w) in zip(jax.tree_util.tree_leaves_with_path(got), jax.tree_util.tree_leaves_with_path(want)):
        assert_close(g, w, jax.tree_util.keystr(path))
    assert set(names) == set(got[0]["params"]["rnn"])


def test_carry_time_major_and_lengths():
    rnn = Recurrent("gru", features=H, variant="pytorch", param_dtype=jnp.float64)
    x, _ = data(2)
    variables = rnn.init(jax.random.key(0), x)
    carry, outputs = rnn.apply(variables, x, seq_lengths=LENGTHS, return_carry=True)
    time_major = rnn.apply(variables, jnp.swapaxes(x, 0, 1), seq_lengths=LENGTHS, time_major=True)
    assert_close(jnp.swapaxes(time_major, 0, 1), outputs, "time-major outputs")
    assert np.all(np.asarray(outputs)[1, 2:] == 0)  # past item 1's length
    assert_close(carry["h0"], outputs[np.arange(B), LENGTHS - 1], "carry: each item's state at its length")
    # the carry continues the sequence: two halves run as the whole
    first = rnn.apply(variables, x[:, :3], return_carry=True)
    second = rnn.apply(variables, x[:, 3:], initial_carry=first[0])
    assert_close(jnp.concatenate([first[1], second], axis=1), rnn.apply(variables, x), "chunks")


def test_parameters_have_the_notes_names_and_start_as_documented():
    rnn = Recurrent("lstm_ln", features=16, num_layers=2)
    params = rnn.init(jax.random.key(0), jnp.ones((2, 3, 5)))["params"]
    assert params["w_F_l1"].shape == (16, 16) and params["w_f_l1"].shape == (16, 5)
    assert params["w_f_l2"].shape == (16, 16)
    assert np.all(np.asarray(params["g_f_l2"]) == 1)
    bound = 1 / 4
    weights = np.concatenate([np.ravel(v) for name, v in params.items() if not name.startswith("g_")])
    assert np.all(np.abs(weights) <= bound) and np.std(weights) > bound / 3


def test_refusals_name_the_problem():
    x = jnp.ones((2, 3, 5))
    with pytest.raises(ConfigError, match="further size letters"):
        Recurrent("lstmp", features=4).init(jax.random.key(0), x)
    with pytest.raises(ConfigError, match="features must be a positive integer"):
        Recurrent("mgu", features=0).init(jax.random.key(0), x)
    with pytest.raises(ConfigError, match="unknown|no cell|not a"):
        Recurrent("no_such_cell", features=4).init(jax.random.key(0), x)
    with pytest.raises(InputError, match="inputs must be"):
        Recurrent("mgu", features=4).init(jax.random.key(0), jnp.ones((3, 5)))
