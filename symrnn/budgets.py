"""Budgets on the work a cell can cause, in one place.

The cell-file language bounds the text (:mod:`symrnn.cellfile`: 65,536
characters, 400 per line, nesting depth 32, powers 1..16, 9-digit numbers),
but a short text can still ask for a great deal of work: powers compose
(``((v + 1)^16 + 1)^16`` multiplied out has about 1.2e9 terms before they are
collected), and a long file can hold thousands of function calls. Every
command (cells, generate, verify, latex, copies, quiz) checks a cell against
these budgets when the cell is made (:class:`symrnn.cells.Cell`), before any
of that work, and refuses a cell over one at once with a
:class:`~symrnn.errors.CellError` that names the budget and the amount found:

    cell 'p', equation for h: a polynomial exceeds the limit of 1000 terms when
    multiplied out (MAX_POLYNOMIAL_TERMS; found up to 1166803110)

:data:`MAX_POLYNOMIAL_TERMS` (1,000)
    terms of one polynomial multiplied out, counted before like terms are
    collected (an upper bound, computed without multiplying out: a sum's terms
    add, a product's multiply, a sum of n terms to the power k has
    C(n + k - 1, k)). A polynomial is a part of an equation made of ``+``,
    ``-``, ``*``, powers, numbers and names, each function call or matrix
    product counting as one name. Code generation multiplies polynomials out
    to choose the form with the fewest operations; SymPy takes about 0.5 ms
    a term on this 2-core machine. The budget also bounds the degree:
    ``(v + 1)^16 * (v + 2)^16`` (289 terms) is allowed, a third factor is not.
:data:`MAX_STEP_NODES` (200)
    nodes of one step's computation graph (:mod:`symrnn.graph`): one per
    matrix product, function call, polynomial and sum, as generated code
    computes them (the LSTM has 19). Every command's work grows with it; a
    file of the maximum size can hold thousands.
:data:`MAX_DERIVATIVE_SIZE` (1,000)
    the size of the partial derivatives of a step's sums and products,
    bounded before they are taken (tree size times the symbols
    differentiated by: a product of 40 factors has 40 partials of 39).
:data:`MAX_UNROLLED_NODES` (20,000) and :data:`MAX_DERIVATION_NODES` (4,000)
    step nodes x layers x T of a network unrolled for ``copies`` and ``quiz``
    (20,000), and for ``latex``, whose chain forms grow as T² (4,000; the
    2-layer LSTM at T = 100 has 3,800); checked with T, before unrolling.
:data:`MAX_VERIFY_SIZE` (15,000)
    parameters x (step nodes + derivative size) x layers for ``verify``:
    finite differences take a forward and backward pass per parameter entry.

The built-in cells and those of ``tests/cells`` use at most 4 polynomial
terms, 19 step nodes, a derivative size of 112 and a verify size of 4,128 at
two layers (``tests/test_limits.py`` checks that they stay well within every
budget), except the layer-normalized LSTM ``lstm_ln`` (54 step nodes, a
derivative size of 298, a verify size of 12,672 at two layers: its
derivation at two layers reaches T = 37, its copy analysis T = 100 at three
layers) and ``lstmp`` and ``lstmp_peephole`` (21 step nodes: their
derivations at two layers reach T = 95). Every construct of the language (division, real constants,
``mean``, transposed products, sizes, the previous input) is a node of the
step graph like any other, so these budgets bound it. SymPy's automatic evaluation never
runs on a user's nested expression: the parser builds function calls
unevaluated and the pipeline rebuilds them unevaluated
(:func:`symrnn.graph.substitute`), because evaluating ``tanh`` or ``exp`` of
an argument asks SymPy's assumptions about it, work that grows about threefold
per level of nesting. ``benchmarks/bench_adversarial.py`` runs every command
on files built to make the work grow.

Imports: errors and the step graph.
"""

from math import comb

import sympy

from .errors import CellError, Where

MAX_POLYNOMIAL_TERMS = 1000
MAX_STEP_NODES = 200
MAX_DERIVATIVE_SIZE = 1000
MAX_UNROLLED_NODES = 20000
MAX_DERIVATION_NODES = 4000
MAX_VERIFY_SIZE = 15000


def over_budget(what, limit, name, found):
    """The message for an amount over a budget: ``what`` is what the limit
    counts, ``name`` the constant."""
    return f"exceeds the limit of {limit} {what} ({name}; found {found})"


def polynomial_terms(expr, memo=None):
    """An upper bound on the terms of ``expr`` multiplied out, before like
    terms are collected; function calls and matrix products count as one.

        >>> v = sympy.Symbol("v")
        >>> polynomial_terms(((v + 1)**16 + 1)**16)
        1166803110
    """
    memo = {} if memo is None else memo
    if expr in memo:
        return memo[expr]
    if isinstance(expr, sympy.Add):
        terms = sum(polynomial_terms(arg, memo) for arg in expr.args)
    elif isinstance(expr, sympy.Mul):
        terms = 1
        for arg in expr.args:
            terms *= polynomial_terms(arg, memo)
    elif isinstance(expr, sympy.Pow) and expr.exp.is_Integer and expr.exp > 0:
        base = polynomial_terms(expr.base, memo)
        terms = comb(base + int(expr.exp) - 1, int(expr.exp))
    else:  # a name, a number, a function call or a matrix product
        terms = 1
    memo[expr] = terms
    return terms


