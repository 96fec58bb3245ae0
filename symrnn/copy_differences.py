"""Copy-by-copy finite differences: an independent reference for truncated
gradients, per-step terms and state adjoints.

What it holds. :func:`reference` evaluates the unrolled network in NumPy
(float64, batch-major arrays (B, n)) straight from the step graph
(:func:`symrnn.derived.derive_network`: its ``Affine`` and ``Compute``
nodes, each compiled once through the one table :data:`FUNCTIONS`), with
every step's copy of every parameter an array of its own, and takes each
quantity a generated module returns with ``per_step=True`` as a central
difference of that evaluation:

* ``per_step[p][t - 1]``: the derivative with respect to the copy of ``p``
  used at step t (the output layer's copy at step t is the one the output
  at step t uses); ``grads[p]`` is their sum over the steps;
* ``state_adjoints[s][t - 1]`` (keys as the module's ``LAYER_STATES``):
  with respect to a perturbation added to s's value at step t as soon as
  it is computed, before any later equation of the step reads it;
* ``grads["x"]`` and each initial state's gradient.

:func:`check_window` compares a generated module's ``loss_and_grad(...,
truncate=K, per_step=True)`` with it, with verify's criterion; ``symrnn
verify`` shows it as the rows ``unequal K=T`` (and ``unequal K=<K>`` with
``--truncate K``).

The definition it computes. Layer l ≥ 2 reads layer l-1's output at the
same step as its x, and through x[t-1] that output one step earlier (zero
at the first step). The cost is the module's: squared error or
cross-entropy of the output layer at each item's own length (``last``) or
at every step up to it (``sequence``), or ½‖o − y‖² of the top layer's
output (``states``); past an item's length nothing enters it. Truncation
to K steps: the cost of the output at step τ is re-run over its window
τ-K+1 … τ alone, every value computed at a step ≤ τ-K (each layer's
states, and the layer below's output at τ-K read through x[t-1]) taken
from the unperturbed point, while x (a leaf: x[τ-K] read through x[t-1]
gets its gradient) and the window's copies are perturbed; only windows
that reach step 1 read the initial states. The truncated cost is the sum
over outputs; K ≥ T is full BPTT.

Differences and the pass criterion are :mod:`symrnn.verify`'s
(:func:`~symrnn.verify.array_step`, fourth-order differences, the error
relative to the larger value or to the differences' own noise floor), so a
row of this check means what a row of ``symrnn verify`` means. A check
over :data:`MAX_COPY_WORK` is refused before any work.

    >>> import symrnn
    >>> result = check_window(symrnn.network("rnn", output="sequence"), truncate=2, unequal=True)
    >>> result.passed, result.lengths
    (True, 'unequal K=2')

Imports: the derived step graph, the network's symbols, naming, the rule
table's function classes, verify's criterion, the budgets' message and the
copy analysis' check of K; code generation only to load the module
:func:`check_window` checks.
"""

import functools
from dataclasses import dataclass

import numpy as np
import sympy

from . import naming
from .budgets import over_budget
from .copies import check_truncate
from .derived import derive_network
from .errors import CellError
from .graph import Affine
from .network import MASK, TARGET, TOP
from .rules import dot, dot_t, log_softmax, maximum, mean, relu, sigmoid, softplus, sqrt
from .verify import (
    NOISE_FACTOR,
    STEP,
    TOLERANCE,
    Verification,
    _central_difference,
    array_step,
    moderate_point,
    relative_error,
)

# How each kind of array is named in a result's "worst array".
LABELS = {"grads": "{}", "per_step": "per_step {}", "state_adjoints": "adjoint {}"}
SIZES = {"D": 2, "H": 3, "K": 2, "B": 2}  # any further size letter: 2, 3, ... in the cell's order
STEPS = 4  # T of a check (of window K: at least K + 2)
MAX_COPY_WORK = 2_000_000
"""The most (entries differenced) x (steps re-run per difference) x (step
nodes x layers) one check may take (:func:`copy_work`), checked before any
work: each difference re-runs the windows it touches six times. On the
shared 2-core development machine a unit took 20 to 25 µs: the 2-layer
LSTM with full BPTT (120,000) about 3 s, the 2-layer ``lstm_ln`` (404,000;
1,130,000 with K = 3, T = 5) about 9 s, a check at the limit about 45 s."""


