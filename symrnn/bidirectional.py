"""A stack of layers of any cell run in both directions, over NumPy arrays:
what ``symrnn.nn.Recurrent(..., bidirectional=True)`` computes in torch,
on the generated NumPy module of one layer with no output layer.

Each layer runs the cell forward over x and, with parameters of its own,
over each item reversed within its own length (padding never enters it),
and outputs both runs' exposed vectors side by side, [forward, reverse],
as ``nn.LSTM`` does; the layer above reads that. Every run is the
generated module's ``forward``, and every gradient its derived
``backward``, seeded by the adjoints of the outputs and of the final
states: nothing here differentiates anything.

Names follow ``symrnn.nn.Recurrent``: a parameter is the cell's name with
PyTorch's suffixes (``w_f_l0``, ``w_f_l0_reverse``); the initial and final
states are stacked as ``nn.LSTM``'s ``h_n`` is, (num_layers * 2, B, size),
layer by layer, forward direction first, under the cell's initial-state
names (``c0``, ``h0``).

Imports: the network and code generation (to load the module).
"""

import numpy as np

from .codegen import load_module
from .errors import InputError
from .network import Network
from .registry import resolve_cell

DIRECTIONS = ("", "_reverse")


class Bidirectional:
    """``layers`` layers of ``cell`` (a built-in name, a cell file's path or a
    :class:`symrnn.Cell`) in both directions; see the module docstring.

        >>> import numpy as np
        >>> net = Bidirectional("gru", layers=2)
        >>> params = net.init_params(input_size=3, hidden_size=4)
        >>> outputs, cache = net.forward(params, np.ones((5, 2, 3)), lengths=[5, 3])
        >>> outputs.shape, net.final_states(cache)["h0"].shape
        ((5, 2, 8), (4, 2, 4))
    """

    def __init__(self, cell, layers=1, *, variant=None, activation=None):
        network = Network(resolve_cell(cell, variant, activation), output="states")
        if not isinstance(layers, int) or isinstance(layers, bool) or layers < 1:
            raise InputError(f"layers must be a positive integer, got {layers!r}")
        self.cell, self.layers = network.cell, layers
        self.module = load_module(network)
        self.state_names = self.module.INITIAL_STATES[0]

    def param_name(self, name, layer, direction):
        return f"{name}_l{layer}{DIRECTIONS[direction]}"

    def init_params(self, input_size, hidden_size, *, sizes=None, seed=0, dtype=np.float64):
        """Every layer's and direction's parameters, drawn as the module's
        ``init_params`` draws them (a seed of their own each); the layers
        above the first read twice the exposed vector's size."""
        params, below = {}, input_size
        for layer in range(self.layers):
            for direction in (0, 1):
                further = {"sizes": sizes} if sizes else {}  # only a cell with further sizes takes them
                drawn = self.module.init_params(below, hidden_size, seed=[seed, layer, direction], dtype=dtype,
                                                **further)
                params.update({self.param_name(n, layer, direction): v for n, v in drawn.items()})
            below = 2 * self._output_size(hidden_size, sizes)
        return params

    def _output_size(self, hidden_size, sizes):
        letter = self.cell.sizes[self.cell.output_state.name]
        return hidden_size if letter == "H" else dict(sizes or {})[letter]

    def forward(self, params, x, lengths=None, state0=None):
        """``(outputs, cache)``: outputs (T, B, 2 * size), zero past each
        item's length; ``state0`` maps the cell's initial-state names to
        (layers * 2, B, size) arrays (zeros where not given)."""
        x = np.asarray(x)
        if x.ndim != 3:
            raise InputError(f"x has shape {x.shape}; expected (T, B, D)")
        T, B = x.shape[:2]
        lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
        reverse = _reverser(lengths, T)
        state0 = self._check_states(state0, "state0")
        caches, top = [], x
        for layer in range(self.layers):
            outputs = []
            for direction in (0, 1):
                start = {n: state0[n][2 * layer + direction] for n in state0}
                out, cache = self.module.forward(self._params(params, layer, direction),
                                                 reverse(top) if direction else top, lengths, start)
                outputs.append(reverse(out) if direction else out)
                caches.append(cache)
            top = np.concatenate(outputs, axis=2)
        return top, {"runs": caches, "lengths": lengths, "T": T}

    def final_states(self, cache):
        """Each run's states at each item's own last step, stacked (layers * 2, B, size)
        by initial-state name: the reverse run's is its state after the item's first step."""
        finals = [self.module.final_states(run) for run in cache["runs"]]
        return {name: np.stack([f[name] for f in finals]) for name in self.state_names}

    def backward(self, params, cache, d_outputs, d_final_states=None):
        """Every parameter's gradient, x's and the initial states' (stacked as
        ``state0``), from the outputs' adjoints (T, B, 2 * size) and the final
        states' (as :meth:`final_states` gives them; 0 where not given)."""
        reverse = _reverser(cache["lengths"], cache["T"])
        d_finals = self._check_states(d_final_states, "d_final_states") if d_final_states is not None else None
        grads, d_top = {}, np.asarray(d_outputs)
        d_states = {name: [None] * (2 * self.layers) for name in self.state_names}
        for layer in reversed(range(self.layers)):
            halves, d_below = np.split(d_top, 2, axis=2), 0
            for direction in (0, 1):
                run = 2 * layer + direction
                seeds = None if d_finals is None else {n: d_finals[n][run] for n in self.state_names}
                layer_params = self._params(params, layer, direction)
                d = self.module.backward(layer_params, cache["runs"][run],
                                         reverse(halves[direction]) if direction else halves[direction],
                                         d_final_states=seeds)
                grads.update({self.param_name(n, layer, direction): d[n] for n in layer_params})
                d_below = d_below + (reverse(d["x"]) if direction else d["x"])
                for name in self.state_names:
                    d_states[name][run] = d[name]
            d_top = d_below
        grads["x"] = d_top
        grads.update({name: np.stack(values) for name, values in d_states.items()})
        return grads

    def _params(self, params, layer, direction):
        """One run's parameters by the module's names."""
        names = self.module.PARAMS
        missing = [self.param_name(n, layer, direction) for n in names
                   if self.param_name(n, layer, direction) not in params]
        if missing:
            raise InputError(f"params has no {missing[0]!r} (layer {layer}, "
                             f"{'reverse' if direction else 'forward'} direction)")
        return {n: params[self.param_name(n, layer, direction)] for n in names}

    def _check_states(self, states, what):
        """Stacked states by name (``None``: none), each (layers * 2, B, size); unknown names refused."""
        states = dict(states or {})
        unknown = sorted(str(n) for n in states if n not in self.state_names)
        if unknown:
            raise InputError(f"{what} has unknown names {unknown}; expected some of {list(self.state_names)}")
        for name, value in states.items():
            if np.ndim(value) != 3 or np.shape(value)[0] != 2 * self.layers:
                raise InputError(f"{what}[{name!r}] has shape {np.shape(value)}; expected "
                                 f"({2 * self.layers}, B, size): layers * 2 directions first")
        return states


def _reverser(lengths, T):
    """The function reversing a (T, B, n) array within each item's length
    (step t of the reverse run is step L - 1 - t); padding stays in place.
    It is its own inverse."""
    steps = np.arange(T)[:, None]
    flipped = np.asarray(lengths)[None, :] - 1 - steps
    index = np.where(flipped >= 0, flipped, steps)[:, :, None]
    return lambda array: np.take_along_axis(array, index, axis=0)
