"""symrnn.nn conformance: the same scenarios through torch.nn.LSTM/GRU/RNN and
symrnn.nn.LSTM/GRU/RNN with the same weights, and, for custom cells, through
symrnn.nn.Recurrent and autograd over a plain loop of the cell's equations
(symrnn.codegen.torch_loop) extended here with directions, dropout and
packing. Outputs and every gradient (parameters, input, initial states) agree
to 1e-12 in float64 and 1e-5 in float32.
"""

import copy
import functools
import io
import json
import os
import pickle
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")

from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

import symrnn
import symrnn.nn
from symrnn.codegen.torch_loop import render_loop

TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-5}
T, B, D, H, P = 5, 3, 4, 5, 3
LENGTHS = [3, 5, 1]  # unsorted: packed input needs enforce_sorted=False

THREE_STATES = """\
cell tri
description three states: a cell unit, a slow average of it and the output
input x
state c, m, h
f = sigmoid(w^(f) x + w^(F) h[t-1] + b^(f))
g = tanh(w^(g) x + w^(G) h[t-1] + b^(g))
c = f * c[t-1] + (1 - f) * g
m = 0.5 * m[t-1] + 0.5 * c
h = tanh(c + m)
"""


@pytest.fixture(scope="module", autouse=True)
def own_cache(tmp_path_factory):
    """Generated modules go to a cache of this test module's own."""
    old = os.environ.get("SYMRNN_CACHE")
    os.environ["SYMRNN_CACHE"] = str(tmp_path_factory.mktemp("symrnn_cache"))
    yield
    if old is None:
        del os.environ["SYMRNN_CACHE"]
    else:
        os.environ["SYMRNN_CACHE"] = old


@pytest.fixture(scope="module")
def three_states(tmp_path_factory):
    path = tmp_path_factory.mktemp("cells") / "tri.cell"
    path.write_text(THREE_STATES)
    return str(path)


# ---------------------------------------------------------------- helpers


# Layer normalization in float32: two float32 computations differ by up to 2.3e-5 (each is within
# 1.3e-5 of float64), as the differences from the means cancel digits.
LOOSER = {("lstm_ln", torch.float32): 5e-5}


def close(actual, expected, dtype, what, cell=None):
    tol = LOOSER.get((cell, dtype), TOLERANCE[dtype])
    torch.testing.assert_close(actual, expected, atol=tol, rtol=tol, msg=lambda m: f"{what}: {m}")


def as_tuple(states):
    return states if isinstance(states, tuple) else (states,)


def loss_of(output, states, weights):
    """A loss reading the output and every final state together."""
    data = output.data if isinstance(output, PackedSequence) else output
    terms = [data, *as_tuple(states)]
    return sum((term * w).sum() for term, w in zip(terms, weights))


def weights_for(output, states, seed):
    generator = torch.Generator().manual_seed(seed)
    data = output.data if isinstance(output, PackedSequence) else output
    return [torch.randn(t.shape, generator=generator, dtype=t.dtype) for t in (data, *as_tuple(states))]


