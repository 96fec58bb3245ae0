"""The generated PyTorch modules (``backend="torch"``): gradcheck in float64,
equal to the NumPy module for the same weights, to nn.LSTM/GRU/RNN through
the interop, to autograd over a plain loop of the same equations (itself
generated from the step graph), and under DistributedDataParallel; the NumPy
modules of the cells from papers (lstm_ln, sru, qrnn, antisymmetric) equal
autograd of their equations written by hand in torch.

Sizes are tiny (T <= 4, B <= 3, H <= 3) and each module is generated once
per session: the whole file costs a few tens of seconds.
"""

import copy
import functools
import glob
import multiprocessing
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import symrnn  # noqa: E402
from symrnn.codegen import load_module  # noqa: E402
from symrnn.codegen.torch_loop import render_loop  # noqa: E402
from symrnn.interop import from_torch, layout_of, network_of  # noqa: E402

from conftest import cached_module  # noqa: E402

T, B, D, H, K = 4, 3, 2, 3, 2
FURTHER = {"P": 4, "Q": 5}  # the sizes of vectors of their own size (lstmp's r, a test cell's v)
LENGTHS = [4, 2, 3]
BUILT_IN = [("rnn", None), ("lstm", None), ("gru", "notes"), ("gru", "pytorch")]
MODES = ("last", "sequence", "states")
TEST_CELLS = sorted(glob.glob(str(Path(__file__).parent / "cells" / "*.cell")))
CODEGEN_CELLS = sorted(glob.glob(str(Path(__file__).parent / "codegen_cells" / "*.cell")))
# Built-in cells of the cell language's newer constructs (issue 12): each mode once, the layers in turn.
NEWER_BUILT_IN = [("antisymmetric", None), ("sru", None), ("qrnn", None), ("lstm_ln", None), ("lstmp", None),
                  ("lstmp_peephole", None)]
# Every built-in cell in every mode with 1 and 2 layers; every test cell once, the modes and layers in turn.
CONFIGS = ([(cell, variant, output, layers) for cell, variant in BUILT_IN for output in MODES for layers in (1, 2)]
           + [(cell, None, MODES[k % 3], 1 + k % 2) for k, cell in enumerate(TEST_CELLS + CODEGEN_CELLS)]
           + [(cell, variant, output, 1 + k % 2) for cell, variant in NEWER_BUILT_IN for k, output in enumerate(MODES)])


def config_id(config):
    cell, variant, output, layers = config
    return f"{Path(cell).stem}{'-' + variant if variant else ''}-{output}-l{layers}"


@functools.cache
def torch_module(cell, variant, output, layers):
    net = symrnn.network(cell, variant=variant, output=output, layers=layers)
    return net, load_module(net, backend="torch")


@functools.cache
def loop_module(cell, variant, layers):
    net = symrnn.network(cell, variant=variant, output="states", layers=layers)
    namespace = {}
    exec(compile(render_loop(net), f"<loop {net.module_name}>", "exec"), namespace)
    return namespace


