"""``torch.nn.LSTM``, ``GRU`` and ``RNN`` whose backward is symrnn's derived
BPTT, and :class:`Recurrent`, the same for any cell.

    >>> import torch, symrnn.nn
    >>> rnn = symrnn.nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True)
    >>> output, (h_n, c_n) = rnn(torch.randn(5, 7, 3))
    >>> tuple(output.shape), tuple(h_n.shape)
    ((5, 7, 8), (4, 5, 4))
    >>> mgu = symrnn.nn.Recurrent("mgu", 3, 4, num_layers=2)
    >>> output, h_n = mgu(torch.randn(7, 5, 3))
    >>> sorted(name for name, _ in mgu.named_parameters())[:3]
    ['b_f_l0', 'b_f_l1', 'b_g_l0']

:class:`LSTM`, :class:`GRU` and :class:`RNN` subclass ``torch.nn.LSTM``,
``GRU`` and ``RNN`` and replace only ``forward``: constructor, argument
checks, attributes, parameters (``weight_ih_l0``, ``bias_hh_l1_reverse``,
``weight_hr_l0``), initialisation, ``state_dict``, ``repr`` and ``_apply``
are PyTorch's own, so checkpoints move both ways unchanged and
``isinstance(m, torch.nn.LSTM)`` holds. The LSTM is the built-in cell
``lstm`` (``lstmp`` with ``proj_size``), the GRU ``gru --variant pytorch``,
the RNN ``rnn`` with its ``nonlinearity``; :mod:`symrnn.interop`'s
``LAYOUTS`` says which rows of PyTorch's weights are which symrnn parameter.

Each layer and direction runs the generated module's ``apply`` (one
``torch.autograd.Function``: the derived BPTT, seeded by the outputs' and
the final states' adjoints) on a dict of slices of the module's
``nn.Parameter``\\ s, so autograd carries the gradients back to them.

Decisions (the README's "Swap nn.LSTM for any cell" says the same):

- :class:`Recurrent` names a parameter ``<notes name>_l<k>`` and, for the
  reverse direction, ``<notes name>_l<k>_reverse`` (``w_f_l0``,
  ``w_F_l1_reverse``), layers counted from 0 as PyTorch counts them.
  Parameters start uniform in (-1/sqrt(H), 1/sqrt(H)) as PyTorch's, except
  the notes' gains ``g^(...)`` (``g_f``), which start at 1 as
  ``nn.LayerNorm``'s weight does.
- ``bias=False`` drops the cell's additive biases: the parameters every
  occurrence of which is a term of a sum (``b^(f)`` in ``... + b^(f)``, the
  GRU's ``b^(G)`` inside ``r * (w^(G) h + b^(G))``). They are fixed at zero
  and are not parameters. A ``b^(...)`` that multiplies (a peephole
  ``b^(pf) * c[t-1]``) is a weight and stays; a cell with no additive bias
  refuses ``bias=False`` by name.
- Inputs: (T, B, D), (B, T, D) with ``batch_first``, unbatched (T, D), or a
  ``PackedSequence`` (sorted or not), which is padded in the original item
  order, run with each item's length, and packed back with the input's own
  ``batch_sizes`` and indices. The reverse direction reads each item
  reversed within its own length (a gather index), so padding never enters
  it; outputs are ``[forward, reverse]`` along the last axis.
- Dropout between layers in training mode, drawn as PyTorch's CPU kernels
  draw it: ``F.dropout`` of each layer's whole time-major output, of the
  packed data for packed input (the same masks for the same seed).
- Under ``torch.autocast`` every tensor entering the Function is cast to the
  autocast dtype, and the Function runs with autocast off (it expects one
  dtype); gradients reach float32 parameters through the casts.
- The generated modules are cached on disk (``$SYMRNN_CACHE``, else
  ``$XDG_CACHE_HOME/symrnn`` or ``~/.cache/symrnn``) keyed by the cell and a
  hash of symrnn's sources, and in memory per process: a built-in's module is
  derived once per installation. The ``nn.Module`` itself holds only the
  cell's text or name, so it pickles and deep-copies.

Imports: torch, naming; symrnn's interop, registry, network and codegen only when a
module must be generated or a PyTorch layout read.
"""

