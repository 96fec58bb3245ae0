"""Truncated BPTT and per-step terms of generated modules, against SymPy's
diff of the truncated unrolled cost, a reference that stops gradients, and
PyTorch autograd with detach (where torch is installed)."""

import mpmath
import numpy as np
import pytest
import sympy

import symrnn
from symrnn.network import head_nodes
from symrnn.unroll import Unrolled, _step_scalar
from symrnn.verify import _reference_functions, _with_reference_functions

from conftest import cached_module


# --------------------------------------------------------------------------
# SymPy: the truncated nested cost, for T <= 3 with one unit per vector
# --------------------------------------------------------------------------


def truncated_cost(network, steps, truncate):
    """The unrolled cost where, in the chain of the output at step t, every
    state entering step t-K+1 (when t-K >= 1) is a constant ``const_<name>``.
    Returns (unrolled, cost, {constant: the state symbol it stands for})."""
    u = Unrolled(network, steps)
    _, _, cost = head_nodes(network)
    top = network.cell.output_state
    total, constants = sympy.S.Zero, {}
    for t in u.output_steps():
        _, subs = u._head_substitution(t, u.at(top, network.layers, t))
        stops = {}
        if truncate is not None and t - truncate >= 1:
            for layer in range(1, network.layers + 1):
                for state in network.cell.states:
                    symbol = u.at(state, layer, t - truncate)
                    stops[symbol] = sympy.Symbol(f"const_{symbol.name}")
                    constants[stops[symbol]] = symbol
        total += expand(u, _step_scalar(cost.expr).xreplace(subs), stops)
    return u, total, constants


def expand(u, expr, stops):
    """``expr`` in terms of inputs, parameters and the constants ``stops``."""
    while True:
        mapping = {s: stops.get(s, u.values.get(s)) for s in expr.free_symbols
                   if s in stops or s in u.values}
        if not mapping:
            return expr
        expr = expr.xreplace(mapping)


def sympy_reference(network, steps, truncate, seed=0):
    """Gradients of the truncated cost by SymPy diff at a random point, and the
    generated module's truncated per-step gradients at the same point."""
    mpmath.mp.dps = 30
    u, cost, constants = truncated_cost(network, steps, truncate)
    functions, modules = _reference_functions()
    cost = _with_reference_functions(cost, functions)  # SymPy differentiates their definitions
    rng = np.random.default_rng(seed)
    values = {name: rng.uniform(-1, 1) for name in network.param_shapes()}
    values.update({name: rng.uniform(-1, 1) for name in u.initial})
    xs, ys = rng.uniform(-1, 1, steps), rng.uniform(-1, 1, steps)
    point = {sympy.Symbol("mask"): 1.0}
    for param in values:
        for copy in (u.copies(param) if param not in u.initial else [sympy.Symbol(param)]):
            point[copy] = values[param]
    point.update({sympy.Symbol(f"x_{t}"): xs[t - 1] for t in range(1, steps + 1)})
    point.update({sympy.Symbol(f"y_{t}"): ys[t - 1] for t in range(1, steps + 1)})

    def evaluate(expr):
        expr = _with_reference_functions(expr, functions)
        args = sorted(expr.free_symbols, key=lambda s: s.name)
        return float(sympy.lambdify(args, expr, modules)(*[point[s] for s in args]))

    for constant, state in constants.items():
        point[constant] = evaluate(expand(u, state, {}))
    wrt = {param: u.copies(param) for param in network.param_shapes()}
    expected = {param: [evaluate(sympy.diff(cost, c)) for c in copies] for param, copies in wrt.items()}
    expected.update({name: evaluate(sympy.diff(cost, s)) for name, s in u.initial.items()})
    expected["x"] = [evaluate(sympy.diff(cost, sympy.Symbol(f"x_{t}"))) for t in range(1, steps + 1)]

    module = symrnn.load_module(network)
    params = {name: np.full([1] * len(shape), values[name]) for name, shape in module.PARAMS.items()}
    state0 = {name: np.full((1, 1), values[name]) for name in u.initial}
    y = ys[-1:].reshape(1, 1) if network.output == "last" else ys.reshape(steps, 1, 1)
    _, grads = module.loss_and_grad(params, xs.reshape(steps, 1, 1), y, state0=state0,
                                    truncate=truncate, per_step=True)
    return expected, grads


@pytest.mark.parametrize("cell,layers,output,steps,truncate", [
    ("rnn", 1, "sequence", 3, 1),
    ("rnn", 2, "sequence", 3, 2),
    ("rnn", 2, "last", 3, 1),
    ("gru", 1, "sequence", 3, 2),
    ("lstm", 1, "last", 3, 2),
    ("lstm", 1, "sequence", 3, None),
])
def test_truncated_gradients_and_per_step_terms_equal_sympy(cell, layers, output, steps, truncate):
    network = symrnn.network(cell, layers=layers, output=output)
    expected, grads = sympy_reference(network, steps, truncate)
    assert list(grads["per_step"]) == list(network.param_shapes())
    for name, shape in network.param_shapes().items():
        copies = expected[name]
        if name in ("w_y", "b_y") and output == "last":  # the output layer's one copy, at step T
            copies = [0.0] * (steps - 1) + copies
        assert len(copies) == steps, name
        terms = grads["per_step"][name].reshape(steps)
        np.testing.assert_allclose(terms, copies, atol=1e-12, err_msg=name)
        assert float(grads[name].sum()) == pytest.approx(sum(copies), abs=1e-12)
    np.testing.assert_allclose(grads["x"].reshape(steps), expected["x"], atol=1e-12)
    for layer in range(1, layers + 1):
        for name in network.initial_states(layer):
            assert float(grads[name].sum()) == pytest.approx(expected[name], abs=1e-12), name


