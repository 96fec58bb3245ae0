"""How much each copy contributes, and what truncation loses: the norms of the
per-step terms of BPTT, and how much of the gradient a K-step window keeps.

At seeded random weights and inputs (one item), a network's generated module
computes, with ``backward(..., per_step=True)``, every copy's term
∂C/∂θ_t of every cell parameter θ and the adjoint δs_t of every state s at
every step t. :func:`flow` keeps their norms (Frobenius over the copy's
entries); :func:`svg` plots them, steps on the x axis and a log y axis, one
panel per cell: one solid line per *gate* (the parameters an equation reads,
w^(f), w^(F), b^(f) of the LSTM's forget gate: the norm of their terms
together, so that a panel stays readable) and one dashed line per state's
adjoint, each with a colour of its own.

``scale`` multiplies the recurrent weights (those applied to a previous
state, ``fan_in == "hidden"``). Below 1 the vanilla RNN's terms vanish
geometrically towards early steps. Above 1 they grow only where the cell
does not saturate: the step's Jacobian is diag(g'(u_t)) w^(a), and tanh's
derivative 1 − a_t² shrinks as larger weights drive a_t towards ±1, so a tanh
RNN, the LSTM and the GRU (sigmoid gates, tanh candidates) stay bounded; a
linear RNN (``activation identity``: the Jacobian is w^(a) itself, spectral
radius 0.74 at seed 0) or a relu RNN grows as (0.74 × scale)^(T−t). The LSTM's
forget path keeps terms from vanishing. A term of exactly 0 (cut off by
``truncate``) is left out of the plot and written as 0 in the JSON.

:func:`capture` measures what truncated BPTT loses: for every window K = 1..T
the K-step truncated gradient g_K (``loss_and_grad(..., truncate=K)``) against
full BPTT's g, as ‖g_K‖/‖g‖, the cosine between them and ‖g − g_K‖/‖g‖, per
parameter, per gate and for all the cell's parameters together;
:func:`capture_svg` plots the three against K, one panel per cell. At K = T
the first two are 1 and the third 0 (K >= T is full BPTT).

JSON (``to_json``), version 2 (version 1 had no ``kind`` nor ``gates``)::

    {"version": 2, "kind": "flow", "panels": [{"cell", "layers", "steps", "seed",
      "scale", "output", "truncate", "gates": {gate: [parameter, ...]},
      "terms": {parameter: [‖∂C/∂θ_t‖ for t = 1..T]}, "state_adjoints": {state: [‖δs_t‖ ...]}}]}
    {"version": 2, "kind": "capture", "panels": [{"cell", "layers", "steps", "seed",
      "scale", "output", "gates": {...},
      "parameters" | "gate_totals": {name: {"norm_ratio": [K = 1..T], "cosine": [...], "lost": [...]}},
      "cell_total": {"norm_ratio": [...], "cosine": [...], "lost": [...]}}]}

``lost`` is ‖g − g_K‖/‖g‖, what the window drops (0 at K = T); numbers with 6
significant digits; null where ‖g‖ (or, for the cosine, ‖g_K‖) is 0.

    >>> import symrnn
    >>> panel = flow(symrnn.network("rnn"), steps=5, scale=0.5)
    >>> sorted(panel.terms), len(panel.terms["w_a"]), panel.gates
    (['b_a', 'w_a', 'w_x'], 5, {'a': ['w_x', 'w_a', 'b_a']})
    >>> panel.terms["w_x"][0] < panel.terms["w_x"][-1]      # vanishing towards step 1
    True
    >>> kept = capture(symrnn.network("rnn"), steps=5)
    >>> kept.cell_total["norm_ratio"][-1], kept.cell_total["cosine"][-1]
    (1.0, 1.0)

Imports: codegen (to run the generated module), naming, notation (labels), errors, limits and plot_svg.
"""

import json
import math
from dataclasses import dataclass

import numpy as np

