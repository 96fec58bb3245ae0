"""The construct-crossing generator (issue 23): seeded random cells that
cross every construct of the cell language, each checked in many network
configurations against independent references.

A cell is built from *ingredients*, one equation at a time, in the notes'
notation (text in the cell language, read back with ``symrnn.parse_cell``):

- terms of a pre-activation: an input product ``w^(a) x``, the previous
  input ``w^(b) x[t-1]``, recurrent products ``w^(c) s[t-1]`` of any state
  (of its own size or a further one, ``size r P``), transposed weights
  ``w^(d)^T v`` (a weight of the cell used the other way round), products of
  vectors computed earlier in the same step (a state read by a later
  equation through a weight), elementwise gains and peepholes
  ``g^(e) * s[t-1]``, the input used elementwise (``size x H``), means
  ``mean(v)``, biases, real constants;
- activations: tanh, sigmoid, relu, softplus, identity, exp of a bounded
  value, max(a, b), sqrt and log of what the cell makes positive;
- state updates: direct, gated (``f * s[t-1] + (1 - f) * g``), residual
  (``s[t-1] + 0.1 * g``), divided (``g / (1.5 + s[t-1]^2)``), negative
  powers, max, a projection to a further size, and layer normalization;
- an output that is not a state (gated, a highway to the input, or a
  product of a further size), and parameters shared between equations.

Every construct is drawn with a fixed probability, so any long enough run
crosses them all; :func:`generate_cell` records which ones a cell holds.

Each cell is then run in configurations crossed with it: 1-3 layers,
output last / sequence / states, loss squared / xent (not with states),
equal and unequal lengths, truncate K in {None, 1, 2, >= T}, per_step. The
checks, all in float64:

``fd``       the NumPy module's full gradients (parameters, x, initial
             states; loss_and_grad and backward) against central finite
             differences of its own cost (:func:`symrnn.verify._compare`);
``torch``    the torch module's outputs and gradients equal the NumPy
             module's to 1e-10 for the same weights;
``gradcheck`` ``torch.autograd.gradcheck`` of the torch module (a few);
``jax``      the JAX module's outputs, final states and gradients (the
             final states' adjoints seeding the backward), and its window
             (the configuration's truncate, per_step: per-step terms and
             state adjoints), equal the NumPy module's to 1e-10;
``per_step`` per-step terms sum to the gradient (truncate None), a window
             K >= T is full BPTT;
``reference`` truncated gradients, per-step terms and state adjoints
             against ``symrnn.copy_differences.reference`` (where it exists);
``vector_units`` / ``unrolled`` / ``truncated_sympy`` at T <= 3, against
             SymPy's diff of the unrolled (or truncated) cost.

The long run: ``python3 tests/crossing.py --cells N --seed S`` prints the
counts per check and every failure (cell text, configuration, worst array,
error, its class), and exits 1 on a failure; ``--only jax`` (any checks)
runs only those. Known classes of issue 23 are
named by :func:`classify`; anything else is a NEW bug.
"""

import argparse
import dataclasses
import functools
import random
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import symrnn
from symrnn.verify import NOISE_FACTOR, TOLERANCE, _compare, check_unrolled, check_vector_units, moderate_point

# --------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------

# max(v, c) of a constant c anywhere but as a whole right-hand side once made
# code generation crash (AttributeError in graph.Flattener.lower, found by this
# generator; test_crossing.test_max_of_a_constant_inside_an_expression): fixed,
# so the generator draws it.
MAX_OF_A_CONSTANT_INSIDE = True

CONSTRUCTS = ("division", "negative power", "real constant", "sqrt", "log", "softplus", "max", "mean", "exp",
              "gain", "further size", "input elementwise", "previous input", "transposed weight",
              "output not a state", "shared parameter", "several states", "state read through a weight",
              "layer norm", "relu")

STATE_NAMES = ("h", "c", "s")  # states of the hidden size H, in order
FURTHER_STATE = "r"  # a state of the further size P
GATE_NAMES = ("f", "z", "q", "u", "v", "e", "k", "p", "d", "j", "l", "m", "n", "o")
SUPERSCRIPTS = tuple("abcdefghijklmnopqrstuvwxzABCDEFGHIJKLMNOPQRSTUVWXZ")  # not y: w_y, b_y are the output layer
POSITIVE = (  # sqrt and log of what the cell makes positive: (template, constructs)
    ("sqrt({} ^ 2 + 0.5)", ("sqrt", "real constant")),
    ("sqrt(softplus({}))", ("sqrt", "softplus")),
    ("log(1 + {} ^ 2)", ("log",)),
    ("log(sigmoid({}))", ("log",)),
    ("log(softplus({}) + 0.5)", ("log", "softplus", "real constant")),
)


@dataclass(frozen=True)
class GeneratedCell:
    name: str
    text: str
    constructs: frozenset
    letters: frozenset  # the further size letters the cell uses