def _polynomials(expr):
    """``expr`` and the argument of every call inside it: the polynomials
    whose atoms are names and calls."""
    stack, seen = [expr], set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if isinstance(node, sympy.Function) or not node.args:
            if isinstance(node, sympy.Function):
                stack.extend(node.args)
            continue
        yield node
        stack.extend(_calls(node))


def _calls(expr):
    """The function calls directly inside the polynomial ``expr``."""
    if isinstance(expr, sympy.Function):
        return [expr]
    return [call for arg in expr.args for call in _calls(arg)]


def check_cell(cell):
    """Raise CellError if ``cell`` is over a budget; the error says where
    (its ``where``, as :mod:`symrnn.cells` errors do)."""
    from .graph import flatten_cell

    for lhs, rhs in cell.equations:
        memo = {}
        for polynomial in _polynomials(rhs):
            terms = polynomial_terms(polynomial, memo)
            if terms > MAX_POLYNOMIAL_TERMS:
                raise _error(f"cell {cell.name!r}, equation for {lhs}: a polynomial "
                             + over_budget("terms when multiplied out", MAX_POLYNOMIAL_TERMS,
                                           "MAX_POLYNOMIAL_TERMS", f"up to {terms}"), lhs)
    graph = flatten_cell(cell)
    nodes = len(graph.nodes)
    if nodes > MAX_STEP_NODES:
        raise _error(f"cell {cell.name!r}: its computation graph of one step "
                     + over_budget("nodes (matrix products, function calls, polynomials)", MAX_STEP_NODES,
                                   "MAX_STEP_NODES", nodes), None)
    size = derivative_size(graph)
    if size > MAX_DERIVATIVE_SIZE:
        raise _error(f"cell {cell.name!r}: the size of the derivatives of its sums and products "
                     + over_budget("symbols", MAX_DERIVATIVE_SIZE, "MAX_DERIVATIVE_SIZE", size), None)


def derivative_size(graph):
    """The size of the partial derivatives of a step graph's polynomial nodes,
    bounded without taking them: each node's tree size times the number of
    symbols it is differentiated by (a product of n factors has n partials of
    n - 1 factors each)."""
    from .graph import Affine

    total = 0
    for node in graph.nodes:
        if isinstance(node, Affine) or not isinstance(node.expr, (sympy.Add, sympy.Mul, sympy.Pow)):
            continue
        total += sum(1 for _ in sympy.preorder_traversal(node.expr)) * len(node.expr.free_symbols)
    return total


def unrolled_nodes(network, steps):
    """Nodes of ``network`` unrolled for ``steps`` steps: step nodes x layers x T."""
    from .graph import flatten_cell

    return len(flatten_cell(network.cell).nodes) * network.layers * steps


def check_unrolled(network, steps, limit=None, name="MAX_UNROLLED_NODES", what="unrolled"):
    """Raise CellError if ``network`` unrolled for ``steps`` steps is over
    :data:`MAX_UNROLLED_NODES` (the copy analysis, its pictures and the quiz)."""
    limit = MAX_UNROLLED_NODES if limit is None else limit
    nodes = unrolled_nodes(network, steps)
    if nodes > limit:
        layers = f" x {network.layers} layers" if network.layers > 1 else ""
        raise CellError(f"cell {network.cell.name!r} {what} for T = {steps}{layers} "
                        + over_budget("nodes (step graph nodes x layers x T)", limit, name, nodes)
                        + "; use a smaller T")


def check_derivation(network, steps):
    """Raise CellError if the LaTeX derivation of ``network`` for ``steps``
    steps is over :data:`MAX_DERIVATION_NODES` (its chain forms grow as T²)."""
    check_unrolled(network, steps, MAX_DERIVATION_NODES, "MAX_DERIVATION_NODES", "derived")


def check_verification(network):
    """Raise CellError if checking ``network``'s gradients by finite
    differences (one difference per parameter entry, each a forward pass) is
    over :data:`MAX_VERIFY_SIZE`."""

    size = verify_size(network)
    if size > MAX_VERIFY_SIZE:
        raise CellError(f"cell {network.cell.name!r}: verifying it "
                        + over_budget("(parameters x (step graph nodes + derivative size) x layers)",
                                      MAX_VERIFY_SIZE, "MAX_VERIFY_SIZE", size))


def verify_size(network):
    """Parameters x (step nodes + derivative size) x layers: finite differences
    take a forward and backward pass per parameter entry."""
    from .graph import flatten_cell

    graph = flatten_cell(network.cell)
    return len(network.cell.parameters) * (len(graph.nodes) + derivative_size(graph)) * network.layers


def _error(message, lhs):
    return CellError(message, Where(lhs, None, "lhs") if lhs is not None else None)
