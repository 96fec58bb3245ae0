"""Verification of generated modules against central finite differences.

Every gradient a module returns (each parameter, the input x and each
initial state) is compared, in float64, with a fourth-order central
difference of the cost. Two routes are checked: ``loss_and_grad`` (the cost
itself) and ``backward`` (a random dC/d(outputs), i.e. the cost
<d_outputs, outputs>). Gradients of x at steps past an item's length must be
exactly zero.

The point. Parameters and x are drawn at random (``init_params`` and a
normal x); if a value the forward pass keeps (its cache and outputs) exceeds
:data:`VALUE_BOUND` times max(1, max|x|), or is not finite, the parameters and
initial states are halved until none does (while halving still shrinks the
values), so that a cell such as ``h = (tanh(...) + 1)^16`` is checked where
its values are moderate rather than at 65,536. (x enters a cell only through
its input weights, so scaling them scales its effect.)

The steps. Each array a gets its own step h = :data:`STEP` * max(1, rms(a));
each entry is differenced with steps h and 2h (the cost at ±h, ±2h, ±4h):

    fd = D4(h),   D4(h) = (-C(+2h) + 8 C(+h) - 8 C(-h) + C(-2h)) / (12 h).

The criterion. ``|D4(h) - D4(2h)| * h`` estimates the error of the cost
values the difference is made of (roundoff, plus truncation, which is far
smaller at these steps); its largest value over every entry of every array
of one route is that route's cost noise ε. An array passes when

    max|g - fd| <= max(TOLERANCE * max(max|g|, max|fd|), NOISE_FACTOR * ε / h),

that is, relative error at most 1e-6, or, for an array whose gradient is too
small for finite differences to resolve at all, an error within the
differences' own noise. The reported error of an array is
``max|g - fd| / max(max|g|, max|fd|, NOISE_FACTOR * ε / (h * TOLERANCE))``;
a module passes when every array's is at most :data:`TOLERANCE` (non-finite
values count as an infinite error) and the noise floor is at most
:data:`TOLERANCE` times the largest gradient, so that a wrong gradient cannot
hide in noise.

The second half checks the engine symbolically: its unrolled gradient
(:func:`check_unrolled`) and a derivation's rendered forms
(:func:`check_derivation`, reading :class:`symrnn.chain.ChainRule` through
the derivation) against SymPy's ``diff`` of the nested cost.

A cell's real constants are doubles (SymPy Floats of 53 bits), and SymPy
folds products of them at that precision, differently in the engine's
expressions and in ``diff``'s; the symbolic checks therefore run on the cell
with each constant the exact rational it holds (:func:`exact_constants`).

Imports: code generation (:func:`symrnn.codegen.load_module`), the Cell,
:func:`symrnn.graph.substitute`, :mod:`symrnn.unroll`, the rule table and
the network's symbols only.
"""

import dataclasses
from dataclasses import dataclass

import mpmath
import numpy as np
import sympy

from .cells import Cell
from .codegen import load_module
from .graph import substitute
from .network import MASK
from .rules import ELEMENTWISE, units
from .unroll import Unrolled, scalar

TOLERANCE = 1e-6
STEP = 1e-4  # the differencing step of an array whose entries have rms <= 1 (else relative to it)
NOISE_FACTOR = 4  # errors within NOISE_FACTOR * ε / h are the finite differences' own noise
VALUE_BOUND = 4  # forward values above VALUE_BOUND * max(1, max|x|) make the point too large
MAX_HALVINGS = 60
SIZES = {"D": 3, "H": 4, "K": 2, "T": 4, "B": 3}
UNEQUAL_LENGTHS = (4, 2, 3)


@dataclass
class Verification:
    name: str
    lengths: str
    max_error: float
    worst: str
    checked: int
    padded_zero: bool
    scale: float = 1.0  # the factor parameters and initial states were scaled by (see the module docstring)
    noise: float = 0.0  # the noise floor NOISE_FACTOR * ε / h relative to the largest gradient (worst route)
    overflow: bool = False  # forward() overflows (inf or nan) at every point tried: nothing to compare

    @property
    def passed(self):
        return self.max_error <= TOLERANCE and self.padded_zero and self.noise <= TOLERANCE and not self.overflow

    @property
    def status(self):
        if self.passed:
            return "ok"
        if self.overflow:
            return "FAIL: the network overflows at every point tried"
        return "FAIL: padded x grad not 0" if not self.padded_zero else "FAIL"


