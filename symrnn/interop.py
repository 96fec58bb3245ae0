"""Weights between PyTorch's recurrent modules and symrnn networks.

:func:`from_torch` reads an ``nn.RNN`` (tanh or relu), ``nn.LSTM`` or
``nn.GRU`` (and optionally the ``nn.Linear`` on top) into the parameters of
the matching symrnn network (:func:`network_of`), by the names the generated
modules use (``w_f``, ``w_F``, ``b_f``; ``w_f_l2`` in layer 2 of a stack;
``w_y``, ``b_y``); :func:`to_torch` writes such parameters into the modules.

How each PyTorch module maps is data (:data:`LAYOUTS`): its cell, and for
each of its gates, in PyTorch's order, the symrnn parameters that the gate's
rows of ``weight_ih``, ``weight_hh``, ``bias_ih`` and ``bias_hh`` belong to;
an LSTM with ``proj_size`` P is the ``lstmp`` cell, ``weight_hr`` its w_r.

Settings. A symrnn network runs one direction, time-major, without dropout:
:func:`network_of` refuses by name a module whose ``bidirectional``,
``batch_first`` or ``dropout`` it would not carry (``symrnn.nn`` carries
them all, with the same state_dict); the weights alone (:func:`from_torch`,
:func:`to_torch`) do not depend on batch_first or dropout, and a
bidirectional module's reverse weights have nowhere to go, so it is refused.

Bias pairs. PyTorch adds two biases where one would do (``b_ih + b_hh``); the
symrnn cell has one, their sum. :func:`to_torch` writes the whole bias into
``bias_ih`` and ``-0.0`` into ``bias_hh``: ``b + (-0.0)`` is ``b`` bit for bit
(also for ``b = -0.0``), so symrnn → torch → symrnn is exact. torch → symrnn
→ torch computes the same function with each pair's sum rounded once. The
GRU's candidate keeps its two biases apart (``b_hn`` is inside
``r * (W_hn h + b_hn)``): they map one to one, to ``b_g`` and ``b_G`` of the
``gru`` cell's ``pytorch`` variant.

torch is imported only when a function here is called (it is an optional
extra), and the registry and network (SymPy) only by :func:`network_of`:
``symrnn.nn`` reads its layouts without loading SymPy. Imports: naming and
errors.
"""

from dataclasses import dataclass

import numpy as np

from . import naming
from .errors import ConfigError


@dataclass(frozen=True)
class Gate:
    """The symrnn parameters one PyTorch gate's rows go to. Where
    ``input_bias == hidden_bias`` PyTorch's pair is summed into it."""

    input_weight: str
    hidden_weight: str
    input_bias: str
    hidden_bias: str

    @property
    def summed_bias(self):
        return self.input_bias == self.hidden_bias


@dataclass(frozen=True)
class Layout:
    """A PyTorch recurrent module as a symrnn cell: the cell (name, variant,
    activation as :func:`symrnn.network` takes them) and its gates in
    PyTorch's row order."""

    cell: str
    variant: str | None
    activation: str | None
    gates: tuple
    hx: tuple  # the cell's initial states in the order nn.* takes hx: (h_0, c_0) for the LSTM
    projection: str | None = None  # the parameter weight_hr's rows go to (proj_size)


def _summed(w, W, b):
    return Gate(w, W, b, b)


LAYOUTS = {
    "LSTM": Layout("lstm", None, None, (_summed("w_i", "w_I", "b_i"), _summed("w_f", "w_F", "b_f"),
                                        _summed("w_g", "w_G", "b_g"), _summed("w_o", "w_O", "b_o")), ("h0", "c0")),
    "GRU": Layout("gru", "pytorch", None, (_summed("w_r", "w_R", "b_r"), _summed("w_z", "w_Z", "b_z"),
                                           Gate("w_g", "w_G", "b_g", "b_G")), ("h0",)),
    "RNN_TANH": Layout("rnn", None, "tanh", (_summed("w_x", "w_a", "b_a"),), ("a0",)),
    "RNN_RELU": Layout("rnn", None, "relu", (_summed("w_x", "w_a", "b_a"),), ("a0",)),
}
# nn.LSTM(proj_size=P): h = weight_hr · (o ⊙ tanh(c)), fed back and output, is lstmp's r
PROJECTED_LSTM = Layout("lstmp", None, None, LAYOUTS["LSTM"].gates, ("r0", "c0"), projection="w_r")


def layout_for(mode, proj_size=0):
    """The :class:`Layout` of PyTorch's mode (``LSTM``, ``GRU``, ``RNN_TANH``,
    ``RNN_RELU``) with ``proj_size``."""
    return PROJECTED_LSTM if proj_size else LAYOUTS[mode]


