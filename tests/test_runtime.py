"""The generated modules' public functions: semantics of lengths and outputs,
bad input, numerical stability."""

import copy
import functools
import os
import platform
import subprocess
import sys
import warnings

import mpmath
import numpy as np
import pytest

import symrnn
from symrnn.verify import _central_difference

T, B, D, H, K = 5, 3, 4, 6, 2


@pytest.fixture
def lstm(module_for):
    return module_for("lstm", None, None, 1, "sequence", "squared")[1]


@pytest.fixture
def rnn_last(module_for):
    return module_for("rnn", None, None, 2, "last", "xent")[1]


def data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(T, B, D)), rng.normal(size=(T, B, K))


def test_an_item_in_a_padded_batch_equals_the_item_alone(lstm):
    params = lstm.init_params(D, H, K)
    x, y = data()
    lengths = np.array([5, 2, 4])
    outputs, _ = lstm.forward(params, x, lengths)
    loss, grads = lstm.loss_and_grad(params, x, y, lengths)
    _, grads_alone = lstm.loss_and_grad(params, x[:2, 1:2], y[:2, 1:2])
    outputs_alone, _ = lstm.forward(params, x[:2, 1:2])
    np.testing.assert_allclose(outputs[:2, 1], outputs_alone[:, 0], rtol=1e-12)
    assert np.all(outputs[2:, 1] == 0), "no output past an item's length"
    assert np.all(grads["x"][2:, 1] == 0)
    # The whole batch's cost is the sum of the items' costs.
    total = sum(lstm.loss_and_grad(params, x[:n, i:i + 1], y[:n, i:i + 1])[0] for i, n in enumerate(lengths))
    assert loss == pytest.approx(total, rel=1e-12)
    np.testing.assert_allclose(grads["x"][:2, 1], grads_alone["x"][:, 0], rtol=1e-10, atol=1e-14)


def test_last_output_is_taken_at_each_items_own_last_step(rnn_last):
    params = rnn_last.init_params(D, H, K)
    x, _ = data()
    outputs, _ = rnn_last.forward(params, x, np.array([5, 1, 3]))
    alone, _ = rnn_last.forward(params, x[:3, 2:3])
    np.testing.assert_allclose(outputs[2], alone[0], rtol=1e-12)
    np.testing.assert_allclose(outputs.sum(axis=1), 1.0)  # softmax probabilities


def test_backward_equals_loss_and_grad_for_the_same_output_gradient(lstm):
    params = lstm.init_params(D, H, K)
    x, y = data()
    outputs, cache = lstm.forward(params, x)
    _, grads = lstm.loss_and_grad(params, x, y)
    from_outputs = lstm.backward(params, cache, outputs - y)  # dC/do of 1/2 (o - y)^2
    for name in grads:
        np.testing.assert_allclose(from_outputs[name], grads[name], rtol=1e-12, atol=1e-14)
    assert set(grads) == set(params) | {"x", "c0", "h0"}


def test_initial_state_is_used_and_differentiated(lstm):
    params = lstm.init_params(D, H, K)
    x, y = data()
    h0 = np.full((B, H), 0.3)
    loss_zero, _ = lstm.loss_and_grad(params, x, y)
    loss_h0, grads = lstm.loss_and_grad(params, x, y, state0={"h0": h0})
    assert loss_zero != loss_h0 and grads["h0"].shape == (B, H)


def expect_error(match, function, *args, **kwargs):
    with pytest.raises(ValueError, match=match) as info:
        function(*args, **kwargs)
    assert type(info.value).__name__ == "InputError"


