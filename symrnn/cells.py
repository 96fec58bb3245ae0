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

Imports: budgets, naming, the printers, the rule table and the sign analysis (never the parser or the
registry).
"""

import re
from dataclasses import dataclass, field
from functools import cached_property

import sympy

from . import naming
from .budgets import check_cell
from .errors import CellError, Where
from .rules import dot, dot_t, function_rule, known_function_names, mean, prev
from .signs import outside_domain, sign, what_is

CELL_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
# A description reaches docstrings of generated code and LaTeX: no quotes,
# backslashes, braces or other characters special to either.
DESCRIPTION_PATTERN = re.compile(r"[A-Za-z0-9 ,.;:()\[\]/+\-'=*!?]{0,200}\Z")
# A size is an uppercase letter: every vector is H unless declared, the input D. K (the output
# layer's size), B (the batch) and T (the steps) are taken.
SIZE_PATTERN = re.compile(r"[A-Z]\Z")
TAKEN_SIZES = {"K": "the output layer's size", "B": "the batch size", "T": "the number of steps"}
INPUT_SIZE, HIDDEN_SIZE = "D", "H"


def vectors(names):
    """SymPy symbols for vector quantities (input, states, gates)."""
    return [sympy.Symbol(naming.check_vector_name(n)) for n in names.split()]


def parameters(names):
    """SymPy symbols for parameters (``w_...`` weights, ``b_...`` biases)."""
    return [sympy.Symbol(naming.check_param_name(n)) for n in names.split()]


@dataclass(frozen=True)
class Param:
    """A cell parameter. ``fan_in`` is 'input' or 'hidden' for a matrix used in
    dot(w, v) (its column count), or None for an elementwise vector.
    ``shape`` is its shape in size letters: (rows, columns) of a matrix,
    (units,) of a vector; D is the layer's input (H in a layer above the first
    unless the cell's output has another size)."""

    name: str
    fan_in: str | None
    shape: tuple = field(default=(), repr=False)

    def __post_init__(self):
        if not self.shape:
            default = {"input": (HIDDEN_SIZE, INPUT_SIZE), "hidden": (HIDDEN_SIZE, HIDDEN_SIZE)}
            object.__setattr__(self, "shape", default.get(self.fan_in, (HIDDEN_SIZE,)))

    @property
    def is_matrix(self):
        return self.fan_in is not None


class Cell:
    """A recurrent cell: equations computing its states at step t.

    ``equations`` is a sequence of ``(lhs, rhs)`` pairs (or ``sympy.Eq``) in
    the order they are computed. ``output_state`` is the vector the layer above
    and the output layer read (the last state by default; any vector the step
    computes, such as QRNN's h = o * c, which is not carried to the next step).
    ``sizes`` maps a vector (or its name) to its size letter: every vector is
    H and the input D unless given (:attr:`sizes` holds every vector's).
    """

    def __init__(self, name, *, input, states, equations, output_state=None, description="", sizes=None):
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
        computed = [lhs for lhs, _ in self.equations]
        if self.output_state not in self.states and self.output_state not in computed:
            raise CellError(f"output {self.output_state} is not one of the states {self.states} "
                            "or a vector the step computes")
        self.sizes = _sizes(self, sizes or {})
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
        shapes = infer_shapes(self)
        return tuple(Param(name, kinds[name], shapes[name]) for name in order)

    @property
    def declared_sizes(self):
        """The sizes that differ from the defaults (H; the input D), as a cell file declares them."""
        return {name: size for name, size in self.sizes.items()
                if size != (INPUT_SIZE if name == self.input.name else HIDDEN_SIZE)}

    @cached_property
    def constructs(self):
        """The constructs beyond the first language's that the cell uses, by
        name: 'mean', 'max' (a function of two arguments), 'sizes', 'previous
        input', 'transposed weight', 'output not a state', 'elementwise
        input' (code generation names the ones it does not support yet)."""
        return frozenset(_constructs(self))

    def equations_text(self, as_written=False):
        """The equations as plain text lines, for docstrings; ``as_written``: a
        parsed cell's sums and products in its file's order, as LaTeX keeps them."""
        from .printing import text_equation

        written = getattr(self, "written_order", {}) if as_written else {}
        return [text_equation(lhs, rhs, written) for lhs, rhs in self.equations]


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
    signs = {}  # each earlier value's sign, for the arguments of sqrt and log
    for lhs, rhs in cell.equations:
        if lhs == cell.input:
            raise _error(f"cell {cell.name!r}: the input {lhs} cannot be assigned", lhs, lhs, "lhs")
        if lhs in defined:
            raise _error(f"cell {cell.name!r}: {lhs} is assigned twice", lhs, lhs, "lhs")
        _check_expression(rhs, cell, defined, lhs)
        _check_domains(rhs, cell, lhs, signs)
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