def case_sizes(network):
    """:data:`SIZES`, and each further size letter of the cell (P...) a
    small size distinct from all of them (5, 6, ...)."""
    letters = dict.fromkeys(network.cell.sizes.values())
    further = [letter for letter in letters if letter not in SIZES]
    return SIZES | {letter: max(SIZES.values()) + 1 + k for k, letter in enumerate(further)}


def _case(module, network, unequal, seed):
    rng = np.random.default_rng(seed)
    sizes = case_sizes(network)
    H, K, T, B = (sizes[k] for k in "HKTB")
    D = sizes[network.input_letter]  # H where the cell uses its input elementwise (size x H)
    further = {letter: n for letter, n in sizes.items() if letter not in "DHKTB"}
    params = module.init_params(D, H, K, seed=seed, **further)
    x = rng.normal(size=(T, B, D))
    lengths = np.array(UNEQUAL_LENGTHS) if unequal else None
    top = sizes[network.output_letter]
    out_shape = (B, K) if network.output == "last" else (T, B, K if network.has_output_layer else top)
    if network.loss == "xent":
        y = rng.dirichlet(np.ones(K), size=out_shape[:-1])
    else:
        y = rng.normal(size=out_shape)
    letters = [network.cell.sizes[s.name] for s in network.cell.states]
    state0 = {name: 0.5 * rng.normal(size=(B, sizes[letter]))
              for names in module.INITIAL_STATES for name, letter in zip(names, letters)}
    d_outputs = rng.normal(size=out_shape)
    return params, x, lengths, y, state0, d_outputs


def _largest_value(module, params, x, lengths, state0):
    """The largest |value| among the float arrays of forward()'s outputs and
    cache; inf if one is not finite."""
    with np.errstate(all="ignore"):
        try:
            outputs, cache = module.forward(params, x, lengths, state0)
        except (ValueError, FloatingPointError, OverflowError):  # a module's input checks refuse non-finite input
            return np.inf
    largest, stack = 0.0, [outputs, cache]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, np.ndarray) and item.dtype.kind == "f" and item.size:
            peak = float(np.max(np.abs(item)))
            if not np.isfinite(peak):
                return np.inf
            largest = max(largest, peak)
    return largest


def moderate_point(module, params, x, lengths, state0):
    """Scale ``params`` and ``state0`` in place by the first of 1, 1/2, 1/4, ...
    at which every value forward() keeps is at most VALUE_BOUND * max(1, max|x|);
    if none is (after MAX_HALVINGS), by the first at which the largest value
    is within 25 % of the smallest reached. Returns the factor applied."""
    bound = VALUE_BOUND * max(1.0, float(np.max(np.abs(x))))
    arrays = [*params.values(), *state0.values()]
    originals = [array.copy() for array in arrays]

    def largest_at(scale):
        for array, original in zip(arrays, originals):
            np.multiply(original, scale, out=array)
        return _largest_value(module, params, x, lengths, state0)

    tried = []
    for k in range(MAX_HALVINGS + 1):
        tried.append((largest_at(0.5 ** k), 0.5 ** k))
        if tried[-1][0] <= bound:
            return tried[-1][1]
    smallest = min(largest for largest, _ in tried)
    scale = next(scale for largest, scale in tried if largest <= 1.25 * smallest)
    largest_at(scale)
    return scale


def array_step(array):
    """The differencing step of ``array``: STEP, or relative to its rms when that exceeds 1."""
    return STEP * max(1.0, float(np.sqrt(np.mean(np.square(array)))))


def _central_difference(cost, array, step=STEP):
    """Fourth-order central difference D4(step) of ``cost()`` for each entry of
    ``array`` (changed in place and restored), and for each entry the
    estimate |D4(step) - D4(2 step)| * step of the error in the cost values."""
    grad, noise = np.zeros_like(array), np.zeros_like(array)
    for index in np.ndindex(array.shape):
        original = array[index]
        values = {}
        for offset in (4, 2, 1, -1, -2, -4):
            array[index] = original + offset * step
            values[offset] = cost()
        array[index] = original
        fine = (-values[2] + 8 * values[1] - 8 * values[-1] + values[-2]) / (12 * step)
        coarse = (-values[4] + 8 * values[2] - 8 * values[-2] + values[-4]) / (24 * step)
        grad[index], noise[index] = fine, abs(fine - coarse) * step
    return grad, noise