@dataclass
class _Vector:
    name: str  # as written in the text: h, x, h[t-1], x[t-1]
    letter: str  # its size; "X" for the input (a weight on the input is a kind of its own)
    state: bool = False  # a state's value at this step (computed by an earlier equation)


class _Builder:
    """One cell's text, equation by equation, with its weights' shapes."""

    def __init__(self, rng, elementwise_input):
        self.rng = rng
        self.shapes = {}  # superscript of w -> (rows, columns)
        self.vectors = {}  # superscript of b or g -> letter
        self.free = list(SUPERSCRIPTS)
        rng.shuffle(self.free)
        self.gates = list(GATE_NAMES)
        self.used = set()
        self.lines = []
        self.sizes = []  # size lines of vectors that are not states
        self.input = _Vector("x", "X")
        self.input_letter = "H" if elementwise_input else "D"  # the letter it is used elementwise as
        self.has_input = False  # the first pre-activation reads the input through a weight

    def chance(self, p):
        return self.rng.random() < p

    # parameters ----------------------------------------------------------

    def weight(self, rows, columns, share=0.3):
        """A weight of shape (rows, columns), an existing one with probability ``share``."""
        same = [s for s, shape in self.shapes.items() if shape == (rows, columns)]
        if same and self.chance(share):
            self.used.add("shared parameter")
            return f"w^({self.rng.choice(same)})"
        name = self.free.pop()
        self.shapes[name] = (rows, columns)
        return f"w^({name})"

    def elementwise(self, letter, kind="b", share=0.25):
        same = [s for s, (k, lt) in self.vectors.items() if lt == letter and k == kind]
        if same and self.chance(share):
            self.used.add("shared parameter")
            return f"{kind}^({self.rng.choice(same)})"
        name = self.free.pop()
        self.vectors[name] = (kind, letter)
        return f"{kind}^({name})"

    def product(self, operand, letter):
        """``w v`` giving ``letter`` from the vector ``operand``; sometimes a
        transposed use of an existing weight of the opposite shape."""
        flipped = [s for s, shape in self.shapes.items() if shape == (operand.letter, letter)]
        if flipped and self.chance(0.3):
            self.used.update({"transposed weight", "shared parameter"})
            return f"w^({self.rng.choice(flipped)})^T {operand.name}"
        text = f"{self.weight(letter, operand.letter)} {self._operand(operand.name)}"
        if operand.state:
            self.used.add("state read through a weight")
        return text

    @staticmethod
    def _operand(name):
        return name if name.replace("[t-1]", "").isalnum() else f"({name})"

    # expressions ---------------------------------------------------------

    def pre(self, letter, prev, current, must=(), input_product=0.8):
        """A sum of terms of size ``letter``: the vectors ``must`` (previous
        states that nothing else reads yet) through weights or gains, then
        random ingredients from ``prev`` (previous states) and ``current``
        (vectors of this step)."""
        terms = [self.read(v, letter) for v in must]
        if self.chance(input_product) or not terms or not self.has_input:
            self.has_input = True
            terms.append(self.product(self.input, letter))
        if self.chance(0.25):
            self.used.add("previous input")
            terms.append(self.product(_Vector("x[t-1]", "X"), letter))
        for v in prev:
            if v not in must and self.chance(0.3):
                terms.append(self.read(v, letter))
        for v in current:
            if self.chance(0.3):
                terms.append(self.read(v, letter))
        if self.input_letter == letter and self.chance(0.5):
            self.used.add("input elementwise")
            terms.append(self.rng.choice(["x", "0.5 * x"]))
            if "0.5" in terms[-1]:
                self.used.add("real constant")
        if self.chance(0.15) and (prev or current):
            self.used.add("mean")
            v = self.rng.choice(prev + current)
            terms.append(f"mean({v.name})")
        if self.chance(0.15) and len(self.shapes) > 0:  # the antisymmetric form
            square = [s for s, shape in self.shapes.items() if shape == (letter, letter)]
            operand = [v for v in prev if v.letter == letter]
            if square and operand:
                self.used.update({"transposed weight", "shared parameter"})
                terms.append(f"- w^({self.rng.choice(square)})^T {operand[0].name}")
        if self.chance(0.6):
            terms.append(self.elementwise(letter))
        if self.chance(0.15):
            self.used.add("real constant")
            terms.append(self.rng.choice(["0.25", "1e-3", "2.5e-1"]))
        self.rng.shuffle(terms)
        return " + ".join(terms).replace("+ -", "-")  # a leading "- " is the language's unary minus

    def read(self, v, letter):
        """``v`` as a term of size ``letter``: through a weight, or an
        elementwise gain (a peephole) where the sizes agree."""
        if v.letter == letter and self.chance(0.35):
            self.used.add("gain")
            return f"{self.elementwise(letter, 'g')} * {v.name}"
        if v.letter == letter and self.chance(0.15):
            self.used.add("real constant")
            return f"0.5 * {v.name}"
        return self.product(v, letter)

    def activation(self, u):
        kinds = ["tanh", "tanh", "sigmoid", "softplus", "identity", "relu", "max", "exp", "positive"]
        kind = self.rng.choice(kinds)
        if kind == "max":
            self.used.add("max")
            choices = ["-0.5 * sigmoid({})", "0.25 * ({})"] + (["-0.5"] if MAX_OF_A_CONSTANT_INSIDE else [])
            other = self.rng.choice(choices).format(u)
            return f"max(tanh({u}), {other})"
        if kind == "exp":
            self.used.add("exp")
            return f"exp(0.5 * tanh({u}))"
        if kind == "positive":
            template, constructs = self.rng.choice(POSITIVE)
            self.used.update(constructs)
            return template.format(f"({u})").replace(" ^ ", "^")
        if kind == "softplus":
            self.used.add("softplus")
        if kind == "relu":
            self.used.add("relu")
        return f"{kind}({u})"

    def gate(self, letter, prev, current, must=()):
        name = self.gates.pop(0)
        if letter != "H":
            self.sizes.append(f"size {name} {letter}")
        self.lines.append(f"{name} = sigmoid({self.pre(letter, prev, current, must)})")
        return _Vector(name, letter)

    def layer_norm(self, prev, current, must=()):
        """u, m = u - mean(u), n = g * m / sqrt(mean(m^2) + 1e-5) + b: three equations."""
        u, m = self.gates.pop(0), self.gates.pop(0)
        self.lines.append(f"{u} = {self.pre('H', prev, current, must, input_product=1.0)}")
        self.lines.append(f"{m} = {u} - mean({u})")
        self.used.update({"layer norm", "mean", "sqrt", "division", "real constant", "gain"})
        return f"{self.elementwise('H', 'g')} * {m} / sqrt(mean({m}^2) + 1e-5) + {self.elementwise('H')}"


