"""Weights between Flax's recurrent cells and symrnn networks.

:func:`from_flax` reads the parameters of a Flax ``nn.OptimizedLSTMCell``
(or ``nn.LSTMCell``, the same parameters and equations) or ``nn.GRUCell``
into those of the matching symrnn network (:func:`network_of`: ``lstm``, or
``gru`` with its ``pytorch`` variant), by the names the generated modules use
(``w_f``, ``w_F``, ``b_f``; ``w_f_l2`` in layer 2 of a stack);
:func:`to_flax` writes such parameters back as a cell's Flax parameters.
:func:`state0_of` and :func:`carry_of` move a Flax carry to and from the
initial states of ``apply``/``forward`` (``c0``, ``h0``).

How each cell maps is data (:data:`LAYOUTS`): for each Flax leaf (its Dense
submodule and ``kernel`` or ``bias``) the symrnn parameter it is. A Flax
kernel is (inputs, features), applied as ``x @ kernel``; a symrnn weight is
(features, inputs), applied as ``w @ x``: kernels are transposed, so both
directions are exact.

The equations, as Flax writes them (flax 0.12's source) beside the cells':

- LSTM: ``i, f, o = σ(x W_i? + h W_h? + b_h?)``, ``g = tanh(...)``,
  ``c' = f c + i g``, ``h' = o tanh(c')``, the biases on the hidden Dense
  (``hi``, ``hf``, ``hg``, ``ho``) only: symrnn's ``lstm`` with
  ``b_i = hi.bias``; the carry is ``(c, h)``.
- GRU: ``r, z = σ(x W_i? + b_i? + h W_h?)``,
  ``n = tanh(x W_in + b_in + r (h W_hn + b_hn))``, ``h' = (1 - z) n + z h``:
  the reset gate inside with its own recurrent bias, ``gru --variant
  pytorch`` with ``b_g = in.bias`` and ``b_G = hn.bias``.

Refused by name: another ``gate_fn`` or ``activation_fn`` than the cell's
default (sigmoid, tanh); ``MGUCell`` (Flax gates the recurrent product's
result, ``f (W_hn h + b_hn)``, and keeps ``f h``; symrnn's ``mgu`` gates the
state before the product, ``W_G (f h)``, and keeps ``(1 - f) h``);
``SimpleCell``, ``ConvLSTMCell`` and anything else. A cell's ``dtype``
(computation precision) is the caller's to match.

flax is imported only when a function here is called (it is not a
dependency); the network (SymPy) only by :func:`network_of`. Imports:
naming and errors.
"""

from dataclasses import dataclass

import numpy as np

from . import naming
from .errors import ConfigError


@dataclass(frozen=True)
class Layout:
    """A Flax cell as a symrnn cell: the cell (and variant) as
    :func:`symrnn.network` takes them, the symrnn parameter of each Flax leaf
    ``(dense, leaf)``, and the initial states in the order of Flax's carry."""

    cell: str
    variant: str | None
    leaves: tuple  # ((dense, "kernel" | "bias", symrnn name), ...)
    carry: tuple


def _lstm_leaves():
    return tuple(leaf for gate in "ifgo" for leaf in (
        (f"i{gate}", "kernel", f"w_{gate}"), (f"h{gate}", "kernel", f"w_{gate.upper()}"),
        (f"h{gate}", "bias", f"b_{gate}")))


_GRU_LEAVES = (("ir", "kernel", "w_r"), ("ir", "bias", "b_r"), ("hr", "kernel", "w_R"),
               ("iz", "kernel", "w_z"), ("iz", "bias", "b_z"), ("hz", "kernel", "w_Z"),
               ("in", "kernel", "w_g"), ("in", "bias", "b_g"), ("hn", "kernel", "w_G"), ("hn", "bias", "b_G"))

LAYOUTS = {
    "OptimizedLSTMCell": Layout("lstm", None, _lstm_leaves(), ("c0", "h0")),
    "LSTMCell": Layout("lstm", None, _lstm_leaves(), ("c0", "h0")),
    "GRUCell": Layout("gru", "pytorch", _GRU_LEAVES, ("h0",)),
}
REFUSED = {
    "MGUCell": "Flax's MGUCell gates the recurrent product's result, f*(h W_hn + b_hn), and keeps f*h; "
               "symrnn's mgu gates the state before the product, W_G (f h), and keeps (1 - f) h",
    "SimpleCell": "symrnn's rnn cell has no Flax counterpart mapped here (SimpleCell's residual option)",
    "ConvLSTMCell": "its products are convolutions; symrnn's cells use matrix products",
}