import hashlib
import importlib.util
import json
import math
import numbers
import os
import sys
import types
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
from torch.nn.utils.rnn import PackedSequence

from . import naming
from .files import OutputPathError, write_atomic

__all__ = ["GRU", "LSTM", "RNN", "Recurrent", "cache_dir"]

REVERSE = "_reverse"
_CELL_FILES = Path(__file__).resolve().parent / "cell_files"


# ---------------------------------------------------------------- the engines


@dataclass(frozen=True)
class Engine:
    """A generated ``output="states"`` one-layer torch module and what
    :mod:`symrnn.nn` needs to know of its cell: the size letters of its input
    and output, its additive biases and gains (see the module docstring)."""

    module: object
    input_letter: str
    output_letter: str
    biases: tuple
    gains: tuple

    @property
    def params(self):
        return self.module.PARAMS

    @property
    def states(self):
        """The initial states' names, in the cell's state order (``c0``, ``h0``)."""
        return self.module.INITIAL_STATES[0]

    def state_letter(self, name):
        return self.module._STATE_SIZES[name]


_ENGINES = {}  # cache key -> Engine, for this process


def engine(spec):
    """The :class:`Engine` of a cell ``spec`` (see :func:`cell_spec`): from this
    process's cache, the disk cache, or generated (and cached) now."""
    key = _cache_key(spec)
    if key not in _ENGINES:
        _ENGINES[key] = _cached_engine(key, spec)
    return _ENGINES[key]


def cell_spec(cell, variant=None, activation=None):
    """What an ``nn.Module`` keeps of its cell (picklable, and the cache key's
    part): ``("builtin", name, variant, activation)`` for a built-in name,
    ``("text", cell file text)`` for a cell file's path or a ``Cell``."""
    if isinstance(cell, str) and not (cell.endswith(".cell") or "/" in cell):
        builtins = sorted(path.stem for path in _CELL_FILES.glob("*.cell"))  # the registry would load SymPy
        if cell not in builtins:
            raise ValueError(f"cell: unknown built-in cell {cell!r}; expected one of {builtins}, "
                             "a cell file's path or a symrnn Cell")
        return ("builtin", cell, variant, activation)
    from .cellfile import format_cell
    from .registry import resolve_cell

    return ("text", format_cell(resolve_cell(cell)))


def cache_dir():
    """Where generated modules are cached: ``$SYMRNN_CACHE``, else ``symrnn``
    under ``$XDG_CACHE_HOME`` or ``~/.cache``."""
    given = os.environ.get("SYMRNN_CACHE")
    if given:
        return Path(given)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "symrnn"