def make(module, output, seed=0, dtype=torch.float64):
    """A network with nonzero parameters, an input, lengths and initial states."""
    inputs = D if any("D" in dims for dims in module.PARAMS.values()) else H  # H: x used elementwise (size x H)
    sizes = {letter: n for letter, n in FURTHER.items() if any(letter in dims for dims in module.PARAMS.values())}
    net = module.Network(inputs, H, K if output != "states" else None, sizes=sizes, dtype=dtype, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(T, B, inputs, dtype=dtype, generator=generator)
    names = [name for layer in module.INITIAL_STATES for name in layer]
    state0 = {name: 0.5 * torch.randn(B, net.sizes[module._STATE_SIZES[name]], dtype=dtype, generator=generator)
              for name in names}
    return net, x, torch.tensor(LENGTHS), state0


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_gradcheck(config):
    """The derived backward against finite differences of the forward, for
    the parameters, x and the initial states (unequal lengths), through the
    outputs and the final states (the backward seeded by both)."""
    _, module = torch_module(*config)
    net, x, lengths, state0 = make(module, config[2])
    names, params = list(dict(net.named_parameters())), list(net.parameters())
    state_names = list(state0)

    def f(x, *tensors):
        new = dict(zip(names, tensors))
        states = dict(zip(state_names, tensors[len(names):]))
        outputs, finals = torch.func.functional_call(net, new, (x, lengths, states))
        return (outputs, *finals.values())

    inputs = [x.requires_grad_(), *(p.detach().requires_grad_() for p in params),
              *(s.requires_grad_() for s in state0.values())]
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_equal_to_the_numpy_module(config):
    cell, variant, output, layers = config
    _, module = torch_module(*config)
    net, x, lengths, state0 = make(module, output)
    numpy_net, numpy_module = cached_module(cell, variant, layers=layers, output=output)
    params = {name: p.detach().numpy() for name, p in net.named_parameters()}
    expected, cache = numpy_module.forward(params, x.numpy(), np.array(LENGTHS), {k: v.numpy() for k, v in
                                                                                   state0.items()})
    rng = np.random.default_rng(2)
    d_outputs = rng.normal(size=expected.shape)
    d_finals = {name: rng.normal(size=value.shape) for name, value in numpy_module.final_states(cache).items()}
    grads = numpy_module.backward(params, cache, d_outputs, d_final_states=d_finals)
    x.requires_grad_()
    for s in state0.values():
        s.requires_grad_()
    outputs, finals = net(x, lengths, state0)
    loss = (outputs * torch.from_numpy(d_outputs)).sum()
    (loss + sum((finals[name] * torch.from_numpy(d)).sum() for name, d in d_finals.items())).backward()
    np.testing.assert_allclose(outputs.detach().numpy(), expected, rtol=1e-12, atol=1e-14)
    got = {**{n: p.grad for n, p in net.named_parameters()}, "x": x.grad, **{n: s.grad for n, s in state0.items()}}
    for name, grad in got.items():
        np.testing.assert_allclose(grad.numpy(), grads[name], rtol=1e-10, atol=1e-13, err_msg=name)
    for name, value in numpy_module.final_states(cache).items():
        np.testing.assert_allclose(finals[name].detach().numpy(), value, rtol=1e-12, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("config", [c for c in CONFIGS if c[2] == "states"], ids=config_id)
def test_equal_to_autograd_over_a_plain_loop(config):
    """The same equations as a loop over time (generated from the step
    graph by symrnn.codegen.torch_loop), differentiated by autograd."""
    cell, variant, output, layers = config
    _, module = torch_module(*config)
    loop = loop_module(cell, variant, layers)
    net, x, lengths, state0 = make(module, output)
    reference = {n: p.detach().clone().requires_grad_() for n, p in net.named_parameters()}
    x_ref = x.clone().requires_grad_()
    expected = loop["run"](reference, x_ref, lengths, state0)
    d_outputs = torch.randn(expected.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    (expected * d_outputs).sum().backward()
    x.requires_grad_()
    outputs, _ = net(x, lengths, state0)
    (outputs * d_outputs).sum().backward()
    torch.testing.assert_close(outputs, expected, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-10, atol=1e-13)
    for name, p in net.named_parameters():
        torch.testing.assert_close(p.grad, reference[name].grad, rtol=1e-10, atol=1e-13, msg=name)


TORCH_MODULES = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "RNN": torch.nn.RNN}


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("kind", sorted(TORCH_MODULES))
def test_equal_to_torch_recurrent_modules(kind, layers):
    """With nn.LSTM/GRU/RNN's weights (symrnn.interop), a generated module
    in states mode computes what the torch module computes, and its gradients."""
    torch.manual_seed(0)
    reference = TORCH_MODULES[kind](D, H, layers, dtype=torch.float64)
    network = network_of(reference, output="states")
    cell, variant = network.cell.name.split("_")[0], "pytorch" if kind == "GRU" else None
    _, module = torch_module("gru" if kind == "GRU" else cell, variant, "states", layers)
    net = module.Network(D, H, dtype=torch.float64)
    with torch.no_grad():
        for name, value in from_torch(reference, tensors=True).items():
            getattr(net, name).copy_(value)
    x = torch.randn(T, B, D, dtype=torch.float64)
    expected, _ = reference(x)
    outputs, finals = net(x)
    torch.testing.assert_close(outputs, expected, rtol=1e-12, atol=1e-14)
    expected.sum().backward()
    outputs.sum().backward()
    got = {name: p.grad for name, p in net.named_parameters()}
    want = from_torch_grads(reference)
    for name, grad in want.items():
        torch.testing.assert_close(got[name], grad, rtol=1e-10, atol=1e-12, msg=name)


def from_torch_grads(module):
    """The gradients of a torch module's parameters by symrnn's names: read
    as from_torch reads weights, a summed bias pair (b_ih + b_hh) halved,
    since each half's gradient is the sum's."""
    with torch.no_grad():
        saved = [p.detach().clone() for p in module.parameters()]
        for p in module.parameters():
            p.copy_(p.grad)
        grads = from_torch(module, tensors=True)
        for p, value in zip(module.parameters(), saved):
            p.copy_(value)
    summed = {g.input_bias for g in layout_of(module).gates if g.summed_bias}
    return {name: g / 2 if re.sub(r"_l[0-9]+$", "", name) in summed else g for name, g in grads.items()}


def test_float32_and_input_errors():
    _, module = torch_module("lstm", None, "last", 1)
    net = module.Network(D, H, K, dtype=torch.float32, seed=0)
    outputs, _ = net(torch.randn(T, B, D))
    assert outputs.dtype == torch.float32 and outputs.shape == (B, K)
    with pytest.raises(symrnn.InputError, match="x has shape"):
        net(torch.randn(T, B, D + 1))
    with pytest.raises(symrnn.InputError, match="float64"):
        net(torch.randn(T, B, D, dtype=torch.float64))
    with pytest.raises(symrnn.InputError, match="lengths"):
        net(torch.randn(T, B, D), torch.tensor([0, 1, 2]))
    with pytest.raises(symrnn.InputError, match="unknown names"):
        net(torch.randn(T, B, D), state0={"h9": torch.zeros(B, H)})


def test_generate_writes_a_torch_module(tmp_path):
    path = tmp_path / "m.py"
    symrnn.generate(symrnn.network("rnn", output="states"), path, backend="torch")
    text = path.read_text()
    assert "import torch" in text and "import numpy" not in text and "torch.autograd.Function" in text
    assert "w_y" not in text.split("def _layer_forward")[0]


def ddp_worker(rank, world, port, module, data, out):
    """One DDP process: three SGD steps on its half of the batch; rank 0 saves the parameters."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    net = torch.nn.parallel.DistributedDataParallel(module.Network(2, 3, 2, dtype=torch.float64, seed=0))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    items = slice(rank * data["x"].shape[1] // world, (rank + 1) * data["x"].shape[1] // world)
    for _ in range(3):
        outputs, _ = net(data["x"][:, items], data["lengths"][items])
        loss = ((outputs - data["y"][items]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if rank == 0:
        torch.save(dict(net.module.named_parameters()), out)
    dist.destroy_process_group()


def test_distributed_data_parallel_equals_one_process_on_the_whole_batch(tmp_path):
    """Two processes (gloo, 127.0.0.1), each with half the batch, take the
    SGD steps one process takes on the whole batch. The processes are forked
    from this one, torch and the generated module already imported (a fresh
    interpreter per process spent seconds importing torch)."""
    _, module = torch_module("lstm", None, "last", 1)
    generator = torch.Generator().manual_seed(0)
    data = {"x": torch.randn(4, 4, 2, dtype=torch.float64, generator=generator),
            "lengths": torch.tensor([4, 2, 3, 1]), "y": torch.randn(4, 2, dtype=torch.float64, generator=generator)}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fork = multiprocessing.get_context("fork")
    workers = [fork.Process(target=ddp_worker, args=(rank, 2, port, module, data, tmp_path / "ddp.pt"))
               for rank in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    net = module.Network(2, 3, 2, dtype=torch.float64, seed=0)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(3):
        outputs, _ = net(data["x"], data["lengths"])
        loss = ((outputs - data["y"]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    distributed = torch.load(tmp_path / "ddp.pt")
    for name, p in net.named_parameters():
        torch.testing.assert_close(distributed[name], p.detach(), rtol=1e-12, atol=1e-14, msg=name)


def test_cuda_graphed_refuses_a_network_off_cuda():
    _, module = torch_module("lstm", None, "states", 1)
    net = module.Network(D, H, dtype=torch.float64, seed=0)
    with pytest.raises(symrnn.InputError, match="cuda_graphed needs the network on a CUDA device; its parameters "
                                                "are on cpu"):
        net.cuda_graphed(torch.randn(T, B, D, dtype=torch.float64))


def test_cuda_graphed_passes_what_the_network_checks_to_the_captured_callable():
    """The function cuda_graphed returns, with the capture replaced by the
    module itself (no GPU here): it gives the network's outputs, final states
    and gradients for new inputs of the captured shape, hands the capture's
    own tensors for what is omitted, and refuses other shapes or grad needs."""
    _, module = torch_module("lstm", None, "states", 2)
    net, x, lengths, state0 = make(module, "states")
    calls = []

    def capture(graphable, sample):
        def replay(*args):
            calls.append(args)
            return graphable(*args)
        calls.append(sample)
        return replay

    step = module._GraphedNetwork(net, x, lengths, {"c0_l2": state0["c0_l2"].requires_grad_()}, capture)
    x2 = torch.randn(T, B, D, dtype=torch.float64)
    c0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    outputs, finals = step(x2, lengths, {"c0_l2": c0})
    outputs.sum().backward()
    got = {name: p.grad.clone() for name, p in net.named_parameters()}
    net.zero_grad()
    expected, expected_finals = net(x2, lengths, {"c0_l2": c0})
    expected.sum().backward()
    torch.testing.assert_close(outputs, expected, rtol=0, atol=0)
    for name, p in net.named_parameters():
        torch.testing.assert_close(got[name], p.grad, rtol=0, atol=0, msg=name)
    assert sorted(finals) == sorted(expected_finals) and not any(f.requires_grad for f in finals.values())
    assert calls[1][2] is calls[0][2] and calls[1][4] is c0  # c0_l1 omitted: the capture's own tensor
    with pytest.raises(symrnn.InputError, match="captured for x of shape"):
        step(torch.randn(T + 1, B, D, dtype=torch.float64), lengths, {"c0_l2": c0})
    with pytest.raises(symrnn.InputError, match="state0 names"):
        step(x2, lengths)
    with pytest.raises(symrnn.InputError, match="require grad as at capture"):
        step(x2, lengths, {"c0_l2": c0.detach()})
    with pytest.raises(symrnn.InputError, match="lengths"):
        step(x2, [0, 1, 2], {"c0_l2": c0})


# The papers' equations written by hand in torch (not generated from the step graph), one step each:
# step(p, x, x_prev, states) -> (new states in CELL_STATES order, the layer's output).
def _layer_norm(p, u, gate):
    m = u - u.mean(-1, keepdim=True)
    return p[f"g_{gate}"] * m / torch.sqrt((m**2).mean(-1, keepdim=True) + 1e-5) + p[f"b_{gate}"]


def _lstm_ln_step(p, x, x_prev, states):
    c, h = states
    f, i, o = (torch.sigmoid(_layer_norm(p, x @ p[f"w_{k}"].T + h @ p[f"w_{k.upper()}"].T, k)) for k in "fio")
    g = torch.tanh(_layer_norm(p, x @ p["w_g"].T + h @ p["w_G"].T, "g"))
    c = f * c + i * g
    h = o * torch.tanh(_layer_norm(p, c, "c"))
    return (c, h), h


def _sru_step(p, x, x_prev, states):
    (c,) = states
    f, r = torch.sigmoid(x @ p["w_f"].T + p["b_f"]), torch.sigmoid(x @ p["w_r"].T + p["b_r"])
    c = f * c + (1 - f) * (x @ p["w_c"].T)
    return (c,), r * torch.tanh(c) + (1 - r) * x


def _qrnn_step(p, x, x_prev, states):
    (c,) = states
    z, f, o = (x @ p[f"w_{k}"].T + x_prev @ p[f"w_{k.upper()}"].T + p[f"b_{k}"] for k in "zfo")
    c = torch.sigmoid(f) * c + (1 - torch.sigmoid(f)) * torch.tanh(z)
    return (c,), torch.sigmoid(o) * c


def _antisymmetric_step(p, x, x_prev, states):
    (h,) = states
    h = h + 0.01 * torch.tanh(h @ p["w_W"].T - h @ p["w_W"] - 0.1 * h + x @ p["w_V"].T + p["b_h"])
    return (h,), h


def _lstmp_step(p, x, x_prev, states):
    c, r = states
    f, i, o = (torch.sigmoid(x @ p[f"w_{k}"].T + r @ p[f"w_{k.upper()}"].T + p[f"b_{k}"]) for k in "fio")
    g = torch.tanh(x @ p["w_g"].T + r @ p["w_G"].T + p["b_g"])
    c = f * c + i * g
    r = (o * torch.tanh(c)) @ p["w_r"].T
    return (c, r), r


HAND_WRITTEN = {"lstm_ln": _lstm_ln_step, "sru": _sru_step, "qrnn": _qrnn_step,
                "antisymmetric": _antisymmetric_step, "lstmp": _lstmp_step}


@pytest.mark.parametrize("cell", sorted(HAND_WRITTEN))
def test_numpy_module_equals_autograd_of_the_papers_equations_written_by_hand(cell):
    net, module = cached_module(cell, output="states")
    inputs = H if cell == "sru" else D
    further = {letter: n for letter, n in FURTHER.items() if letter in net.cell.sizes.values()}
    params = module.init_params(inputs, H, seed=1, **further)
    sizes = {"H": H, **further}
    rng = np.random.default_rng(2)
    x, d_out = rng.normal(size=(T, B, inputs)), rng.normal(size=(T, B, sizes[net.output_letter]))
    letters = [net.cell.sizes[s.name] for s in net.cell.states]
    state0 = {name: 0.5 * rng.normal(size=(B, sizes[letter])) for name, letter in zip(module.INITIAL_STATES[0], letters)}
    outputs, cache = module.forward(params, x, np.array(LENGTHS), state0)
    grads = module.backward(params, cache, d_out)

    p = {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}
    xt = torch.tensor(x, requires_grad=True)
    s0 = {name: torch.tensor(value, requires_grad=True) for name, value in state0.items()}
    states, outs = tuple(s0[name] for name in module.INITIAL_STATES[0]), []
    for t in range(T):
        states, out = HAND_WRITTEN[cell](p, xt[t], xt[t - 1] if t else torch.zeros_like(xt[0]), states)
        outs.append(out)
    mask = (torch.arange(T)[:, None] < torch.tensor(LENGTHS)[None, :]).to(torch.float64)[:, :, None]
    expected = torch.stack(outs) * mask
    (expected * torch.tensor(d_out)).sum().backward()
    np.testing.assert_allclose(outputs, expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    for name, tensor in [*p.items(), ("x", xt), *s0.items()]:
        np.testing.assert_allclose(grads[name], tensor.grad.numpy(), rtol=1e-10, atol=1e-13, err_msg=name)


def test_apply_takes_slices_of_one_tensor_and_refuses_double_backward():
    """apply(params, ...) with each parameter a slice of one leaf tensor: the
    gradients reach it through autograd, equal to the Network's; a loss of
    the final states alone gets gradients; double backward is refused by name."""
    _, module = torch_module("lstm", None, "states", 1)
    net, x, lengths, state0 = make(module, "states")
    params = dict(net.named_parameters())
    flat = torch.cat([p.detach().reshape(-1) for p in params.values()]).requires_grad_()
    pieces = dict(zip(params, torch.split(flat, [p.numel() for p in params.values()])))
    sliced = {name: pieces[name].view(p.shape) for name, p in params.items()}
    outputs, finals = module.apply(sliced, x, lengths, state0)
    (outputs.sum() + finals["c0"].pow(2).sum()).backward()
    expected_outputs, expected_finals = net(x, lengths, state0)
    (expected_outputs.sum() + expected_finals["c0"].pow(2).sum()).backward()
    expected = torch.cat([p.grad.reshape(-1) for p in params.values()])
    torch.testing.assert_close(flat.grad, expected, rtol=0, atol=1e-13)
    net.zero_grad()
    _, finals = net(x, lengths, state0)
    finals["h0"].sum().backward()  # the final states alone: the seeds are the only adjoint
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params.values())
    xg = x.detach().requires_grad_()
    outputs, _ = net(xg, lengths, state0)
    with pytest.raises(RuntimeError, match="double backward is not supported: symrnn's derived BPTT"):
        torch.autograd.grad(outputs.pow(2).sum(), xg, create_graph=True)
    with pytest.raises(symrnn.InputError, match=r"params must have exactly the names .*missing \['w_f'\]"):
        module.apply({n: v for n, v in sliced.items() if n != "w_f"}, x)



def test_a_network_made_in_memory_pickles_and_loads_in_a_fresh_process(tmp_path):
    """torch.save of a Network from generate(..., load=True): its module
    cannot be imported by name, so it pickles as the network it computes
    (NETWORK_SPEC: the cell file and options) and is generated again there."""
    module = symrnn.generate(symrnn.network(str(Path(__file__).parent / "cells" / "scrn.cell"), output="states",
                                            layers=2), backend="torch", load=True)
    net = module.Network(3, 4, dtype=torch.float64, seed=0)
    x = torch.randn(5, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.save({"net": net, "x": x, "out": net(x)[0].detach()}, tmp_path / "saved.pt")
    copied = copy.deepcopy(net)
    assert torch.equal(copied(x)[0], net(x)[0])
    script = ("import torch; saved = torch.load('saved.pt', weights_only=False); "
              "assert torch.equal(saved['net'](saved['x'])[0], saved['out']); print(type(saved['net']).__name__)")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "Network", result.stderr