def _rows(v, n):
    """``v`` with ``n`` columns: a value computed from means alone is one
    number per item, (B, 1), and stands for n equal units."""
    return v if v.shape[-1] == n else np.broadcast_to(v, v.shape[:-1] + (n,))


def _log_softmax(z):
    """Row-wise log-softmax, shifted by the row maximum so it never overflows."""
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


# The one table: each function class of a node's expression, as NumPy on batch-major arrays
# (rows are items, columns units). Elementwise functions follow their definitions in the rule table.
FUNCTIONS = {
    sympy.Add: lambda *args: functools.reduce(np.add, args),
    sympy.Mul: lambda *args: functools.reduce(np.multiply, args),
    sympy.Pow: np.power,
    dot: lambda w, v: _rows(v, w.shape[1]) @ w.T,  # w·v for each item: v w^T
    dot_t: lambda w, v: _rows(v, w.shape[0]) @ w,
    sympy.tanh: np.tanh,
    sympy.exp: np.exp,
    sympy.log: np.log,
    sqrt: np.sqrt,
    sigmoid: lambda u: np.exp(-np.logaddexp(0.0, -u)),  # 1/(1 + e^-u), no overflow for either sign
    relu: lambda u: np.maximum(u, 0.0),
    softplus: lambda u: np.logaddexp(0.0, u),
    maximum: np.maximum,
    mean: lambda v: np.mean(v, axis=-1, keepdims=True),
    log_softmax: _log_softmax,
}


def compile_expr(expr):
    """``expr`` as a function of an environment {symbol name: array}:
    closures over :data:`FUNCTIONS`, built once (no strings are evaluated).

        >>> h = sympy.Symbol("h")
        >>> compile_expr(sympy.tanh(2 * h))({"h": np.zeros((1, 2))})
        array([[0., 0.]])
    """
    if expr.is_Symbol:
        name = expr.name  # names, not symbols, key the environment: a str hashes once
        return lambda env: env[name]
    if expr.is_number:
        value = float(expr)
        return lambda env: value
    if type(expr) not in FUNCTIONS:
        raise CellError(f"the copy-difference reference has no NumPy form for {type(expr).__name__} "
                        f"(in {expr}); expected one of {sorted(f.__name__ for f in FUNCTIONS)}")
    function, args = FUNCTIONS[type(expr)], [compile_expr(arg) for arg in expr.args]
    if len(args) == 1:
        (arg,) = args
        return lambda env: function(arg(env))
    return lambda env: function(*[arg(env) for arg in args])


def _node_expr(node):
    if isinstance(node, Affine):
        return node.product + node.bias if node.bias is not None else node.product
    return node.expr


@dataclass(frozen=True)
class _Plan:
    """The step and the output layer of a network, compiled, every vector
    by name: ``step`` and ``head`` (name, function, units to widen to or
    None); ``prev`` {state: its previous value}; ``layer_params[l]`` the
    (cell name, network name) pairs of layer l + 1; ``sizes`` by vector."""

    network: object
    step: tuple
    head: tuple
    cost: object
    prev: dict
    prev_input: str | None
    layer_params: tuple
    sizes: dict

    @classmethod
    def of(cls, network, sizes):
        derived, cell = derive_network(network), network.cell
        size = {name: sizes[letter] for name, letter in cell.sizes.items()}
        graph = derived.graph
        step = tuple((node.out.name, compile_expr(_node_expr(node)), size.get(node.out.name))
                     for node in graph.nodes)
        head = tuple((node.out.name, compile_expr(_node_expr(node))) for node in derived.head)
        params = tuple(tuple(network.layer_params(layer)) for layer in range(1, network.layers + 1))
        prev = {s.name: p.name for s, p in graph.prev_symbols.items()}
        prev_input = graph.prev_input.name if graph.prev_input is not None else None
        return cls(network, step, head, compile_expr(derived.cost.expr), prev, prev_input, params, size)


@dataclass
class _Point:
    """Where the differences are taken: ``copies[name]`` (T, *shape), one
    array per step; x (T, B, D); ``state0[layer][state]`` (B, n); the
    targets; ``live[t - 1]`` (B, 1) 1.0 for the items with an output at t."""

    copies: dict
    x: np.ndarray
    state0: list
    y: np.ndarray
    live: np.ndarray