def test_bad_inputs_name_what_is_wrong(lstm):
    params = lstm.init_params(D, H, K)
    x, y = data()
    expect_error(r"x has shape \(5, 3\); expected \(T, B, D=4\)", lstm.forward, params, x[:, :, 0])
    expect_error(r"x has shape \(5, 3, 7\); expected \(T, B, D=4\)", lstm.forward, params, np.ones((T, B, 7)))
    expect_error(r"lengths\[1\] = 6 is outside 1..T = 1..5", lstm.forward, params, x, np.array([5, 6, 1]))
    expect_error(r"lengths\[2\] = 0 is outside", lstm.forward, params, x, np.array([5, 1, 0]))
    expect_error(r"lengths has shape \(2,\); expected \(3,\)", lstm.forward, params, x, np.array([5, 1]))
    expect_error("lengths must be integers", lstm.forward, params, x, np.array([5.0, 1.0, 2.0]))
    expect_error(r"x has a non-finite value at index \(1, 2, 3\)", lstm.forward, params,
                 np.where(np.arange(T * B * D).reshape(T, B, D) == 1 * B * D + 2 * D + 3, np.nan, x))
    expect_error("x must be a real numeric array", lstm.forward, params, x.astype(complex))
    expect_error(r"y has shape \(3, 2\); expected \(T=5, B=3, K=2\)", lstm.loss_and_grad, params, x, y[0])
    expect_error("y has a non-finite value", lstm.loss_and_grad, params, x, np.full_like(y, np.inf))
    expect_error(r"state0 has unknown names \['a0'\]", lstm.forward, params, x, state0={"a0": np.zeros((B, H))})
    expect_error(r"state0\['h0'\] has shape \(3, 5\)", lstm.forward, params, x, state0={"h0": np.zeros((B, 5))})


def test_forward_keeps_only_what_backward_reads_of_the_output_layer(lstm):
    """The cost's pre-activations are not kept by forward() (backward() does not
    read them); loss_and_grad() keeps them and agrees with backward()."""
    params = lstm.init_params(D, H, K)
    x, y = data()
    outputs, cache = lstm.forward(params, x)
    assert set(cache["head"]) == {"top", "mask"}
    loss, grads = lstm.loss_and_grad(params, x, y)
    assert loss == pytest.approx(0.5 * np.sum((outputs - y) ** 2), rel=1e-12)
    from_outputs = lstm.backward(params, cache, outputs - y)
    for name in grads:
        np.testing.assert_allclose(from_outputs[name], grads[name], rtol=1e-12, atol=1e-14)


def test_bad_parameters_name_what_is_wrong(lstm):
    params = lstm.init_params(D, H, K)
    x, _ = data()
    missing = {k: v for k, v in params.items() if k != "w_G"}
    expect_error(r"missing \['w_G'\]", lstm.forward, missing, x)
    expect_error(r"unexpected \['w_Q'\]", lstm.forward, {**params, "w_Q": params["w_G"]}, x)
    expect_error(r"w_F has shape \(6, 5\); expected \(H=6, H=6\)", lstm.forward,
                 {**params, "w_F": np.zeros((H, 5))}, x)
    expect_error("parameter b_o has non-finite", lstm.forward, {**params, "b_o": np.full(H, np.nan)}, x)
    expect_error("w_f must be a float32 or float64 array, got list", lstm.forward,
                 {**params, "w_f": params["w_f"].tolist()}, x)
    expect_error("is float32 but the others are float64", lstm.forward,
                 {**params, "b_f": params["b_f"].astype(np.float32)}, x)
    expect_error("size H must be a positive integer", lstm.init_params, D, 0, K)
    expect_error("dtype must be float32 or float64", lstm.init_params, D, H, K, dtype=np.int32)