# --------------------------------------------------------------------------
# A reference that stops gradients: each output's chain run on its own window
# --------------------------------------------------------------------------


def stop_gradient_reference(module, params, x, lengths, d_outputs, truncate):
    """Sum over outputs t of the full BPTT of output t alone, over the steps
    t-K+1 .. t only, started from the forward run's states entering t-K+1
    (detached: they are arrays)."""
    T, B, _ = x.shape
    _, cache = module.forward(params, x, lengths)
    total = {name: np.zeros_like(value) for name, value in params.items()}
    total["x"] = np.zeros_like(x)
    names = [name for layer in module.INITIAL_STATES for name in layer]
    total.update({name: np.zeros((B, params["w_y"].shape[1])) for name in names})
    for b in range(B):
        steps = [lengths[b]] if module.OUTPUT == "last" else range(1, lengths[b] + 1)
        for t in steps:
            start = max(0, t - truncate)
            state0 = {module.INITIAL_STATES[layer][k]: layer_cache[state][start, b:b + 1]
                      for layer, layer_cache in enumerate(cache["layers"])
                      for k, state in enumerate(module.CELL_STATES)}
            _, sub_cache = module.forward(params, x[start:t, b:b + 1], state0=state0)
            if module.OUTPUT == "last":
                d = d_outputs[b:b + 1]
            else:
                d = np.zeros((t - start, 1, d_outputs.shape[2]))
                d[-1] = d_outputs[t - 1, b]
            grads = module.backward(params, sub_cache, d)
            for name in params:
                total[name] += grads[name]
            total["x"][start:t, b] += grads["x"][:, 0]
            if start == 0:
                for name in names:
                    total[name][b] += grads[name][0]
    return total


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("layers", [1, 2])
def test_truncated_gradients_equal_stop_gradient_reference(cell, output, layers):
    _, module = cached_module(cell, layers=layers, output=output)
    rng = np.random.default_rng(3)
    T, B, D, H, K = 7, 3, 2, 4, 2
    params = module.init_params(D, H, K, seed=1)
    x = rng.normal(size=(T, B, D))
    for lengths in (np.full(B, T), np.array([7, 3, 5])):
        outputs, cache = module.forward(params, x, lengths)
        d_outputs = rng.normal(size=outputs.shape)
        for truncate in (1, 3):
            grads = module.backward(params, cache, d_outputs, truncate=truncate)
            expected = stop_gradient_reference(module, params, x, lengths, d_outputs, truncate)
            for name, value in expected.items():
                np.testing.assert_allclose(grads[name], value, atol=1e-12, err_msg=f"{name} K={truncate}")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("output", ["last", "sequence"])
def test_per_step_terms_sum_to_the_gradient_and_vanish_outside_the_window(cell, output):
    _, module = cached_module(cell, layers=2, output=output)
    T, B = 8, 3
    params = module.init_params(2, 4, 3, seed=0)
    rng = np.random.default_rng(0)
    x, lengths = rng.normal(size=(T, B, 2)), np.array([8, 5, 8])
    y = rng.normal(size=(B, 3) if output == "last" else (T, B, 3))
    loss, full = module.loss_and_grad(params, x, y, lengths)
    loss_steps, grads = module.loss_and_grad(params, x, y, lengths, per_step=True)
    assert loss_steps == loss
    for name in full:
        np.testing.assert_allclose(grads[name], full[name], atol=1e-12)
    assert list(grads["per_step"]) == list(params)  # every parameter, the output layer's too
    for name, terms in grads["per_step"].items():
        assert terms.shape == (T, *params[name].shape)
        np.testing.assert_allclose(terms.sum(axis=0), full[name], atol=1e-12, err_msg=name)
    # the output layer's term at step t is the output at step t's part: that of
    # backward() from the outputs' adjoint at step t alone
    outputs, cache = module.forward(params, x, lengths)
    d_outputs = rng.normal(size=outputs.shape)
    per_step = module.backward(params, cache, d_outputs, per_step=True)["per_step"]
    if output == "last":  # one output per item, at its length (8, 5, 8): terms at steps 5 and 8 only
        assert not per_step["w_y"][[0, 1, 2, 3, 5, 6]].any() and per_step["w_y"][[4, 7]].all()
        alone = {4: module.backward(params, cache, d_outputs * [[0], [1], [0]]),
                 7: module.backward(params, cache, d_outputs * [[1], [0], [1]])}
    else:
        alone = {}
        for t in (0, 4, 6):
            d = np.zeros_like(d_outputs)
            d[t] = d_outputs[t]
            alone[t] = module.backward(params, cache, d)
    for t, grads_t in alone.items():
        for name in ("w_y", "b_y"):
            np.testing.assert_allclose(per_step[name][t], grads_t[name], atol=1e-12, err_msg=f"{name} {t}")
    names = [n for layer in module.LAYER_STATES for n in layer]
    assert sorted(grads["state_adjoints"]) == sorted(names)
    assert all(a.shape == (T, B, 4) for a in grads["state_adjoints"].values())
    if output == "last":  # lengths 8, 5, 8: with K = 2 only steps 4, 5 (item 2) and 7, 8 have terms
        _, truncated = module.loss_and_grad(params, x, y, lengths, truncate=2, per_step=True)
        for name, terms in truncated["per_step"].items():
            assert not terms[[0, 1, 2, 5]].any(), name
            assert terms[[3, 4, 6, 7]].any(), name
        for name, adjoint in truncated["state_adjoints"].items():
            assert not adjoint[:5, 0].any() and adjoint[6:, 0].any(), name


