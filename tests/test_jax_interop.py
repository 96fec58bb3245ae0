"""Flax cells and symrnn networks (:mod:`symrnn.jax_interop`): a Flax
``nn.OptimizedLSTMCell``/``LSTMCell``/``GRUCell`` run by ``nn.RNN`` and the
generated JAX module of the matching network, on the parameters
:func:`from_flax` reads, give the same outputs, final states and gradients
(parameters, initial carry, x) to 1e-12 in float64, with unequal lengths and
a nonzero initial carry; the round trips are exact; the cells whose
equations differ are refused by name. Skipped without flax.
"""

import functools
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

from symrnn import jax_interop
from symrnn.codegen import load_module
from symrnn.errors import ConfigError

T, B, D, H = 5, 3, 2, 4
LENGTHS = np.array([5, 2, 4])
CELLS = {"OptimizedLSTMCell": nn.OptimizedLSTMCell, "LSTMCell": nn.LSTMCell, "GRUCell": nn.GRUCell}


def flax_cell(name):
    return CELLS[name](features=H, param_dtype=jnp.float64)


@functools.cache
def setup(name, layers=1):
    """(cells, their variables, network, JAX module, x, initial carries) for a stack of ``layers``."""
    cells = [flax_cell(name) for _ in range(layers)]
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(T, B, D)))
    carries, variables = [], []
    for k, cell in enumerate(cells):
        carry = cell.initialize_carry(jax.random.key(k), (B, D if k == 0 else H))
        carry = jax.tree.map(lambda c: jnp.asarray(rng.normal(size=c.shape)), carry)
        carries.append(carry)
        rnn = nn.RNN(cell, time_major=True, return_carry=True)
        init = rnn.init(jax.random.key(10 + k), jnp.zeros((T, B, D if k == 0 else H)), initial_carry=carry)
        # random biases too (Flax initialises them to zero)
        variables.append(jax.tree.map(lambda v: v + 0.3 * jnp.asarray(rng.normal(size=v.shape)), init))
    net = jax_interop.network_of(cells[0], output="states", layers=layers)
    return cells, variables, net, load_module(net, backend="jax"), x, carries


def flax_run(cells, variables, x, carries):
    """(outputs of the top layer, final carries) of a stack of nn.RNN."""
    finals, top = [], x
    for cell, v, carry in zip(cells, variables, carries):
        final, top = nn.RNN(cell, time_major=True, return_carry=True).apply(
            v, top, initial_carry=carry, seq_lengths=jnp.asarray(LENGTHS))
        finals.append(final)
    return top, finals


def symrnn_args(cells, variables, carries):
    layers = len(cells)
    params, state0 = {}, {}
    for k, (cell, v, carry) in enumerate(zip(cells, variables, carries), start=1):
        params.update(jax_interop.from_flax(cell, v, k, layers))
        state0.update(jax_interop.state0_of(cell, carry, k, layers))
    return params, state0


def weights(seed, shape):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape))


MASK = (np.arange(T)[:, None] < LENGTHS[None, :])[:, :, None]


def loss_of(outputs, finals_flat):
    """A loss of the outputs (within each item's length) and every final state."""
    total = jnp.sum(jnp.where(MASK, outputs, 0) * weights(1, outputs.shape))
    for k, value in enumerate(finals_flat):
        total += jnp.sum(value * weights(2 + k, value.shape))
    return total


