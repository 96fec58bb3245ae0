"""Cells as data: a cell is its list of equations over vectors and parameters.

A cell is written with SymPy symbols and the primitives of :mod:`symrnn.rules`,
or as text in a cell file (:mod:`symrnn.cellfile`); the built-in cells are
cell files shipped in ``symrnn/cell_files/``, read by the same parser as a
user's own (:mod:`symrnn.registry` names them). In Python::

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

Imports: budgets, naming, the printers and the rule table (never the parser or the registry).
"""

import re
from dataclasses import dataclass
from functools import cached_property

import sympy

from . import naming
from .budgets import check_cell
from .errors import CellError, Where
from .rules import dot, function_rule, known_function_names, prev

CELL_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
# A description reaches docstrings of generated code and LaTeX: no quotes,
# backslashes, braces or other characters special to either.
DESCRIPTION_PATTERN = re.compile(r"[A-Za-z0-9 ,.;:()\[\]/+\-'=*!?]{0,200}\Z")


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
        if not isinstance(description, str) or not DESCRIPTION_PATTERN.match(description):
            raise CellError(f"invalid description {description!r}: expected at most 200 letters, digits, "
                            "spaces and the punctuation , . ; : ( ) [ ] / + - ' = * ! ?")
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
        check_cell(self)  # before any work a large cell would make (symrnn.budgets)

    def __repr__(self):
        return f"Cell({self.name!r}, states={[str(s) for s in self.states]})"

    @cached_property
    def parameters(self):
        """The cell's parameters: by equation, then input weights, recurrent
        weights and elementwise parameters, as the notes list them."""
        kinds, order = {}, []
        rank = {"input": 0, "hidden": 1, None: 2}
        for lhs, rhs in self.equations:
            known = len(kinds)
            _collect_parameters(rhs, self, kinds, lhs)
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
    return naming.is_param_name(symbol.name)


def _error(message, equation=None, symbol=None, use=None):
    """A CellError that also says where (:class:`symrnn.errors.Where`), so
    that a cell file can point at the line."""
    return CellError(message, Where(equation, symbol, use))


def _validate(cell):
    """Names, the order of computation within a step, parameter shapes, and
    that every part of the cell matters."""
    defined = set()
    names = {cell.input.name} | {s.name for s in cell.states}
    if len(names) != len(cell.states) + 1:
        raise CellError(f"cell {cell.name!r}: the input and states must have distinct names")
    clash = naming.initial_state_clash(cell)
    if clash:
        vector, state = clash
        declared = vector == cell.input or vector in cell.states
        raise _error(f"cell {cell.name!r}: the name {vector} is reserved: generated code calls the initial "
                     f"value of the state {state} '{vector}' (a state's name plus 0); rename {vector}",
                     None if declared else vector, vector, "declared" if declared else "lhs")
    for lhs, rhs in cell.equations:
        if lhs == cell.input:
            raise _error(f"cell {cell.name!r}: the input {lhs} cannot be assigned", lhs, lhs, "lhs")
        if lhs in defined:
            raise _error(f"cell {cell.name!r}: {lhs} is assigned twice", lhs, lhs, "lhs")
        _check_expression(rhs, cell, defined, lhs)
        if not rhs.free_symbols:
            raise _error(f"cell {cell.name!r}: {lhs} = {rhs} is a constant: every vector depends on the input, "
                         "a state or a parameter (a constant term is a bias)", lhs, lhs, "lhs")
        defined.add(lhs)
    for state in cell.states:
        if state not in defined:
            raise _error(f"cell {cell.name!r}: state {state} is never updated (no equation for it)",
                         None, state, "declared")
    cell.parameters  # noqa: B018 - checks shape consistency of every parameter
    _check_influence(cell)