def generate_cell(seed, index):
    """The ``index``-th cell of run ``seed``: a :class:`GeneratedCell` whose
    text the cell language accepts (and code generation, unless it has a bug)."""
    rng = random.Random(f"crossing-{seed}-{index}")
    name = f"x{seed}n{index}"
    further = rng.random() < 0.4
    elementwise_input = rng.random() < 0.2
    hidden = rng.choice([1, 1, 2, 2, 3]) if not further else rng.choice([1, 2])
    if further and elementwise_input:  # the output (a layer above reads it as its input) has the size H
        hidden = 2
    states = [_Vector(n, "H") for n in STATE_NAMES[:hidden]]
    if further:  # the further state comes after the one it projects, and feeds an earlier equation
        states.insert(rng.randrange(1, len(states) + (0 if elementwise_input else 1)), _Vector(FURTHER_STATE, "P"))
    b = _Builder(rng, elementwise_input)
    prev = [_Vector(f"{s.name}[t-1]", s.letter) for s in states]
    forms = {s.name: _state_form(rng, s) for s in states}
    # previous states no equation of their own reads: the first equation reads them
    unread = [p for s, p in zip(states, prev) if forms[s.name] in ("projection",)]
    current = []  # vectors of this step an equation may read
    layer_norm_done = False
    for k, s in enumerate(states):
        form = forms[s.name]
        own = prev[k]
        # the state of this step before it (the chain that makes every state influence the output)
        before = [v for v in current if v.state][-1:]
        if form == "projection":  # r = w^(r) (o * tanh(h)) or r = tanh(w h + w r[t-1])
            source = before[0]
            if rng.random() < 0.5:
                gate = b.gate("H", prev, [v for v in current if v.letter == "H"], unread)
                unread = []
                inner = f"{gate.name} * tanh({source.name})"
                b.lines.append(f"{s.name} = {b.weight('P', 'H')} ({inner})")
                b.used.add("state read through a weight")
            else:
                b.lines.append(f"{s.name} = {b.activation(b.pre('P', prev, [], [source] + unread))}")
                unread = []
            current.append(_Vector(s.name, "P", state=True))
            continue
        must = unread + ([own] if form in ("direct", "divided", "clip") else []) + before
        unread = []
        if rng.random() < 0.25 and not layer_norm_done and s.letter == "H":
            u = b.layer_norm(prev, current, must)
            layer_norm_done, must = True, []
            candidate = b.activation(f"{u}")
        else:
            candidate = b.activation(b.pre(s.letter, prev, current, must))
        if form == "gated":
            f = b.gate(s.letter, prev, current)
            text = f"{f.name} * {own.name} + (1 - {f.name}) * {candidate}"
        elif form == "residual":
            b.used.add("real constant")
            text = f"{own.name} + 0.1 * {candidate}"
        elif form == "divided":
            b.used.add("division" if rng.random() < 0.5 else "negative power")
            denominator = f"(1.5 + {own.name}^2)"
            text = (f"{candidate} / {denominator}" if "division" in b.used and rng.random() < 0.5
                    else f"{candidate} * {denominator}^-1")
            b.used.add("division" if "/" in text else "negative power")
        elif form == "max":
            b.used.add("max")
            # + 0.01: a relu candidate is exactly 0 wherever its argument is negative, and so,
            # after one such step, would be 0.5 * h[t-1]: max of two equal values, a point where
            # the cell has no derivative (the long run's only failures before this)
            text = f"max({candidate}, 0.5 * {own.name} + 0.01)"
        elif form == "clip":  # max of a vector and a constant, the whole right-hand side
            b.used.update({"max", "real constant"})
            text = f"max({candidate}, -0.5) + 0.5 * {own.name}" if MAX_OF_A_CONSTANT_INSIDE else f"max({candidate}, -0.5)"
        elif form == "inverse":
            b.used.add("negative power")
            text = f"{candidate} * (1 + sigmoid({own.name}))^-2"
        else:
            text = candidate
        b.lines.append(f"{s.name} = {text}")
        current.append(_Vector(s.name, s.letter, state=True))
    header = [f"cell {name}", "input x", "state " + ", ".join(s.name for s in states)]
    if further:
        header.append(f"size {FURTHER_STATE} P")
        b.used.add("further size")
    if elementwise_input:
        header.append("size x H")
    top = current[-1]
    if rng.random() < 0.35:
        b.used.add("output not a state")
        header.append("output a")
        kind = rng.choice(["gated", "highway", "product"] if elementwise_input and top.letter == "H"
                          else ["gated", "product"])
        if kind == "gated":
            g = b.gate(top.letter, prev, [])
            b.lines.append(f"a = {g.name} * tanh({top.name})")
            if top.letter != "H":
                header.append(f"size a {top.letter}")
        elif kind == "highway":
            g = b.gate("H", prev, [])
            b.lines.append(f"a = {g.name} * tanh({top.name}) + (1 - {g.name}) * x")
            b.used.add("input elementwise")
        else:
            letter = "H" if elementwise_input else rng.choice(["H", "P"])
            if letter == "P":
                header.append("size a P")
                b.used.add("further size")
            b.lines.append(f"a = {b.weight(letter, top.letter)} {top.name}")
            if top.state:
                b.used.add("state read through a weight")
    header += b.sizes
    if len(states) > 1:
        b.used.add("several states")
    text = "\n".join(header + b.lines) + "\n"
    letters = frozenset(line.split()[2] for line in header if line.startswith("size ") and line.split()[2] != "H")
    return GeneratedCell(name, text, frozenset(b.used & set(CONSTRUCTS)), letters)


