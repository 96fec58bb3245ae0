"""Weights between torch.nn.RNN/LSTM/GRU and symrnn networks (symrnn.interop)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import symrnn
from symrnn.errors import ConfigError
from symrnn.interop import from_torch, network_of, to_torch

T, B, D, H, K = 5, 3, 4, 6, 2

MODULES = {
    "lstm": lambda layers, **kw: torch.nn.LSTM(D, H, layers, **kw),
    "gru": lambda layers, **kw: torch.nn.GRU(D, H, layers, **kw),
    "rnn_tanh": lambda layers, **kw: torch.nn.RNN(D, H, layers, **kw),
    "rnn_relu": lambda layers, **kw: torch.nn.RNN(D, H, layers, nonlinearity="relu", **kw),
}


def make(kind, layers, seed=0, **kw):
    torch.manual_seed(seed)
    module = MODULES[kind](layers, dtype=torch.float64, **kw)
    linear = torch.nn.Linear(H, K, dtype=torch.float64)
    with torch.no_grad():  # nonzero biases everywhere, so a wrongly paired bias shows
        for p in [*module.parameters(), *linear.parameters()]:
            p.uniform_(-0.6, 0.6)
    return module, linear


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("kind", sorted(MODULES))
def test_the_symrnn_module_computes_what_torch_computes(kind, layers):
    module, linear = make(kind, layers)
    x = torch.randn(T, B, D, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out, final = module(x)
    finals = final if isinstance(final, tuple) else (final,)  # LSTM: (h_n, c_n)
    generated = symrnn.generate(network_of(module, output="sequence"), load=True)
    outputs, cache = generated.forward(from_torch(module, linear), x.numpy())
    np.testing.assert_allclose(outputs, linear(out).detach().numpy(), rtol=0, atol=1e-13)
    states = generated.final_states(cache)
    names = {"h_n": "h", "c_n": "c"} if kind == "lstm" else {"h_n": "h" if kind == "gru" else "a"}
    for value, state in zip(finals, names.values()):
        for layer in range(1, layers + 1):
            name = f"{state}0" if layers == 1 else f"{state}0_l{layer}"
            np.testing.assert_allclose(states[name], value[layer - 1].detach().numpy(), rtol=0, atol=1e-13)


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_symrnn_to_torch_and_back_is_exact_bit_for_bit(kind):
    module, linear = make(kind, 2)
    params = from_torch(module, linear)
    rng = np.random.default_rng(3)
    params = {name: rng.standard_normal(value.shape) for name, value in params.items()}
    params["b_y"][0] = -0.0  # even the sign of a zero survives
    back = from_torch(to_torch(params, module, linear), linear)
    assert sorted(back) == sorted(params)
    for name, value in params.items():
        assert back[name].tobytes() == value.tobytes(), name


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_torch_to_symrnn_and_back_keeps_weights_and_the_function(kind):
    module, linear = make(kind, 2)
    x = torch.randn(T, B, D, dtype=torch.float64)
    before = module(x)[0].detach().clone()
    weights = {n: p.detach().clone() for n, p in module.named_parameters() if n.startswith("weight")}
    to_torch(from_torch(module, linear), module, linear)
    for name, value in module.named_parameters():
        if name.startswith("weight"):
            assert torch.equal(value, weights[name]), name
    torch.testing.assert_close(module(x)[0], before, rtol=0, atol=1e-14)


def test_the_names_and_cells_match_the_generated_modules():
    module, _ = make("gru", 2)
    net = network_of(module)
    assert (net.cell.name, net.layers) == ("gru_pytorch", 2)
    assert set(from_torch(module)) == {full for layer in (1, 2) for _, full in net.layer_params(layer)}
    gru = from_torch(module)
    H_rows = slice(2 * H, 3 * H)  # the candidate n keeps its pair apart: b_in -> b_g, b_hn -> b_G
    np.testing.assert_array_equal(gru["b_g_l1"], module.bias_ih_l0[H_rows].detach().numpy())
    np.testing.assert_array_equal(gru["b_G_l1"], module.bias_hh_l0[H_rows].detach().numpy())
    np.testing.assert_array_equal(gru["b_r_l1"], (module.bias_ih_l0[:H] + module.bias_hh_l0[:H]).detach().numpy())


def test_tensors_stay_on_the_module_device_and_dtype():
    module = torch.nn.LSTM(D, H, dtype=torch.float32)
    params = from_torch(module, tensors=True)
    assert all(isinstance(v, torch.Tensor) and v.dtype == torch.float32 and not v.requires_grad
               for v in params.values())
    assert from_torch(module)["w_f"].dtype == np.float32


def test_a_module_without_biases_reads_as_zero_biases_and_refuses_nonzero_ones():
    module = torch.nn.LSTM(D, H, bias=False, dtype=torch.float64)
    params = from_torch(module)
    assert np.all(params["b_f"] == 0)
    to_torch(params, module)
    params["b_f"] = params["b_f"] + 1
    with pytest.raises(ConfigError, match="bias=False, but b_i is not zero|bias=False, but b_f is not zero"):
        to_torch(params, module)


@pytest.mark.parametrize("module, message", [
    (lambda: torch.nn.LSTM(D, H, bidirectional=True), "bidirectional=True: .* symrnn.nn takes"),
    (lambda: torch.nn.Linear(D, H), "expected a torch.nn.RNN, LSTM or GRU, got Linear"),
])
def test_modules_without_a_symrnn_cell_are_refused(module, message):
    with pytest.raises(ConfigError, match=message):
        from_torch(module())


def test_parameters_that_do_not_fit_are_refused_by_name():
    module, linear = make("lstm", 1)
    good = from_torch(module, linear)
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    cases = [
        ({k: v for k, v in good.items() if k != "w_F"}, "missing w_F"),
        ({**good, "w_q": good["w_f"]}, "unknown w_q"),
        ({**good, "w_f": good["w_f"][:, :2]}, r"w_f has shape \(6, 2\); the module needs \(6, 4\)"),
        ({**good, "b_o": np.full(H, np.nan)}, "b_o must hold finite"),
        ({**good, "w_y": good["w_y"].astype(int)}, "w_y must hold finite floating-point"),
    ]
    for params, message in cases:
        with pytest.raises(ConfigError, match=message):
            to_torch(params, module, linear)
    # every check comes before the first write: a refused call changes nothing
    assert all(torch.equal(p, before[n]) for n, p in module.named_parameters())


@pytest.mark.parametrize("layers", [1, 2])
def test_an_lstm_with_proj_size_is_the_lstmp_cell(layers):
    """nn.LSTM(proj_size=P) reads into lstmp (weight_hr -> w_r, the gates'
    recurrent weights H x P), computes what torch computes, and round-trips
    bit for bit."""
    torch.manual_seed(0)
    P = 3
    module = torch.nn.LSTM(D, H, layers, proj_size=P, dtype=torch.float64)
    linear = torch.nn.Linear(P, K, dtype=torch.float64)
    with torch.no_grad():
        for p in [*module.parameters(), *linear.parameters()]:
            p.uniform_(-0.6, 0.6)
    net = network_of(module, output="sequence")
    assert net.cell.name == "lstmp"
    params = from_torch(module, linear)
    assert params["w_F" if layers == 1 else "w_F_l2"].shape == (H, P)
    assert params["w_r" if layers == 1 else "w_r_l2"].shape == (P, H)
    x = torch.randn(T, B, D, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out, (h_n, c_n) = module(x)
    generated = symrnn.generate(net, load=True)
    outputs, cache = generated.forward(params, x.numpy())
    np.testing.assert_allclose(outputs, linear(out).detach().numpy(), rtol=0, atol=1e-13)
    states = generated.final_states(cache)
    suffix = "" if layers == 1 else f"_l{layers}"
    np.testing.assert_allclose(states[f"r0{suffix}"], h_n[-1].detach().numpy(), rtol=0, atol=1e-13)
    np.testing.assert_allclose(states[f"c0{suffix}"], c_n[-1].detach().numpy(), rtol=0, atol=1e-13)
    rng = np.random.default_rng(3)
    params = {name: rng.standard_normal(value.shape) for name, value in params.items()}
    back = from_torch(to_torch(params, module, linear), linear)
    assert all(back[name].tobytes() == value.tobytes() for name, value in params.items())


@pytest.mark.parametrize("options, message", [
    ({"batch_first": True}, r"batch_first=True \(a network takes x time-major"),
    ({"dropout": 0.25}, r"dropout=0.25 \(a network has no dropout between layers\)"),
])
def test_settings_a_network_would_not_carry_are_refused_by_name(options, message):
    module = torch.nn.LSTM(D, H, 2, **options)
    with pytest.raises(ConfigError, match=message + ".*symrnn.nn carries every setting"):
        network_of(module)
    assert sorted(from_torch(module)) == sorted(from_torch(torch.nn.LSTM(D, H, 2)))  # the weights alone move