@cache
def _source_hash():
    """A hash of symrnn's sources, templates and cell files: a cached module
    is stale as soon as any of them changes."""
    here = Path(__file__).resolve().parent
    from .templating import template_dir

    digest = hashlib.sha256()
    files = [*here.rglob("*.py"), *here.rglob("*.cell"), *Path(template_dir()).glob("*.j2")]
    for path in sorted(set(files)):
        digest.update(str(path.relative_to(path.parent.parent)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _cache_key(spec):
    return hashlib.sha256(json.dumps([_source_hash(), list(spec)]).encode()).hexdigest()[:32]


def _cached_engine(key, spec):
    """The engine from the disk cache, or generated and written there. A cache
    that cannot be written only costs the derivation again next time."""
    folder = cache_dir() / "torch"
    source_path, meta_path = folder / f"{key}.py", folder / f"{key}.json"
    if not meta_path.is_file():
        source, meta = _generate(spec)
        try:
            write_atomic(source_path, source, parents=True)
            write_atomic(meta_path, json.dumps(meta))  # last: an entry exists once both files do
        except OutputPathError as error:
            warnings.warn(f"symrnn.nn: cannot cache the generated module in {folder} ({error}); "
                          "set SYMRNN_CACHE to a writable folder", stacklevel=3)
            return _engine_of(_exec_source(source, _module_name(spec, key)), meta)
    return _engine_of(_import_file(source_path, _module_name(spec, key)), json.loads(meta_path.read_text()))


def _module_name(spec, key):
    """The engine's module name, which its errors quote: symrnn_nn_<cell>_<key>."""
    cell = "_".join(filter(None, spec[1:])) if spec[0] == "builtin" else _cell_name(spec[1])
    return f"symrnn_nn_{cell}_{key[:8]}"


def _engine_of(module, meta):
    return Engine(module, meta["input"], meta["output"], tuple(meta["biases"]), tuple(meta["gains"]))


def _generate(spec):
    """The torch module's source for ``spec`` and the facts of its cell (SymPy: only here)."""
    from .cellfile import parse_cell
    from .codegen import render
    from .network import Network
    from .registry import resolve_cell

    cell = resolve_cell(*spec[1:]) if spec[0] == "builtin" else parse_cell(spec[1])
    network = Network(cell, layers=1, output="states")
    meta = {"input": network.input_letter, "output": network.output_letter,
            "biases": _additive_biases(cell),
            "gains": [p.name for p in cell.parameters if not p.is_matrix and naming.is_gain(p.name)]}
    return render(network, backend="torch"), meta


def _additive_biases(cell):
    """The vector parameters every occurrence of which is a term of a sum:
    those ``bias=False`` fixes at zero."""
    import sympy

    vectors = {p.name for p in cell.parameters if not p.is_matrix}
    places = {name: set() for name in vectors}

    def visit(expr, parent):
        if isinstance(expr, sympy.Symbol) and expr.name in places:
            places[expr.name].add(isinstance(parent, sympy.Add))
        for arg in expr.args:
            visit(arg, expr)

    for _, rhs in cell.equations:
        visit(rhs, None)
    return [name for name, seen in places.items() if seen == {True}]


def _import_file(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # torch.compile looks the Function's module up by name
    spec.loader.exec_module(module)
    return module


def _exec_source(source, name):
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)  # noqa: S102 (symrnn's own generated code)
    return module


# ---------------------------------------------------------------- inputs and outputs


class _Batch:
    """The input as the engine takes it (time-major padded ``x``, ``lengths``
    or None for all T, items in the caller's order) and how outputs and final
    states go back into the input's own form."""

    def __init__(self, input, batch_first, who, tail=""):
        self.packed = input if isinstance(input, PackedSequence) else None
        if self.packed is not None:
            self.rows, lengths = _packed_rows(input)
            self.x = _unpacked(input.data, self.rows, len(input.batch_sizes), len(lengths))  # the caller's order
            self.lengths, self.batched = lengths.to(input.data.device), True
            self.checked, self.batch_sizes = input.data, input.batch_sizes
            return
        if not isinstance(input, torch.Tensor):
            raise TypeError(f"{who}: input must be a Tensor or a PackedSequence, got {type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(f"{who}: Expected input to be 2D or 3D, got {input.dim()}D{tail} instead")
        self.batched, self.batch_sizes, self.lengths = input.dim() == 3, None, None
        self.checked = input if self.batched else input.unsqueeze(0 if batch_first else 1)
        self.x = self.checked.transpose(0, 1) if batch_first else self.checked
        self.batch_first = batch_first

    def output(self, out):
        """``out`` (T, B, C) in the input's form."""
        if self.packed is not None:
            return self._repack(out)
        if not self.batched:
            return out.squeeze(1)
        return out.transpose(0, 1) if self.batch_first else out

    def states(self, states):
        return states if self.batched else tuple(s.squeeze(1) for s in states)

    def dropout(self, out, p):
        """F.dropout of a layer's output as PyTorch's kernels draw it: of the
        packed data for packed input, else of the time-major output."""
        if self.packed is None:
            return torch.nn.functional.dropout(out, p, training=True)
        data = torch.nn.functional.dropout(self._repack(out).data, p, training=True)
        return _unpacked(data, self.rows, out.shape[0], out.shape[1])

    def _repack(self, out):
        """Pack ``out`` (the caller's order) with the input's own batch sizes and indices."""
        packed = self.packed
        return PackedSequence(out[self.rows], packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)


def _packed_rows(packed):
    """``((steps, items), lengths)``: the step and the item (in the caller's
    order) of each row of ``packed.data`` (rows run step by step, each
    step's items in the sorted order), and each item's length. One index op
    then packs or unpacks, where torch's pack/pad functions copy step by step."""
    sizes = packed.batch_sizes
    steps = torch.repeat_interleave(torch.arange(len(sizes)), sizes)
    position = torch.arange(len(steps)) - (torch.cumsum(sizes, 0) - sizes)[steps]  # place within its step
    order = packed.sorted_indices
    items = position if order is None else order.cpu()[position]
    lengths = torch.empty(int(sizes[0]), dtype=torch.long)
    sorted_lengths = (sizes[None, :] > torch.arange(int(sizes[0]))[:, None]).sum(1)
    lengths[torch.arange(len(sorted_lengths)) if order is None else order.cpu()] = sorted_lengths
    device = packed.data.device
    return (steps.to(device), items.to(device)), lengths


def _unpacked(data, rows, T, B):
    """The padded (T, B, n) tensor, zero past each item's length, of packed rows ``data``."""
    padded = data.new_zeros((T, B, data.shape[1]))
    return padded.index_put(rows, data)


def _reverser(lengths, T):
    """A function reversing (T, B, C) tensors in time within each item's length
    (steps past it stay where they are): one gather, no loop over items."""
    if lengths is None:
        return lambda v: v.flip(0)
    t = torch.arange(T, device=lengths.device)[:, None]
    index = torch.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)
    return lambda v: v.gather(0, index[:, :, None].expand(-1, -1, v.shape[2]))


def _eager(function):
    """``function`` run eagerly under torch.compile (a graph break at the
    recurrent module; the model around it compiles): traced, the engine's time loop would unroll into a graph of T steps, compiled again
    for every new T (34 s for T = 5 and 2 layers on a 2-core CPU).
    torch.compiler.disable is looked up only here: it imports torch._dynamo
    (1.8 s), which eager use never needs."""
    return torch.compiler.disable(function)


def _autocast_dtype(device):
    return torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else None


# ---------------------------------------------------------------- the stack


class _Stack:
    """What :class:`Recurrent` and the ``nn.*`` drop-ins share: ``forward``
    over layers and directions. A subclass gives the engine (``_engine``),
    each direction's parameters by the engine's names (``_direction_params``),
    the engine's state names in the order ``hx`` holds them (``_hx_names``)
    and the checks ``nn.*`` makes (``_check``)."""

    def forward(self, input, hx=None):
        if torch.compiler.is_compiling():
            return _eager(self._forward)(input, hx)
        return self._forward(input, hx)

    def _forward(self, input, hx):
        batch = _Batch(input, self.batch_first, self._who, self._dims_tail)
        hx = self._initial_states(hx, batch)
        outputs, finals = self._stack(batch, hx)
        return batch.output(outputs), self._hx_form(batch.states(finals))

    def _initial_states(self, hx, batch):
        """``hx`` as a tuple in ``_hx_names``' order, each (L * dirs, B, size),
        zeros where not given; checked as ``nn.*`` checks it."""
        B = batch.x.shape[1]
        if hx is None:
            hx = tuple(batch.x.new_zeros((self._directions * self.num_layers, B, self._state_size(name)))
                       for name in self._hx_names)
        else:
            hx = self._hx_tuple(hx)
            if batch.packed is None:
                self._check_hx_dims(hx, batch.batched)
                hx = hx if batch.batched else tuple(h.unsqueeze(1) for h in hx)
        self._check(batch, hx)
        return hx

    def _stack(self, batch, hx):
        engine_ = self._engine()
        x, lengths = batch.x, batch.lengths
        reverse = _reverser(lengths, x.shape[0]) if self.bidirectional else None
        finals = [[] for _ in hx]
        for k in range(self.num_layers):
            outs = []
            for d in range(self._directions):
                state0 = {name: h[k * self._directions + d] for name, h in zip(self._hx_names, hx)}
                out, final = _apply(engine_, self._direction_params(k, d), x if d == 0 else reverse(x),
                                    lengths, state0)
                outs.append(out if d == 0 else reverse(out))
                for collected, name in zip(finals, self._hx_names):
                    collected.append(final[name])
            x = outs[0] if len(outs) == 1 else torch.cat(outs, 2)
            if self.dropout and self.training and k < self.num_layers - 1:
                x = batch.dropout(x, self.dropout)
        return x, tuple(torch.stack(f) for f in finals)

    @property
    def _directions(self):
        return 2 if self.bidirectional else 1

    @property
    def _who(self):
        return type(self).__name__

    _dims_tail = ""  # nn.RNN says "got 4D tensor instead"


def _apply(engine_, params, x, lengths, state0):
    """One layer and direction through the engine's ``apply``; under autocast,
    every tensor cast to the autocast dtype and the Function run with autocast off."""
    dtype = _autocast_dtype(x.device)
    if dtype is None:
        return engine_.module.apply(params, x, lengths, state0)
    cast = {name: value.to(dtype) for name, value in params.items()}
    states = {name: value.to(dtype) for name, value in state0.items()}
    with torch.autocast(x.device.type, enabled=False):
        return engine_.module.apply(cast, x.to(dtype), lengths, states)


# ---------------------------------------------------------------- nn.LSTM, nn.GRU, nn.RNN

class _TorchLayout(_Stack):
    """``forward`` for a subclass of ``torch.nn.RNNBase``: its checks, its
    parameters sliced into the engine's by :mod:`symrnn.interop`'s layout."""

    def forward(self, input, hx=None):
        self._update_flat_weights()
        return super().forward(input, hx)

    @property
    def _hx_names(self):
        return self._layout().hx

    def _layout(self):
        from .interop import layout_for

        return layout_for(self.mode, getattr(self, "proj_size", 0))

    def _engine(self):
        layout = self._layout()
        return engine(("builtin", layout.cell, layout.variant, layout.activation))

    def _state_size(self, name):
        return self.proj_size if self.proj_size and name != "c0" else self.hidden_size  # c: always H

    def _direction_params(self, k, d):
        from .interop import direction_params

        return direction_params(self, k, reverse=bool(d))

    def _hx_tuple(self, hx):
        return tuple(hx) if len(self._hx_names) > 1 else (hx,)

    def _hx_form(self, states):
        return states if len(self._hx_names) > 1 else states[0]

    def _check_hx_dims(self, hx, batched):
        """The messages torch.nn's forward gives for hx of the wrong rank."""
        want = 3 if batched else 2
        if all(h.dim() == want for h in hx):
            return
        which = "batched 3-D" if batched else "unbatched 2-D"
        if len(hx) > 1:
            raise RuntimeError(f"For {which} input, hx and cx should also be {want}-D but got "
                               f"({hx[0].dim()}-D, {hx[1].dim()}-D) tensors")
        raise RuntimeError(f"For {which} input, hx should also be {want}-D but got {hx[0].dim()}-D tensor")

    def _check(self, batch, hx):
        self.check_forward_args(batch.checked, self._hx_form(hx), batch.batch_sizes)


class LSTM(_TorchLayout, torch.nn.LSTM):
    """``torch.nn.LSTM`` (same constructor, parameters and state_dict) whose
    forward runs symrnn's derived BPTT for the ``lstm`` cell (``lstmp`` with
    ``proj_size``)."""

    _who = "LSTM"


class GRU(_TorchLayout, torch.nn.GRU):
    """``torch.nn.GRU`` whose forward runs symrnn's ``gru --variant pytorch``."""

    _who = "GRU"


class RNN(_TorchLayout, torch.nn.RNN):
    """``torch.nn.RNN`` whose forward runs symrnn's ``rnn`` with its nonlinearity."""

    _who, _dims_tail = "RNN", " tensor"


# ---------------------------------------------------------------- any cell


def _check_arguments(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional):
    """torch.nn.RNNBase's checks, with its exception types and messages."""
    if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
        raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                         "element being zeroed")
    if dropout > 0 and num_layers == 1:
        warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                      f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                      stacklevel=3)
    for name, value in (("bias", bias), ("batch_first", batch_first), ("bidirectional", bidirectional)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} should be of type bool, got: {type(value).__name__}")
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
        if value <= 0:
            raise ValueError(f"{name} must be greater than zero")