def make_input(form, batch_first, dtype, size=D, seed=1):
    """(input for the module, leaf tensor gradients are taken of)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, size, generator=generator, dtype=dtype).requires_grad_()
    if form == "unbatched":
        return x[:, 0], x
    if form == "padded":
        return (x.transpose(0, 1) if batch_first else x), x
    lengths = torch.tensor(LENGTHS)
    if form == "packed_sorted":
        order = torch.argsort(lengths, descending=True)
        return pack_padded_sequence(x[:, order], lengths[order], enforce_sorted=True), x
    return pack_padded_sequence(x, lengths, enforce_sorted=False), x


def make_hx(shapes, form, dtype, seed=2):
    generator = torch.Generator().manual_seed(seed)
    leaves = [torch.randn(shape, generator=generator, dtype=dtype).requires_grad_() for shape in shapes]
    given = [h[:, 0] for h in leaves] if form == "unbatched" else leaves
    return given, leaves


def run_and_grad(module, input, hx, leaves, seed):
    """The module's output and states and the gradients of one loss by every
    parameter and leaf (input, initial states)."""
    output, states = module(input, hx)
    loss = loss_of(output, states, weights_for(output, states, seed))
    names = [name for name, _ in module.named_parameters()]
    grads = torch.autograd.grad(loss, [*module.parameters(), *leaves], allow_unused=True)
    data = output.data if isinstance(output, PackedSequence) else output
    return data, as_tuple(states), dict(zip(names + [f"leaf{k}" for k in range(len(leaves))], grads))


# ---------------------------------------------------------------- torch.nn conformance

KINDS = {"LSTM": (torch.nn.LSTM, symrnn.nn.LSTM, {}), "GRU": (torch.nn.GRU, symrnn.nn.GRU, {}),
         "RNN": (torch.nn.RNN, symrnn.nn.RNN, {}), "RNN_RELU": (torch.nn.RNN, symrnn.nn.RNN, {"nonlinearity": "relu"})}

# (kind, num_layers, bidirectional, batch_first, form, hx given, proj_size, bias, dtype)
SCENARIOS = [
    ("LSTM", 1, False, False, "padded", False, 0, True, torch.float64),
    ("LSTM", 2, True, True, "padded", True, 0, True, torch.float64),
    ("LSTM", 3, True, False, "packed_unsorted", True, 0, True, torch.float64),
    ("LSTM", 2, False, True, "packed_sorted", False, 0, True, torch.float64),
    ("LSTM", 2, True, False, "unbatched", True, 0, True, torch.float64),
    ("LSTM", 2, True, True, "packed_unsorted", True, P, True, torch.float64),
    ("LSTM", 1, False, False, "unbatched", True, P, False, torch.float64),
    ("LSTM", 2, True, False, "padded", True, 0, False, torch.float32),
    ("LSTM", 3, True, True, "packed_unsorted", True, P, True, torch.float32),
    ("GRU", 1, False, True, "padded", True, 0, True, torch.float64),
    ("GRU", 3, True, False, "packed_unsorted", True, 0, True, torch.float64),
    ("GRU", 2, True, True, "unbatched", False, 0, False, torch.float64),
    ("GRU", 2, True, False, "packed_sorted", True, 0, True, torch.float32),
    ("RNN", 2, True, True, "packed_unsorted", True, 0, True, torch.float64),
    ("RNN", 1, False, False, "unbatched", True, 0, False, torch.float64),
    ("RNN_RELU", 3, True, False, "padded", True, 0, True, torch.float64),
    ("RNN_RELU", 2, False, True, "packed_unsorted", False, 0, True, torch.float32),
]


def pair(kind, dtype, **options):
    """torch.nn's module and ours, with ours loading torch's state_dict strictly."""
    theirs_class, ours_class, extra = KINDS[kind]
    torch.manual_seed(0)
    theirs = theirs_class(D, H, **extra, **options, dtype=dtype)
    ours = ours_class(D, H, **extra, **options, dtype=dtype)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return theirs, ours


def hx_shapes(kind, num_layers, bidirectional, proj_size):
    n = num_layers * (2 if bidirectional else 1)
    h = (n, B, proj_size or H)
    return [h, (n, B, H)] if kind == "LSTM" else [h]


def hx_form(kind, hx):
    return tuple(hx) if kind == "LSTM" else hx[0]


def compare_modules(theirs, ours, kind, form, batch_first, hx_given, dtype, shapes, seed=3, before=None):
    results = []
    for module in (theirs, ours):
        input, x = make_input(form, batch_first, dtype)
        hx, leaves = make_hx(shapes, form, dtype)
        if before:
            before()
        results.append(run_and_grad(module, input, hx_form(kind, hx) if hx_given else None,
                                    [x, *leaves] if hx_given else [x], seed))
    (out_t, st_t, g_t), (out_o, st_o, g_o) = results
    close(out_o, out_t, dtype, "output")
    for k, (a, b) in enumerate(zip(st_o, st_t)):
        close(a, b, dtype, f"final state {k}")
    assert g_o.keys() == g_t.keys()
    for name in g_t:
        close(g_o[name], g_t[name], dtype, f"gradient of {name}")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: "-".join(map(str, s)).replace("torch.", ""))
def test_matches_torch_nn(scenario):
    kind, layers, bidirectional, batch_first, form, hx_given, proj_size, bias, dtype = scenario
    options = {"num_layers": layers, "bidirectional": bidirectional, "batch_first": batch_first, "bias": bias}
    if proj_size:
        options["proj_size"] = proj_size
    theirs, ours = pair(kind, dtype, **options)
    shapes = hx_shapes(kind, layers, bidirectional, proj_size)
    compare_modules(theirs, ours, kind, form, batch_first, hx_given, dtype, shapes)


@pytest.mark.parametrize("form", ["padded", "packed_unsorted"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_dropout_in_training_draws_torch_masks(kind, form):
    """Seeded alike, symrnn.nn draws the very masks torch.nn's CPU kernels draw."""
    theirs, ours = pair(kind, torch.float64, num_layers=3, bidirectional=True, dropout=0.4)
    theirs.train(), ours.train()
    shapes = hx_shapes(kind, 3, True, 0)
    compare_modules(theirs, ours, kind, form, False, True, torch.float64, shapes,
                    before=lambda: torch.manual_seed(11))