def _state_form(rng, state):
    if state.letter == "P":
        return "projection"
    return rng.choice(["direct", "direct", "gated", "residual", "divided", "max", "clip", "inverse"])


# --------------------------------------------------------------------------
# Configurations
# --------------------------------------------------------------------------

OUTPUTS = ("last", "sequence", "states")
TRUNCATES = (None, 1, 2, "T")  # "T": a window as long as the sequence (K = T), full BPTT


@dataclass(frozen=True)
class Config:
    layers: int
    output: str
    loss: str
    unequal: bool
    truncate: object  # None, 1, 2 or "T"
    T: int = 4
    B: int = 3

    @property
    def window(self):
        """The truncate argument the module takes."""
        return self.T if self.truncate == "T" else self.truncate

    @property
    def lengths(self):
        return np.array([self.T, max(1, self.T - 2), self.T - 1][:self.B]) if self.unequal else None

    def __str__(self):
        return (f"layers={self.layers} output={self.output} loss={self.loss} "
                f"lengths={'unequal ' + str([int(n) for n in self.lengths]) if self.unequal else 'equal'} "
                f"truncate={self.window} T={self.T} B={self.B}")


def all_configs():
    """Every combination: layers x output x loss x lengths x truncate (xent not with states)."""
    return [(layers, output, loss, unequal, truncate)
            for layers in (1, 2, 3) for output in OUTPUTS for loss in ("squared", "xent")
            for unequal in (False, True) for truncate in TRUNCATES
            if not (output == "states" and loss == "xent")]


def configs_for(seed, index, count, T=4, B=3):
    """The ``count`` configurations of cell ``index``: consecutive entries of
    one seeded shuffle of :func:`all_configs`, so that the cells of a run
    take every combination in turn."""
    combos = all_configs()
    random.Random(f"configs-{seed}").shuffle(combos)
    return [Config(*combos[(index * count + j) % len(combos)], T=T, B=B) for j in range(count)]


# --------------------------------------------------------------------------
# Modules, cached per cell and configuration
# --------------------------------------------------------------------------

SIZES = {"D": 2, "H": 3, "K": 2, "P": 2}


@functools.cache
def network(text, layers, output, loss):
    return symrnn.network(symrnn.parse_cell(text), layers=layers, output=output, loss=loss)


@functools.cache
def module(text, layers, output, loss, backend="numpy"):
    return symrnn.generate(network(text, layers, output, loss), load=True, backend=backend)


