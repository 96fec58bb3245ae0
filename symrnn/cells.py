"""Cells as data: a cell is its list of equations over vectors and parameters.

A cell is written with SymPy symbols and the primitives of :mod:`symrnn.rules`;
the built-in cells below are written exactly as a user would write their own::

    >>> from symrnn.cells import Cell, vectors, parameters
    >>> from symrnn.rules import dot, prev, sigmoid
    >>> import sympy
    >>> x, h, f = vectors("x h f")
    >>> w_f, w_F, b_f, w_h = parameters("w_f w_F b_f w_h")
    >>> mgu_like = Cell("toy", input=x, states=[h], equations=[
    ...     (f, sigmoid(dot(w_f, x) + dot(w_F, prev(h)) + b_f)),
    ...     (h, (1 - f) * prev(h) + f * sympy.tanh(dot(w_h, x))),
    ... ])
    >>> [p.name for p in mgu_like.parameters]
    ['w_f', 'w_F', 'b_f', 'w_h']
"""

import re
from dataclasses import dataclass
from functools import cached_property

import sympy

from . import naming
from .errors import CellError, ConfigError
from .rules import ACTIVATIONS, dot, function_rule, known_function_names, prev, sigmoid

CELL_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")


def vectors(names):
    """SymPy symbols for vector quantities (input, states, gates)."""
    return [sympy.Symbol(naming.check_vector_name(n)) for n in names.split()]


def parameters(names):
    """SymPy symbols for parameters (``w_...`` weights, ``b_...`` biases)."""
    return [sympy.Symbol(naming.check_param_name(n)) for n in names.split()]


@dataclass(frozen=True)
class Param:
    """A cell parameter. ``fan_in`` is 'input' or 'hidden' for a matrix used in
    dot(w, v) (its column count), or None for an elementwise vector."""

    name: str
    fan_in: str | None

    @property
    def is_matrix(self):
        return self.fan_in is not None


class Cell:
    """A recurrent cell: equations computing its states at step t.

    ``equations`` is a sequence of ``(lhs, rhs)`` pairs (or ``sympy.Eq``) in
    the order they are computed. ``output_state`` is the state the layer above
    and the output layer read (the last state by default).
    """

    def __init__(self, name, *, input, states, equations, output_state=None, description=""):
        if not isinstance(name, str) or not CELL_NAME_PATTERN.match(name):
            raise CellError(f"invalid cell name {name!r}: expected lowercase letters, digits, '_'")
        self.name = name
        self.description = description
        self.input = _check_symbol(input, "input")
        self.states = tuple(_check_symbol(s, "state") for s in states)
        if not self.states:
            raise CellError(f"cell {name!r} declares no state")
        self.equations = tuple(_as_pair(eq) for eq in equations)
        self.output_state = self.states[-1] if output_state is None else output_state
        if self.output_state not in self.states:
            raise CellError(f"output state {self.output_state} is not one of the states {self.states}")
        _validate(self)

    def __repr__(self):
        return f"Cell({self.name!r}, states={[str(s) for s in self.states]})"

    @cached_property
    def parameters(self):
        """The cell's parameters: by equation, then input weights, recurrent
        weights and elementwise parameters, as the notes list them."""
        kinds, order = {}, []
        rank = {"input": 0, "hidden": 1, None: 2}
        for _, rhs in self.equations:
            known = len(kinds)
            _collect_parameters(rhs, self, kinds)
            new = list(kinds)[known:]
            order += sorted(new, key=lambda name: rank[kinds[name]])
        return tuple(Param(name, kinds[name]) for name in order)

    def equations_text(self):
        """The equations as plain text lines, for docstrings."""
        from .printing import text_equation

        return [text_equation(lhs, rhs) for lhs, rhs in self.equations]


def _check_symbol(value, role):
    if not isinstance(value, sympy.Symbol):
        raise CellError(f"the {role} must be a SymPy Symbol, got {value!r}")
    naming.check_vector_name(value.name, role)
    return value


def _as_pair(eq):
    if isinstance(eq, sympy.Equality):
        return eq.lhs, eq.rhs
    if isinstance(eq, tuple) and len(eq) == 2:
        lhs, rhs = eq
        if not isinstance(lhs, sympy.Symbol):
            raise CellError(f"the left side of an equation must be a vector symbol, got {lhs!r}")
        naming.check_vector_name(lhs.name)
        return lhs, sympy.sympify(rhs, strict=True)
    raise CellError(f"an equation must be a pair (lhs, rhs) or sympy.Eq, got {eq!r}")