def direction_params(module, layer, reverse=False):
    """The symrnn parameters of layer ``layer`` (0-based, as PyTorch counts)
    of an ``nn.RNN``/``LSTM``/``GRU`` (or a subclass), one direction: its
    weights' row blocks by symrnn's cell names, as views that autograd
    follows back to the module's parameters."""
    suffix = f"_l{layer}{'_reverse' if reverse else ''}"
    layout = layout_for(module.mode, getattr(module, "proj_size", 0))
    # one chunk() per tensor, not a slice per gate: autograd then joins the
    # gates' gradients with one cat, where each slice would add a full-size zero tensor
    chunks = [None if p is None else p.chunk(len(layout.gates)) for p in _torch_pieces(module, suffix)]
    params = {}
    for k, gate in enumerate(layout.gates):
        params.update(_gate_values(gate, [None if c is None else c[k] for c in chunks]))
    if layout.projection is not None:
        params[layout.projection] = getattr(module, f"weight_hr{suffix}")
    return params


def layout_of(module):
    """The :class:`Layout` of an ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU``; a
    clear error for anything symrnn has no cell for."""
    import torch

    if not isinstance(module, torch.nn.RNNBase) or module.mode not in LAYOUTS:
        raise ConfigError(f"expected a torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")
    if module.bidirectional:
        raise ConfigError("bidirectional=True: a symrnn network runs forward in time, so the reverse "
                          "direction's weights have nowhere to go; symrnn.nn takes bidirectional modules")
    return layout_for(module.mode, getattr(module, "proj_size", 0))


def network_of(module, **options):
    """The symrnn network whose parameters :func:`from_torch` gives for
    ``module``; ``options`` (output, loss, ...) as :func:`symrnn.network` takes them.
    Refuses a module whose settings the network would not carry."""
    layout = layout_of(module)
    dropped = ["batch_first=True (a network takes x time-major, (T, B, D))"] if module.batch_first else []
    if module.dropout and module.num_layers > 1:
        dropped.append(f"dropout={module.dropout} (a network has no dropout between layers)")
    if dropped:
        raise ConfigError(f"{type(module).__name__} has {' and '.join(dropped)}; symrnn.nn carries every "
                          "setting of nn.RNN, LSTM and GRU with the same state_dict")
    from .network import Network
    from .registry import resolve_cell

    cell = resolve_cell(layout.cell, layout.variant, layout.activation)
    return Network(cell, layers=module.num_layers, **options)


def from_torch(module, linear=None, *, tensors=False):
    """The parameters of ``network_of(module)`` read from ``module`` (and the
    output layer ``w_y``, ``b_y`` from ``linear``, an ``nn.Linear``, if given):
    NumPy arrays in the module's dtype, or detached torch tensors on its
    device with ``tensors=True`` (for a generated torch module)."""
    import torch

    layout_of(module)  # refuses what has no symrnn network, before any read
    layers, params = module.num_layers, {}
    with torch.no_grad():
        for layer in range(1, layers + 1):
            for name, value in direction_params(module, layer - 1).items():
                params[naming.layer_name(name, layer, layers)] = value.detach().clone()
        if linear is not None:
            _check_linear(linear, _output_size(module))
            params[naming.OUTPUT_WEIGHT] = linear.weight.detach().clone()
            params[naming.OUTPUT_BIAS] = (linear.bias.detach().clone() if linear.bias is not None
                                          else torch.zeros_like(linear.weight[:, 0]))
    return params if tensors else {name: value.cpu().numpy() for name, value in params.items()}


def to_torch(params, module, linear=None):
    """Write symrnn parameters (NumPy arrays or tensors, by the names
    :func:`from_torch` gives) into ``module`` (and ``linear``) in place.
    Every parameter must be there, with its shape, finite; no other name."""
    import torch

    layout = layout_of(module)
    H, layers = module.hidden_size, module.num_layers
    expected = _expected_shapes(layout, module, linear)
    _check_params(params, expected)
    with torch.no_grad():
        for layer in range(1, layers + 1):
            pieces = _torch_pieces(module, f"_l{layer - 1}")
            for k, gate in enumerate(layout.gates):
                rows = slice(k * H, (k + 1) * H)
                _write_gate(gate, pieces, rows, lambda name, layer=layer: params[
                    naming.layer_name(name, layer, layers)])
            if layout.projection is not None:
                getattr(module, f"weight_hr_l{layer - 1}").copy_(
                    _as_tensor(params[naming.layer_name(layout.projection, layer, layers)]))
        if linear is not None:
            linear.weight.copy_(_as_tensor(params[naming.OUTPUT_WEIGHT]))
            if linear.bias is not None:
                linear.bias.copy_(_as_tensor(params[naming.OUTPUT_BIAS]))
    return module