from .codegen import load_module
from .errors import ConfigError
from .limits import CAPTURE_MAX_STEPS, FLOW_MAX_STEPS, steps_problem
from .naming import layer_name
from .notation import Label, Partial, parameter_label, state_label, svg_text
from .plot_svg import Axis, Line, Panel, plot

SIZES = {"input_size": 4, "hidden_size": 16, "output_size": 2}
# Inputs are drawn N(0, INPUT_STD^2): small inputs keep tanh units away from
# saturation, where the step's Jacobian is close to the recurrent weights.
INPUT_STD = 0.1


def _rounded(values):
    return [None if v is None else float(f"{v:.6g}") for v in values]


@dataclass(frozen=True)
class FlowPanel:
    cell: str
    layers: int
    steps: int
    seed: int
    scale: float
    output: str
    truncate: int | None
    gates: dict  # gate name -> its parameters (network names)
    terms: dict  # parameter name -> [norm at step 1..T]
    state_adjoints: dict  # state name -> [norm at step 1..T]

    def to_data(self):
        return {"cell": self.cell, "layers": self.layers, "steps": self.steps, "seed": self.seed,
                "scale": self.scale, "output": self.output, "truncate": self.truncate, "gates": self.gates,
                "terms": {k: _rounded(v) for k, v in self.terms.items()},
                "state_adjoints": {k: _rounded(v) for k, v in self.state_adjoints.items()}}


@dataclass(frozen=True)
class CapturePanel:
    cell: str
    layers: int
    steps: int
    seed: int
    scale: float
    output: str
    gates: dict
    parameters: dict  # parameter -> {"norm_ratio": [K = 1..T], "cosine": [...], "lost": [...]}
    gate_totals: dict  # gate -> the same, over the gate's parameters together
    cell_total: dict  # the same over all the cell's parameters

    def to_data(self):
        def series(entry):
            return {k: _rounded(v) for k, v in entry.items()}

        return {"cell": self.cell, "layers": self.layers, "steps": self.steps, "seed": self.seed,
                "scale": self.scale, "output": self.output, "gates": self.gates,
                "parameters": {k: series(v) for k, v in self.parameters.items()},
                "gate_totals": {k: series(v) for k, v in self.gate_totals.items()},
                "cell_total": series(self.cell_total)}


def check_flow_args(steps, scale, truncate, limit=FLOW_MAX_STEPS):
    problem = steps_problem(steps, limit, "flow plots")
    if problem:
        raise ConfigError(problem)
    if not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale < 0:
        raise ConfigError(f"--scale must be a finite number >= 0, got {scale!r}")
    if truncate is not None and (isinstance(truncate, bool) or not isinstance(truncate, int) or truncate < 1):
        raise ConfigError(f"--truncate must be a positive integer, got {truncate!r}")


def recurrent_params(network):
    """The network's names of the weights applied to a previous state."""
    names = [p.name for p in network.cell.parameters if p.fan_in == "hidden"]
    return [full for layer in range(1, network.layers + 1)
            for name, full in network.layer_params(layer) if name in names]


def gates(network):
    """Gate name -> the network parameters its equation reads: each cell
    parameter belongs to the first equation that reads it (``f`` for w^(f),
    w^(F), b^(f)), in each layer (``f_l2`` in layer 2 of a stack)."""
    params = [p.name for p in network.cell.parameters]
    owner = {}
    for lhs, rhs in network.cell.equations:
        for name in params:
            if name not in owner and any(s.name == name for s in rhs.free_symbols):
                owner[name] = lhs.name
    found = {}
    for layer in range(1, network.layers + 1):
        for name, full in network.layer_params(layer):
            gate = layer_name(owner.get(name, name), layer, network.layers)
            found.setdefault(gate, []).append(full)
    return found


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


def cell_parameters(network):
    return [full for layer in range(1, network.layers + 1) for _, full in network.layer_params(layer)]