def _check_expression(expr, cell, defined, lhs):
    where = f"cell {cell.name!r}, equation for {lhs}"
    if isinstance(expr, sympy.Symbol):
        if _is_param(expr):
            naming.check_param_name(expr.name)
        elif expr == cell.input:
            raise _error(f"{where}: the input {expr} may only be the whole operand of a weight, "
                         f"as in dot(w, {expr}) (w^(.) {expr} in a cell file)", lhs, expr, "use")
        elif expr not in defined:
            if expr in cell.states or expr == lhs:
                raise _error(
                    f"{where}: {expr} is used before it is computed at this step "
                    f"(a cycle within one step?); write prev({expr}) ({expr}[t-1] in a cell file) "
                    "for its previous value", lhs, expr, "use")
            raise _error(f"{where}: undeclared name {expr}", lhs, expr, "use")
        return
    if isinstance(expr, sympy.Number):
        if not expr.is_finite or not expr.is_real:
            raise _error(f"{where}: the constant {expr} is not a finite real number", lhs)
        return
    if isinstance(expr, prev):
        (state,) = expr.args
        if state not in cell.states:
            raise _error(f"{where}: prev({state}) refers to something that is not a state", lhs, state, "prev")
        return
    if isinstance(expr, dot):
        weight, arg = expr.args
        if not (isinstance(weight, sympy.Symbol) and weight.name.startswith("w_")):
            raise _error(f"{where}: the first argument of dot must be a weight 'w_...', got {weight}", lhs)
        naming.check_param_name(weight.name)
        if arg != cell.input:
            _check_expression(arg, cell, defined, lhs)
            if not any(not _is_param(s) for s in arg.free_symbols):
                raise _error(f"{where}: the operand of {weight} is the same at every step and for every "
                             f"item ({arg}): a weight multiplies the input or a vector the cell computes; "
                             "a constant term is a bias", lhs, weight, "matrix")
        return
    if isinstance(expr, (sympy.Add, sympy.Mul)):
        for arg in expr.args:
            _check_expression(arg, cell, defined, lhs)
        return
    if isinstance(expr, sympy.Pow):
        base, exponent = expr.args
        if not exponent.is_Integer:
            raise _error(f"{where}: only integer powers are supported, got {expr}", lhs)
        _check_expression(base, cell, defined, lhs)
        return
    if isinstance(expr, sympy.Function) and function_rule(expr) is not None and len(expr.args) == 1:
        _check_expression(expr.args[0], cell, defined, lhs)
        if not expr.args[0].free_symbols:
            raise _error(f"{where}: {expr} is a function of a constant: the functions apply to vectors "
                         "(a constant term is a bias)", lhs)
        return
    if isinstance(expr, sympy.Function):
        raise _error(
            f"{where}: the function {type(expr).__name__} has no derivative rule; "
            f"known functions: {', '.join(known_function_names())}", lhs
        )
    raise _error(f"{where}: unsupported expression {expr} ({type(expr).__name__})", lhs)


def _check_influence(cell):
    """Everything a cell computes must reach its output state, and every state
    must be read at the next step: otherwise a gradient is identically zero
    (or an initial state is unused), which is a mistake in the cell."""
    rhs_of = dict(cell.equations)
    reached, read_prev, todo = set(), set(), [cell.output_state]
    while todo:
        vector = todo.pop()
        if vector in reached or vector not in rhs_of:
            reached.add(vector)
            continue
        reached.add(vector)
        rhs = rhs_of[vector]
        for node in sympy.preorder_traversal(rhs):
            if isinstance(node, prev):
                read_prev.add(node.args[0])
                todo.append(node.args[0])
        todo += [s for s in rhs.free_symbols if not _is_param(s)]
    for lhs, _ in cell.equations:
        if lhs not in reached:
            raise _error(f"cell {cell.name!r}: {lhs} is computed but never used: it does not influence "
                         f"the output state {cell.output_state}", lhs, lhs, "lhs")
    if cell.input not in reached:
        raise _error(f"cell {cell.name!r}: the input {cell.input} does not influence the output state "
                     f"{cell.output_state}", None, cell.input, "declared")
    for state in cell.states:
        if state not in read_prev:
            raise _error(f"cell {cell.name!r}: state {state} is never read at the next step (no "
                         f"prev({state}), {state}[t-1] in a cell file, reaches the output state "
                         f"{cell.output_state}); a value not carried across steps is not a state",
                         None, state, "declared")


def _collect_parameters(expr, cell, kinds, lhs):
    """Record each parameter's use, matrix (with its fan-in) or elementwise."""
    if isinstance(expr, dot):
        weight, arg = expr.args
        fan_in = "input" if arg == cell.input else "hidden"
        _record_use(kinds, weight.name, fan_in, cell, lhs)
        _collect_parameters(arg, cell, kinds, lhs)
    elif isinstance(expr, sympy.Symbol) and _is_param(expr):
        _record_use(kinds, expr.name, None, cell, lhs)
    else:
        for arg in expr.args:
            _collect_parameters(arg, cell, kinds, lhs)


def _record_use(kinds, name, fan_in, cell, lhs):
    if name in kinds and kinds[name] != fan_in:
        shapes = {None: "an elementwise vector", "input": "a matrix on the input",
                  "hidden": "a matrix on a hidden vector"}
        raise _error(
            f"cell {cell.name!r}: parameter {name} is used with two incompatible shapes: "
            f"{shapes[kinds[name]]} and {shapes[fan_in]}",
            lhs, sympy.Symbol(name), "elementwise" if fan_in is None else "matrix",
        )
    kinds.setdefault(name, fan_in)