def _is_param(symbol):
    return symbol.name.startswith(("w_", "b_"))


def _validate(cell):
    defined = set()
    names = {cell.input.name} | {s.name for s in cell.states}
    if len(names) != len(cell.states) + 1:
        raise CellError(f"cell {cell.name!r}: the input and states must have distinct names")
    for lhs, rhs in cell.equations:
        if lhs == cell.input:
            raise CellError(f"cell {cell.name!r}: the input {lhs} cannot be assigned")
        if lhs in defined:
            raise CellError(f"cell {cell.name!r}: {lhs} is assigned twice")
        _check_expression(rhs, cell, defined, lhs)
        defined.add(lhs)
    for state in cell.states:
        if state not in defined:
            raise CellError(f"cell {cell.name!r}: state {state} is never updated (no equation for it)")
    cell.parameters  # noqa: B018 - checks shape consistency of every parameter


def _check_expression(expr, cell, defined, lhs):
    where = f"cell {cell.name!r}, equation for {lhs}"
    if isinstance(expr, sympy.Symbol):
        if _is_param(expr):
            naming.check_param_name(expr.name)
        elif expr != cell.input and expr not in defined:
            if expr in cell.states or expr == lhs:
                raise CellError(
                    f"{where}: {expr} is used before it is computed at this step "
                    f"(a cycle within one step?); write prev({expr}) for its previous value"
                )
            raise CellError(f"{where}: undeclared name {expr}")
        return
    if isinstance(expr, sympy.Number):
        if not expr.is_finite or not expr.is_real:
            raise CellError(f"{where}: the constant {expr} is not a finite real number")
        return
    if isinstance(expr, prev):
        (state,) = expr.args
        if state not in cell.states:
            raise CellError(f"{where}: prev({state}) refers to something that is not a state")
        return
    if isinstance(expr, dot):
        weight, arg = expr.args
        if not (isinstance(weight, sympy.Symbol) and weight.name.startswith("w_")):
            raise CellError(f"{where}: the first argument of dot must be a weight 'w_...', got {weight}")
        naming.check_param_name(weight.name)
        _check_expression(arg, cell, defined, lhs)
        return
    if isinstance(expr, (sympy.Add, sympy.Mul)):
        for arg in expr.args:
            _check_expression(arg, cell, defined, lhs)
        return
    if isinstance(expr, sympy.Pow):
        base, exponent = expr.args
        if not exponent.is_Integer:
            raise CellError(f"{where}: only integer powers are supported, got {expr}")
        _check_expression(base, cell, defined, lhs)
        return
    if isinstance(expr, sympy.Function) and function_rule(expr) is not None and len(expr.args) == 1:
        _check_expression(expr.args[0], cell, defined, lhs)
        return
    if isinstance(expr, sympy.Function):
        raise CellError(
            f"{where}: the function {type(expr).__name__} has no derivative rule; "
            f"known functions: {', '.join(known_function_names())}"
        )
    raise CellError(f"{where}: unsupported expression {expr} ({type(expr).__name__})")


def _collect_parameters(expr, cell, kinds):
    """Record each parameter's use, matrix (with its fan-in) or elementwise."""
    if isinstance(expr, dot):
        weight, arg = expr.args
        fan_in = "input" if arg == cell.input else "hidden"
        _record_use(kinds, weight.name, fan_in, cell)
        _collect_parameters(arg, cell, kinds)
    elif isinstance(expr, sympy.Symbol) and _is_param(expr):
        _record_use(kinds, expr.name, None, cell)
    else:
        for arg in expr.args:
            _collect_parameters(arg, cell, kinds)


def _record_use(kinds, name, fan_in, cell):
    if name in kinds and kinds[name] != fan_in:
        shapes = {None: "an elementwise vector", "input": "a matrix on the input",
                  "hidden": "a matrix on a hidden vector"}
        raise CellError(
            f"cell {cell.name!r}: parameter {name} is used with two incompatible shapes: "
            f"{shapes[kinds[name]]} and {shapes[fan_in]}"
        )
    kinds.setdefault(name, fan_in)


# --------------------------------------------------------------------------
# Built-in cells: data, written the way a user writes a cell.
# --------------------------------------------------------------------------


def _gate(g, weights_x, weights_h, bias, x, h_prev):
    return g(dot(weights_x, x) + dot(weights_h, h_prev) + bias)


