"""The PyTorch-form GRU and the LSTM against torch.nn.GRU and torch.nn.LSTM:
same states and same gradients for the same weights. PyTorch is not a
dependency of symrnn; this runs where it is installed (pip install torch)."""

import numpy as np
import pytest

import symrnn

torch = pytest.importorskip("torch")

T, B, D, H = 6, 3, 4, 5

# PyTorch stacks gate blocks in its own order and keeps an input and a
# recurrent bias for every gate; symrnn has one bias where only the sum matters.
TORCH_ORDER = {"gru": "rzn", "lstm": "ifgo"}


def gate_blocks(kind, array):
    """PyTorch's stacked gate blocks by gate letter."""
    return dict(zip(TORCH_ORDER[kind], np.split(array, len(TORCH_ORDER[kind]))))


def symrnn_params(kind, module, layer):
    wi, wh, bi, bh = (gate_blocks(kind, getattr(layer, name).detach().numpy())
                      for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"))
    params = module.init_params(D, H, 1)
    gates = {"z": "z", "r": "r"} if kind == "gru" else {g: g for g in "figo"}
    for ours, theirs in gates.items():
        params[f"w_{ours}"], params[f"w_{ours.upper()}"] = wi[theirs], wh[theirs]
        params[f"b_{ours}"] = bi[theirs] + bh[theirs]
    if kind == "gru":  # the candidate keeps its recurrent bias inside the reset product
        params["w_g"], params["w_G"], params["b_g"], params["b_G"] = wi["n"], wh["n"], bi["n"], bh["n"]
    return params


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_states_and_gradients_match_torch(kind):
    torch.manual_seed(0)
    layer = (torch.nn.GRU if kind == "gru" else torch.nn.LSTM)(D, H, dtype=torch.float64)
    net = symrnn.network(kind, variant="pytorch" if kind == "gru" else None, output="sequence")
    module = symrnn.load_module(net)
    params = symrnn_params(kind, module, layer)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(T, B, D))
    d_h = rng.normal(size=(T, B, H))

    x_torch = torch.tensor(x, requires_grad=True)
    h_torch, _ = layer(x_torch)
    (h_torch * torch.tensor(d_h)).sum().backward()

    _, cache = module.forward(params, x)
    h_ours = cache["layers"][0]["h"][1:]
    grads = module._backward_layers(params, cache, d_h.reshape(T * B, H), {})
    np.testing.assert_allclose(h_ours, h_torch.detach().numpy(), atol=1e-14)
    np.testing.assert_allclose(grads["x"], x_torch.grad.numpy(), atol=1e-13)
    recurrent = gate_blocks(kind, layer.weight_hh_l0.grad.numpy())
    for ours, theirs in ({"Z": "z", "R": "r", "G": "n"} if kind == "gru" else {g.upper(): g for g in "figo"}).items():
        np.testing.assert_allclose(grads[f"w_{ours}"], recurrent[theirs], atol=1e-13)