@pytest.mark.parametrize("name,layers", [("OptimizedLSTMCell", 1), ("GRUCell", 1), ("LSTMCell", 2), ("GRUCell", 2)])
def test_flax_rnn_equals_the_symrnn_module(name, layers):
    cells, variables, _, module, x, carries = setup(name, layers)
    params, state0 = symrnn_args(cells, variables, carries)

    def flax_loss(variables, carries, x):
        outputs, finals = flax_run(cells, variables, x, carries)
        return loss_of(outputs, jax.tree.leaves(finals)), (outputs, finals)

    def symrnn_loss(params, state0, x):
        outputs, finals = module.apply(params, x, jnp.asarray(LENGTHS), state0)
        flat = [jax_interop.carry_of(cell, finals, k, layers) for k, cell in enumerate(cells, start=1)]
        return loss_of(outputs, jax.tree.leaves(flat)), (outputs, flat)

    (f_loss, (f_out, f_finals)), f_grads = jax.value_and_grad(flax_loss, argnums=(0, 1, 2), has_aux=True)(
        variables, carries, x)
    (s_loss, (s_out, s_finals)), s_grads = jax.value_and_grad(symrnn_loss, argnums=(0, 1, 2), has_aux=True)(
        params, state0, x)
    np.testing.assert_allclose(s_loss, f_loss, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.where(MASK, s_out, 0), np.where(MASK, f_out, 0), rtol=1e-12, atol=1e-12)
    for got, want in zip(jax.tree.leaves(s_finals), jax.tree.leaves(f_finals)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    d_params, d_state0, d_x = s_grads
    for k, (cell, f_grad) in enumerate(zip(cells, f_grads[0]), start=1):
        mapped = jax_interop.to_flax(cell, d_params, k, layers)
        want = jax_interop._cell_params(f_grad)
        for dense, leaves in mapped.items():
            for leaf, value in leaves.items():
                np.testing.assert_allclose(value, want[dense][leaf], rtol=1e-12, atol=1e-12, err_msg=f"{dense}.{leaf}")
        got_carry = jax_interop.carry_of(cell, d_state0, k, layers)
        for got, want_c in zip(jax.tree.leaves(got_carry), jax.tree.leaves(f_grads[1][k - 1])):
            np.testing.assert_allclose(got, want_c, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(d_x, f_grads[2], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(CELLS))
def test_round_trips_are_exact(name):
    cells, variables, _, _, _, _ = setup(name, 1)
    cell, flax_params = cells[0], jax_interop._cell_params(variables[0])
    params = jax_interop.from_flax(cell, variables[0])
    back = jax_interop.to_flax(cell, params)
    assert jax.tree.structure(back) == jax.tree.structure(jax.tree.map(lambda v: v, dict(flax_params)))
    for (path, got), want in zip(jax.tree_util.tree_leaves_with_path(back), jax.tree.leaves(dict(flax_params))):
        assert np.array_equal(got, want), path
    again = jax_interop.from_flax(cell, {"params": back})
    assert set(again) == set(params) and all(np.array_equal(again[k], params[k]) for k in params)
    module = load_module(jax_interop.network_of(cell, output="states"), backend="numpy")
    assert set(params) == set(module.PARAMS)  # the network's names, all of them


def test_refusals_name_the_difference():
    with pytest.raises(ConfigError, match="MGUCell.*before the product"):
        jax_interop.layout_of(nn.MGUCell(features=H))
    with pytest.raises(ConfigError, match="gate_fn"):
        jax_interop.layout_of(nn.GRUCell(features=H, gate_fn=jax.nn.hard_sigmoid))
    with pytest.raises(ConfigError, match="activation_fn"):
        jax_interop.layout_of(nn.OptimizedLSTMCell(features=H, activation_fn=jax.nn.relu))
    with pytest.raises(ConfigError, match="SimpleCell"):
        jax_interop.layout_of(nn.SimpleCell(features=H))
    with pytest.raises(ConfigError, match="expected a flax.linen"):
        jax_interop.layout_of(nn.Dense(features=H))
    cell = nn.GRUCell(features=H)
    with pytest.raises(ConfigError, match="Dense names"):
        jax_interop.from_flax(cell, {"ir": {}})
    with pytest.raises(ConfigError, match="no 'b_r'.*ir.bias"):
        jax_interop.to_flax(cell, {"w_r": np.zeros((H, D))})
