"""The generated JAX modules (``backend="jax"``): in float64, equal to the
NumPy module (loss_and_grad, backward with final states' adjoints) and to
``jax.grad`` of a plain ``lax.scan`` over the same equations (generated from
the step graph, :mod:`symrnn.codegen.jax_loop`) through ``apply``'s
custom_vjp, for every built-in and test cell; the window (truncate,
per_step: per-step terms and state adjoints) against the NumPy module's for
every cell too; jit, vmap, the pytree ``Network``, the refusals and the
command line.

jit compile time dominates, so the cross is representative rather than
full: every cell once, its output mode and layer count taken in turn (the
three modes and 1-2 layers each appear for built-in and test cells alike;
lstm, gru and rnn in every mode), at tiny sizes with unequal lengths and
nonzero initial states; each module is generated once per session.
"""

import functools
import glob
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

if "jax" not in sys.modules:  # XLA's cheaper compilation: compile time dominates these tiny problems
    os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp

import symrnn
from symrnn import rules
from symrnn.codegen import load_module
from symrnn.codegen.jax_loop import render_loop
from symrnn.codegen.jax_text import JAX_FUNCTIONS

T, B, D, H, K = 4, 3, 2, 3, 2
FURTHER = {"P": 4, "Q": 5}
LENGTHS = np.array([4, 2, 3])
MODES = ("last", "sequence", "states")
BUILT_IN = [("rnn", None), ("lstm", None), ("gru", "notes"), ("gru", "pytorch"), ("antisymmetric", None),
            ("sru", None), ("qrnn", None), ("lstm_ln", None), ("lstmp", None), ("lstmp_peephole", None)]
FILES = sorted(glob.glob(str(Path(__file__).parent / "cells" / "*.cell"))
               + glob.glob(str(Path(__file__).parent / "codegen_cells" / "*.cell")))
CELLS = BUILT_IN + [(cell, None) for cell in FILES]
CONFIGS = ([(cell, variant, MODES[k % 3], 1 + k % 2) for k, (cell, variant) in enumerate(CELLS)]
           + [(cell, None, output, 1) for cell in ("lstm", "rnn") for output in MODES if output != "last"]
           + [("gru", "pytorch", "states", 2), ("gru", "pytorch", "sequence", 1)])
# The reference loop returns the top layer's states: its configurations are the cells' with --output states.
LOOP_CONFIGS = [(cell, variant, "states", 1 + k % 2) for k, (cell, variant) in enumerate(CELLS)]


def config_id(config):
    cell, variant, output, layers = config
    return f"{Path(cell).stem}{'-' + variant if variant else ''}-{output}-l{layers}"


@functools.cache
def modules(cell, variant, output, layers):
    """(network, NumPy module, JAX module)."""
    net = symrnn.network(cell, variant=variant, output=output, layers=layers)
    return net, load_module(net), load_module(net, backend="jax")


@functools.cache
def loop_module(cell, variant, layers):
    net = symrnn.network(cell, variant=variant, output="states", layers=layers)
    namespace = {}
    exec(compile(render_loop(net), f"<jax loop {net.module_name}>", "exec"), namespace)
    return namespace


def problem(module, output, seed=0):
    """Parameters, x, initial states and targets of a network (NumPy float64 arrays)."""
    uses = {letter for dims in module.PARAMS.values() for letter in dims}
    inputs = D if "D" in uses else H  # H: x used elementwise
    sizes = {"D": inputs, "H": H, "K": K, **{letter: n for letter, n in FURTHER.items() if letter in uses}}
    rng = np.random.default_rng(seed)
    params = {name: rng.uniform(-0.6, 0.6, tuple(sizes[d] for d in dims)) for name, dims in module.PARAMS.items()}
    state0 = {name: 0.5 * rng.normal(size=(B, sizes[module._STATE_SIZES[name]]))
              for names in module.INITIAL_STATES for name in names}
    x = rng.normal(size=(T, B, inputs))
    width = K if output != "states" else sizes[module._STATE_SIZES[module.INITIAL_STATES[-1][-1]]]
    y = rng.normal(size=(B, K) if output == "last" else (T, B, width))
    return params, x, state0, y


def assert_close(actual, expected, name):
    expected = np.asarray(expected)
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=0, atol=1e-12 * scale, err_msg=name)


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_loss_and_grad_equals_the_numpy_module(config):
    _, numpy_module, jax_module = modules(*config)
    params, x, state0, y = problem(jax_module, config[2])
    loss, grads = numpy_module.loss_and_grad(params, x, y, LENGTHS, state0)
    jax_loss, jax_grads = jax.jit(jax_module.loss_and_grad)(params, x, y, LENGTHS, state0)
    assert_close(jax_loss, loss, "loss")
    assert set(jax_grads) == set(grads)
    for name in grads:
        assert_close(jax_grads[name], grads[name], name)