def relative_error(computed, reference, floor=0.0):
    """max|computed - reference| / max(max|computed|, max|reference|, floor);
    inf if either has a non-finite value."""
    if not (np.all(np.isfinite(computed)) and np.all(np.isfinite(reference))):
        return np.inf
    scale = max(np.max(np.abs(computed)), np.max(np.abs(reference)), floor)
    return 0.0 if scale == 0 else float(np.max(np.abs(computed - reference)) / scale)


def check_gradients(module, network, *, unequal=False, seed=0):
    """Finite-difference check of one module; returns a :class:`Verification`."""
    params, x, lengths, y, state0, d_outputs = _case(module, network, unequal, seed)
    scale = moderate_point(module, params, x, lengths, state0)
    name, kind = network.module_name, "unequal" if unequal else "equal"
    if not np.isfinite(_largest_value(module, params, x, lengths, state0)):
        return Verification(name, kind, np.inf, "", 0, True, scale, np.inf, overflow=True)
    with np.errstate(all="ignore"):  # a difference step may still overflow: it then fails, without warnings
        return _compare(module, params, x, lengths, y, state0, d_outputs, (name, kind, scale))


def _compare(module, params, x, lengths, y, state0, d_outputs, labels):
    """The finite-difference comparison at the chosen point; ``labels`` is the
    result's (module name, lengths kind, scale)."""
    arrays = {**params, "x": x, **state0}
    routes = {
        "loss": (lambda: module.loss_and_grad(params, x, y, lengths, state0)[0],
                 module.loss_and_grad(params, x, y, lengths, state0)[1]),
        "outputs": (lambda: float(np.sum(d_outputs * module.forward(params, x, lengths, state0)[0])),
                    module.backward(params, module.forward(params, x, lengths, state0)[1], d_outputs)),
    }
    worst, worst_name, checked, padded_zero, noise = 0.0, "", 0, True, 0.0
    for route, (cost, grads) in routes.items():
        steps = {name: array_step(array) for name, array in arrays.items()}
        differences = {name: _central_difference(cost, array, steps[name]) for name, array in arrays.items()}
        epsilon = max(float(np.max(estimate)) for _, estimate in differences.values())
        largest = max(float(np.max(np.abs(grads[name]))) for name in arrays)
        for name, array in arrays.items():
            floor = NOISE_FACTOR * epsilon / steps[name]
            error = relative_error(grads[name], differences[name][0], floor / TOLERANCE)
            checked += array.size
            if error >= worst or not error <= worst:
                worst, worst_name = error, f"{name} ({route})"
        floor = NOISE_FACTOR * epsilon / min(steps.values())
        noise = max(noise, np.inf if not np.isfinite(floor) else floor / largest if largest else 0.0)
        if lengths is not None:
            for item, length in enumerate(lengths):
                padded_zero &= bool(np.all(grads["x"][length:, item] == 0))
    module_name, kind, scale = labels
    return Verification(module_name, kind, worst, worst_name, checked, padded_zero, scale, noise)


def verify_network(network, seed=0, module=None):
    """Check ``network``'s generated module (loaded unless given) with equal and unequal lengths."""
    module = module or load_module(network)
    return [check_gradients(module, network, unequal=unequal, seed=seed) for unequal in (False, True)]