def _torch_pieces(module, suffix):
    """The weight_ih, weight_hh, bias_ih, bias_hh of one layer and direction
    (``suffix``: ``_l0``, ``_l1_reverse``); the biases None for a module made
    with ``bias=False``."""
    biases = (getattr(module, f"bias_ih{suffix}"), getattr(module, f"bias_hh{suffix}")) if module.bias else (None, None)
    return (getattr(module, f"weight_ih{suffix}"), getattr(module, f"weight_hh{suffix}"), *biases)


def _gate_values(gate, pieces):
    """(symrnn name, tensor) of one gate, from its rows of weight_ih,
    weight_hh, bias_ih and bias_hh (``pieces``; the biases None without bias)."""
    weight_ih, weight_hh, bias_ih, bias_hh = pieces
    values = [(gate.input_weight, weight_ih), (gate.hidden_weight, weight_hh)]
    if bias_ih is None:
        zero = weight_ih.new_zeros(weight_ih.shape[0])
        return values + [(name, zero) for name in dict.fromkeys((gate.input_bias, gate.hidden_bias))]
    if gate.summed_bias:
        return values + [(gate.input_bias, bias_ih + bias_hh)]
    return values + [(gate.input_bias, bias_ih), (gate.hidden_bias, bias_hh)]


def _write_gate(gate, pieces, rows, value_of):
    weight_ih, weight_hh, bias_ih, bias_hh = pieces
    weight_ih[rows].copy_(_as_tensor(value_of(gate.input_weight)))
    weight_hh[rows].copy_(_as_tensor(value_of(gate.hidden_weight)))
    if bias_ih is None:
        biases = {name: value_of(name) for name in (gate.input_bias, gate.hidden_bias)}
        nonzero = [name for name, value in biases.items() if np.any(np.asarray(_as_numpy(value)) != 0)]
        if nonzero:
            raise ConfigError(f"the module was made with bias=False, but {nonzero[0]} is not zero")
        return
    bias_ih[rows].copy_(_as_tensor(value_of(gate.input_bias)))
    if gate.summed_bias:
        bias_hh[rows].fill_(-0.0)  # b + (-0.0) == b bit for bit: the pair sums back to b exactly
    else:
        bias_hh[rows].copy_(_as_tensor(value_of(gate.hidden_bias)))


def _output_size(module):
    """The size of what each layer outputs and feeds back: P with proj_size, else H."""
    return getattr(module, "proj_size", 0) or module.hidden_size


def _expected_shapes(layout, module, linear):
    D, H, layers = module.input_size, module.hidden_size, module.num_layers
    P = _output_size(module)
    shapes = {}
    for layer in range(1, layers + 1):
        inputs = D if layer == 1 else P
        for gate in layout.gates:
            shapes[naming.layer_name(gate.input_weight, layer, layers)] = (H, inputs)
            shapes[naming.layer_name(gate.hidden_weight, layer, layers)] = (H, P)
            for bias in (gate.input_bias, gate.hidden_bias):
                shapes[naming.layer_name(bias, layer, layers)] = (H,)
        if layout.projection is not None:
            shapes[naming.layer_name(layout.projection, layer, layers)] = (P, H)
    if linear is not None:
        _check_linear(linear, P)
        shapes[naming.OUTPUT_WEIGHT] = (linear.out_features, P)
        shapes[naming.OUTPUT_BIAS] = (linear.out_features,)
    return shapes


def _check_params(params, expected):
    if not isinstance(params, dict):
        raise ConfigError(f"params must be a dict of arrays by name, got {type(params).__name__}")
    missing = [name for name in expected if name not in params]
    unknown = sorted(name for name in params if name not in expected)
    if missing or unknown:
        raise ConfigError("params do not fit the module: "
                          + "; ".join(filter(None, [missing and f"missing {', '.join(missing)}",
                                                    unknown and f"unknown {', '.join(map(str, unknown))}"])))
    for name, shape in expected.items():
        value = np.asarray(_as_numpy(params[name]))
        if value.shape != shape:
            raise ConfigError(f"{name} has shape {value.shape}; the module needs {shape}")
        if not np.issubdtype(value.dtype, np.floating) or not np.all(np.isfinite(value)):
            raise ConfigError(f"{name} must hold finite floating-point values")


def _check_linear(linear, hidden_size):
    import torch

    if not isinstance(linear, torch.nn.Linear) or linear.in_features != hidden_size:
        raise ConfigError(f"the output layer must be a torch.nn.Linear from {hidden_size} features "
                          f"(what the module outputs: its hidden or projection size), got {linear!r}")


def _as_numpy(value):
    return value.detach().cpu().numpy() if hasattr(value, "detach") else value


def _as_tensor(value):
    import torch

    return value if isinstance(value, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(value))