def _check_domains(rhs, cell, lhs, signs):
    """sqrt and log only of what the cell makes positive (:mod:`symrnn.signs`); records the sign of ``lhs``."""
    found = outside_domain(rhs, signs)
    if found is not None:
        node, domain = found
        raise _error(f"cell {cell.name!r}, equation for {lhs}: {type(node).__name__} of {node.args[0]}: its "
                     f"argument must be {domain}, and nothing in the cell makes it so; write it from what is: "
                     f"{what_is(domain)}", lhs, node, "node")
    signs[lhs] = sign(rhs, signs)


def _check_expression(expr, cell, defined, lhs):
    where = f"cell {cell.name!r}, equation for {lhs}"
    if isinstance(expr, sympy.Symbol):
        return _check_name(expr, cell, defined, lhs, where)
    if isinstance(expr, sympy.Number):
        if not expr.is_finite or not expr.is_real:
            raise _error(f"{where}: the constant {expr} is not a finite real number", lhs)
        return
    if isinstance(expr, prev):
        return _check_prev(expr.args[0], cell, lhs, where)
    if isinstance(expr, (dot, dot_t)):
        return _check_product(expr, cell, defined, lhs, where)
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
    if isinstance(expr, sympy.Function) and function_rule(expr) is not None:
        for arg in expr.args:
            _check_expression(arg, cell, defined, lhs)
        if not any(arg.free_symbols for arg in expr.args):
            raise _error(f"{where}: {expr} is a function of a constant: the functions apply to vectors "
                         "(a constant term is a bias)", lhs, expr, "node")
        return
    if isinstance(expr, sympy.Function):
        raise _error(
            f"{where}: the function {type(expr).__name__} has no derivative rule; "
            f"known functions: {', '.join(known_function_names())}", lhs
        )
    raise _error(f"{where}: unsupported expression {expr} ({type(expr).__name__})", lhs)


def _check_name(expr, cell, defined, lhs, where):
    """A name used in an equation: a parameter, the input where it may be
    used, or a vector computed before it at this step."""
    if _is_param(expr):
        naming.check_param_name(expr.name)
    elif expr == cell.input:
        if not _input_elementwise(cell):
            raise _error(f"{where}: the input {expr} may only be the whole operand of a weight, "
                         f"as in dot(w, {expr}) (w^(.) {expr} in a cell file), unless its size is "
                         f"declared to be a state's (size {expr} H)", lhs, expr, "use")
    elif expr not in defined:
        if expr in cell.states or expr == lhs:
            raise _error(
                f"{where}: {expr} is used before it is computed at this step "
                f"(a cycle within one step?); write prev({expr}) ({expr}[t-1] in a cell file) "
                "for its previous value", lhs, expr, "use")
        raise _error(f"{where}: undeclared name {expr}", lhs, expr, "use")


def _check_prev(state, cell, lhs, where):
    """prev(s) of a state, or of the input (elementwise only where the input may be)."""
    if state not in cell.states and state != cell.input:
        raise _error(f"{where}: prev({state}) ({state}[t-1] in a cell file): {state} is not a state, so it has no "
                     f"previous value; the states are {', '.join(map(str, cell.states))} and the input is "
                     f"{cell.input}", lhs, state, "prev")
    if state == cell.input and not _input_elementwise(cell):
        raise _error(f"{where}: the input's previous value prev({state}) may only be the whole operand "
                     f"of a weight (w^(.) {state}[t-1] in a cell file), unless the input's size is declared "
                     f"to be a state's (size {state} H)", lhs, state, "prev")