def flow(network, steps, seed=0, scale=1.0, truncate=None):
    """The norms of every copy's term and every state's adjoint (a :class:`FlowPanel`)."""
    check_flow_args(steps, scale, truncate)
    terms, adjoints = term_norms(network, steps, seed, scale, truncate)
    return FlowPanel(network.cell.name, network.layers, steps, seed, float(scale), network.output, truncate,
                     gates(network), {name: terms[name] for name in cell_parameters(network)}, adjoints)


# --- what truncation loses -------------------------------------------------------


def kept(g_k, g):
    """``(‖g_K‖/‖g‖, cosine, ‖g − g_K‖/‖g‖)`` of two gradients (flat arrays).
    The cosine is 1 − ½‖g_K/‖g_K‖ − g/‖g‖‖², exactly 1 for equal directions and
    accurate near 1, where the interesting windows are; None where a norm is 0."""
    norm_k, norm = float(np.linalg.norm(g_k)), float(np.linalg.norm(g))
    if norm == 0:
        return None, None, None
    lost = float(np.linalg.norm(g - g_k)) / norm
    if norm_k == 0:
        return 0.0, None, lost
    gap = g_k / norm_k - g / norm
    return norm_k / norm, 1.0 - 0.5 * float(gap @ gap), lost


MEASURES = ("norm_ratio", "cosine", "lost")


def _flat(grads, names):
    return np.concatenate([np.ravel(grads[name]) for name in names])


def capture(network, steps, seed=0, scale=1.0):
    """How much of full BPTT's gradient each window K = 1..T keeps (a :class:`CapturePanel`)."""
    check_flow_args(steps, scale, None, CAPTURE_MAX_STEPS)
    module = load_module(network)
    params, x, y = seeded_example(network, module, steps, seed, scale)
    groups = {("parameters", p): [p] for p in cell_parameters(network)}
    groups |= {("gate_totals", gate): names for gate, names in gates(network).items()}
    groups[("cell_total", "")] = cell_parameters(network)
    series = {key: {measure: [] for measure in MEASURES} for key in groups}
    with np.errstate(over="ignore", invalid="ignore"):
        full = module.loss_and_grad(params, x, y)[1]
        for k in range(1, steps + 1):
            window = module.loss_and_grad(params, x, y, truncate=k)[1]
            for key, names in groups.items():
                for measure, value in zip(MEASURES, kept(_flat(window, names), _flat(full, names))):
                    series[key][measure].append(value)
    by_kind = {kind: {name: v for (k, name), v in series.items() if k == kind} for kind in ("parameters", "gate_totals")}
    return CapturePanel(network.cell.name, network.layers, steps, seed, float(scale), network.output,
                        gates(network), by_kind["parameters"], by_kind["gate_totals"], series[("cell_total", "")])


def to_json(panels):
    kind = "capture" if panels and isinstance(panels[0], CapturePanel) else "flow"
    return json.dumps({"version": 2, "kind": kind, "panels": [p.to_data() for p in panels]}, indent=1) + "\n"


# --- plots -----------------------------------------------------------------------


def _split(name, layers):
    """(cell name, layer) of a network name: ``f_l2`` -> ("f", 2)."""
    if layers > 1:
        base, layer = name.rsplit("_l", 1)
        return base, int(layer)
    return name, None


def gate_label(params, layers, step="t"):
    """A legend label: parameters' copies at step t, w^(f)_t, w^(F)_t, b^(f)_t (``step`` "": the parameters)."""
    runs = []
    for name in params:
        base, layer = _split(name, layers)
        runs += [", "] * bool(runs) + [parameter_label(base, layer, layers, step)]
    return svg_text(runs)


def adjoint_label(state, layers):
    """A state's adjoint δa^(c)_t (δa^(c)[2]_t in a stack)."""
    base, layer = _split(state, layers)
    return svg_text(["δ", state_label(base, layer, layers, "t")])


def _title(panel, truncate=None):
    parts = [panel.cell, f"T = {panel.steps}", f"scale {panel.scale:g}"]
    if panel.layers > 1:
        parts.append(f"{panel.layers} layers")
    parts.append("output at every step" if panel.output == "sequence" else "output at step T")
    if truncate is not None:
        parts.append(f"truncated to K = {truncate}")
    return svg_text([", ".join(parts)])


