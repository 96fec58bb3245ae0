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
    value computed at step t-K (when t-K >= 1), in every layer, is a constant
    ``const_<name>``: the window's definition. The chain reaches step t-K
    only through the states entering step t-K+1 and, in a stack of cells that
    read x[t-1], the layer below's output that x[t-1] reads at step t-K+1
    (qrnn's h_l1_{t-K}); the network's input x is a leaf, so x_{t-K}, which
    the first layer's x[t-1] reads there, is differentiated.
    Returns (unrolled, cost, {constant: the value symbol it stands for})."""
    u = Unrolled(network, steps)
    total, constants = sympy.S.Zero, {}
    for t, cost_t in output_costs(u):
        stops = {}
        if truncate is not None and t - truncate >= 1:
            for symbol in values_at(u, t - truncate):
                stops[symbol] = sympy.Symbol(f"const_{symbol.name}")
                constants[stops[symbol]] = symbol
        total += expand(u, cost_t, stops)
    return u, total, constants


def output_costs(u):
    """(t, the cost of the output at step t) for every output step, in value symbols."""
    network = u.network
    _, _, cost = head_nodes(network)
    top = network.cell.output_state
    for t in u.output_steps():
        _, subs = u._head_substitution(t, u.at(top, network.layers, t))
        yield t, _step_scalar(cost.expr).xreplace(subs)


def values_at(u, step):
    """The symbols of every value computed at ``step``, in every layer."""
    return [u.placement.step_substitution(layer, step)[node.out]
            for layer in range(1, u.network.layers + 1) for node in u.graph.nodes]


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
    values, xs, ys, point = scalar_point(network, u, steps, seed)

    def evaluate(expr):
        expr = _with_reference_functions(expr, functions)
        args = sorted(expr.free_symbols, key=lambda s: s.name)
        return float(sympy.lambdify(args, expr, modules)(*[point[s] for s in args]))

    for constant, value in constants.items():
        if constant in cost.free_symbols:
            point[constant] = evaluate(expand(u, value, {}))
    wrt = {param: u.copies(param) for param in network.param_shapes()}
    expected = {param: [evaluate(sympy.diff(cost, c)) for c in copies] for param, copies in wrt.items()}
    expected.update({name: evaluate(sympy.diff(cost, s)) for name, s in u.initial.items()})
    expected["x"] = [evaluate(sympy.diff(cost, sympy.Symbol(f"x_{t}"))) for t in range(1, steps + 1)]
    return expected, module_gradients(network, u, values, xs, ys, truncate)


def scalar_point(network, u, steps, seed):
    """A random point, one unit per vector: (each parameter's and initial
    state's value, x, y, {symbol of the unrolled network: value})."""
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
    return values, xs, ys, point


def module_gradients(network, u, values, xs, ys, truncate):
    """The generated module's truncated gradients with per-step terms at a :func:`scalar_point`."""
    steps = len(xs)
    module = symrnn.load_module(network)
    params = {name: np.full([1] * len(shape), values[name]) for name, shape in module.PARAMS.items()}
    state0 = {name: np.full((1, 1), values[name]) for name in u.initial}
    y = ys[-1:].reshape(1, 1) if network.output == "last" else ys.reshape(steps, 1, 1)
    _, grads = module.loss_and_grad(params, xs.reshape(steps, 1, 1), y, state0=state0,
                                    truncate=truncate, per_step=True)
    return grads


@pytest.mark.parametrize("cell,layers,output,steps,truncate", [
    ("rnn", 1, "sequence", 3, 1),
    ("rnn", 2, "sequence", 3, 2),
    ("rnn", 2, "last", 3, 1),
    ("gru", 1, "sequence", 3, 2),
    ("lstm", 1, "last", 3, 2),
    ("lstm", 1, "sequence", 3, None),
    # cells that read x[t-1]: above the first layer it is the output below one step earlier
    ("qrnn", 1, "last", 3, 1),
    ("qrnn", 1, "sequence", 3, 2),
    ("qrnn", 2, "last", 3, 1),
    ("qrnn", 2, "last", 3, 2),
    ("qrnn", 2, "sequence", 3, 1),
    ("qrnn", 2, "sequence", 3, 2),
    ("qrnn", 3, "last", 3, 1),  # 3 layers, K = 2 and sequence (slower here): the torch test below
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


def qrnn_window_reference(torch, module, params, x, lengths, state0, d_outputs, truncate):
    """The truncated gradients of a qrnn stack by torch autograd of the paper's
    equations (window 2, fo-pooling), written here: each output's chain run
    over its window t-K+1 .. t alone, from detached values of a full forward
    run for what enters it: every layer's c, and, above the first layer, the
    layer below's h at t-K, which x[t-1] reads at t-K+1. x is a leaf (its
    step t-K is read by the first layer's x[t-1]), and so are the initial
    states. Returns {name: gradient} with each copy's term in ``per_step``."""
    T, B, _ = x.shape
    layers = len(module.INITIAL_STATES)
    names = [dict(zip(module.CELL_PARAMS, full)) for full in module.LAYER_PARAMS]
    copies = {full: [torch.tensor(params[full], requires_grad=True) for _ in range(T)]
              for layer_names in names for full in layer_names.values()}
    head = {name: torch.tensor(params[name], requires_grad=True) for name in ("w_y", "b_y")}
    xs = torch.tensor(x, requires_grad=True)
    c0 = [torch.tensor(state0[n], requires_grad=True) for (n,) in module.INITIAL_STATES]

    def step(layer, s, inputs, previous, c):  # the step at s (1-based) of layer (0-based)
        p = {name: copies[full][s - 1] for name, full in names[layer].items()}

        def pre(gate):
            return inputs @ p[f"w_{gate}"].T + previous @ p[f"w_{gate.upper()}"].T + p[f"b_{gate}"]
        z, f, o = torch.tanh(pre("z")), torch.sigmoid(pre("f")), torch.sigmoid(pre("o"))
        c = f * c + (1 - f) * z
        return c, o * c

    with torch.no_grad():  # the full forward run: c[layer][s] and h[layer][s], s = 0 .. T
        c_full, h_full, below = [], [], [xs[t] for t in range(T)]
        for layer in range(layers):
            cs, hs = [c0[layer]], [torch.zeros_like(c0[layer])]
            for s in range(1, T + 1):
                previous = below[s - 2] if s > 1 else torch.zeros_like(below[0])
                c, h = step(layer, s, below[s - 1], previous, cs[-1])
                cs.append(c)
                hs.append(h)
            c_full.append(cs)
            h_full.append(hs)
            below = hs[1:]
    total = 0
    for b in range(B):
        outputs = [lengths[b]] if module.OUTPUT == "last" else range(1, lengths[b] + 1)
        for t in outputs:
            start = max(1, t - truncate + 1)
            below = [xs[s - 1, b:b + 1] for s in range(1, t + 1)]
            for layer in range(layers):
                c = c0[layer][b:b + 1] if start == 1 else c_full[layer][start - 1][b:b + 1].detach()
                if start == 1:
                    previous = torch.zeros_like(below[0])
                elif layer == 0:
                    previous = xs[start - 2, b:b + 1]  # x is a leaf: x[t-1] passes its adjoint on
                else:
                    previous = h_full[layer - 1][start - 1][b:b + 1].detach()  # a constant for this window
                outs = [None] * t
                for s in range(start, t + 1):
                    c, outs[s - 1] = step(layer, s, below[s - 1], previous, c)
                    previous = below[s - 1]
                below = outs
            y = below[t - 1] @ head["w_y"].T + head["b_y"]
            d = d_outputs[b] if module.OUTPUT == "last" else d_outputs[t - 1, b]
            total = total + (y * torch.tensor(d)).sum()
    total.backward()

    def grad(tensor):  # None where no window reaches the tensor
        return np.zeros(tuple(tensor.shape)) if tensor.grad is None else tensor.grad.numpy()
    per_step = {full: np.stack([grad(c) for c in tensors]) for full, tensors in copies.items()}
    grads = {full: terms.sum(axis=0) for full, terms in per_step.items()}
    grads.update({name: grad(value) for name, value in head.items()})
    grads.update({n: grad(c) for (n,), c in zip(module.INITIAL_STATES, c0)})
    grads["x"] = grad(xs)
    return grads, per_step


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("output", ["last", "sequence"])
def test_truncated_qrnn_stack_equals_torch_with_the_window_input_detached(layers, output):
    """A stack of cells that read x[t-1], vector units, unequal lengths, K = 1, 2, 3 and K = T."""
    torch = pytest.importorskip("torch")
    torch.set_default_dtype(torch.float64)
    _, module = cached_module("qrnn", layers=layers, output=output)
    T, B, D, H, K = 5, 3, 2, 3, 2
    rng = np.random.default_rng(5)
    params = module.init_params(D, H, K, seed=2)
    x = rng.normal(size=(T, B, D))
    lengths = np.array([5, 2, 4])
    state0 = {n: rng.normal(size=(B, H)) for names in module.INITIAL_STATES for n in names}
    outputs, cache = module.forward(params, x, lengths, state0=state0)
    d_outputs = rng.normal(size=outputs.shape)
    for truncate in (1, 2, 3, T):
        grads = module.backward(params, cache, d_outputs, truncate=truncate, per_step=True)
        expected, per_step = qrnn_window_reference(torch, module, params, x, lengths, state0, d_outputs, truncate)
        assert sorted(expected) == sorted(n for n in grads if n not in ("per_step", "state_adjoints"))
        for name, value in expected.items():
            np.testing.assert_allclose(grads[name], value, atol=1e-12, err_msg=f"{name} K={truncate}")
        for name, terms in per_step.items():
            np.testing.assert_allclose(grads["per_step"][name], terms, atol=1e-12, err_msg=f"{name} K={truncate}")


def test_qrnn_two_layers_one_step_window_leaves_the_first_layer_history_alone():
    """The issue's case: qrnn, 2 layers, output last, T = 3, K = 1. The window
    is step 3: layer 1's copies at steps 1 and 2 and c0_l1 get nothing (layer
    2's x[t-1] at step 3 reads h_l1 at step 2, a constant); x at step 2 does,
    through layer 1's x[t-1] at step 3."""
    _, module = cached_module("qrnn", layers=2, output="last")
    params = module.init_params(2, 4, 1, seed=0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2, 2))
    state0 = {n: rng.normal(size=(2, 4)) for names in module.INITIAL_STATES for n in names}
    outputs, cache = module.forward(params, x, state0=state0)
    grads = module.backward(params, cache, np.ones_like(outputs), truncate=1, per_step=True)
    assert not grads["c0_l1"].any() and not grads["c0_l2"].any()
    for name in module.LAYER_PARAMS[0]:
        assert not grads["per_step"][name][:2].any(), name
    assert not grads["x"][0].any() and grads["x"][1].all() and grads["x"][2].all()
    assert not grads["state_adjoints"]["c_l1"][:2].any()


@pytest.mark.parametrize("layers,output,truncate", [(2, "last", 1), (2, "sequence", 2), (3, "sequence", 1)])
def test_code_derivation_and_copy_roles_read_the_window_alike(layers, output, truncate):
    """Each copy's per-step term of the module is the derivation's chain of
    that copy (``symrnn latex --truncate``: Σ over the outputs whose window
    holds it of ∂C_t/∂θ_k), and a copy that ``symrnn copies --truncate`` calls
    truncated has none: qrnn stacks, whose layer 2 reads layer 1's output one
    step earlier through x[t-1]."""
    from symrnn.copies import CopyAnalysis
    from symrnn.derivation import derivation
    from symrnn.verify import _definition_evaluator, _evaluate_chain

    mpmath.mp.dps = 30
    network, steps = symrnn.network("qrnn", layers=layers, output=output), 3
    wrt = [name for name in network.param_shapes() if name not in ("w_y", "b_y")]
    d = derivation("qrnn", steps, layers=layers, output=output, truncate=truncate, wrt=wrt)
    values, xs, ys, point = scalar_point(network, d.unrolled, steps, seed=4)
    grads = module_gradients(network, d.unrolled, values, xs, ys, truncate)
    _, modules = _reference_functions()
    evaluate = _definition_evaluator(d.unrolled, {s: mpmath.mpf(v) for s, v in point.items()}, modules)
    analysis = CopyAnalysis(network, steps)
    for name in wrt:
        chains = [d.chain(name, k) for k in range(1, steps + 1)]
        expected = [0.0 if c is None else float(_evaluate_chain(d, c, evaluate)) for c in chains]
        terms = grads["per_step"][name].reshape(steps)
        np.testing.assert_allclose(terms, expected, atol=1e-12, err_msg=name)
        roles = [c.role for c in analysis.table(name, truncate).copies if c.param == name]
        assert all(term == 0 for term, role in zip(terms, roles) if role == "truncated"), (name, roles, terms)
