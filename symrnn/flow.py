"""How much each copy contributes: the norms of the per-step terms of BPTT.

At seeded random weights and inputs (one item), a network's generated module
computes, with ``backward(..., per_step=True)``, every copy's term
∂C/∂θ_t of every cell parameter θ and the adjoint δs_t of every state s at
every step t. :func:`flow` keeps their norms (Frobenius over the copy's
entries); :func:`svg` plots them, steps on the x axis and a log y axis, one
solid line per parameter and a dashed one per state, one panel per cell.
``scale`` multiplies the recurrent weights (those applied to a previous
state, ``fan_in == "hidden"``): below 1 the vanilla RNN's terms vanish
geometrically towards early steps, above 1 they explode; the LSTM's forget
path keeps them. A term of exactly 0 (cut off by ``truncate``) is left out
of the plot and written as 0 in the JSON.

JSON (``to_json``), version 1: ``{"version": 1, "panels": [{"cell", "layers",
"steps", "seed", "scale", "output", "truncate", "terms": {name: [‖∂C/∂θ_t‖
for t = 1..T]}, "state_adjoints": {name: [‖δs_t‖ ...]}}]}``, numbers with
6 significant digits.

    >>> import symrnn
    >>> panel = flow(symrnn.network("rnn"), steps=5, scale=0.5)
    >>> sorted(panel.terms), len(panel.terms["w_a"])
    (['b_a', 'w_a', 'w_x'], 5)
    >>> panel.terms["w_x"][0] < panel.terms["w_x"][-1]      # vanishing towards step 1
    True

Imports: codegen (to run the generated module), limits and plot_svg.
"""

import json
import math
from dataclasses import dataclass

import numpy as np

from .codegen import load_module
from .errors import ConfigError
from .limits import FLOW_MAX_STEPS
from .plot_svg import Line, Panel, plot

SIZES = {"input_size": 4, "hidden_size": 16, "output_size": 2}
# Inputs are drawn N(0, INPUT_STD^2): small inputs keep tanh units away from
# saturation, where the step's Jacobian is close to the recurrent weights, so
# that scale > 1 shows growth rather than saturated units.
INPUT_STD = 0.1


@dataclass(frozen=True)
class FlowPanel:
    cell: str
    layers: int
    steps: int
    seed: int
    scale: float
    output: str
    truncate: int | None
    terms: dict  # parameter name -> [norm at step 1..T]
    state_adjoints: dict  # state name -> [norm at step 1..T]

    def to_data(self):
        def rounded(values):
            return [float(f"{v:.6g}") for v in values]

        return {"cell": self.cell, "layers": self.layers, "steps": self.steps, "seed": self.seed,
                "scale": self.scale, "output": self.output, "truncate": self.truncate,
                "terms": {k: rounded(v) for k, v in self.terms.items()},
                "state_adjoints": {k: rounded(v) for k, v in self.state_adjoints.items()}}


def check_flow_args(steps, scale, truncate):
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= FLOW_MAX_STEPS:
        raise ConfigError(f"the number of steps must be an integer from 1 to {FLOW_MAX_STEPS}, got {steps!r}")
    if not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale < 0:
        raise ConfigError(f"--scale must be a finite number >= 0, got {scale!r}")
    if truncate is not None and (isinstance(truncate, bool) or not isinstance(truncate, int) or truncate < 1):
        raise ConfigError(f"--truncate must be a positive integer, got {truncate!r}")


def recurrent_params(network):
    """The network's names of the weights applied to a previous state."""
    names = [p.name for p in network.cell.parameters if p.fan_in == "hidden"]
    return [full for layer in range(1, network.layers + 1)
            for name, full in network.layer_params(layer) if name in names]


def seeded_example(network, module, steps, seed=0, scale=1.0):
    """The seeded parameters, inputs and targets (one item) at which flow is computed."""
    params = module.init_params(**SIZES, seed=seed)
    for name in recurrent_params(network):
        params[name] *= scale
    rng = np.random.default_rng(seed)
    x = INPUT_STD * rng.normal(size=(steps, 1, SIZES["input_size"]))
    y_shape = (1, SIZES["output_size"]) if network.output == "last" else (steps, 1, SIZES["output_size"])
    y = rng.normal(size=y_shape)
    if network.loss == "xent":
        y = np.eye(SIZES["output_size"])[rng.integers(0, SIZES["output_size"], size=y_shape[:-1])]
    return params, x, y


def term_norms(network, steps, seed=0, scale=1.0, truncate=None, module=None):
    """``(terms, state_adjoints)``: for every parameter (the output layer's
    too) the norms of its copies' terms at steps 1..T, for every state the norms
    of its adjoints, at the seeded example; ``module``: the network's loaded
    module, if the caller has it."""
    module = load_module(network) if module is None else module
    params, x, y = seeded_example(network, module, steps, seed, scale)
    with np.errstate(over="ignore", invalid="ignore"):
        _, grads = module.loss_and_grad(params, x, y, truncate=truncate, per_step=True)

    def norms(arrays):
        return {name: [float(v) for v in np.linalg.norm(a.reshape(steps, -1), axis=1)]
                for name, a in arrays.items()}

    return norms(grads["per_step"]), norms(grads["state_adjoints"])


def flow(network, steps, seed=0, scale=1.0, truncate=None):
    """The norms of every copy's term and every state's adjoint (a :class:`FlowPanel`)."""
    check_flow_args(steps, scale, truncate)
    terms, adjoints = term_norms(network, steps, seed, scale, truncate)
    cell_params = [full for layer in range(1, network.layers + 1) for _, full in network.layer_params(layer)]
    return FlowPanel(network.cell.name, network.layers, steps, seed, float(scale), network.output, truncate,
                     {name: terms[name] for name in cell_params}, adjoints)


def to_json(panels):
    return json.dumps({"version": 1, "panels": [p.to_data() for p in panels]}, indent=1) + "\n"


def notation_label(name):
    """(base, superscript, subscript) of a parameter or state as the notes
    write it: w_x -> w^(x), w_f_l2 -> w^(f)[2], h_l2 -> h^[2]."""
    parts = name.split("_")
    layer = ""
    if len(parts) > 1 and parts[-1].startswith("l") and parts[-1][1:].isdigit():
        layer = f"[{parts.pop()[1:]}]"
    if len(parts) == 1:
        return ("δ" + parts[0], layer, "t")
    return (parts[0], f"({'_'.join(parts[1:])}){layer}", "t")


def _title(panel):
    parts = [panel.cell, f"T = {panel.steps}", f"scale {panel.scale:g}"]
    if panel.layers > 1:
        parts.append(f"{panel.layers} layers")
    parts.append("output at every step" if panel.output == "sequence" else "output at step T")
    if panel.truncate is not None:
        parts.append(f"truncated to K = {panel.truncate}")
    return ", ".join(parts)


def svg(panels):
    """One panel per cell: ‖∂C/∂θ_t‖ (solid) and ‖δs_t‖ (dashed) against t, log scale."""
    drawn = []
    for panel in panels:
        lines = [Line(notation_label(n), v, dashed=False) for n, v in panel.terms.items()]
        lines += [Line(notation_label(n), v, dashed=True) for n, v in panel.state_adjoints.items()]
        drawn.append(Panel(_title(panel), lines))
    return plot(drawn, x_label="step t", y_label="‖∂C/∂θ_t‖ (solid, dotted), ‖δs_t‖ (dashed)")
