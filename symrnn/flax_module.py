"""Any cell as a Flax linen module whose backward is symrnn's derived BPTT.

    >>> import jax, jax.numpy as jnp
    >>> from symrnn.flax_module import Recurrent
    >>> rnn = Recurrent("mgu", features=16, num_layers=2)
    >>> x = jnp.ones((4, 20, 8))                                  # (B, T, D), as nn.RNN takes it
    >>> variables = rnn.init(jax.random.key(0), x)
    >>> sorted(variables["params"])[:3], rnn.apply(variables, x).shape
    (['b_f_l1', 'b_f_l2', 'b_g_l1'], (4, 20, 16))

:class:`Recurrent` stands where ``flax.linen.RNN(cell)`` stands in a model:
the same call (``inputs``, ``seq_lengths``, ``initial_carry``,
``return_carry``, ``time_major``), its output the top layer's states at
every step, to be read by the model's own head. Inside, it runs the
generated JAX module's ``apply`` (a ``jax.custom_vjp``: the derived BPTT,
seeded by the adjoints of the outputs and of the final states), so
``jax.grad`` of any loss of the model goes through the derived backward.

Why Flax linen: it is the JAX network library most models are written in
(``nn.RNN`` and the cells :mod:`symrnn.jax_interop` reads are linen); the
generated module itself stays free of it (``Network`` there is a plain
pytree, for Equinox-style code and optax as they are).

Decisions:

- Parameters are the generated module's, under the notes' names (``w_f``,
  ``w_F``, ``b_f``; ``w_f_l1``, ``w_f_l2`` in a stack), in one flat dict:
  ``variables["params"]["w_F"]`` is W^(F), (out, in) as in the notes.
- They start uniform in (-1/sqrt(H), 1/sqrt(H)), as PyTorch's recurrent
  layers and :mod:`symrnn.nn` (Flax's cells start otherwise: orthogonal
  recurrent kernels, zero biases); the notes' gains ``g^(...)`` start at 1.
- ``initial_carry`` and the carry returned with ``return_carry=True`` are
  dicts of the initial states by name (``c0``, ``h0``; ``h0_l1``,
  ``h0_l2`` in a stack), each (B, its size); states not given start at zero. The carry is
  each item's states at its own length.
- Outputs past an item's length (``seq_lengths``) are zero.

flax is imported with this module (the ``jax`` extra installs it); SymPy
only when a cell's module is generated, once per process for each
(cell, variant, layers). Imports: naming, errors, and registry, network and
codegen when a module is generated.
"""

from functools import cache
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from . import naming
from .errors import ConfigError, InputError

__all__ = ["Recurrent"]


@cache
def _generated(cell, variant, num_layers):
    """The JAX module of ``cell`` (a built-in name or a cell file's path) with
    ``num_layers`` layers and no output layer, and its network."""
    from .codegen import load_module
    from .network import Network
    from .registry import resolve_cell

    network = Network(resolve_cell(cell, variant), layers=num_layers, output="states")
    return load_module(network, backend="jax"), network


def _uniform(bound):
    def init(key, shape, dtype):
        return jax.random.uniform(key, shape, dtype, -bound, bound)
    return init


def _ones(key, shape, dtype):
    return jnp.ones(shape, dtype)


class Recurrent(nn.Module):
    """A stack of ``num_layers`` layers of ``cell`` (a built-in name such as
    ``"lstm"`` or ``"mgu"``, or a cell file's path; ``variant`` as
    :func:`symrnn.network` takes it) with ``features`` hidden units, called as
    ``flax.linen.RNN``: ``(B, T, D)`` inputs (``(T, B, D)`` with
    ``time_major``), returning ``(B, T, H)`` outputs, or ``(carry, outputs)``
    with ``return_carry``. ``sizes`` gives further size letters
    (``{"P": 16}`` for ``lstmp``)."""

    cell: str
    features: int
    num_layers: int = 1
    variant: str | None = None
    sizes: Any = None
    time_major: bool = False
    return_carry: bool = False
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, inputs, *, seq_lengths=None, initial_carry=None, return_carry=None, time_major=None):
        time_major = self.time_major if time_major is None else time_major
        module, network = self._module()
        x = inputs if time_major else jnp.swapaxes(inputs, 0, 1)
        if x.ndim != 3:
            raise InputError(f"inputs must be (B, T, D) (or (T, B, D) with time_major), got shape {inputs.shape}")
        sizes = self._sizes(module, network, x.shape[-1])
        bound = 1.0 / float(self.features) ** 0.5
        params = {name: self.param(name, _ones if naming.is_gain(name) else _uniform(bound),
                                   tuple(sizes[letter] for letter in dims), self.param_dtype)
                  for name, dims in module.PARAMS.items()}
        outputs, carry = module.apply(params, x, seq_lengths, initial_carry)
        outputs = outputs if time_major else jnp.swapaxes(outputs, 0, 1)
        return (carry, outputs) if (self.return_carry if return_carry is None else return_carry) else outputs

    def _module(self):
        if not isinstance(self.cell, str):
            raise ConfigError(f"cell must be a built-in cell's name or a cell file's path, got {self.cell!r}")
        for name, value in (("features", self.features), ("num_layers", self.num_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        return _generated(self.cell, self.variant, self.num_layers)

    def _sizes(self, module, network, input_size):
        """Every size letter the parameters use: the input's from x, H from
        ``features``, the further ones from ``sizes``."""
        given = dict(self.sizes or {})
        needed = {letter for dims in module.PARAMS.values() for letter in dims}
        needed |= set(module._STATE_SIZES.values())
        known = {network.input_letter: input_size, "H": self.features}
        further = needed - set(known)
        if set(given) != further:
            raise ConfigError(f"sizes: cell {self.cell!r} uses the further size letters {sorted(further)}, "
                              f"got {sorted(given)}")
        for letter, size in given.items():
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ConfigError(f"sizes[{letter!r}] must be a positive integer, got {size!r}")
        if network.input_letter == "H" and input_size != self.features:
            raise ConfigError(f"cell {self.cell!r} reads its input elementwise: its size must be features "
                              f"({self.features}), got {input_size}")
        return {**known, **given}