def case(mod, net, config, seed=0):
    """params, x, lengths, y, state0, d_outputs at a moderate point (verify's way, at :data:`SIZES`)."""
    rng = np.random.default_rng(seed)
    sizes = {**SIZES, "T": config.T, "B": config.B}
    further = {letter: sizes[letter] for letter in set(net.cell.sizes.values()) if letter not in "DHK"}
    params = mod.init_params(sizes["D"], sizes["H"], sizes["K"], seed=seed, **further)
    x = rng.normal(size=(config.T, config.B, sizes[net.input_letter]))
    top = sizes["K"] if net.has_output_layer else sizes[net.output_letter]
    shape = (config.B, top) if net.output == "last" else (config.T, config.B, top)
    y = rng.dirichlet(np.ones(top), size=shape[:-1]) if net.loss == "xent" else rng.normal(size=shape)
    letters = [net.cell.sizes[s.name] for s in net.cell.states]
    state0 = {name: 0.5 * rng.normal(size=(config.B, sizes[letter]))
              for names in mod.INITIAL_STATES for name, letter in zip(names, letters)}
    d_outputs = rng.normal(size=shape)
    moderate_point(mod, params, x, config.lengths, state0)
    return params, x, config.lengths, y, state0, d_outputs


# --------------------------------------------------------------------------
# Checks: each returns a list of (worst array, error, detail) that failed
# --------------------------------------------------------------------------

EQUAL = 1e-10  # torch against NumPy, and sums of per-step terms
SYMPY = 1e-20  # the engine against SymPy's diff at 30 digits


def _relative(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return np.inf
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return np.inf
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)), 1e-300)
    return float(np.max(np.abs(a - b), initial=0.0)) / scale


def check_fd(text, config, seed=0):
    """The NumPy module's full gradients against finite differences of its own cost."""
    net, mod = network(text, config.layers, config.output, config.loss), module(text, config.layers, config.output,
                                                                                 config.loss)
    params, x, lengths, y, state0, d_outputs = case(mod, net, config, seed)
    with np.errstate(all="ignore"):
        result = _compare(mod, params, x, lengths, y, state0, d_outputs, (net.module_name, str(config), 1.0))
    if result.passed:
        return []
    return [(result.worst, result.max_error, f"padded x grad zero: {result.padded_zero}, noise {result.noise:.1e}")]


def check_per_step(text, config, seed=0):
    """truncate None: the per-step terms sum to the gradient and per_step changes no gradient;
    K >= T: the same gradients as full BPTT."""
    net, mod = network(text, config.layers, config.output, config.loss), module(text, config.layers, config.output,
                                                                                 config.loss)
    params, x, lengths, y, state0, _ = case(mod, net, config, seed)
    _, full = mod.loss_and_grad(params, x, y, lengths, state0)
    failures = []
    if config.truncate in (None, "T"):
        _, grads = mod.loss_and_grad(params, x, y, lengths, state0, truncate=config.window, per_step=True)
        for name, value in full.items():
            error = _relative(grads[name], value)
            if not error <= EQUAL:
                failures.append((name, error, f"per_step=True, truncate={config.window} against full BPTT"))
        for name, terms in grads["per_step"].items():
            error = _relative(terms.sum(axis=0), full[name])
            if not error <= EQUAL:
                failures.append((f"per_step {name}", error, "sum of the per-step terms against the gradient"))
    return failures


def check_reference(text, config, seed=0):
    """Truncated gradients, per-step terms and state adjoints against
    symrnn.copy_differences.reference (finite differences copy by copy)."""
    from symrnn import copy_differences
    from symrnn.errors import CellError

    net, mod = network(text, config.layers, config.output, config.loss), module(text, config.layers, config.output,
                                                                                 config.loss)
    try:
        copy_differences.check_size(net, config.T, config.window)
    except CellError:
        return None  # over the reference's budget: not checked
    params, x, lengths, y, state0, _ = case(mod, net, config, seed)
    with np.errstate(all="ignore"):
        _, computed = mod.loss_and_grad(params, x, y, lengths, state0, truncate=config.window, per_step=True)
        expected = copy_differences.reference(net, mod, params, x, y, lengths, state0, config.window)
    worst, worst_name, _, largest = copy_differences._compare(computed, expected)
    floor = NOISE_FACTOR * expected["noise"] / min(v for kind in expected["steps"].values() for v in kind.values())
    noise = floor / largest if largest else (0.0 if floor == 0 else np.inf)
    if worst <= TOLERANCE and noise <= TOLERANCE:
        return []
    return [(worst_name, worst, f"noise {noise:.1e}")]


