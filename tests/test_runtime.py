"""The generated modules' public functions: semantics of lengths and outputs,
bad input, numerical stability."""

import warnings

import numpy as np
import pytest

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