def test_truncate_and_per_step_refuse_bad_values():
    _, module = cached_module("rnn")
    params = module.init_params(2, 3, 1)
    x = np.zeros((4, 2, 2))
    outputs, cache = module.forward(params, x)
    for bad in (0, -1, 1.5, True, "3"):
        with pytest.raises(symrnn.InputError, match="truncate must be a positive integer"):
            module.backward(params, cache, outputs, truncate=bad)
    with pytest.raises(symrnn.InputError, match="per_step must be True or False"):
        module.loss_and_grad(params, x, outputs, per_step=1)
    with pytest.raises(symrnn.InputError, match="cache must be"):
        module.final_states({})


def test_final_states_continue_a_sequence_in_chunks():
    """Two chunks with state0 = the first chunk's final states give the outputs of one run."""
    _, module = cached_module("lstm", layers=2, output="sequence")
    params = module.init_params(2, 3, 2, seed=0)
    x = np.random.default_rng(0).normal(size=(10, 2, 2))
    whole, _ = module.forward(params, x)
    first, cache = module.forward(params, x[:6])
    state0 = module.final_states(cache)
    assert sorted(state0) == sorted(n for layer in module.INITIAL_STATES for n in layer)
    second, _ = module.forward(params, x[6:], state0=state0)
    np.testing.assert_allclose(np.concatenate([first, second]), whole, atol=1e-14)
    _, cache = module.forward(params, x, lengths=np.array([4, 10]))
    h = module.final_states(cache)["h0_l2"]
    np.testing.assert_array_equal(h[0], cache["layers"][1]["h"][4, 0])


def test_default_code_unchanged_by_a_window_request():
    """The default path is the one without truncation or per-step terms: a
    window as long as the sequence gives exactly its gradients."""
    _, module = cached_module("gru", output="sequence")
    params = module.init_params(2, 3, 2, seed=0)
    x = np.random.default_rng(0).normal(size=(5, 2, 2))
    y = np.zeros((5, 2, 2))
    _, full = module.loss_and_grad(params, x, y)
    _, same = module.loss_and_grad(params, x, y, truncate=5)
    assert all(np.array_equal(full[name], same[name]) for name in full)


# --------------------------------------------------------------------------
# PyTorch autograd: a tensor for every step's copy, detach for truncation
# --------------------------------------------------------------------------


def test_against_pytorch_detach():
    torch = pytest.importorskip("torch")
    torch.set_default_dtype(torch.float64)
    _, module = cached_module("rnn", output="sequence")
    T, B, D, H, K, truncate = 6, 2, 3, 4, 2, 2
    params = module.init_params(D, H, K, seed=0)
    x = np.random.default_rng(0).normal(size=(T, B, D))
    y = np.random.default_rng(1).normal(size=(T, B, K))
    _, grads = module.loss_and_grad(params, x, y, truncate=truncate, per_step=True)
    p = {n: torch.tensor(v) for n, v in params.items()}
    copies = {n: [p[n].clone().requires_grad_() for _ in range(T)] for n in ("w_x", "w_a", "b_a")}
    xt, yt = torch.tensor(x), torch.tensor(y)
    states = [torch.zeros(B, H)]
    for t in range(T):  # the values of every state, without gradients
        states.append(torch.tanh(xt[t] @ p["w_x"].T + states[-1] @ p["w_a"].T + p["b_a"]).detach())
    loss = 0
    for t in range(T):  # output t's chain over its window, from a detached state
        start = max(0, t + 1 - truncate)
        a = states[start].detach()
        for s in range(start, t + 1):
            a = torch.tanh(xt[s] @ copies["w_x"][s].T + a @ copies["w_a"][s].T + copies["b_a"][s])
        loss = loss + (((a @ p["w_y"].T + p["b_y"]) - yt[t]) ** 2).sum() / 2
    loss.backward()
    for name, tensors in copies.items():
        expected = np.stack([c.grad.numpy() for c in tensors])
        np.testing.assert_allclose(grads["per_step"][name], expected, atol=1e-12)