def check_torch(text, config, seed=0, gradcheck=False):
    """The torch module's outputs, final states and gradients equal the NumPy module's (same weights)."""
    import torch

    net = network(text, config.layers, config.output, config.loss)
    mod = module(text, config.layers, config.output, config.loss)
    tmod = module(text, config.layers, config.output, config.loss, "torch")
    params, x, lengths, _, state0, d_outputs = case(mod, net, config, seed)
    expected, cache = mod.forward(params, x, lengths, state0)
    grads = mod.backward(params, cache, d_outputs)
    sizes = {letter: SIZES[letter] for letter in set(net.cell.sizes.values()) if letter not in "DHK"}
    tnet = tmod.Network(x.shape[2], SIZES["H"], SIZES["K"] if net.has_output_layer else None, sizes=sizes or None,
                        dtype=torch.float64, seed=seed)
    with torch.no_grad():
        for name, p in tnet.named_parameters():
            p.copy_(torch.from_numpy(params[name]))
    xt = torch.from_numpy(x.copy()).requires_grad_()
    st = {name: torch.from_numpy(v.copy()).requires_grad_() for name, v in state0.items()}
    lt = None if lengths is None else torch.from_numpy(lengths)
    outputs, finals = tnet(xt, lt, st)
    (outputs * torch.from_numpy(d_outputs)).sum().backward()
    failures = []
    error = _relative(outputs.detach().numpy(), expected)
    if not error <= EQUAL:
        failures.append(("outputs", error, "torch forward against NumPy forward"))
    got = {**{n: p.grad for n, p in tnet.named_parameters()}, "x": xt.grad, **{n: s.grad for n, s in st.items()}}
    for name, grad in got.items():
        error = _relative(np.zeros_like(grads[name]) if grad is None else grad.numpy(), grads[name])
        if not error <= EQUAL:
            failures.append((name, error, "torch gradient against NumPy backward"))
    for name, value in mod.final_states(cache).items():
        error = _relative(finals[name].detach().numpy(), value)
        if not error <= EQUAL:
            failures.append((f"final {name}", error, "torch final state against NumPy final_states"))
    if gradcheck:
        names = [n for n, _ in tnet.named_parameters()]

        def f(x, *tensors):
            new = dict(zip(names, tensors))
            states = dict(zip(st, tensors[len(names):]))
            return torch.func.functional_call(tnet, new, (x, lt, states))[0]

        inputs = [xt.detach().clone().requires_grad_(), *(p.detach().clone().requires_grad_()
                                                          for _, p in tnet.named_parameters()),
                  *(s.detach().clone().requires_grad_() for s in st.values())]
        try:
            torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)
        except Exception as error:  # noqa: BLE001 (GradcheckError, or a crash: the message says which)
            failures.append(("gradcheck", np.inf, str(error).splitlines()[0][:200]))
    return failures