def format_table(results):
    """Plain-text table of verification results."""
    rows = [("module", "lengths", "max rel. error", "worst array", "entries", "status")]
    for r in results:
        rows.append((r.name, r.lengths, f"{r.max_error:.2e}", r.worst, str(r.checked), r.status))
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def streamed_table(networks, seed=0, more=None):
    """:func:`format_table`'s table of every check of ``networks``, line by
    line as the checks finish: the header and its rule at once, then each
    network's rows when :func:`verify_network` returns them, and those of
    ``more`` (rows of a later module's checks, such as
    :class:`symrnn.copy_differences.WindowRows`: its ``lengths()``,
    ``arrays(network)`` labels and ``results(network, module, seed)``).
    Column widths are fixed in advance from the networks' names. Yields
    ``(line, result)``, with ``result`` None for the header and the rule."""
    def arrays(net):
        states = [name for layer in range(1, net.layers + 1) for name in net.initial_states(layer)]
        return [f"{a} (outputs)" for a in [*net.param_shapes(), "x", *states]] + (more.arrays(net) if more else [])

    networks = list(networks)
    widths = [max([len("module")] + [len(net.module_name) for net in networks]),
              max(len(label) for label in ["unequal", *(more.lengths() if more else [])]),
              len("max rel. error"),
              max([len("worst array")] + [len(a) for net in networks for a in arrays(net)]),
              len("entries")]

    def line(cells):
        return "  ".join(cell.ljust(w) for cell, w in zip(cells, widths + [0])).rstrip()

    def row(r):
        return line([r.name, r.lengths, f"{r.max_error:.2e}", r.worst, str(r.checked), r.status]), r

    yield line(["module", "lengths", "max rel. error", "worst array", "entries", "status"]), None
    yield "  ".join("-" * w for w in widths + [len("status")]), None
    for net in networks:
        module = load_module(net)
        yield from map(row, verify_network(net, seed=seed, module=module))
        yield from map(row, more.results(net, module, seed) if more else [])


# --------------------------------------------------------------------------
# The engine's unrolled gradient against SymPy's diff of the nested cost
# --------------------------------------------------------------------------


def _reference_functions():
    """For each table function: an inert SymPy function whose derivatives
    SymPy computes from the function's definition (not from the table's
    rule; SymPy's own derivative for tanh, exp and log), written in the inert
    functions again so that no derivative evaluates a function of a large
    argument, and an mpmath implementation of each."""
    functions, numeric = {}, {"Heaviside": lambda z, at_zero=0: mpmath.mpf(z > 0), "step": lambda z: mpmath.mpf(z > 0)}
    derivatives = {}
    for rule in ELEMENTWISE.values():
        arity = min(rule.function.nargs)
        us = sympy.symbols(f"u:{arity}", cls=sympy.Dummy)
        definition = (rule.definition or rule.function)(*us)
        name = f"reference_{rule.function.__name__}"
        derivatives[rule.function] = (us, [sympy.diff(definition, u) for u in us])
        functions[rule.function] = type(name, (sympy.Function,), {
            "nargs": arity,
            "fdiff": lambda self, argindex=1, f=rule.function: _partial(derivatives[f], self.args, argindex),
        })
        value = sympy.lambdify(us, definition, "mpmath")
        numeric[name] = numeric[rule.function.__name__] = value
    for function, (us, partials) in derivatives.items():
        derivatives[function] = (us, [_with_reference_functions(d, functions) for d in partials])
    return functions, [numeric, "mpmath"]


def _partial(derivative, args, argindex):
    us, partials = derivative
    return partials[argindex - 1].xreplace(dict(zip(us, args)))


def _with_reference_functions(expr, functions):
    for function, reference in functions.items():
        expr = expr.replace(function, reference)
    return expr


def exact_constants(network):
    """``network`` with every real constant of its cell (a double) replaced by
    the exact rational it holds; the network itself when it has none."""
    cell = network.cell
    floats = {f: sympy.Rational(f) for _, rhs in cell.equations for f in rhs.atoms(sympy.Float)}
    if not floats:
        return network
    exact = Cell(cell.name, input=cell.input, states=cell.states, output_state=cell.output_state,
                 equations=[(lhs, substitute(rhs, floats)) for lhs, rhs in cell.equations],
                 description=cell.description, sizes=cell.sizes)
    return dataclasses.replace(network, cell=exact)