def test_dropout_in_eval_is_none():
    theirs, ours = pair("LSTM", torch.float64, num_layers=2, dropout=0.5)
    theirs.eval(), ours.eval()
    compare_modules(theirs, ours, "LSTM", "padded", False, False, torch.float64, hx_shapes("LSTM", 2, False, 0))
    reference = symrnn.nn.LSTM(D, H, num_layers=2, dtype=torch.float64)
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(T, B, D, dtype=torch.float64)
    torch.testing.assert_close(ours(x)[0], reference(x)[0], atol=0, rtol=0)


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("proj_size", [0, P])
def test_state_dict_moves_both_ways(proj_size):
    options = {"num_layers": 2, "bidirectional": True, "proj_size": proj_size}
    theirs, ours = pair("LSTM", torch.float32, **options)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    back = torch.nn.LSTM(D, H, **options)
    back.load_state_dict(ours.state_dict(), strict=True)
    buffer = io.BytesIO()
    torch.save(theirs.state_dict(), buffer)
    buffer.seek(0)
    fresh = symrnn.nn.LSTM(D, H, **options)
    fresh.load_state_dict(torch.load(buffer), strict=True)
    x = torch.randn(T, B, D)
    close(fresh(x)[0], back(x)[0], torch.float32, "output after a round trip")


def test_same_attributes_and_repr():
    options = {"num_layers": 2, "batch_first": True, "bidirectional": True}
    for kind, extra in (("LSTM", {"proj_size": 2}), ("GRU", {}), ("RNN", {"nonlinearity": "relu"})):
        theirs_class, ours_class, _ = KINDS[kind]
        theirs, ours = theirs_class(10, 20, **options, **extra), ours_class(10, 20, **options, **extra)
        assert repr(ours) == repr(theirs)
        assert isinstance(ours, theirs_class)
        for name in ("mode", "input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout",
                     "bidirectional", "proj_size"):
            assert getattr(ours, name) == getattr(theirs, name), name
    assert repr(symrnn.nn.LSTM(10, 20, num_layers=2, batch_first=True, bidirectional=True)) == \
        "LSTM(10, 20, num_layers=2, batch_first=True, bidirectional=True)"


BAD_ARGUMENTS = [{"bias": 1}, {"input_size": 3.0}, {"hidden_size": 0}, {"hidden_size": 3.0}, {"dropout": 1.5},
                 {"dropout": -0.1}, {"num_layers": 0}, {"batch_first": 1}, {"proj_size": 20}, {"proj_size": -1}]