class _Unrolled:
    """The network unrolled over the point's steps, window by window.

    ``base`` holds every value of the unperturbed point (the constants a
    window enters from), ``runs[start]`` every value of the unperturbed run
    of the window starting there: a difference at step t re-runs each
    window it touches from step t only (what comes before is unchanged)."""

    def __init__(self, plan, point, truncate):
        self.plan, self.point = plan, point
        self.network, self.cell = plan.network, plan.network.cell
        self.steps = point.x.shape[0]
        self.window = self.steps if truncate is None else min(int(truncate), self.steps)
        self.base = self.run(1, self.steps, {})[1]
        self.runs = {start: self.run(start, max(outputs), {})[1] for start, outputs in self.windows().items()}

    def windows(self):
        """{first step: [output steps]}: each output's window, grouped by where it starts."""
        outputs = [t for t in range(1, self.steps + 1) if np.any(self.point.live[t - 1])]
        grouped = {}
        for t in outputs:
            grouped.setdefault(max(1, t - self.window + 1), []).append(t)
        return grouped

    def cost(self, windows, bumps=None, since=1):
        """The truncated cost of the outputs of ``windows`` at or after step
        ``since`` (before it nothing changed), each window run from its
        constants; ``bumps[(layer, state, t)]`` is added to that state's
        value at step t as soon as it is computed."""
        total = 0.0
        for start, outputs in windows.items():
            tops, _ = self.run(start, max(outputs), bumps or {}, since)
            total += sum(self.head_cost(tops[t], t) for t in outputs if t >= since)
        return total

    def run(self, start, end, bumps, since=1):
        """Steps max(start, since) … end of every layer of the window that
        starts at ``start``. Returns (the top layer's output by step,
        {(layer, t): (states, output)})."""
        first = max(start, since)
        layers = range(self.network.layers)
        entering = [self.entering(layer, start, first) for layer in layers]
        states = [state for state, _ in entering]
        outputs = [output for _, output in entering]  # each layer's output at t - 1
        tops, values = {}, {}
        for t in range(first, end + 1):
            vector = self.point.x[t - 1]
            previous = self.point.x[t - 2] if t > 1 else np.zeros_like(vector)  # x, a leaf, in every window
            for layer in layers:
                if layer:  # the layer below's output now and one step earlier
                    vector, previous = values[(layer - 1, t)][1], outputs[layer - 1]
                states[layer], output = self.step(layer, t, vector, previous, states[layer], bumps)
                values[(layer, t)] = (states[layer], output)
            outputs = [values[(layer, t)][1] for layer in layers]
            tops[t] = outputs[-1]
        return tops, values

    def entering(self, layer, start, first):
        """Layer ``layer``'s (states, output) at step first - 1: the window's
        own unperturbed values inside it, else the point's constants (the
        initial states and a zero output before step 1)."""
        if first > start:
            return self.runs[start][(layer, first - 1)]
        if start == 1:
            return self.point.state0[layer], np.zeros((self.point.x.shape[1], self.plan.sizes[self.cell.output_state.name]))
        return self.base[(layer, start - 1)]

    def step(self, layer, t, vector, previous, states, bumps):
        plan = self.plan
        env = {cell_name: self.point.copies[name][t - 1] for cell_name, name in plan.layer_params[layer]}
        env[self.cell.input.name] = vector
        env |= {plan.prev[s]: value for s, value in states.items()}
        if plan.prev_input is not None:
            env[plan.prev_input] = previous
        shape = vector.shape[:1]
        for out, function, units in plan.step:
            value = function(env)
            if units is not None and np.shape(value) != shape + (units,):
                value = np.broadcast_to(value, shape + (units,))  # a declared vector computed from means alone
            bump = bumps.get((layer, out, t))
            env[out] = value if bump is None else value + bump
        return {s: env[s] for s in states}, env[self.cell.output_state.name]

    def head_cost(self, top, t):
        point, copies = self.point, self.point.copies
        env = {TOP.name: top, MASK.name: point.live[t - 1], TARGET.name: point.y if point.y.ndim == 2 else point.y[t - 1]}
        if self.network.has_output_layer:
            env |= {name: copies[name][t - 1] for name in (naming.OUTPUT_WEIGHT, naming.OUTPUT_BIAS)}
        for out, function in self.plan.head:
            env[out] = function(env)
        # only the items with an output at t enter the cost (a last-step output has no mask of its own)
        return float(np.sum(point.live[t - 1] * self.plan.cost(env)))