def check_unrolled(network, steps, seed=0, digits=30):
    """Largest |engine - SymPy diff| over every copy of every parameter, at a
    random point evaluated with ``digits`` significant digits.

    The engine's side is its step adjoint equations applied over ``steps``
    steps (:class:`symrnn.unroll.Unrolled`); the reference is ``sympy.diff`` of
    the fully nested cost with respect to each copy.
    """
    mpmath.mp.dps = digits
    unrolled = Unrolled(exact_constants(network), steps)
    functions, modules = _reference_functions()
    cost = _with_reference_functions(unrolled.nested_cost(), functions)
    copies = [c for p in unrolled.parameter_names() for c in unrolled.copies(p)]
    # every copy and every leaf has a value, also one the cost does not depend on (its uses cancel:
    # at one unit u - mean(u) is 0, so a layer-normalized cell's cost reads no h0 its adjoints name)
    symbols = sorted(cost.free_symbols | set(copies) | _leaves(unrolled), key=lambda s: s.name)
    rng = np.random.default_rng(seed)
    point = {s: mpmath.mpf(float(v)) for s, v in zip(symbols, rng.uniform(-1, 1, len(symbols)))}
    reference = sympy.lambdify(symbols, [sympy.diff(cost, c) for c in copies], modules, cse=True)
    expected = reference(*[point[s] for s in symbols])
    evaluate = _definition_evaluator(unrolled, point, modules)
    computed = [evaluate(unrolled.copy_gradient(c)) for c in copies]
    return max(abs(a - b) for a, b in zip(computed, expected)), len(copies)


def _leaves(unrolled):
    """The symbols the unrolled network's values and adjoints read but do not define."""
    definitions = {**unrolled.values, **unrolled.adjoint_values}
    read = set().union(*(expr.free_symbols for expr in definitions.values()))
    return read - set(definitions)


def _definition_evaluator(unrolled, point, modules):
    """Evaluates expressions over the unrolled network's value and adjoint
    symbols numerically, one small definition at a time."""
    definitions = {**unrolled.values, **unrolled.adjoint_values}
    known = dict(point)

    def evaluate(expr):
        args = sorted(expr.free_symbols, key=lambda s: s.name)
        return sympy.lambdify(args, expr, modules)(*[value(s) for s in args])

    def value(symbol):
        if symbol not in known:
            known[symbol] = evaluate(definitions[symbol])
        return known[symbol]

    return evaluate


def check_derivation(derivation, seed=0, digits=30):
    """Largest |rendered gradient - SymPy diff| over the derivation's
    parameters, for the recurrence form and (scalar units) the chain form.

    Both are evaluated at a random point with ``digits`` digits, each summed
    over the parameter's copies, against ``sympy.diff`` of the fully nested
    cost with respect to the shared parameter (every copy the same symbol).
    Returns ``{(param, form): difference}``.
    """
    mpmath.mp.dps = digits
    unrolled = derivation.unrolled
    functions, modules = _reference_functions()
    cost = _with_reference_functions(unrolled.nested_cost(), functions)
    # every leaf has a value, also one the cost does not depend on (its uses cancel, or it multiplies 0)
    definitions = {**unrolled.values, **unrolled.adjoint_values}
    leaves = set().union(*(e.free_symbols for e in definitions.values())) - set(definitions)
    symbols = sorted(cost.free_symbols | leaves | set(unrolled.copy_of), key=lambda s: s.name)
    rng = np.random.default_rng(seed)
    point = {s: mpmath.mpf(float(v)) for s, v in zip(symbols, rng.uniform(-1, 1, len(symbols)))}
    point[MASK] = mpmath.mpf(1)  # a derivation follows one item over all its steps
    differences = {}
    for param in derivation.wrt:
        copies = unrolled.copies(param)
        shared = sympy.Dummy(param)  # every copy is the one shared parameter again
        gradient = sympy.diff(cost.xreplace({c: shared for c in copies}), shared).xreplace(
            {shared: copies[0]})  # evaluated where every copy has the first copy's value
        at_point = {**point, **{c: point[copies[0]] for c in copies}}
        expected = sympy.lambdify(symbols, gradient, modules, cse=True)(*[at_point[s] for s in symbols])
        evaluate = _definition_evaluator(unrolled, at_point, modules)
        steps = [c.step for c in unrolled.param_copies(param)]
        recurrence = sum(evaluate(scalar(derivation.chains.copy_term(param, k, copies=True))) for k in steps)
        differences[(param, "recurrence")] = abs(recurrence - expected)
        if derivation.units == "scalar":
            chain = sum(_evaluate_chain(derivation, derivation.chain(param, k), evaluate) for k in steps)
            differences[(param, "chain")] = abs(chain - expected)
    return differences