@pytest.mark.parametrize("bad", BAD_ARGUMENTS, ids=lambda b: ",".join(f"{k}={v}" for k, v in b.items()))
def test_bad_arguments_raise_as_torch_nn(bad):
    arguments = {"input_size": 10, "hidden_size": 20, **bad}
    with pytest.raises(Exception) as theirs:
        torch.nn.LSTM(**arguments)
    with pytest.raises(type(theirs.value), match=_escaped(theirs.value)):
        symrnn.nn.LSTM(**arguments)
    if "proj_size" not in bad:
        with pytest.raises(type(theirs.value), match=_escaped(theirs.value)):
            symrnn.nn.Recurrent("mgu", **arguments)


def _escaped(error):
    import re

    return re.escape(str(error))


def bad_inputs():
    """(what, module arguments, call) where torch.nn raises."""
    x = torch.randn(T, B, D)
    return [
        ("input size", {}, lambda m: m(torch.randn(T, B, D + 1))),
        ("rank", {}, lambda m: m(torch.randn(T, B, D, 1))),
        ("dtype", {}, lambda m: m(x.double())),
        ("hx batch", {}, lambda m: m(x, torch.zeros(1, B + 1, H))),
        ("hx size", {}, lambda m: m(x, torch.zeros(1, B, H + 1))),
        ("hx rank", {}, lambda m: m(x, torch.zeros(B, H))),
        ("unbatched hx rank", {}, lambda m: m(x[:, 0], torch.zeros(1, 1, H))),
        ("batch_first hx batch", {"batch_first": True}, lambda m: m(x, torch.zeros(1, T + 1, H))),
    ]


@pytest.mark.parametrize("case", bad_inputs(), ids=lambda c: c[0])
def test_bad_inputs_raise_as_torch_nn(case):
    _what, options, call = case
    for kind in ("GRU", "RNN"):
        theirs_class, ours_class, _ = KINDS[kind]
        with pytest.raises(Exception) as theirs:
            call(theirs_class(D, H, **options))
        with pytest.raises(type(theirs.value), match=_escaped(theirs.value)):
            call(ours_class(D, H, **options))
    mgu = symrnn.nn.Recurrent("mgu", D, H, **options)
    with pytest.raises(type(theirs.value)):
        call(mgu)


def test_lstm_hx_errors_as_torch_nn():
    x = torch.randn(T, B, D)
    for hx in [(torch.zeros(1, B, H), torch.zeros(1, B + 1, H)), (torch.zeros(B, H), torch.zeros(B, H))]:
        with pytest.raises(RuntimeError) as theirs:
            torch.nn.LSTM(D, H)(x, hx)
        with pytest.raises(RuntimeError, match=_escaped(theirs.value)):
            symrnn.nn.LSTM(D, H)(x, hx)


# ---------------------------------------------------------------- module behaviour


def test_pickle_deepcopy_and_to(tmp_path):
    torch.manual_seed(0)
    rnn = symrnn.nn.LSTM(D, H, num_layers=2, bidirectional=True)
    mgu = symrnn.nn.Recurrent("mgu", D, H, bidirectional=True)
    x = torch.randn(T, B, D)
    for module in (rnn, mgu):
        torch.save(module, tmp_path / "m.pt")
        for other in (torch.load(tmp_path / "m.pt", weights_only=False), copy.deepcopy(module),
                      pickle.loads(pickle.dumps(module))):
            torch.testing.assert_close(other(x)[0], module(x)[0], atol=0, rtol=0)
        double = copy.deepcopy(module).double()
        assert double(x.double())[0].dtype == torch.float64
        half = copy.deepcopy(module).to(torch.bfloat16)
        assert half(x.bfloat16())[0].dtype == torch.bfloat16


def test_double_backward_raises_one_line():
    rnn = symrnn.nn.LSTM(D, H, dtype=torch.float64)
    x = torch.randn(T, B, D, dtype=torch.float64, requires_grad=True)
    output, _ = rnn(x)
    with pytest.raises(RuntimeError) as error:
        torch.autograd.grad(output.sum(), x, create_graph=True)
    message = str(error.value)
    assert "\n" not in message.strip() and "double backward" in message and "symrnn_nn_lstm" in message