def test_fast_parameter_check_passes_exactly_what_the_full_check_passes(lstm):
    params = lstm.init_params(D, H, K)
    big = np.zeros((H, D))
    big[0, 0] = 1e308
    huge = {**params, "w_f": big, "w_i": big}  # each sum is finite, their sum is not
    cases = [
        params,
        lstm.init_params(D, H, K, dtype=np.float32),
        huge,
        {k: v for k, v in params.items() if k != "w_G"},
        {**params, "w_Q": params["w_G"]},
        {**{k: v for k, v in params.items() if k != "w_G"}, "w_Q": params["w_G"]},
        {**params, "w_F": np.zeros((H, 5))},
        {**params, "w_F": np.zeros((H, H, 1))},
        {**params, "b_o": np.full(H, np.nan)},
        {**params, "b_o": np.r_[np.inf, -np.inf, np.zeros(H - 2)]},
        {**params, "w_f": params["w_f"].tolist()},
        {**params, "w_f": params["w_f"].astype(np.int64)},
        {**params, "w_f": params["w_f"].astype(np.float16)},
        {**params, "b_f": params["b_f"].astype(np.float32)},
        {**params, "w_f": params["w_f"].view(type("Subclass", (np.ndarray,), {}))},
        list(params.values()),
    ]
    for case in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fast = lstm._params_if_valid(case)
            try:
                full = lstm._diagnose_params(case)
            except lstm.InputError:
                full = None
        assert fast is None or fast == full, (fast, full)
    assert lstm._params_if_valid(params) == lstm._diagnose_params(params)
    assert lstm._params_if_valid(huge) is None and lstm._diagnose_params(huge) is not None


def test_backward_checks_its_arguments(lstm):
    params = lstm.init_params(D, H, K)
    x, _ = data()
    outputs, cache = lstm.forward(params, x)
    expect_error(r"d_outputs has shape \(5, 3\)", lstm.backward, params, cache, outputs[..., 0])
    expect_error("cache must be the second value returned by forward", lstm.backward, params, {}, outputs)
    other = lstm.init_params(D, 7, K)
    expect_error("cache was made with H=6, params have H=7", lstm.backward, other, cache, outputs)


@pytest.mark.parametrize("cell,variant,loss", [("lstm", None, "xent"), ("gru", "pytorch", "xent"),
                                                ("rnn", None, "squared")])