# --------------------------------------------------------------------------
# The differences
# --------------------------------------------------------------------------


def case_sizes(network):
    """:data:`SIZES`, and each further size letter of the cell 2, 3, ...
    (in the order the cell declares them)."""
    further = [letter for letter in dict.fromkeys(network.cell.sizes.values()) if letter not in SIZES]
    return SIZES | {letter: 2 + k for k, letter in enumerate(further)}


def copy_work(network, steps, truncate=None):
    """(entries differenced) x (steps re-run per difference) x (step nodes x
    layers) of a check at :func:`case_sizes` over ``steps`` steps: what
    :data:`MAX_COPY_WORK` bounds."""
    sizes, cell, batch = case_sizes(network), network.cell, SIZES["B"]
    params = sum(int(np.prod([sizes[letter] for letter in shape])) for shape in network.param_shapes().values())
    states = network.layers * batch * sum(sizes[cell.sizes[s.name]] for s in cell.states)
    entries = (params + states) * steps + states + steps * batch * sizes[network.input_letter]
    window = steps if truncate is None else min(int(truncate), steps)
    rerun = steps if window == steps else window * window  # the windows a difference touches, their steps
    return entries * rerun * len(derive_network(network).graph.nodes) * network.layers


def check_size(network, steps, truncate=None):
    """Raise CellError if a check of ``network`` is over :data:`MAX_COPY_WORK`."""
    work = copy_work(network, steps, truncate)
    if work > MAX_COPY_WORK:
        raise CellError(f"cell {network.cell.name!r}: differencing every copy for T = {steps} "
                        + over_budget("(entries x steps re-run x step nodes x layers)", MAX_COPY_WORK,
                                      "MAX_COPY_WORK", work) + "; use a smaller T or K, or fewer layers")


def _letter_sizes(network, params, x, state0):
    """Each size letter's size as the given arrays have it (case_sizes for the rest)."""
    sizes = case_sizes(network) | {network.input_letter: x.shape[2], "B": x.shape[1]}
    for name, letters in network.param_shapes().items():
        sizes |= dict(zip(letters, np.shape(params[name])))
    for layer in range(1, network.layers + 1):
        for state, name in zip(network.cell.states, network.initial_states(layer)):
            if name in state0:
                sizes[network.cell.sizes[state.name]] = np.shape(state0[name])[-1]
    return sizes


def _live(network, steps, lengths, batch):
    """(T, B, 1): 1.0 where an item has an output at step t (its own length
    for ``last``, every step up to it otherwise)."""
    lengths = np.full(batch, steps) if lengths is None else np.asarray(lengths)
    t = np.arange(1, steps + 1)[:, None, None]
    live = lengths[None, :, None] == t if network.output == "last" else lengths[None, :, None] >= t
    return live.astype(float)


def reference(network, module, params, x, y, lengths=None, state0=None, truncate=None):
    """Finite differences copy by copy of ``network``'s (truncated) cost at
    the point given as the generated ``module`` takes it.

    Returns ``{"grads": {param, "x", initial state: array}, "per_step":
    {param: (T, *shape)}, "state_adjoints": {state (module.LAYER_STATES):
    (T, B, n)}, "steps": the same three keys, each array's differencing step,
    "noise": ε}``, ε the largest estimated error of the cost values over
    every difference (verify's criterion: an array's floor is
    NOISE_FACTOR * ε / its step).
    """
    steps, cell = x.shape[0], network.cell
    state0 = dict(state0 or {})
    plan = _Plan.of(network, _letter_sizes(network, params, x, state0))
    names = [network.initial_states(layer) for layer in range(1, network.layers + 1)]
    point = _Point(
        copies={name: np.repeat(np.asarray(params[name], dtype=float)[None], steps, axis=0)
                for name in network.param_shapes()},
        x=np.array(x, dtype=float),
        state0=[{s.name: np.array(state0[n], dtype=float) if n in state0 else np.zeros((x.shape[1], plan.sizes[s.name]))
                 for s, n in zip(cell.states, layer)} for layer in names],
        y=np.asarray(y, dtype=float),
        live=_live(network, steps, lengths, x.shape[1]),
    )
    keys = getattr(module, "LAYER_STATES", None) or [
        [naming.layer_name(s.name, layer, network.layers) for s in cell.states]
        for layer in range(1, network.layers + 1)]
    with np.errstate(all="ignore"):  # a difference step may overflow: the comparison then fails, silently
        differences = _Differences(_Unrolled(plan, point, truncate))
        differences.per_step()
        differences.inputs(names)
        differences.state_adjoints(keys)
    return differences.result | {"steps": differences.steps, "noise": differences.noise}