def _check_product(expr, cell, defined, lhs, where):
    """dot(w, v) or dot_t(w, v): a weight times the input or a vector the cell computes."""
    weight, arg = expr.args
    if not (isinstance(weight, sympy.Symbol) and weight.name.startswith("w_")):
        raise _error(f"{where}: the first argument of {type(expr).__name__} must be a weight 'w_...', "
                     f"got {weight}", lhs)
    naming.check_param_name(weight.name)
    if arg not in (cell.input, prev(cell.input)):
        _check_expression(arg, cell, defined, lhs)
        if not any(not _is_param(s) for s in arg.free_symbols):
            raise _error(f"{where}: the operand of {weight} is the same at every step and for every "
                         f"item ({arg}): a weight multiplies the input or a vector the cell computes; "
                         "a constant term is a bias", lhs, weight, "matrix")


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
    if isinstance(expr, (dot, dot_t)):
        weight, arg = expr.args
        fan_in = "input" if arg in (cell.input, prev(cell.input)) and isinstance(expr, dot) else "hidden"
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


def _sizes(cell, given):
    """Every vector's size letter: ``given`` (vector or name -> letter), else
    H, and D for the input."""
    vectors = [cell.input, *cell.states, *(lhs for lhs, _ in cell.equations)]
    sizes = {v.name: HIDDEN_SIZE for v in vectors} | {cell.input.name: INPUT_SIZE}
    for vector, letter in given.items():
        name = getattr(vector, "name", vector)
        symbol = sympy.Symbol(str(name))
        if name not in sizes:
            raise _error(f"cell {cell.name!r}: size of {name}: {name} is not a vector of the cell "
                         "(its input, a state or a vector an equation computes)", None, symbol, "size")
        if not isinstance(letter, str) or not SIZE_PATTERN.match(letter) or letter in TAKEN_SIZES:
            reason = f" ({TAKEN_SIZES[letter]})" if letter in TAKEN_SIZES else ""
            raise _error(f"cell {cell.name!r}: the size of {name} must be an uppercase letter other than "
                         f"K, B and T, got {letter!r}{reason}", None, symbol, "size")
        sizes[name] = letter
    return sizes


def _input_elementwise(cell):
    """The input may be used elementwise when its size is declared to be a state's."""
    size = cell.sizes[cell.input.name]
    return size != INPUT_SIZE and any(cell.sizes[s.name] == size for s in cell.states)


def _constructs(cell):
    """The names of the constructs ``cell`` uses (:attr:`Cell.constructs`)."""
    found = set()
    if cell.declared_sizes:
        found.add("sizes")
    if cell.output_state not in cell.states:
        found.add("output not a state")
    for _, rhs in cell.equations:
        for node in sympy.preorder_traversal(rhs):
            if isinstance(node, mean):
                found.add("mean")
            elif isinstance(node, dot_t):
                found.add("transposed weight")
            elif function_rule(node) is not None and len(node.args) > 1:
                found.add("max")
            elif node == prev(cell.input):
                found.add("previous input")
        if _outside(rhs, cell.input):
            found.add("elementwise input")
    return found


def _outside(expr, symbol):
    """Whether ``symbol`` (or its previous value) occurs in ``expr`` other than as a weight's whole operand."""
    if expr in (symbol, prev(symbol)):
        return True
    if isinstance(expr, (dot, dot_t)) and expr.args[1] in (symbol, prev(symbol)):
        return False
    return any(_outside(arg, symbol) for arg in expr.args)


SCALAR = "1"  # the size of a per-item number: a constant, or a mean broadcast over the units


