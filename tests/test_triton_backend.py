"""The fused path (symrnn.codegen.triton_emitter): each step's elementwise work
as generated Triton kernels, run here by Triton's interpreter on the CPU
(TRITON_INTERPRET=1), equal to the torch module's default path and checked
by gradcheck. Skipped where Triton is not installed."""

import os

import pytest

os.environ["TRITON_INTERPRET"] = "1"  # before any generated module imports triton
pytest.importorskip("triton")
torch = pytest.importorskip("torch")

import symrnn  # noqa: E402
from symrnn.codegen.module import load_module  # noqa: E402

CASES = [  # (cell, output, layers): every covered cell once, both outputs and depths among them
    ("lstm", "states", 2),
    ("gru", "sequence", 1),
    ("rnn", "last", 2),
    ("mgu", "states", 1),
    ("peephole_lstm", "last", 1),
    ("lstm_ln", "states", 1),
]
T, B, D, H = 3, 2, 3, 4


def _module(cell, output, layers):
    return load_module(symrnn.network(cell, output=output, layers=layers), backend="torch",
                       name=f"fused_{cell}_{output}_{layers}")


def _run(module, net, x, lengths, state0, fused):
    net.fused = fused
    outputs, finals = net(x, lengths, state0)
    loss = outputs.pow(2).sum() + sum((k + 1) * f.sum() for k, f in enumerate(finals.values()))
    grads = torch.autograd.grad(loss, [x, *state0.values(), *net.parameters()])
    return [outputs, *finals.values(), *grads]


@pytest.mark.parametrize("cell, output, layers", CASES)
def test_fused_equals_default_path(cell, output, layers):
    module = _module(cell, output, layers)
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        net = module.Network(D, H, 2, dtype=dtype, seed=0)
        x = torch.randn(T, B, D, dtype=dtype, generator=torch.Generator().manual_seed(1)).requires_grad_()
        state0 = {n: torch.randn(B, H, dtype=dtype).requires_grad_() for n in module._STATE_NAMES}
        lengths = torch.tensor([T, 2])
        want = _run(module, net, x, lengths, state0, False)
        got = _run(module, net, x, lengths, state0, True)
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("cell, vectors_only", [("gru", False), ("lstm_ln", True)])
def test_fused_gradcheck(cell, vectors_only):
    """gradcheck of the fused path: for lstm_ln with respect to x and its gains
    and biases only (every slot's kernel still in the chain; all of its
    parameters took 75 s in the interpreter), the weights held fixed."""
    module = _module(cell, "sequence", 1)
    params = {n: p.detach().requires_grad_() for n, p in
              module.Network(D, H, 2, dtype=torch.float64, seed=0).named_parameters()}
    checked = [n for n, p in params.items() if not vectors_only or p.dim() == 1]
    x = torch.randn(T, B, D, dtype=torch.float64, requires_grad=True)

    def f(x, *values):
        outputs, finals = module.apply({**params, **dict(zip(checked, values))}, x, [T, 2], fused=True)
        return outputs, *finals.values()

    assert torch.autograd.gradcheck(f, (x, *(params[n] for n in checked)))


def test_fused_choices():
    module = _module("lstm", "last", 1)
    with pytest.raises(symrnn.errors.InputError, match="fused must be"):
        module.Network(D, H, 2, fused="yes")
    assert module._use_fused(None, torch.device("cpu")) is False  # today's path off CUDA
    assert module._use_fused(True, torch.device("cpu")) is True  # the interpreter is on here
    module._INTERPRETED = False
    with pytest.raises(symrnn.errors.InputError, match="TRITON_INTERPRET"):
        module._use_fused(True, torch.device("cpu"))