@pytest.mark.parametrize("config", LOOP_CONFIGS, ids=config_id)
def test_apply_equals_jax_grad_of_a_plain_scan(config):
    """jax.grad through apply's custom_vjp (the derived BPTT, seeded by the
    outputs' and the final states' adjoints) against jax.grad of the plain scan."""
    cell, variant, _, layers = config
    _, _, jax_module = modules(*config)
    reference = loop_module(cell, variant, layers)
    params, x, state0, y = problem(jax_module, "states")
    lengths = jnp.asarray(LENGTHS)
    weights = {name: np.cos(np.arange(value.size)).reshape(value.shape) for name, value in state0.items()}

    def cost(run):
        def of(params, x, state0):
            outputs, finals = run(params, x, lengths, state0)
            return jnp.sum(jnp.tanh(outputs) * y) + sum(jnp.sum(weights[n] * finals[n] ** 2) for n in finals)
        return jax.jit(jax.value_and_grad(of, argnums=(0, 1, 2)))

    value, grads = cost(jax_module.apply)(params, x, state0)
    expected_value, expected = cost(reference["run"])(params, x, state0)
    assert_close(value, expected_value, "cost")
    (d_params, d_x, d_state0), (want_params, want_x, want_state0) = grads, expected
    assert_close(d_x, want_x, "x")
    for name in params:
        assert_close(d_params[name], want_params[name], name)
    for name in state0:
        assert_close(d_state0[name], want_state0[name], name)


def test_backward_seeded_by_final_states_equals_the_numpy_module():
    _, numpy_module, jax_module = modules("lstm", None, "sequence", 2)
    params, x, state0, y = problem(jax_module, "sequence", seed=3)
    d_finals = {name: np.sin(value) for name, value in state0.items()}
    outputs, cache = numpy_module.forward(params, x, LENGTHS, state0)
    grads = numpy_module.backward(params, cache, y, d_final_states=d_finals)
    jax_outputs, jax_cache = jax.jit(jax_module.forward)(params, x, LENGTHS, state0)
    jax_grads = jax.jit(jax_module.backward)(params, jax_cache, y, d_finals)
    assert_close(jax_outputs, outputs, "outputs")
    for name, value in numpy_module.final_states(cache).items():
        assert_close(jax_module.final_states(jax_cache)[name], value, name)
    for name in grads:
        assert_close(jax_grads[name], grads[name], name)


def test_vmap_over_independent_problems():
    _, _, jax_module = modules(*CONFIGS[1])
    problems = [problem(jax_module, CONFIGS[1][2], seed=seed) for seed in (0, 1)]
    stacked = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[(p, x, s0) for p, x, s0, _ in problems])

    def cost(params, x, state0):
        outputs, finals = jax_module.apply(params, x, jnp.asarray(LENGTHS), state0)
        return jnp.sum(outputs ** 2) + sum(jnp.sum(f) for f in finals.values())

    batched = jax.jit(jax.vmap(jax.grad(cost)))(*stacked)
    one = jax.jit(jax.grad(cost))
    for k, (params, x, state0, _) in enumerate(problems):
        single = one(params, x, state0)
        for name in params:
            assert_close(batched[name][k], single[name], name)


def test_network_is_a_pytree_with_the_notes_names():
    _, _, jax_module = modules("lstm", None, "last", 1)
    net = jax_module.Network.init(D, H, K, seed=0, dtype=jnp.float64)
    assert sorted(net.params) == sorted(jax_module.PARAMS)
    x = jnp.ones((T, B, D))
    grads = jax.jit(jax.grad(lambda net: jnp.sum(net(x)[0] ** 2)))(net)
    assert isinstance(grads, jax_module.Network) and grads.params["w_f"].shape == (H, D)
    np.testing.assert_array_equal(net.params["w_f"], jax_module.init_params(D, H, K, seed=0, dtype=jnp.float64)["w_f"])


WINDOWS = ({"truncate": 1}, {"truncate": 2, "per_step": True}, {"per_step": True})


def window_case(k, config):
    return config, WINDOWS[k % 3]


@pytest.mark.parametrize("config, options", [window_case(k, c) for k, c in enumerate(CONFIGS)],
                         ids=[f"{config_id(c)}-{'-'.join(f'{k}{v}' for k, v in WINDOWS[i % 3].items())}"
                              for i, c in enumerate(CONFIGS)])