def test_autocast_bfloat16_near_float32():
    """Gradients under CPU bfloat16 autocast agree with float32 to AUTOCAST_TOLERANCE."""
    torch.manual_seed(0)
    rnn = symrnn.nn.LSTM(D, H, num_layers=2, bidirectional=True)
    x = torch.randn(T, B, D)

    def grads(autocast):
        rnn.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            output, (h_n, c_n) = rnn(x)
        assert output.dtype == (torch.bfloat16 if autocast else torch.float32)
        (output.float().sum() + h_n.float().sum() + c_n.float().sum()).backward()
        return {name: p.grad.clone() for name, p in rnn.named_parameters()}

    exact, low = grads(False), grads(True)
    for name in exact:
        assert low[name].dtype == torch.float32
        scale = exact[name].abs().max().clamp(min=1.0)
        assert (low[name] - exact[name]).abs().max() / scale < AUTOCAST_TOLERANCE, name


# Measured: 0.0081 here (LSTM, 2 layers, bidirectional, T = 5); 0.0088 (LSTM) and 0.0054 (GRU) at
# D = 16, H = 32, T = 20, B = 8: bfloat16 keeps 8 bits of mantissa (0.4% per rounding).
AUTOCAST_TOLERANCE = 0.03


def test_torch_compile_same_numbers():
    """A model holding a symrnn.nn module compiles (a graph break at the module: symrnn.nn.LSTM's forward
    is the same code) and gives the same numbers."""
    torch.manual_seed(0)
    model = torch.nn.ModuleDict({"mgu": symrnn.nn.Recurrent("mgu", D, H, num_layers=2, batch_first=True),
                                 "head": torch.nn.Linear(H, 2)})

    def run(x):
        output, h_n = model["mgu"](x)
        return model["head"](output).sum() + h_n.sum()

    x = torch.randn(B, T, D)
    eager = run(x)
    eager.backward()
    expected = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    compiled = torch.compile(run)(x)
    compiled.backward()
    close(compiled, eager, torch.float32, "loss")
    for name, p in model.named_parameters():
        close(p.grad, expected[name], torch.float32, name)


def test_cached_construction_is_fast(tmp_path):
    """The first construction derives and caches the modules; in a fresh
    process they load from the cache in well under a second (the built-in
    cell of Recurrent without SymPy)."""
    script = textwrap.dedent("""
        import json, sys, time
        import torch
        x = torch.randn(5, 3, 4)
        already = "sympy" in sys.modules
        start = time.perf_counter()
        import symrnn.nn
        symrnn.nn.Recurrent("mgu", 4, 5, num_layers=2)(x)
        mgu = time.perf_counter() - start
        sympy = "sympy" in sys.modules and not already
        symrnn.nn.GRU(4, 5, num_layers=2)(x)
        print(json.dumps({"mgu": mgu, "sympy": sympy, "already": already, "both": time.perf_counter() - start}))
    """)
    # torch.compile in this process leaves TORCHINDUCTOR_* variables that make torch import SymPy itself
    env = {**{k: v for k, v in os.environ.items() if "TORCHINDUCTOR" not in k}, "SYMRNN_CACHE": str(tmp_path)}
    runs = [json.loads(subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                                      check=True).stdout) for _ in range(2)]
    first, cached = runs
    assert first["sympy"] and not cached["sympy"], runs
    assert cached["both"] < 1.0, runs


# ---------------------------------------------------------------- custom cells against a plain loop


@functools.cache
def loop_step(spec):
    """The cell's step (symrnn.codegen.torch_loop) and the index of the state it outputs."""
    cell = symrnn.resolve_cell(spec[1]) if spec[0] == "builtin" else symrnn.parse_cell(spec[1])
    network = symrnn.network(cell, output="states")
    namespace = {}
    exec(compile(render_loop(network), f"<loop {cell.name}>", "exec"), namespace)  # noqa: S102 (generated code)
    return namespace["step"], cell.states.index(cell.output_state)


