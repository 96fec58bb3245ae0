"""symrnn.bidirectional: stacks of any cell in both directions over NumPy
arrays, against symrnn.nn.Recurrent (torch, the same parameters), against
torch.nn.LSTM for the LSTM, and against finite differences."""

import numpy as np
import pytest

from symrnn.bidirectional import Bidirectional
from symrnn.errors import InputError
from symrnn.verify import _central_difference

T, B, D, H = 5, 3, 2, 3
LENGTHS = np.array([5, 2, 4])


def case(net, seed=0, **sizes):
    params = net.init_params(D, H, sizes=sizes or None, seed=seed)
    rng = np.random.default_rng(seed + 1)
    x = rng.normal(size=(T, B, D))
    outputs, cache = net.forward(params, x, LENGTHS)
    finals = net.final_states(cache)
    state0 = {name: 0.5 * rng.normal(size=value.shape) for name, value in finals.items()}
    d = rng.normal(size=outputs.shape)
    d_finals = {name: rng.normal(size=value.shape) for name, value in finals.items()}
    return params, x, state0, d, d_finals


@pytest.mark.parametrize("cell,layers", [("lstm", 2), ("mgu", 1), ("lstm_ln", 2), ("tests/cells/scrn.cell", 2)])
def test_equal_to_symrnn_nn_recurrent_bidirectional(cell, layers):
    torch = pytest.importorskip("torch")
    import symrnn.nn

    net = Bidirectional(cell, layers)
    params, x, state0, d, d_finals = case(net)
    outputs, cache = net.forward(params, x, LENGTHS, state0)
    grads = net.backward(params, cache, d, d_final_states=d_finals)
    rnn = symrnn.nn.Recurrent(cell, D, H, num_layers=layers, bidirectional=True, dtype=torch.float64)
    assert sorted(name for name, _ in rnn.named_parameters()) == sorted(params)
    with torch.no_grad():
        for name, value in rnn.named_parameters():
            value.copy_(torch.from_numpy(params[name]))
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x).requires_grad_(), LENGTHS,
                                                     enforce_sorted=False)
    xt = packed.data
    xt.retain_grad()
    hx = tuple(torch.from_numpy(state0[n]).requires_grad_() for n in net.state_names)
    out, finals = rnn(packed, hx if len(hx) > 1 else hx[0])
    finals = finals if isinstance(finals, tuple) else (finals,)
    padded, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
    np.testing.assert_allclose(padded.detach().numpy(), outputs, rtol=0, atol=1e-12)
    loss = (padded * torch.from_numpy(d)).sum() + sum((f * torch.from_numpy(d_finals[n])).sum()
                                                      for n, f in zip(net.state_names, finals))
    loss.backward()
    for name, value in rnn.named_parameters():
        np.testing.assert_allclose(value.grad.numpy(), grads[name], rtol=1e-10, atol=1e-12, err_msg=name)
    for name, h in zip(net.state_names, hx):
        np.testing.assert_allclose(h.grad.numpy(), grads[name], rtol=1e-10, atol=1e-12, err_msg=name)


def test_the_lstm_equals_torch_nn_lstm_bidirectional():
    torch = pytest.importorskip("torch")
    from symrnn.interop import direction_params

    net = Bidirectional("lstm", 2)
    torch.manual_seed(0)
    reference = torch.nn.LSTM(D, H, 2, bidirectional=True, dtype=torch.float64)
    params = {net.param_name(name, layer, direction): value.detach().numpy().copy()
              for layer in range(2) for direction in (0, 1)
              for name, value in direction_params(reference, layer, bool(direction)).items()}
    x = np.random.default_rng(0).normal(size=(T, B, D))
    outputs, cache = net.forward(params, x, LENGTHS)
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x), LENGTHS, enforce_sorted=False)
    out, (h_n, c_n) = reference(packed)
    padded, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
    np.testing.assert_allclose(outputs, padded.detach().numpy(), rtol=0, atol=1e-13)
    finals = net.final_states(cache)
    np.testing.assert_allclose(finals["h0"], h_n.detach().numpy(), rtol=0, atol=1e-13)
    np.testing.assert_allclose(finals["c0"], c_n.detach().numpy(), rtol=0, atol=1e-13)


@pytest.mark.parametrize("cell,layers,sizes", [("gru", 2, {}), ("lstmp", 1, {"P": 2})])
def test_gradients_match_finite_differences(cell, layers, sizes):
    """C = <d, outputs> + <d_final, final states>: every gradient, with unequal lengths."""
    net = Bidirectional(cell, layers)
    params, x, state0, d, d_finals = case(net, **sizes)
    outputs, cache = net.forward(params, x, LENGTHS, state0)
    grads = net.backward(params, cache, d, d_final_states=d_finals)

    def cost():
        outputs, cache = net.forward(params, x, LENGTHS, state0)
        finals = net.final_states(cache)
        return float(np.sum(d * outputs) + sum(np.sum(d_finals[n] * finals[n]) for n in finals))

    for name, array in {**params, "x": x, **state0}.items():
        fd, _ = _central_difference(cost, array)
        np.testing.assert_allclose(grads[name], fd, rtol=1e-6, atol=1e-8, err_msg=name)
    assert not grads["x"][LENGTHS[1]:, 1].any()  # padding gets no gradient, in either direction


def test_bad_input_is_refused_by_name():
    net = Bidirectional("gru", 2)
    params = net.init_params(D, H)
    x = np.zeros((T, B, D))
    with pytest.raises(InputError, match=r"state0\['h0'\] has shape \(2, 3, 3\); expected \(4, B, size\)"):
        net.forward(params, x, state0={"h0": np.zeros((2, B, H))})
    with pytest.raises(InputError, match=r"state0 has unknown names \['c0'\]"):
        net.forward(params, x, state0={"c0": np.zeros((4, B, H))})
    with pytest.raises(InputError, match="params has no 'w_g_l1_reverse'"):
        net.forward({k: v for k, v in params.items() if k != "w_g_l1_reverse"}, x)
    with pytest.raises(InputError, match="layers must be a positive integer"):
        Bidirectional("gru", 0)