def _evaluate_chain(derivation, expr, evaluate):
    """A chain-form expression (sums and ordered products of matrix atoms) as a number."""
    def value(node):
        if node.is_Add:
            return sum((value(a) for a in node.args[1:]), value(node.args[0]))
        if node.is_Mul:
            result = value(node.args[0])
            for factor in node.args[1:]:
                result = result * value(factor)
            return result
        entries = derivation.chains.atom_value(node)
        return mpmath.matrix([[evaluate(e) if e != 0 else mpmath.mpf(0) for e in row]
                              for row in entries.tolist()])

    result = value(expr)
    assert result.rows == 1 and result.cols == 1, "a chain's product is a number"
    return result[0, 0]


# --------------------------------------------------------------------------
# The engine with vectors of several units, against SymPy's diff
# --------------------------------------------------------------------------

VECTOR_SIZES = {"D": 2, "H": 3, "K": 1}  # any other letter: 2 units


def check_vector_units(network, steps, seed=0, digits=30, sizes=None):
    """Largest |engine - SymPy diff| over every entry of every parameter of a
    one-layer ``network`` unrolled ``steps`` steps with vectors of several
    units (``sizes`` by letter, default :data:`VECTOR_SIZES`), at a random
    point with ``digits`` digits: the check of what one unit cannot show
    (means over units, transposed weights, vectors of their own sizes).

    The engine's side evaluates its step and output-layer adjoint equations
    with matrices (dot, dot_t and outer as matrix products, mean and row_sum
    over the units); the reference is ``sympy.diff`` of the cost built from
    the same step equations, entry by entry. Returns (difference, entries).
    """
    mpmath.mp.dps = digits
    if network.layers != 1:
        raise ValueError("check_vector_units checks one layer (stacks are checked with one unit per vector)")
    units = _Units(exact_constants(network), {**VECTOR_SIZES, **(sizes or {})})
    cost, engine = units.run(steps)
    functions, modules = _reference_functions()
    cost = _with_reference_functions(cost, functions)
    entries = [(name, index) for name, matrix in units.params.items() for index in range(len(matrix))]
    symbols = sorted(cost.free_symbols | {units.params[n][i] for n, i in entries}, key=lambda s: s.name)
    rng = np.random.default_rng(seed)
    point = [mpmath.mpf(float(v)) for v in rng.uniform(-1, 1, len(symbols))]
    reference = sympy.lambdify(symbols, [sympy.diff(cost, units.params[n][i]) for n, i in entries], modules, cse=True)
    engine = _with_reference_functions(sympy.Matrix([engine[n][i] for n, i in entries]), functions)
    computed = sympy.lambdify(symbols, list(engine), modules, cse=True)(*point)
    expected = reference(*point)
    return max(abs(a - b) for a, b in zip(computed, expected)), len(entries)