def layout_of(cell):
    """The :class:`Layout` of a Flax cell (the module, not its parameters);
    a :class:`ConfigError` naming what symrnn has no matching cell for."""
    name = type(cell).__name__
    if name in REFUSED:
        raise ConfigError(f"flax.linen.{name}: {REFUSED[name]}")
    if name not in LAYOUTS or not type(cell).__module__.startswith("flax."):
        raise ConfigError(f"expected a flax.linen OptimizedLSTMCell, LSTMCell or GRUCell, got {name}")
    fields = type(cell).__dataclass_fields__
    for option, wanted in (("gate_fn", "sigmoid"), ("activation_fn", "tanh")):
        if getattr(cell, option) is not fields[option].default:
            raise ConfigError(f"{name}({option}={getattr(cell, option)!r}): symrnn's {LAYOUTS[name].cell} "
                              f"uses {wanted} there, Flax's default")
    return LAYOUTS[name]


def network_of(cell, **options):
    """The symrnn network whose parameters :func:`from_flax` gives for the
    Flax ``cell``; ``options`` (output, layers, ...) as :func:`symrnn.network` takes them."""
    layout = layout_of(cell)
    from .network import Network
    from .registry import resolve_cell

    return Network(resolve_cell(layout.cell, layout.variant, None), **options)


def _cell_params(variables):
    """A cell's own parameter dict from its variables, its ``params``, or
    the variables of an ``nn.RNN`` around it (``{"params": {"cell": ...}}``)."""
    params = variables
    for level in ("params", "cell"):
        if hasattr(params, "keys") and set(params.keys()) == {level}:
            params = params[level]
    return params


def from_flax(cell, variables, layer=1, layers=1):
    """The symrnn parameters (NumPy arrays, the Flax dtype) of a Flax
    ``cell`` from its ``variables`` (``cell.init(...)``'s result, its
    ``["params"]``, or an ``nn.RNN``'s variables), named for ``layer`` of
    ``layers`` (``w_f_l2``, ...); merge the dicts of a stack's layers."""
    layout = layout_of(cell)
    params = _cell_params(variables)
    expected = {dense for dense, _, _ in layout.leaves}
    if set(params.keys()) != expected:
        raise ConfigError(f"{type(cell).__name__} parameters must have exactly the Dense names "
                          f"{sorted(expected)}, got {sorted(map(str, params.keys()))}")
    out = {}
    for dense, leaf, name in layout.leaves:
        value = np.asarray(params[dense][leaf])
        out[naming.layer_name(name, layer, layers)] = value.T if leaf == "kernel" else value
    return out


def to_flax(cell, params, layer=1, layers=1):
    """The Flax parameters of ``cell`` (``{"hi": {"kernel": ..., "bias":
    ...}, ...}``: pass ``{"params": it}`` to ``cell.apply``, or
    ``{"params": {"cell": it}}`` to an ``nn.RNN``'s) from symrnn parameters,
    layer ``layer`` of ``layers``; jax arrays keep their type, so a gradient
    dict maps the same way."""
    layout = layout_of(cell)
    out = {}
    for dense, leaf, name in layout.leaves:
        full = naming.layer_name(name, layer, layers)
        if full not in params:
            raise ConfigError(f"params has no {full!r}, needed for {type(cell).__name__}'s {dense}.{leaf}")
        value = params[full]
        out.setdefault(dense, {})[leaf] = value.T if leaf == "kernel" else value
    return out


def state0_of(cell, carry, layer=1, layers=1):
    """The initial states (``state0`` of ``apply``/``forward``) of a Flax carry."""
    names = layout_of(cell).carry
    carry = (carry,) if len(names) == 1 else tuple(carry)
    return {naming.layer_name(name, layer, layers): value for name, value in zip(names, carry)}


def carry_of(cell, states, layer=1, layers=1):
    """The Flax carry of initial or final states by symrnn's names
    (``c0``/``h0``, as ``apply``'s final states are named)."""
    values = tuple(states[naming.layer_name(name, layer, layers)] for name in layout_of(cell).carry)
    return values[0] if len(values) == 1 else values