class _Differences:
    """The differences of one point, collected with their steps and the
    largest noise estimate ε among them."""

    def __init__(self, unrolled):
        self.unrolled, self.windows = unrolled, unrolled.windows()
        self.result = {kind: {} for kind in LABELS}
        self.steps = {kind: {} for kind in LABELS}
        self.noise = 0.0

    def difference(self, kind, name, cost, array, step):
        grad, estimate = _central_difference(cost, array, step)
        self.steps[kind][name] = step
        self.noise = max(self.noise, float(np.max(estimate, initial=0.0)))
        return grad

    def touching(self, t, read_until=None):
        """The windows that compute step t, or read a value of step t up to
        step ``read_until`` (x[t] is read at step t + 1 as x[t-1])."""
        last = read_until or t
        return {start: outputs for start, outputs in self.windows.items() if start <= last and t <= max(outputs)}

    def at_step(self, kind, name, t, array, step, bumps=None, read_until=None):
        """The difference of a change at step t (a copy, x at t, a state's
        bump): only the windows touching step t, each from step t on, so
        that a term nothing reads is exactly zero."""
        windows = self.touching(t, read_until)
        return self.difference(kind, name, lambda: self.unrolled.cost(windows, bumps, since=t), array, step)

    def per_step(self):
        """Each copy of each parameter; a parameter's gradient is their sum."""
        for name, copies in self.unrolled.point.copies.items():
            step = array_step(copies[0])
            terms = [self.at_step("per_step", name, t, copies[t - 1], step) for t in range(1, len(copies) + 1)]
            self.result["per_step"][name] = np.stack(terms)
            self.result["grads"][name] = np.sum(terms, axis=0)
            self.steps["grads"][name] = step

    def inputs(self, initial_names):
        """x, read by every window (x[t-1] too), and the initial states, read by the windows from step 1."""
        unrolled, point = self.unrolled, self.unrolled.point
        step = array_step(point.x)
        self.result["grads"]["x"] = np.stack([self.at_step("grads", "x", t, point.x[t - 1], step, read_until=t + 1)
                                              for t in range(1, unrolled.steps + 1)])
        first = {start: outputs for start, outputs in self.windows.items() if start == 1}
        for layer, names in enumerate(initial_names):
            for array, name in zip(point.state0[layer].values(), names):
                self.result["grads"][name] = self.difference("grads", name, lambda: unrolled.cost(first), array,
                                                             array_step(array))

    def state_adjoints(self, keys):
        """Each state at each step: a perturbation added where it is computed."""
        unrolled, batch = self.unrolled, self.unrolled.point.x.shape[1]
        for layer, layer_keys in enumerate(keys):
            for state, key in zip(unrolled.cell.states, layer_keys):
                terms = []
                for t in range(1, unrolled.steps + 1):
                    bump = np.zeros((batch, unrolled.plan.sizes[state.name]))
                    terms.append(self.at_step("state_adjoints", key, t, bump, STEP, {(layer, state.name, t): bump}))
                self.result["state_adjoints"][key] = np.stack(terms)


# --------------------------------------------------------------------------
# The check of a generated module
# --------------------------------------------------------------------------


def _point(module, network, steps, unequal, seed):
    """A random point at :func:`case_sizes` (verify's way): params, x,
    lengths, targets and initial states, scaled to moderate values."""
    rng = np.random.default_rng(seed)
    sizes = case_sizes(network)
    batch, classes = sizes["B"], sizes["K"]
    further = {letter: n for letter, n in sizes.items() if letter not in "DHKB"}
    params = module.init_params(sizes["D"], sizes["H"], classes, seed=seed, **further)
    x = rng.normal(size=(steps, batch, sizes[network.input_letter]))
    lengths = np.array([steps, max(1, steps - 2)]) if unequal else None
    top = classes if network.has_output_layer else sizes[network.output_letter]
    shape = (batch, top) if network.output == "last" else (steps, batch, top)
    y = rng.dirichlet(np.ones(classes), size=shape[:-1]) if network.loss == "xent" else rng.normal(size=shape)
    letters = [network.cell.sizes[s.name] for s in network.cell.states]
    state0 = {name: 0.5 * rng.normal(size=(batch, sizes[letter]))
              for layer in range(1, network.layers + 1)
              for name, letter in zip(network.initial_states(layer), letters)}
    scale = moderate_point(module, params, x, lengths, state0)
    return params, x, lengths, y, state0, scale