def loop_layer(step, exposed, params, x, lengths, states):
    """One direction of one layer: the step over time, each item's states held after its length."""
    outputs = []
    for t in range(x.shape[0]):
        new = step(params, x[t], *states)
        live = (t < lengths)[:, None]
        states = tuple(torch.where(live, n, s) for n, s in zip(new, states))
        outputs.append(torch.where(live, new[exposed], torch.zeros_like(new[exposed])))
    return torch.stack(outputs), states


def reverse_items(v, lengths):
    """Each item reversed within its length, item by item."""
    return torch.stack([torch.cat([v[:n, b].flip(0), v[n:, b]]) for b, n in enumerate(lengths.tolist())], 1)


def loop_stack(module, x, lengths, hx, packed=None):
    """What Recurrent computes, written as a plain loop: x (T, B, D)
    time-major, hx a tuple in the cell's state order; dropout drawn on the
    packed data for packed input as torch.nn's kernels draw it."""
    step, exposed = loop_step(module._spec)
    dirs = 2 if module.bidirectional else 1
    lengths = torch.full((x.shape[1],), x.shape[0]) if lengths is None else lengths
    finals = [[] for _ in hx]
    for k in range(module.num_layers):
        outs = []
        for d in range(dirs):
            params = module._direction_params(k, d)
            states = tuple(h[k * dirs + d] for h in hx)
            source = x if d == 0 else reverse_items(x, lengths)
            out, last = loop_layer(step, exposed, params, source, lengths, states)
            outs.append(out if d == 0 else reverse_items(out, lengths))
            for collected, state in zip(finals, last):
                collected.append(state)
        x = torch.cat(outs, 2)
        if module.dropout and module.training and k < module.num_layers - 1:
            if packed is None:
                x = torch.nn.functional.dropout(x, module.dropout)
            else:
                order = packed.sorted_indices
                data = pack_padded_sequence(x[:, order], lengths[order], enforce_sorted=True).data
                data = torch.nn.functional.dropout(data, module.dropout)
                x = pad_packed_sequence(packed._replace(data=data), total_length=x.shape[0])[0]
    return x, tuple(torch.stack(f) for f in finals)


CUSTOM = ["mgu", "peephole_lstm", "lstm_ln", "three_states"]


def custom(name, three_states, dtype, **options):
    torch.manual_seed(0)
    cell = three_states if name == "three_states" else name
    return symrnn.nn.Recurrent(cell, D, H, dtype=dtype, **options)


def state_shapes(module):
    n = module.num_layers * (2 if module.bidirectional else 1)
    return [(n, B, module._state_size(name)) for name in module._hx_names]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("form", ["padded", "packed_unsorted", "unbatched"])
@pytest.mark.parametrize("name", CUSTOM)
def test_custom_cell_matches_loop(name, form, dtype, three_states):
    module = custom(name, three_states, dtype, num_layers=2, bidirectional=True, batch_first=form == "padded",
                    dropout=0.3)
    module.train()
    input, x = make_input(form, module.batch_first, dtype)
    hx, leaves = make_hx(state_shapes(module), form, dtype)
    given = hx[0] if len(hx) == 1 else tuple(hx)
    torch.manual_seed(7)
    output, states = module(input, given)
    weights = weights_for(output, states, 4)
    grads = torch.autograd.grad(loss_of(output, states, weights), [*module.parameters(), x, *leaves])

    packed = input if isinstance(input, PackedSequence) else None
    lengths = torch.tensor(LENGTHS) if packed is not None else None
    source = x[:, :1] if form == "unbatched" else x
    hx_batched = [h[:, :1] if form == "unbatched" else h for h in leaves]
    torch.manual_seed(7)
    ref_out, ref_states = loop_stack(module, source, lengths, hx_batched, packed)
    if packed is not None:
        ref_out = pack_padded_sequence(ref_out, lengths, enforce_sorted=False).data
    elif form == "unbatched":
        ref_out, ref_states = ref_out[:, 0], tuple(s[:, 0] for s in ref_states)
    elif module.batch_first:
        ref_out = ref_out.transpose(0, 1)
    ref_grads = torch.autograd.grad(loss_of(ref_out, ref_states, weights), [*module.parameters(), x, *leaves])
    data = output.data if packed is not None else output
    close(data, ref_out, dtype, "output", name)
    for k, (a, b) in enumerate(zip(as_tuple(states), ref_states)):
        close(a, b, dtype, f"final state {k}", name)
    names = [n for n, _ in module.named_parameters()] + ["x"] + [f"hx{k}" for k in range(len(leaves))]
    for what, a, b in zip(names, grads, ref_grads):
        close(a, b, dtype, f"gradient of {what}", name)