def infer_shapes(cell):
    """Each parameter's shape in size letters, from where it is used; raises
    CellError where sizes do not fit (an elementwise operation of vectors of
    two sizes, a weight used with two shapes, the mean of a scalar)."""
    return _SizeCheck(cell).run()


class _SizeCheck:
    """Sizes bottom-up (:meth:`own`: a vector's letter, SCALAR, or None for
    what takes its place's size: parameters and products w·v) and top-down
    (:meth:`fit`: the size each place needs, which gives every parameter its
    shape)."""

    def __init__(self, cell):
        self.cell, self.shapes, self.memo, self.lhs = cell, {}, {}, None

    def run(self):
        for lhs, rhs in self.cell.equations:
            self.lhs = lhs
            own, want = self.own(rhs), self.cell.sizes[lhs.name]
            if own not in (None, SCALAR, want):
                raise self.error(f"{lhs} has size {want}, but its equation computes a vector of size {own}",
                                 lhs, "lhs")
            self.fit(rhs, want)
        return {name: shape for name, (shape, _) in self.shapes.items()}

    def error(self, message, symbol=None, how="node"):
        return _error(f"cell {self.cell.name!r}, equation for {self.lhs}: {message}", self.lhs, symbol, how)

    def own(self, expr):
        if expr not in self.memo:
            self.memo[expr] = self._own(expr)
        return self.memo[expr]

    def _own(self, expr):
        if isinstance(expr, sympy.Symbol):
            return None if _is_param(expr) else self.cell.sizes.get(expr.name)
        if isinstance(expr, prev):
            return self.cell.sizes.get(expr.args[0].name)
        if expr.is_Number:
            return SCALAR
        if isinstance(expr, (dot, dot_t)):
            self.own(expr.args[1])
            return None
        if isinstance(expr, mean):
            if self.own(expr.args[0]) == SCALAR:
                raise self.error(f"the mean of a scalar, {expr}: mean averages a vector's units", expr)
            return SCALAR
        sizes, letters = [self.own(arg) for arg in expr.args], []
        for arg, size in zip(expr.args, sizes):
            if size in (None, SCALAR):
                continue
            if letters and size != letters[0][1]:
                raise self.error(f"an elementwise operation of vectors of different sizes: {letters[0][0]} has "
                                 f"size {letters[0][1]}, {arg} has size {size}", arg)
            letters.append((arg, size))
        if letters:
            return letters[0][1]
        return SCALAR if all(size == SCALAR for size in sizes) else None

    def fit(self, expr, size):
        """Give ``expr`` (and every parameter in it) the size ``size`` of its place."""
        own = self.own(expr)
        inner = own if own not in (None, SCALAR) else size
        if isinstance(expr, sympy.Symbol):
            if _is_param(expr):
                self.record(expr, (size,), "elementwise")
        elif isinstance(expr, (dot, dot_t)):
            weight, arg = expr.args
            columns = self.own(arg)
            columns = columns if columns not in (None, SCALAR) else HIDDEN_SIZE
            self.fit(arg, columns)
            transposed = isinstance(expr, dot_t)
            self.record(weight, (columns, size) if transposed else (size, columns),
                        "transposed" if transposed else "matrix")
        elif isinstance(expr, mean):
            self.fit(expr.args[0], self._letter(expr.args[0], size))
        else:
            for arg in expr.args:
                self.fit(arg, inner)

    def _letter(self, expr, size):
        own = self.own(expr)
        return own if own not in (None, SCALAR) else size

    def record(self, param, shape, how):
        known = self.shapes.get(param.name)
        if known is not None and known[0] != shape:
            uses = {"matrix": "this product", "transposed": "this transposed product",
                    "elementwise": "this elementwise use"}
            raise self.error(f"{param} is {_shape_text(known[0])} where it is first used, but {uses[how]} "
                             f"needs {_shape_text(shape)}", param, how)
        self.shapes.setdefault(param.name, (shape, how))


def _shape_text(shape):
    return f"a {shape[0]} x {shape[1]} matrix" if len(shape) == 2 else f"a vector of size {shape[0]}"