class _Units:
    """One layer of ``network`` with vectors of several units: every symbol
    a matrix of SymPy symbols (vectors n x 1, weights rows x columns)."""

    def __init__(self, network, sizes):
        from .derived import derive_network

        self.derived = derive_network(network)
        self.network, self.cell, self.graph = network, network.cell, self.derived.graph
        self.size = {name: sizes.get(letter, 2) for name, letter in self.cell.sizes.items()}
        self.sizes = sizes
        shapes = {p.name: p.shape for p in self.cell.parameters}
        shapes |= {"w_y": ("K", self.cell.sizes[self.cell.output_state.name]), "b_y": ("K",)}
        self.params = {name: self.matrix(name, *(sizes.get(letter, 2) for letter in shape))
                       for name, shape in shapes.items()}
        self.symbols = {sympy.Symbol(name): matrix for name, matrix in self.params.items()}
        self.symbols |= {units(letter): sympy.Integer(sizes.get(letter, 2)) for letter in set(self.cell.sizes.values())}

    @staticmethod
    def matrix(name, rows, columns=1):
        return sympy.Matrix(rows, columns, lambda i, j: sympy.Symbol(f"{name}[{i},{j}]"))

    def vector(self, name, time):
        return self.matrix(f"{name}@{time}", self.size[name])

    def run(self, steps):
        """(the cost, each parameter's gradient by the engine), both in the symbols of the point."""
        states = {s: self.vector(s.name, 0) for s in self.cell.states}
        inputs = [self.vector(self.cell.input.name, t) for t in range(1, steps + 1)]
        outputs = self.network.output == "sequence"
        tapes, heads, cost = [], {}, sympy.S.Zero
        for t in range(1, steps + 1):
            env = {**self.symbols, self.cell.input: inputs[t - 1]}
            env |= {self.graph.prev_symbols[s]: states[s] for s in states}
            if self.graph.prev_input is not None:
                env[self.graph.prev_input] = inputs[t - 2] if t > 1 else sympy.zeros(*inputs[0].shape)
            for node in self.graph.nodes:
                env[node.out] = _evaluate(_node_value(node), env)
            states = {s: env[s] for s in states}
            tapes.append(env)
            if outputs or t == steps:
                heads[t], value = self.head(env[self.cell.output_state], t)
                cost += value
        return cost, self.backward(tapes, heads)

    def head(self, top, t):
        from .network import TARGET, TOP

        env = {**self.symbols, TOP: top, MASK: sympy.Matrix([[1]]), TARGET: self.matrix(f"y@{t}", self.sizes["K"])}
        for node in self.derived.head:
            env[node.out] = _evaluate(_node_value(node), env)
        return env, sum(_evaluate(self.derived.cost.expr, env))

    def backward(self, tapes, heads):
        from . import naming
        from .network import TOP

        grads = {name: sympy.zeros(*matrix.shape) for name, matrix in self.params.items()}
        carry = {s: sympy.zeros(self.size[s.name], 1) for s in self.cell.states}
        exposed = self.cell.output_state
        for t in range(len(tapes), 0, -1):
            d_top = sympy.zeros(self.size[exposed.name], 1)
            if t in heads:
                d_top = self._adjoints(self.derived.from_cost, heads[t], grads)[TOP]
            env = dict(tapes[t - 1])
            env |= {sympy.Symbol(naming.next_adjoint_name(s.name)): carry[s] for s in carry}
            env[sympy.Symbol(naming.output_adjoint_name(exposed.name))] = d_top
            inputs = self._adjoints(self.derived.cell, env, grads)
            carry = {s: inputs.get(self.graph.prev_symbols[s], carry[s] * 0) for s in carry}
        return grads

    def _adjoints(self, adjoints, env, grads):
        env = dict(env)
        for lhs, rhs in adjoints.equations:
            env[lhs] = _evaluate(rhs, env)
        for name, terms in adjoints.params.items():
            grads[name] += _evaluate(sympy.Add(*terms), env)
        return {symbol: _evaluate(expr, env) for symbol, expr in adjoints.inputs.items()}


def _node_value(node):
    from .graph import Affine

    if isinstance(node, Affine):
        return node.product + node.bias if node.bias is not None else node.product
    return node.expr


def _evaluate(expr, env):
    """An engine expression with matrices for its symbols (a number stays a number)."""
    from .rules import dot, dot_t, mean, outer, row_sum

    if expr in env:
        return env[expr]
    if expr.is_Number:
        return expr
    if expr.is_Symbol:
        raise KeyError(f"no value for {expr}")
    args = [_evaluate(arg, env) for arg in expr.args]
    products = {dot: _product, dot_t: lambda w, v: _product(w.T, v), outer: lambda u, v: _product(u, v.T),
                # one number per item, which broadcasts over the units of the place that reads it
                row_sum: lambda v: _total(v),
                mean: lambda v: sympy.Mul(sympy.Rational(1, len(v)), _total(v), evaluate=False)}
    if type(expr) in products:
        return products[type(expr)](*args)
    shape = next((a.shape for a in args if isinstance(a, sympy.MatrixBase)), None)
    if shape is None:
        return expr.func(*args)
    entries = [[a[i] if isinstance(a, sympy.MatrixBase) else a for a in args] for i in range(shape[0] * shape[1])]
    return sympy.Matrix(*shape, [expr.func(*e, evaluate=False) for e in entries])


def _product(a, b):
    """The matrix product, its sums and products left unevaluated (SymPy would
    distribute every number over every sum, at a cost that grows with each step)."""
    return sympy.Matrix(a.rows, b.cols, lambda i, j: sympy.Add(
        *[sympy.Mul(a[i, k], b[k, j], evaluate=False) for k in range(a.cols)], evaluate=False))


def _total(v):
    """The sum of a vector's units (a number: itself)."""
    return sympy.Add(*v) if isinstance(v, sympy.MatrixBase) else v