@pytest.mark.parametrize("name", CUSTOM)
def test_custom_cell_gradcheck(name, three_states):
    module = symrnn.nn.Recurrent(three_states if name == "three_states" else name, 2, 2, num_layers=2,
                                 bidirectional=True, dtype=torch.float64)
    torch.manual_seed(1)
    x = torch.randn(3, 2, 2, dtype=torch.float64)
    packed_lengths = torch.tensor([2, 3])
    hx = tuple(torch.randn(4, 2, module._state_size(n), dtype=torch.float64) for n in module._hx_names)
    names = [n for n, _ in module.named_parameters()]

    def function(x, *tensors):
        params, states = tensors[:len(names)], tensors[len(names):]
        packed = pack_padded_sequence(x, packed_lengths, enforce_sorted=False)
        output, finals = torch.func.functional_call(module, dict(zip(names, params)),
                                                    (packed, states if len(states) > 1 else states[0]))
        return (output.data, *as_tuple(finals))

    inputs = [x, *(p.detach() for p in module.parameters()), *hx]
    assert torch.autograd.gradcheck(function, [t.clone().requires_grad_() for t in inputs], fast_mode=True)


def test_recurrent_names_states_and_bias_false(three_states):
    mgu = symrnn.nn.Recurrent("mgu", D, H, num_layers=2, bidirectional=True)
    names = [n for n, _ in mgu.named_parameters()]
    assert "w_f_l0" in names and "w_F_l1_reverse" in names and mgu.w_f_l1.shape == (H, 2 * H)
    output, h_n = mgu(torch.randn(T, B, D))
    assert output.shape == (T, B, 2 * H) and h_n.shape == (4, B, H)
    tri = symrnn.nn.Recurrent(three_states, D, H)
    output, (c_n, m_n, h_n) = tri(torch.randn(T, B, D))
    assert c_n.shape == m_n.shape == h_n.shape == (1, B, H)
    peep = symrnn.nn.Recurrent("peephole_lstm", D, H, bias=False)
    kept = {n for n, _ in peep.named_parameters()}
    assert {"b_pf_l0", "b_pi_l0", "b_po_l0"} <= kept and not kept & {"b_f_l0", "b_i_l0", "b_g_l0", "b_o_l0"}
    peep(torch.randn(T, B, D))[0].sum().backward()
    ln = symrnn.nn.Recurrent("lstm_ln", D, H)
    assert torch.equal(ln.g_f_l0, torch.ones(H))
    assert repr(symrnn.nn.Recurrent("lstmp", D, H, num_layers=2, sizes={"P": 2})) == \
        "Recurrent('lstmp', 4, 5, num_layers=2, sizes={'P': 2})"
    with pytest.raises(ValueError, match="missing"):
        symrnn.nn.Recurrent("lstmp", D, H)
    with pytest.raises(ValueError, match="unknown built-in cell"):
        symrnn.nn.Recurrent("nope", D, H)
    with pytest.raises(TypeError, match="hx must be a tuple of 3"):
        tri(torch.randn(T, B, D), torch.zeros(1, B, H))