class Recurrent(_Stack, torch.nn.Module):
    """A stack of any cell used as ``torch.nn.LSTM`` is: ``cell`` is a
    built-in name (``"mgu"``), a cell file's path or a :class:`symrnn.Cell`.

    ``forward(input, hx=None)`` returns ``(output, h_n)`` for a cell of one
    state, ``(output, (s1_n, s2_n, ...))`` in the cell's state order for
    several, each (num_layers * directions, B, its size); ``hx`` in the same
    form. ``sizes`` gives further size letters (``{"P": 16}`` for ``lstmp``).
    Parameters are ``<name>_l<k>`` and ``<name>_l<k>_reverse``.
    """

    def __init__(self, cell, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, *, sizes=None, device=None, dtype=None):
        super().__init__()
        _check_arguments(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)
        self._spec = cell_spec(cell)
        self.cell = self._spec[1] if self._spec[0] == "builtin" else _cell_name(self._spec[1])
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        engine_ = self._engine()
        if not bias and not engine_.biases:
            raise ValueError(f"bias=False: cell {self.cell!r} has no additive bias to drop")
        self.sizes = self._all_sizes(engine_, sizes)
        for k in range(num_layers):
            for d in range(self._directions):
                for name, shape in self._shapes(engine_, k).items():
                    if bias or name not in engine_.biases:
                        value = torch.empty(shape, device=device, dtype=dtype)
                        self.register_parameter(self._param_name(name, k, d), torch.nn.Parameter(value))
        self.reset_parameters()

    def reset_parameters(self):
        """Uniform in (-1/sqrt(H), 1/sqrt(H)) as PyTorch's recurrent layers; gains 1."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        gains = {self._param_name(g, k, d) for g in self._engine().gains
                 for k in range(self.num_layers) for d in range(self._directions)}
        with torch.no_grad():
            for name, param in self.named_parameters():
                param.fill_(1.0) if name in gains else param.uniform_(-bound, bound)

    def _engine(self):
        return engine(self._spec)

    @staticmethod
    def _param_name(name, k, d):
        return f"{name}_l{k}{REVERSE if d else ''}"

    def _all_sizes(self, engine_, sizes):
        """Every size letter the cell uses besides the input's: H, and the further ones from ``sizes``."""
        sizes = dict(sizes or {})
        for letter, size in sizes.items():
            if isinstance(size, bool) or not isinstance(size, int):
                raise TypeError(f"sizes[{letter!r}] should be of type int, got: {type(size).__name__}")
            if size <= 0:
                raise ValueError(f"sizes[{letter!r}] must be greater than zero")
        letters = {letter for shape in engine_.params.values() for letter in shape} - {"D"}
        letters |= {engine_.state_letter(name) for name in engine_.states} | {engine_.output_letter}
        if "H" in sizes or "D" in sizes:
            raise ValueError("sizes: give D and H as input_size and hidden_size")
        unknown, missing = sorted(set(sizes) - letters), sorted(letters - set(sizes) - {"H"})
        if unknown or missing:
            raise ValueError(f"sizes: cell {self.cell!r} uses the size letters {sorted(letters)}; "
                             + (f"unknown {unknown}" if unknown else f"missing {missing}"))
        return {"H": self.hidden_size, **sizes}

    def _layer_input_size(self, engine_, k):
        return self.input_size if k == 0 else self.sizes[engine_.output_letter] * self._directions

    def _shapes(self, engine_, k):
        sizes = {**self.sizes, engine_.input_letter: self._layer_input_size(engine_, k)}
        if engine_.input_letter != "D" and sizes[engine_.input_letter] != self.sizes[engine_.input_letter]:
            raise ValueError(f"cell {self.cell!r} uses its input elementwise (size x {engine_.input_letter}): "
                             f"layer {k}'s input size must be {self.sizes[engine_.input_letter]}, got "
                             f"{sizes[engine_.input_letter]} (input_size, or bidirectional)")
        return {name: tuple(sizes[letter] for letter in shape) for name, shape in engine_.params.items()}

    def _direction_params(self, k, d):
        engine_ = self._engine()
        first = next(self.parameters())
        return {name: getattr(self, self._param_name(name, k, d)) if self.bias or name not in engine_.biases
                else first.new_zeros(shape) for name, shape in self._shapes(engine_, k).items()}

    @property
    def _hx_names(self):
        return self._engine().states

    def _state_size(self, name):
        return self.sizes[self._engine().state_letter(name)]

    def _hx_tuple(self, hx):
        if len(self._hx_names) == 1:
            if not isinstance(hx, torch.Tensor):
                raise TypeError(f"hx must be a Tensor for cell {self.cell!r} (one state), got {type(hx).__name__}")
            return (hx,)
        if not isinstance(hx, (tuple, list)) or len(hx) != len(self._hx_names) or \
                not all(isinstance(h, torch.Tensor) for h in hx):
            raise TypeError(f"hx must be a tuple of {len(self._hx_names)} Tensors for cell {self.cell!r} "
                            f"(states {', '.join(self._engine().module.CELL_STATES)}), got {_describe(hx)}")
        return tuple(hx)

    def _hx_form(self, states):
        return states if len(self._hx_names) > 1 else states[0]

    def _check_hx_dims(self, hx, batched):
        want = 3 if batched else 2
        for name, h in zip(self._hx_names, hx):
            if h.dim() != want:
                which = "batched 3-D" if batched else "unbatched 2-D"
                raise RuntimeError(f"For {which} input, hx ({name[:-1]}) should also be {want}-D but got "
                                   f"{h.dim()}-D tensor")

    def _check(self, batch, hx):
        """torch.nn.RNNBase.check_forward_args' checks and messages."""
        input, first = batch.checked, next(self.parameters())
        if input.dtype != first.dtype and not torch.is_autocast_enabled(input.device.type):
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({first.dtype}). "
                             f"Convert input: input.to({first.dtype}), or convert model: model.to({input.dtype})")
        want = 2 if batch.batch_sizes is not None else 3
        if input.dim() != want:
            raise RuntimeError(f"input must have {want} dimensions, got {input.dim()}")
        if input.size(-1) != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.size(-1)}")
        B = batch.x.shape[1]
        for k, (name, h) in enumerate(zip(self._hx_names, hx)):
            expected = (self.num_layers * self._directions, B, self._state_size(name))
            if tuple(h.shape) != expected:
                raise RuntimeError(f"Expected hidden[{k}] size {expected}, got {list(h.shape)}")

    def extra_repr(self):
        text = f"{self.cell!r}, {self.input_size}, {self.hidden_size}"
        defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0, "bidirectional": False}
        text += "".join(f", {name}={getattr(self, name)}" for name, default in defaults.items()
                        if getattr(self, name) != default)
        further = {letter: size for letter, size in self.sizes.items() if letter != "H"}
        return text + (f", sizes={further}" if further else "")


def _cell_name(text):
    first = next(line for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return first.split()[1]


def _describe(value):
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__