def test_huge_pre_activations_neither_overflow_nor_give_nan(module_for, cell, variant, loss):
    _, module = module_for(cell, variant, None, 1, "sequence", loss)
    params = {k: v * 1e3 for k, v in module.init_params(D, H, K).items()}  # pre-activations ~ +-1e3
    x, y = data()
    x *= 1e3
    if loss == "xent":
        y = np.eye(K)[np.zeros((T, B), dtype=int)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            loss_value, grads = module.loss_and_grad(params, x, y)
    assert np.isfinite(loss_value) and all(np.isfinite(g).all() for g in grads.values())


def test_stable_sigmoid_and_log_softmax_helpers(module_for):
    _, module = module_for("rnn", None, "sigmoid", 1, "sequence", "xent")
    z = np.array([-1e3, -40.0, 0.0, 40.0, 1e3])
    with np.errstate(over="raise", invalid="raise"):
        s = module._sigmoid(z)
        lp = module._log_softmax(np.array([[1e3, 0.0, -1e3]]))
    np.testing.assert_allclose(s, [0.0, np.exp(-40.0) / (1 + np.exp(-40.0)), 0.5, 1 / (1 + np.exp(-40.0)), 1.0])
    np.testing.assert_allclose(lp, [[0.0, -1e3, -2e3]])


# --------------------------------------------------------------------------
# The cache shares no memory with the caller's arrays (issue 10, item 4)
# --------------------------------------------------------------------------

ALIAS_CASES = [
    ("lstm", None, 1, "sequence", "squared", "identity"),
    ("lstm", None, 2, "last", "xent", "softmax"),
    ("gru", None, 1, "last", "squared", "sigmoid"),
    ("gru", "pytorch", 2, "sequence", "xent", "softmax"),
    ("rnn", None, 2, "sequence", "squared", "sigmoid"),
    ("rnn", None, 1, "last", "squared", "identity"),
    ("rnn", None, 1, "states", "squared", "identity"),
    ("lstm", None, 2, "states", "squared", "identity"),
]


@functools.cache
def module_with_head(cell, variant, layers, output, loss, out_activation):
    net = symrnn.network(cell, variant=variant, layers=layers, output=output, loss=loss,
                         out_activation=out_activation)
    return symrnn.load_module(net)


def caller_arrays(module, dtype, seed=1, padded=True):
    rng = np.random.default_rng(seed)
    params = {k: v * 1.5 for k, v in module.init_params(D, H, K, seed=seed, dtype=dtype).items()}
    x = rng.normal(size=(T, B, D)).astype(dtype)
    lengths = np.array([T, 2, 4] if padded else [T] * B)
    state0 = {name: rng.normal(size=(B, H)).astype(dtype) for names in module.INITIAL_STATES for name in names}
    return params, x, lengths, state0


def arrays_in(value):
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from arrays_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from arrays_in(item)


@pytest.mark.parametrize("case", ALIAS_CASES, ids=lambda case: "-".join(str(c) for c in case))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("padded", [True, False], ids=["padded", "full-length"])
def test_changing_the_callers_arrays_after_forward_changes_no_gradient(case, dtype, padded):
    """x, every initial state, lengths, every parameter and the outputs changed
    in place between forward() and backward(): backward() returns exactly what
    it returns for an untouched run, and the cache shares memory with none of
    the caller's arrays. Outputs that are the cache's own memory (the states
    themselves, ``--output states`` without padding; a softmax's or sigmoid's
    values, which its backward reads) are read-only instead: changing them
    raises. backward() reads the caller's d_outputs without writing to it."""
    module = module_with_head(*case)
    params, x, lengths, state0 = caller_arrays(module, dtype, padded=padded)
    clean = copy.deepcopy((params, x, lengths, state0))
    outputs, cache = module.forward(*clean[:2], clean[2], clean[3])
    d_outputs = np.random.default_rng(2).normal(size=outputs.shape).astype(dtype)
    d_given = d_outputs.copy()
    expected = module.backward(clean[0], cache, d_outputs)
    np.testing.assert_array_equal(d_outputs, d_given)

    outputs, cache = module.forward(params, x, lengths, state0)
    callers = [x, lengths, *state0.values(), *params.values()]
    shared = any(np.may_share_memory(kept, outputs) for kept in arrays_in(cache))
    for kept in arrays_in(cache):
        for array in callers:
            assert not np.may_share_memory(kept, array)
    x[:] = x[::-1] * 3  # a permutation, then a scale
    lengths[:] = 1
    assert outputs.flags.writeable == (not shared)
    if shared:
        with pytest.raises(ValueError, match="read-only"):
            outputs *= -7
    else:
        outputs *= -7
    for array in [*state0.values(), *params.values()]:
        array *= 0.5
        array += 1
    grads = module.backward(params, cache, d_outputs)
    assert set(grads) == set(expected)
    for name in expected:
        np.testing.assert_array_equal(grads[name], expected[name], err_msg=name)


def test_forward_copies_x_only_where_no_conversion_copied_it(lstm):
    params = lstm.init_params(D, H, K)
    x, _ = data()
    _, cache = lstm.forward(params, x)
    assert not np.may_share_memory(cache["layers"][0]["inputs"], x)
    # loss_and_grad() runs backward at once: it neither copies x nor the parameters.
    for given in (x.astype(np.float32), x.tolist(), x.astype(np.int64)):
        outputs, cache = lstm.forward(params, given)
        np.testing.assert_allclose(outputs, lstm.forward(params, np.asarray(given, float))[0])
    assert set(cache["params"]) == set(lstm.BACKWARD_PARAMS) < set(params)


def test_backward_differentiates_at_the_parameters_forward_ran_with(lstm):
    params = lstm.init_params(D, H, K)
    other = lstm.init_params(D, H, K, seed=7)
    x, y = data()
    outputs, cache = lstm.forward(params, x)
    _, grads = lstm.loss_and_grad(params, x, y)
    from_other = lstm.backward(other, cache, outputs - y)  # same names, sizes and dtype
    for name in grads:
        np.testing.assert_allclose(from_other[name], grads[name], rtol=1e-12, atol=1e-14)


def test_backward_checks_the_parameters_shapes_and_dtype_not_their_values(lstm):
    """backward() reads forward()'s copies: the values of its ``params`` are not read, so not
    summed for a finiteness test (a cost at small sizes); their names, shapes and dtype are."""
    params = lstm.init_params(D, H, K)
    x, y = data()
    outputs, cache = lstm.forward(params, x)
    grads = lstm.backward(params, cache, outputs - y)
    with_nan = lstm.backward({**params, "b_o": np.full(H, np.nan)}, cache, outputs - y)
    assert all(np.array_equal(with_nan[name], grads[name]) for name in grads)
    expect_error(r"b_o", lstm.backward, {**params, "b_o": np.zeros(H + 1)}, cache, outputs - y)
    expect_error(r"float32 or float64|dtype", lstm.backward, {**params, "b_o": np.zeros(H, int)}, cache, outputs - y)


# --------------------------------------------------------------------------
# One except for every generated module's input errors (issue 10, item 8)
# --------------------------------------------------------------------------


def test_one_except_catches_every_generated_modules_input_errors(module_for):
    modules = [module_for("lstm")[1], module_for("gru", "pytorch", None, 2, "sequence", "xent")[1],
               module_with_head("rnn", None, 1, "last", "squared", "sigmoid")]
    for module in modules:
        assert module.InputError is symrnn.InputError
        params = module.init_params(D, H, K)
        for bad_call in (lambda: module.forward(params, np.zeros((T, B, D + 1))),
                         lambda: module.init_params(D, 0, K),
                         lambda: module.forward({**params, "b_y": params["b_y"][:1]}, np.zeros((T, B, D)))):
            with pytest.raises(symrnn.InputError):
                bad_call()
            with pytest.raises(ValueError):
                bad_call()
    assert issubclass(symrnn.InputError, ValueError) and issubclass(symrnn.InputError, symrnn.SymrnnError)
    assert "InputError" in symrnn.__all__


def test_a_module_without_symrnn_defines_its_own_value_error(tmp_path):
    """Where symrnn cannot be imported the module stands alone: its InputError
    is a ValueError of its own."""
    path = symrnn.write_module(symrnn.network("rnn"), tmp_path / "alone.py")
    script = (
        "import sys; sys.modules['symrnn'] = None\n"  # import symrnn now raises ImportError
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import numpy as np, alone\n"
        "assert alone.InputError.__module__ == 'alone' and issubclass(alone.InputError, ValueError)\n"
        "try:\n"
        "    alone.forward(alone.init_params(2, 3, 1), np.zeros((2, 1, 5)))\n"
        "except ValueError as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("InputError x has shape (2, 1, 5)")


def test_a_module_loaded_before_symrnn_raises_symrnns_error_without_loading_sympy(tmp_path):
    """The module takes symrnn.InputError where symrnn is installed, whichever
    is imported first, and that import does not load SymPy (symrnn's package
    imports everything else lazily)."""
    symrnn.write_module(symrnn.network("rnn"), tmp_path / "first.py")
    script = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
        "import numpy as np, first\n"
        "assert 'sympy' not in sys.modules\n"
        "import symrnn\n"
        "try:\n"
        "    first.forward(first.init_params(2, 3, 1), np.zeros((2, 1, 5)))\n"
        "except symrnn.InputError as error:\n"
        "    print('caught', error)\n"
        "assert callable(symrnn.network) and symrnn.network('rnn').cell.name == 'rnn'\n"
        "import symrnn.network\n"
        "assert callable(symrnn.network)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("caught x has shape (2, 1, 5)")


@pytest.mark.parametrize("cast", [["w_f"], ["w_F"], ["b_y"], ["w_f", "b_o"]])
def test_a_dtype_message_names_the_parameters_that_differ(lstm, cast):
    params = lstm.init_params(D, H, K)
    x, _ = data()
    mixed = {k: v.astype(np.float32) if k in cast else v for k, v in params.items()}
    listed = ", ".join(cast)
    verb = "is" if len(cast) == 1 else "are"
    expect_error(rf"^parameters? {listed} {verb} float32 but the others are float64", lstm.forward, mixed, x)
    # The same where most are float32: the float64 ones are named.
    mixed = {k: v if k in cast else v.astype(np.float32) for k, v in params.items()}
    expect_error(rf"^parameters? {listed} {verb} float64 but the others are float32", lstm.forward, mixed, x)


def test_a_dtype_message_names_both_halves_when_they_are_as_many(lstm):
    params = lstm.init_params(D, H, K)
    names = list(params)
    half = names[:len(names) // 2]
    mixed = {k: v.astype(np.float32) if k in half else v for k, v in params.items()}
    with pytest.raises(symrnn.InputError) as info:
        lstm.forward(mixed, data()[0])
    message = str(info.value)
    assert all(name in message for name in names) and "float32" in message and "float64" in message


# --------------------------------------------------------------------------
# Activations to a few ulp over the whole range (issue 10, item 5)
# --------------------------------------------------------------------------

mpmath.mp.prec = 120


def magnitudes(dtype):
    """0, -0 and +-10^e for e from 1e-300 (float32: its smallest normal) to 1e3,
    with the ranges where results turn subnormal: more than 1000 values."""
    low, per_decade = (-300, 2) if dtype == np.float64 else (-37, 12)
    positive = np.concatenate([np.logspace(low, 3, (3 - low) * per_decade + 1), np.linspace(700, 760, 31),
                               np.linspace(80, 110, 31)])
    return np.concatenate([-positive, [-0.0, 0.0], positive]).astype(dtype)


def exact(function, u):
    """``function`` of each value by mpmath, rounded to u's dtype."""
    return np.array([float(function(mpmath.mpf(float(v)))) for v in u.ravel()]).astype(u.dtype).reshape(u.shape)


def mp_sigmoid(v):
    return 1 / (1 + mpmath.exp(-v))


def ulp_error(got, want):
    """|got - want| in units of the spacing of floats at want (in got's dtype)."""
    assert got.dtype == want.dtype
    return np.abs(got.astype(float) - want.astype(float)) / np.spacing(np.abs(want)).astype(float)


def assert_ulps(got, want, ulps, *, flushed=None):
    """At most ``ulps`` ulp, except where ``flushed``: results that the fused
    store flushes to 0 because they are below the smallest normal number."""
    error = ulp_error(got, want)
    if flushed is not None:
        tiny = np.finfo(got.dtype).tiny
        assert np.all(np.abs(got[flushed] - want[flushed]) < tiny)
        error[flushed] = 0
    worst = int(np.argmax(error))
    assert error.max() <= ulps, (got.ravel()[worst], want.ravel()[worst], error.max())
    return error.max()


@functools.cache
def one_unit(cell):
    return symrnn.load_module(symrnn.network(cell, output="sequence"))


def gates_of(u, dtype):
    """An LSTM with D = H = 1 whose four gate pre-activations are u, one item
    per value: one forward over the fused expm1 store (f, i, o: sigmoid; g:
    tanh) and the tanh helper (tanh(c)), under warnings turned into errors."""
    module = one_unit("lstm")
    params = {k: np.zeros_like(v) for k, v in module.init_params(1, 1, 1, dtype=dtype).items()}
    for name in ("w_f", "w_i", "w_g", "w_o"):
        params[name][:] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            _, cache = module.forward(params, u.reshape(1, -1, 1))
    layer = cache["layers"][0]
    return {name: np.asarray(layer[name]).ravel() for name in ("f", "i", "g", "o", "tanh_c")}, layer["c"][1].ravel()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size", ["above", "below"])
def test_generated_gates_are_within_a_few_ulp_of_exact(dtype, size):
    """The fused store and the tanh helper as a generated LSTM runs them, above
    and below the helper's threshold of 1000 values, against mpmath."""
    u = magnitudes(dtype)
    u = u if size == "above" else u[::2][:999]
    assert (u.size >= 1000) == (size == "above")
    gates, c = gates_of(u, dtype)
    tiny = np.finfo(dtype).tiny
    sigmoid_u = exact(mp_sigmoid, u)
    for name in ("f", "i", "o"):
        assert_ulps(gates[name], sigmoid_u, 3, flushed=sigmoid_u < tiny)
    assert_ulps(gates["g"], exact(mpmath.tanh, u), 3)
    assert_ulps(gates["tanh_c"], exact(mpmath.tanh, c), 3)
    assert gates["g"][np.argmax(u)] == 1 and gates["g"][np.argmin(u)] == -1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_lone_sigmoid_from_its_exp_form_is_within_a_few_ulp_of_exact(dtype):
    """MGU's forget gate f = sigmoid(u), alone in its store (the exp form, not
    the helper), with D = H = 1 and u the input, one item per value, under
    warnings turned into errors: flushed to 0 only below the smallest normal."""
    module = one_unit("mgu")
    params = {k: np.zeros_like(v) for k, v in module.init_params(1, 1, 1, dtype=dtype).items()}
    params["w_f"][:] = 1
    u = magnitudes(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            _, cache = module.forward(params, u.reshape(1, -1, 1))
    got, want = np.asarray(cache["layers"][0]["f"]).ravel(), exact(mp_sigmoid, u)
    assert got.dtype == dtype
    assert_ulps(got, want, 3, flushed=want < np.finfo(dtype).tiny)


def test_the_tanh_helper_is_numpys_own_where_its_float64_loop_is_vectorised():
    """np.tanh where NumPy reports a SIMD float64 loop (AVX2, AVX-512), else the expm1 form."""
    module = one_unit("rnn")
    assert module._tanh is (np.tanh if module._numpy_tanh_is_vectorised() else module._tanh_from_expm1)
    script = ("import numpy as np, symrnn; m = symrnn.load_module(symrnn.network('rnn')); "
              "print(m._numpy_tanh_is_vectorised(), m._tanh is np.tanh)")
    if platform.machine() not in ("x86_64", "AMD64"):
        return  # the features switched off below are x86's
    # NumPy's own switch for its CPU dispatch: without AVX2 and AVX-512 its tanh loop is the baseline one
    disabled = "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR X86_V4 AVX2 FMA3 X86_V3"
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": disabled}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode == 0 and result.stdout.split() == ["False", "False"], result.stderr


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_tanh_helper_is_within_a_few_ulp_of_exact(dtype):
    """The standalone helper (expm1 form for float64 from 1000 values; np.tanh
    otherwise) and the RNN state it computes in place."""
    module = one_unit("rnn")
    u = magnitudes(dtype)
    for z in (u, u[:500], np.tile(u, 2)):
        for tanh in (module._tanh, module._tanh_from_expm1):  # the one this machine uses, and the expm1 form
            with np.errstate(over="ignore", divide="ignore"):
                got = tanh(z.copy())
            assert_ulps(got, exact(mpmath.tanh, z), 3)
            assert np.signbit(got[z == 0]).tolist() == np.signbit(z[z == 0]).tolist()  # tanh(-0) = -0
    params = {k: np.zeros_like(v) for k, v in module.init_params(1, 1, 1, dtype=dtype).items()}
    params["w_x"][:] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, cache = module.forward(params, u.reshape(1, -1, 1))
    assert_ulps(cache["layers"][0]["a"][1].ravel(), exact(mpmath.tanh, u), 3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_sigmoid_helper_is_within_a_few_ulp_of_exact(dtype):
    module = module_with_head("rnn", None, 1, "sequence", "squared", "sigmoid")
    u = magnitudes(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = module._sigmoid(u)
    assert_ulps(got, exact(mp_sigmoid, u), 3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_softmax_is_within_a_few_ulp_of_exact(dtype):
    """Rows of every spread, down to log-probabilities near 0 (a probability
    near 1), against mpmath at the rows' exact values."""
    module = module_with_head("rnn", None, 1, "sequence", "xent", "softmax")
    rng = np.random.default_rng(3)
    rows = np.concatenate([rng.normal(size=(20, 5)) * scale for scale in
                           (1e-300, 1e-20, 1e-5, 1, 10, 30, 100, 700, 1e3, 1e5)]).astype(dtype)
    rows = np.concatenate([rows, np.array([[1e3, 0, -1e3, 3, 3], [50.3, 0.1, 0.1, -5, 50.3]], dtype)])

    def row_log_softmax(row):
        row = [mpmath.mpf(float(v)) for v in row]
        m = max(row)
        top = row.index(m)
        rest = mpmath.log1p(mpmath.fsum(mpmath.exp(v - m) for k, v in enumerate(row) if k != top))
        return [float((v - m) - rest) for v in row]

    want = np.array([row_log_softmax(row) for row in rows]).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = module._log_softmax(rows)
    assert_ulps(got, want, 3)


@pytest.mark.parametrize("cell,variant,loss", [("lstm", None, "xent"), ("gru", None, "squared"),
                                                ("gru", "pytorch", "xent"), ("rnn", None, "squared")])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_huge_inputs_raise_no_warning_through_forward_and_backward(module_for, cell, variant, loss, dtype):
    _, module = module_for(cell, variant, None, 2, "sequence", loss)
    params = module.init_params(D, H, K, dtype=dtype)
    x, y = data()
    x = (x * 1e6).astype(dtype)
    d_outputs = np.random.default_rng(4).normal(size=(T, B, K)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            outputs, cache = module.forward(params, x)
            grads = module.backward(params, cache, d_outputs)
            zero_outputs, _ = module.forward(params, np.zeros_like(x))  # tanh(0) through 2/0
    assert np.isfinite(outputs).all() and np.isfinite(zero_outputs).all()
    assert all(np.isfinite(g).all() for g in grads.values())


# --------------------------------------------------------------------------
# The final states' adjoints: a loss that reads the states a run ends with
# --------------------------------------------------------------------------


@pytest.mark.parametrize("cell,layers,output", [("lstm", 2, "sequence"), ("gru", 1, "last"), ("qrnn", 2, "states"),
                                                ("tests/cells/scrn.cell", 2, "last")])
def test_final_state_adjoints_seed_backward_as_finite_differences_say(module_for, cell, layers, output):
    """C = <d, outputs> + sum over states of <d_final, final state>, unequal
    lengths: backward(..., d_final_states=...) gives its every gradient."""
    _, module = module_for(cell, None, None, layers, output, "squared")
    params = module.init_params(3, 4, 2, seed=0) if output != "states" else module.init_params(3, 4, seed=0)
    rng = np.random.default_rng(0)
    x, lengths = rng.normal(size=(5, 3, 3)), np.array([5, 2, 4])
    state0 = {name: rng.normal(size=(3, 4)) for names in module.INITIAL_STATES for name in names}
    outputs, cache = module.forward(params, x, lengths, state0)
    d = rng.normal(size=outputs.shape)
    d_final = {name: rng.normal(size=value.shape) for name, value in module.final_states(cache).items()}
    grads = module.backward(params, cache, d, d_final_states=d_final)

    def cost():
        outputs, cache = module.forward(params, x, lengths, state0)
        finals = module.final_states(cache)
        return float(np.sum(d * outputs) + sum(np.sum(d_final[n] * finals[n]) for n in finals))

    for name, array in {**params, "x": x, **state0}.items():
        fd, _ = _central_difference(cost, array)
        np.testing.assert_allclose(grads[name], fd, rtol=1e-6, atol=1e-8, err_msg=name)
    without = module.backward(params, cache, d)
    assert not np.allclose(without["x"], grads["x"])  # the seeds change the gradients


def test_final_state_adjoints_refuse_bad_input(module_for):
    _, module = module_for("lstm", None, None, 1, "sequence", "squared")
    params = module.init_params(2, 3, 1)
    outputs, cache = module.forward(params, np.zeros((4, 2, 2)))
    with pytest.raises(symrnn.InputError, match=r"d_final_states has unknown names \['h1'\]"):
        module.backward(params, cache, outputs, d_final_states={"h1": np.zeros((2, 3))})
    with pytest.raises(symrnn.InputError, match=r"d_final_states\['c0'\] has shape \(2, 4\)"):
        module.backward(params, cache, outputs, d_final_states={"c0": np.zeros((2, 4))})
    with pytest.raises(symrnn.InputError, match="d_final_states goes with full BPTT only"):
        module.backward(params, cache, outputs, truncate=2, d_final_states={"c0": np.zeros((2, 3))})