def rnn(activation="tanh"):
    """Vanilla RNN of the notes: a_t = g(w^(x) x_t + w^(a) a_{t-1} + b^(a))."""
    if activation not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
    x, a = vectors("x a")
    w_x, w_a, b_a = parameters("w_x w_a b_a")
    g = ACTIVATIONS[activation]
    return Cell(
        "rnn" if activation == "tanh" else f"rnn_{activation}",
        input=x,
        states=[a],
        equations=[(a, _gate(g, w_x, w_a, b_a, x, prev(a)))],
        description=f"vanilla RNN, activation {activation}",
    )


def lstm():
    """LSTM of the notes: gates f, i, o (sigmoid), candidate g (tanh)."""
    x, c, h, f, i, g, o = vectors("x c h f i g o")
    w_f, w_F, b_f, w_i, w_I, b_i = parameters("w_f w_F b_f w_i w_I b_i")
    w_g, w_G, b_g, w_o, w_O, b_o = parameters("w_g w_G b_g w_o w_O b_o")
    h1 = prev(h)
    return Cell(
        "lstm",
        input=x,
        states=[c, h],
        equations=[
            (f, _gate(sigmoid, w_f, w_F, b_f, x, h1)),
            (i, _gate(sigmoid, w_i, w_I, b_i, x, h1)),
            (g, _gate(sympy.tanh, w_g, w_G, b_g, x, h1)),
            (o, _gate(sigmoid, w_o, w_O, b_o, x, h1)),
            (c, f * prev(c) + i * g),
            (h, o * sympy.tanh(c)),
        ],
        description="LSTM (forget, input, output gates; cell unit c; hidden state h)",
    )


def gru():
    """GRU of the notes: reset applied to h_{t-1} before the recurrent product."""
    x, h, z, r, g = vectors("x h z r g")
    w_z, w_Z, b_z, w_r, w_R, b_r, w_g, w_G, b_g = parameters("w_z w_Z b_z w_r w_R b_r w_g w_G b_g")
    h1 = prev(h)
    return Cell(
        "gru",
        input=x,
        states=[h],
        equations=[
            (z, _gate(sigmoid, w_z, w_Z, b_z, x, h1)),
            (r, _gate(sigmoid, w_r, w_R, b_r, x, h1)),
            (g, _gate(sympy.tanh, w_g, w_G, b_g, x, r * h1)),
            (h, (1 - z) * h1 + z * g),
        ],
        description="GRU as in the notes (reset before the recurrent product)",
    )


def gru_pytorch():
    """GRU as PyTorch and cuDNN compute it: reset applied after the recurrent
    product, which has its own bias b^(G); the update gate keeps h_{t-1}."""
    x, h, z, r, g = vectors("x h z r g")
    w_z, w_Z, b_z, w_r, w_R, b_r = parameters("w_z w_Z b_z w_r w_R b_r")
    w_g, w_G, b_g, b_G = parameters("w_g w_G b_g b_G")
    h1 = prev(h)
    return Cell(
        "gru_pytorch",
        input=x,
        states=[h],
        equations=[
            (z, _gate(sigmoid, w_z, w_Z, b_z, x, h1)),
            (r, _gate(sigmoid, w_r, w_R, b_r, x, h1)),
            (g, sympy.tanh(dot(w_g, x) + b_g + r * (dot(w_G, h1) + b_G))),
            (h, (1 - z) * g + z * h1),
        ],
        description="GRU as in PyTorch/cuDNN (reset after the recurrent product)",
    )


# The registry: cell name -> variant -> builder. Adding a cell touches only this.
CELLS = {
    "rnn": {"default": rnn},
    "lstm": {"default": lstm},
    "gru": {"notes": gru, "pytorch": gru_pytorch},
}


def get_cell(name, variant=None, activation=None):
    """A built-in cell by name, e.g. ``get_cell("gru", variant="pytorch")``."""
    if name not in CELLS:
        raise ConfigError(f"unknown cell {name!r}; expected one of {sorted(CELLS)}")
    variants = CELLS[name]
    variant = variant or next(iter(variants))
    if variant not in variants:
        raise ConfigError(f"unknown variant {variant!r} of cell {name!r}; expected one of {sorted(variants)}")
    builder = variants[variant]
    if activation is not None:
        if builder is not rnn:
            raise ConfigError(f"cell {name!r} has fixed activations; --activation applies to 'rnn' only")
        return builder(activation)
    return builder()