def check_jax(text, config, seed=0):
    """The JAX module's outputs, final states and gradients equal the NumPy
    module's, with the final states' adjoints seeding both backwards too; and
    its window (the configuration's truncate, per_step) equals the NumPy
    module's: gradients, per-step terms and state adjoints."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    net = network(text, config.layers, config.output, config.loss)
    mod = module(text, config.layers, config.output, config.loss)
    jmod = module(text, config.layers, config.output, config.loss, "jax")
    params, x, lengths, y, state0, d_outputs = case(mod, net, config, seed)
    expected, cache = mod.forward(params, x, lengths, state0)
    finals = mod.final_states(cache)
    rng = np.random.default_rng(seed + 7)
    d_finals = {name: rng.normal(size=value.shape) for name, value in finals.items()}
    grads = mod.backward(params, cache, d_outputs, d_final_states=d_finals)
    as_jax = lambda arrays: {name: jnp.asarray(value) for name, value in arrays.items()}  # noqa: E731
    outputs, jcache = jmod.forward(as_jax(params), jnp.asarray(x), lengths, as_jax(state0))
    jgrads = jmod.backward(as_jax(params), jcache, jnp.asarray(d_outputs), d_final_states=as_jax(d_finals))
    failures = []
    pairs = [("outputs", outputs, expected)] + [(f"final {n}", v, finals[n]) for n, v in jmod.final_states(jcache).items()]
    pairs += [(name, jgrads.get(name), value) for name, value in grads.items()]
    for name, got, want in pairs:
        error = np.inf if got is None else _relative(np.asarray(got), want)
        if not error <= EQUAL:
            failures.append((name, error, "JAX module against the NumPy module"))
    _, window = mod.loss_and_grad(params, x, y, lengths, state0, truncate=config.window, per_step=True)
    _, jwindow = jmod.loss_and_grad(as_jax(params), jnp.asarray(x), jnp.asarray(y), lengths, as_jax(state0),
                                    truncate=config.window, per_step=True)
    where = f"JAX window (truncate={config.window}, per_step) against the NumPy module's"
    pairs = [(name, jwindow.get(name), value) for name, value in window.items() if not isinstance(value, dict)]
    for table in ("per_step", "state_adjoints"):
        pairs += [(f"{table} {name}", jwindow[table].get(name), value) for name, value in window[table].items()]
    for name, got, want in pairs:
        error = np.inf if got is None else _relative(np.asarray(got), want)
        if not error <= EQUAL:
            failures.append((name, error, where))
    return failures


SYMPY_SECONDS = 15  # a SymPy check that takes longer is skipped (counted as such)


class _Timeout(Exception):
    pass


def _within(seconds, work):
    """``work()``, or None when it takes more than ``seconds`` (SIGALRM; the main thread only)."""
    import signal

    def expire(*_):
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        return work()
    except _Timeout:
        return None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _symbolic_network(text, config):
    """The configuration's network as the SymPy checks take it: one output unit
    needs the squared cost, and they need an output layer."""
    return network(text, config.layers, "sequence" if config.output == "states" else config.output, "squared")


def check_sympy(text, config, seconds=SYMPY_SECONDS):
    """The engine against SymPy's diff: several units at one layer, T = 1
    (check_vector_units: means, transposed weights, further sizes), one
    unit in a stack of 2, T = 2 (check_unrolled). None (not checked) for 3
    layers or past ``seconds``."""
    if config.layers == 1:
        net = _symbolic_network(text, config)
        result = _within(seconds, lambda: check_vector_units(net, 1, sizes={"D": 1, "H": 2, "K": 1, "P": 3}))
        kind, steps = "vector_units", 1
    elif config.layers == 2:
        net = _symbolic_network(text, config)
        result = _within(seconds, lambda: check_unrolled(net, 2))
        kind, steps = "unrolled", 2
    else:
        return None
    if result is None:
        return None
    error, entries = result
    return [] if error < SYMPY else [(kind, float(error), f"{entries} entries, T = {steps}")]


def check_truncated_sympy(text, config, seconds=SYMPY_SECONDS):
    """At T = 3 with one unit (1 or 2 layers): truncated gradients and
    per-step terms against SymPy's diff of the truncated cost
    (tests/test_truncation.py's sympy_reference)."""
    from test_truncation import sympy_reference

    if config.layers > 2:
        return None
    net = _symbolic_network(text, config)
    steps = 3
    truncate = min(config.window or steps, steps)
    try:
        result = _within(seconds, lambda: sympy_reference(net, steps, None if truncate == steps else truncate))
    except TypeError as error:  # test_truncation's evaluation of relu's step takes no NumPy bool: not checked
        if "mpf" in str(error):
            return None
        raise
    if result is None:
        return None
    expected, grads = result
    failures, where = [], f"truncate={truncate}, T=3, one unit"
    for name in net.param_shapes():
        copies = list(expected[name])
        if name in ("w_y", "b_y") and net.output == "last":
            copies = [0.0] * (steps - 1) + copies
        error = _relative(grads["per_step"][name].reshape(steps), copies)
        if not error <= 1e-9:
            failures.append((f"per_step {name}", error, where))
    error = _relative(grads["x"].reshape(steps), expected["x"])
    if not error <= 1e-9:
        failures.append(("x", error, where))
    for layer in range(1, net.layers + 1):
        for name in net.initial_states(layer):
            error = _relative(float(grads[name].sum()), expected[name])
            if not error <= 1e-9:
                failures.append((name, error, where))
    return failures


# --------------------------------------------------------------------------
# Classes of failures
# --------------------------------------------------------------------------

KNOWN = {
    1: "mean in a cell that has a vector of a further size",
    2: "truncate in a stack of cells that read x[t-1]",
    3: "state adjoints of a state a later equation of the same step reads through a weight",
}


def classify(cell, config, check, worst):
    """The known classes of issue 23 this failure may belong to (by the
    cell's constructs and the configuration), or "NEW"."""
    classes = []
    if "mean" in cell.constructs and cell.letters:
        classes.append(1)
    truncated = config.window is not None and config.window < config.T or check == "truncated_sympy"
    if config.layers > 1 and "previous input" in cell.constructs and truncated and check in (
            "reference", "truncated_sympy"):
        classes.append(2)
    if "state read through a weight" in cell.constructs and check == "reference" and worst.startswith("adjoint"):
        classes.append(3)
    return "known " + ", ".join(str(k) for k in classes) if classes else "NEW"


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


@dataclass
class Failure:
    cell: GeneratedCell
    config: Config
    check: str
    worst: str
    error: float
    detail: str

    @property
    def klass(self):
        return classify(self.cell, self.config, self.check, self.worst)

    def report(self):
        return (f"[{self.klass}] {self.check} {self.cell.name}: {self.worst} error {self.error:.2e} ({self.detail})\n"
                f"  configuration: {self.config}\n" + "".join(f"  | {line}\n" for line in self.cell.text.splitlines()))


@dataclass
class Run:
    cells: int = 0
    configs: int = 0
    counts: dict = field(default_factory=dict)  # check -> number run
    skipped: dict = field(default_factory=dict)  # check -> number not run (over a budget, module missing)
    failures: list = field(default_factory=list)
    constructs: dict = field(default_factory=dict)  # construct -> cells holding it

    def record(self, cell, config, check, outcome):
        if outcome is None:
            self.skipped[check] = self.skipped.get(check, 0) + 1
            return
        self.counts[check] = self.counts.get(check, 0) + 1
        self.failures += [Failure(cell, config, check, *failure) for failure in outcome]


def plan(index, count, options):
    """Which checks run on configuration ``index`` of a cell with ``count``:
    fd, per_step and reference everywhere; torch on ``options.torch`` of
    them; gradcheck, SymPy and truncated SymPy once per cell."""
    checks = ["fd", "per_step", "reference"]
    if index < options.get("torch", count):
        checks += ["torch", "jax"]
    if index == 0 and options.get("gradcheck", True):
        checks.append("gradcheck")
    if index == 0 and options.get("sympy", True):  # (crossing_run gives them 1 or 2 layers)
        checks.append("sympy")
    if index == 1 and options.get("sympy", True):
        checks.append("truncated_sympy")
    only = options.get("only")
    return checks if not only else [check for check in checks if check in only]


def run_one(run, cell, config, checks, seed=0):
    """Every check of ``checks`` on one (cell, configuration); a crash is a failure of its own."""
    for check in checks:
        try:
            if check == "fd":
                outcome = check_fd(cell.text, config, seed)
            elif check == "per_step":
                outcome = check_per_step(cell.text, config, seed)
            elif check == "reference":
                outcome = check_reference(cell.text, config, seed) if has_reference() else None
            elif check in ("torch", "gradcheck"):
                if not has_torch():
                    outcome = None
                else:
                    outcome = check_torch(cell.text, config, seed, gradcheck=check == "gradcheck")
            elif check == "jax":
                outcome = check_jax(cell.text, config, seed) if has_jax() else None
            elif check == "sympy":
                outcome = check_sympy(cell.text, config)
            else:
                outcome = check_truncated_sympy(cell.text, config)
        except Exception as error:  # noqa: BLE001 (a crash of any kind is what the run reports)
            message = str(error).splitlines()[0][:300] if str(error) else ""
            where = traceback.extract_tb(error.__traceback__)[-1].name
            outcome = [("crash", np.inf, f"{type(error).__name__}: {message} at {where}")]
        run.record(cell, config, check, outcome)


@functools.cache
def has_reference():
    try:
        from symrnn import copy_differences  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def has_jax():
    try:
        import jax  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def has_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def crossing_run(cells, seed, configs_per_cell=4, options=None, log=None):
    """Generate ``cells`` cells of run ``seed`` and check each in ``configs_per_cell`` configurations."""
    options = options or {}
    run = Run()
    for index in range(cells):
        cell = generate_cell(seed, index)
        run.cells += 1
        for construct in cell.constructs:
            run.constructs[construct] = run.constructs.get(construct, 0) + 1
        for j, config in enumerate(configs_for(seed, index, configs_per_cell, options.get("T", 4),
                                               options.get("B", 3))):
            run.configs += 1
            before = len(run.failures)
            checks = plan(j, configs_per_cell, options)
            run_one(run, cell, config, [c for c in checks if "sympy" not in c], seed)
            symbolic = dataclasses.replace(config, layers=1 + (index + j) % 2,
                                           truncate=config.window if config.truncate in (1, 2) else 1 + index % 2)
            run_one(run, cell, symbolic, [c for c in checks if "sympy" in c], seed)
            if log:
                log(f"cell {index} ({cell.name}) {config}: {len(run.failures) - before} failures")
    return run


def summary(run, seconds):
    lines = [f"{run.cells} cells, {run.configs} configurations, {seconds:.0f} s",
             "checks run: " + ", ".join(f"{k} {v}" for k, v in sorted(run.counts.items())),
             "checks skipped: " + (", ".join(f"{k} {v}" for k, v in sorted(run.skipped.items())) or "none"),
             "constructs (cells holding each): " + ", ".join(f"{k} {run.constructs.get(k, 0)}" for k in CONSTRUCTS)]
    by_class = {}
    for failure in run.failures:
        by_class[failure.klass] = by_class.get(failure.klass, 0) + 1
    lines.append(f"failures: {len(run.failures)}" + (" (" + ", ".join(f"{k}: {v}" for k, v in
                                                                       sorted(by_class.items())) + ")"
                                                      if by_class else ""))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", type=int, default=4, help="configurations per cell")
    parser.add_argument("--torch", type=int, default=2, help="configurations per cell checked against torch and JAX")
    parser.add_argument("--no-sympy", action="store_true", help="skip the SymPy checks at T <= 3")
    parser.add_argument("--only", nargs="+", metavar="CHECK", help="run only these checks (e.g. jax)")
    parser.add_argument("--print-cells", action="store_true", help="print the cells and exit")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.print_cells:
        for index in range(args.cells):
            cell = generate_cell(args.seed, index)
            print(f"# {sorted(cell.constructs)}\n{cell.text}")
        return 0
    start = time.perf_counter()
    options = {"torch": args.torch, "sympy": not args.no_sympy, "only": args.only}
    run = crossing_run(args.cells, args.seed, args.configs, options, log=print if args.verbose else None)
    for failure in run.failures:
        print(failure.report())
    print(summary(run, time.perf_counter() - start))
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))  # test_truncation's SymPy reference
    sys.exit(main())