def window_label(truncate, unequal=True):
    """A check's ``lengths`` cell: ``unequal K=2``, ``K=T`` for full BPTT."""
    return f"{'unequal' if unequal else 'equal'} K={'T' if truncate is None else truncate}"


def window_steps(truncate):
    """The steps a check of window K unrolls: :data:`STEPS`, or more so
    that the window cuts at least two steps off the longest item."""
    return STEPS if truncate is None else max(STEPS, int(truncate) + 2)


@dataclass(frozen=True)
class WindowRows:
    """The rows ``symrnn verify`` adds to :func:`symrnn.verify.streamed_table`:
    one :func:`check_window` with unequal lengths per truncation in
    ``windows`` (None: full BPTT)."""

    windows: tuple = (None,)

    def lengths(self):
        return [window_label(truncate) for truncate in self.windows]

    def arrays(self, network):
        return array_labels(network)

    def results(self, network, module, seed=0):
        for truncate in self.windows:
            yield check_window(network, truncate=truncate, seed=seed, unequal=True, module=module,
                               steps=window_steps(truncate))


def array_labels(network):
    """Every "worst array" a check of ``network`` can name (verify sizes its columns by them)."""
    states = [naming.layer_name(s.name, layer, network.layers)
              for layer in range(1, network.layers + 1) for s in network.cell.states]
    initial = [name for layer in range(1, network.layers + 1) for name in network.initial_states(layer)]
    params = list(network.param_shapes())
    return ([LABELS["grads"].format(a) for a in [*params, "x", *initial]]
            + [LABELS["per_step"].format(p) for p in params] + [LABELS["state_adjoints"].format(s) for s in states])


def check_window(network, *, truncate=None, seed=0, steps=STEPS, unequal=False, module=None):
    """``module.loss_and_grad(..., truncate=truncate, per_step=True)`` of
    ``network``'s generated module (loaded unless given) against
    :func:`reference`: every gradient, per-step term and state adjoint, with
    verify's criterion. Returns a :class:`symrnn.verify.Verification` whose
    ``lengths`` reads e.g. ``unequal K=2`` (``K=T``: full BPTT)."""
    from .codegen import load_module

    check_truncate(truncate)
    check_size(network, steps, truncate)
    module = module or load_module(network)
    params, x, lengths, y, state0, scale = _point(module, network, steps, unequal, seed)
    label = window_label(truncate, unequal)
    with np.errstate(all="ignore"):
        _, computed = module.loss_and_grad(params, x, y, lengths, state0, truncate=truncate, per_step=True)
    expected = reference(network, module, params, x, y, lengths, state0, truncate)
    worst, worst_name, checked, largest = _compare(computed, expected)
    noise_floor = NOISE_FACTOR * expected["noise"] / min(v for kind in expected["steps"].values()
                                                         for v in kind.values())
    noise = noise_floor / largest if largest else (0.0 if noise_floor == 0 else np.inf)
    padded = lengths is None or all(np.all(computed["x"][n:, item] == 0) for item, n in enumerate(lengths))
    return Verification(network.module_name, label, worst, worst_name, checked, bool(padded), scale, noise)


def _compare(computed, expected):
    """(largest error, its array, entries compared, largest reference value)
    over every array of ``expected``; an array missing from ``computed`` or
    of another shape has an infinite error."""
    worst, worst_name, checked, largest = 0.0, "", 0, 0.0
    for kind, arrays in expected.items():
        if kind not in LABELS:
            continue
        found = computed if kind == "grads" else computed.get(kind, {})
        for name, reference_value in arrays.items():
            floor = NOISE_FACTOR * expected["noise"] / expected["steps"][kind][name]
            value = found.get(name)
            error = np.inf
            if value is not None and np.shape(value) == reference_value.shape:
                error = relative_error(np.asarray(value), reference_value, floor / TOLERANCE)
            largest = max(largest, float(np.max(np.abs(reference_value), initial=0.0)))
            checked += reference_value.size
            if error >= worst or not error <= worst:
                worst, worst_name = error, LABELS[kind].format(name)
    return worst, worst_name, checked, largest