def test_window_equals_the_numpy_module(config, options):
    """Truncated BPTT, per-step terms and state adjoints: loss_and_grad under
    jit (truncate, per_step static) equals the NumPy module's."""
    _, numpy_module, jax_module = modules(*config)
    params, x, state0, y = problem(jax_module, config[2], seed=5)
    loss, grads = numpy_module.loss_and_grad(params, x, y, LENGTHS, state0, **options)
    step = jax.jit(jax_module.loss_and_grad, static_argnames=("truncate", "per_step"))
    jax_loss, jax_grads = step(params, x, y, LENGTHS, state0, **options)
    assert_close(jax_loss, loss, "loss")
    assert set(jax_grads) == set(grads)
    for name, value in grads.items():
        if isinstance(value, dict):  # per_step, state_adjoints
            assert set(jax_grads[name]) == set(value)
            for key in value:
                assert_close(jax_grads[name][key], value[key], f"{name} {key}")
        else:
            assert_close(jax_grads[name], value, name)


def test_backward_window_equals_the_numpy_module():
    """backward() (from the caller's d_outputs) with truncation in a stack
    of cells that read x[t-1], where keep_previous stops the adjoint."""
    _, numpy_module, jax_module = modules("qrnn", None, "sequence", 2)
    params, x, state0, y = problem(jax_module, "sequence", seed=4)
    _, cache = numpy_module.forward(params, x, LENGTHS, state0)
    grads = numpy_module.backward(params, cache, y, truncate=2, per_step=True)
    _, jax_cache = jax.jit(jax_module.forward)(params, x, LENGTHS, state0)
    jax_grads = jax.jit(jax_module.backward, static_argnames=("truncate", "per_step"))(
        params, jax_cache, y, truncate=2, per_step=True)
    for name in grads["per_step"]:
        assert_close(jax_grads["per_step"][name], grads["per_step"][name], name)
    for name in grads["state_adjoints"]:
        assert_close(jax_grads["state_adjoints"][name], grads["state_adjoints"][name], name)
    assert_close(jax_grads["x"], grads["x"], "x")
    assert np.max(np.abs(np.asarray(jax_grads["x"]) - jax.jit(jax_module.backward)(params, jax_cache, y)["x"])) > 1e-3


def test_window_options_are_checked_by_name():
    _, _, jax_module = modules("lstm", None, "last", 1)
    params, x, state0, y = problem(jax_module, "last")
    for options, message in (({"truncate": 0}, "truncate must be a positive integer"),
                             ({"truncate": 1.5}, "truncate must be a positive integer"),
                             ({"per_step": 1}, "per_step must be True or False")):
        with pytest.raises(symrnn.errors.InputError, match=message):
            jax_module.loss_and_grad(params, x, y, **options)
    with pytest.raises(symrnn.errors.InputError, match="static_argnames"):  # traced under jit: not a Python int
        jax.jit(jax_module.loss_and_grad)(params, x, y, truncate=2)
    _, cache = jax_module.forward(params, x)
    with pytest.raises(symrnn.errors.InputError, match="d_final_states goes with full BPTT only"):
        jax_module.backward(params, cache, y, d_final_states={"h0": state0["h0"]}, truncate=2)


def test_every_function_has_a_jax_spelling():
    functions = {rule.function for rule in rules.ELEMENTWISE.values()}
    functions |= {rule.function for rule in rules.ROW_FUNCTIONS.values()}
    assert functions <= set(JAX_FUNCTIONS)


def test_cli_writes_a_module_that_imports_only_jax_and_numpy(tmp_path):
    from symrnn.cli import main

    path = tmp_path / "m.py"
    assert main(["generate", "mgu", "--backend", "jax", "-o", str(path)]) in (0, None)
    text = path.read_text()
    imports = {line.split()[1] for line in text.splitlines() if line.startswith(("import ", "from "))}
    assert imports == {"jax", "jax.numpy", "numpy"}
    assert "lax.scan" in text and "jax.custom_vjp" in text and "--backend jax" in text.splitlines()[0]


def test_modules_are_byte_identical_across_hash_seeds():
    """Every built-in and test cell's JAX module (window included), rendered
    under three PYTHONHASHSEED values."""
    script = ("import ast, sys, hashlib, symrnn\nfrom symrnn.codegen import render\n"
              "for k, (cell, variant) in enumerate(ast.literal_eval(sys.argv[1])):\n"
              "    net = symrnn.network(cell, variant=variant, layers=1 + k % 2)\n"
              "    print(hashlib.sha256(render(net, backend='jax').encode()).hexdigest())\n")
    root = str(Path(__file__).resolve().parent.parent)
    digests = {subprocess.run([sys.executable, "-c", script, repr(CELLS)], check=True, capture_output=True, text=True,
                              env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": root}).stdout
               for seed in ("0", "1", "12345")}
    assert len(digests) == 1 and len(next(iter(digests)).split()) == len(CELLS)


def test_generated_modules_pass_ruff(tmp_path):
    for k, (cell, variant) in enumerate(CELLS):
        net = symrnn.network(cell, variant=variant, output=MODES[k % 3], layers=1 + k % 2)
        symrnn.write_module(net, tmp_path / f"{net.module_name}.py", backend="jax")
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated",
                             "--line-length", "120", str(tmp_path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