# A panel draws one line per parameter while it has at most this many lines
# (parameters and states), else one per gate: 14 lines for the LSTM are
# unreadable, and within a gate the lines run close together; the RNN keeps
# w^(x) apart from w^(a), whose term also carries the forward state.
MAX_LINES = 8


def series(panel, extra):
    """The parameter groups a panel draws, each a list of names: one per
    parameter, or one per gate when that and ``extra`` lines exceed :data:`MAX_LINES`."""
    params = [name for names in panel.gates.values() for name in names]
    if len(params) + extra <= MAX_LINES:
        return [[name] for name in params]
    return list(panel.gates.values())


def _gate_norms(panel, names):
    return [math.sqrt(sum(panel.terms[n][t] ** 2 for n in names)) for t in range(panel.steps)]


FLOW_Y = svg_text(["‖", Partial(Label("θ", sub="t")), "‖ (solid), ‖δ", Label("s", sub="t"), "‖ (dashed)"])


def svg(panels):
    """One panel per cell: each gate's ‖∂C/∂θ_t‖ (solid) and each state's ‖δs_t‖ (dashed) against t, log scale."""
    drawn = []
    for panel in panels:
        lines = [Line(gate_label(names, panel.layers), _gate_norms(panel, names))
                 for names in series(panel, len(panel.state_adjoints))]
        lines += [Line(adjoint_label(s, panel.layers), v, dashed=True) for s, v in panel.state_adjoints.items()]
        drawn.append(Panel(_title(panel, panel.truncate), (tuple(lines),)))
    return plot(drawn, svg_text(["step ", Label("t")]), [Axis(FLOW_Y)])


CAPTURE_AXES = (svg_text(["‖", Label("g", sub="K"), "‖ / ‖", Label("g"), "‖: norm kept"]),
                svg_text(["cos(", Label("g", sub="K"), ", ", Label("g"), "): direction kept"]),
                svg_text(["‖", Label("g"), " − ", Label("g", sub="K"), "‖ / ‖", Label("g"), "‖: lost"]))
CAPTURE_X = svg_text(["window ", Label("K"), " (BPTT truncated to ", Label("K"), " steps)"])


def _capture_rows(panel):
    groups = series(panel, 1)
    gate_of = {tuple(names): gate for gate, names in panel.gates.items()}

    def entry(names):
        return panel.parameters[names[0]] if len(groups) > len(panel.gates) else panel.gate_totals[gate_of[tuple(names)]]

    def row(kind):
        lines = [Line(gate_label(names, panel.layers, step=""), entry(names)[kind]) for names in groups]
        return tuple(lines) + (Line(svg_text(["all of the cell's parameters"]), panel.cell_total[kind], strong=True),)

    return tuple(row(kind) for kind in MEASURES)


def _linear_top(panels):
    """The ratio axis' top: 1, or the largest ratio rounded up to a quarter."""
    values = [v for p in panels for e in [*p.gate_totals.values(), p.cell_total] for v in e["norm_ratio"]
              if v is not None and math.isfinite(v)]
    return max(1.0, math.ceil(max(values, default=1.0) * 4) / 4)


def capture_svg(panels):
    """One panel per cell: ‖g_K‖/‖g‖, cos(g_K, g) and (log scale) ‖g − g_K‖/‖g‖ against K, per
    parameter or gate (:func:`series`) and for the whole cell."""
    drawn = [Panel(_title(panel), _capture_rows(panel)) for panel in panels]
    cosines = [v for p in panels for e in [*p.gate_totals.values(), p.cell_total] for v in e["cosine"] if v is not None]
    low = -1.0 if min(cosines, default=0.0) < 0 else 0.0
    axes = [Axis(CAPTURE_AXES[0], log=False, low=0.0, high=_linear_top(panels)),
            Axis(CAPTURE_AXES[1], log=False, low=low, high=1.0), Axis(CAPTURE_AXES[2])]
    return plot(drawn, CAPTURE_X, axes)
