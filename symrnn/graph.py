"""The computation graph of one step: a cell's equations flattened into nodes.

Flattening turns nested equations into a list of primitive nodes in the order
they are computed:

* :class:`Affine` ``u = w·v (+ b)``: every matrix-vector product, with a bias
  folded in when the bias is used exactly once, next to that product (``u =
  w^T·v (+ b)`` for a transposed product, ``transposed``);
* :class:`Compute` ``y = F(u)`` for a function F of the rule table, or ``y =
  polynomial(atoms)`` for SymPy's own algebra of elementwise sums and products;
* :class:`Total` ``C = sum(polynomial(atoms))`` over units and batch (a cost).

Every nonlinear function application gets a node of its own so its value is
stored once and its derivative can be written in terms of it (tanh' = 1 - y²).

Imports: naming and the rule table.
"""

from dataclasses import dataclass

import sympy

from . import naming
from .rules import dot, dot_t, function_rule, mean, prev


@dataclass(frozen=True)
class Affine:
    out: sympy.Symbol
    weight: sympy.Symbol
    arg: sympy.Symbol
    bias: sympy.Symbol | None = None
    transposed: bool = False  # u = w^T·v (+ b): a cell's w^(W)^T v

    @property
    def product(self):
        """The product as an expression: ``dot(w, v)`` or ``dot_t(w, v)``."""
        return (dot_t if self.transposed else dot)(self.weight, self.arg)


@dataclass(frozen=True)
class Compute:
    out: sympy.Symbol
    expr: sympy.Expr


@dataclass(frozen=True)
class Total:
    out: sympy.Symbol
    expr: sympy.Expr


@dataclass(frozen=True)
class StepGraph:
    """One step of a cell as nodes. ``prev_symbols`` maps each state to the
    symbol of its previous value (``h`` -> ``h_prev``); ``prev_input`` is the
    symbol of the input's previous value (``x_prev``, zero at the first step)
    where the cell reads it, else None."""

    cell: object
    nodes: tuple
    prev_symbols: dict
    prev_input: sympy.Symbol | None = None

    @property
    def input(self):
        return self.cell.input

    @property
    def states(self):
        return self.cell.states


def substitute(expr, mapping=None, calls=None):
    """``expr.xreplace(mapping)``, each call of a function ``F`` in ``calls``
    replaced by ``calls[F](*args)``; function calls are rebuilt unevaluated.

    Rebuilding ``tanh(...)`` or ``exp(...)`` evaluated (as ``xreplace`` and
    ``replace`` do) makes SymPy ask assumptions of the argument, work that
    grows about threefold per level of nested calls; user expressions are
    never evaluated that way (see :mod:`symrnn.budgets`).
    """
    mapping, calls, memo = mapping or {}, calls or {}, {}

    def walk(node):
        if node in mapping:
            return mapping[node]
        if not node.args:
            return node
        if node not in memo:
            args = [walk(arg) for arg in node.args]
            if type(node) in calls:
                memo[node] = calls[type(node)](*args)
            elif all(new is old for new, old in zip(args, node.args)):
                memo[node] = node
            elif isinstance(node, sympy.Function):
                memo[node] = node.func(*args, evaluate=False)
            else:
                memo[node] = node.func(*args)
        return memo[node]

    return walk(sympy.sympify(expr))


def is_param(symbol):
    return isinstance(symbol, sympy.Symbol) and naming.is_param_name(symbol.name)


def flatten_cell(cell):
    """Flatten ``cell``'s equations into a :class:`StepGraph`."""
    prev_symbols = {s: sympy.Symbol(naming.prev_name(s.name)) for s in cell.states}
    reads_prev_input = any(rhs.has(prev(cell.input)) for _, rhs in cell.equations)
    prev_input = sympy.Symbol(naming.prev_name(cell.input.name)) if reads_prev_input else None
    # prev(h) is lowered to h_prev node by node (Flattener.lower): substituting it in the whole
    # equation first would rebuild, and so re-evaluate, every nested function call
    lowered = {prev(s): p for s, p in prev_symbols.items()} | ({prev(cell.input): prev_input} if prev_input else {})
    flattener = Flattener(foldable_biases(cell.equations), {cell.input}, lowered)
    for lhs, rhs in cell.equations:
        flattener.define(lhs, rhs)
    return StepGraph(cell, tuple(flattener.nodes), prev_symbols, prev_input)


def foldable_biases(equations):
    """Elementwise parameters used exactly once: they may join an affine node."""
    counts = {}
    for _, rhs in equations:
        for symbol in _symbol_occurrences(rhs):
            if is_param(symbol):
                counts[symbol] = counts.get(symbol, 0) + 1
    return {s for s, n in counts.items() if n == 1}


def _symbol_occurrences(expr):
    if isinstance(expr, sympy.Symbol):
        yield expr
    elif isinstance(expr, (dot, dot_t)):
        yield from _symbol_occurrences(expr.args[1])  # the weight is not elementwise
    else:
        for arg in expr.args:
            yield from _symbol_occurrences(arg)


class Flattener:
    """Lowers expressions to nodes, reusing a node for a repeated expression."""

    def __init__(self, biases, hoistable, memo=None):
        self.biases = biases
        self.hoistable = hoistable
        self.nodes = []
        self.names = set()
        self.memo = dict(memo or {})

    def define(self, lhs, rhs):
        if function_rule(rhs) is not None:
            args = [self.atom(arg, f"pre_{lhs.name}") for arg in rhs.args]
            self.emit(Compute(lhs, rhs.func(*args)))
        else:
            self.emit(Compute(lhs, self.lower(rhs)))
        self.memo[rhs] = lhs

    def emit(self, node):
        self.names.add(node.out.name)
        self.nodes.append(node)
        return node.out

    def fresh(self, hint):
        name, k = hint, 2
        while name in self.names:
            name, k = f"{hint}_{k}", k + 1
        return sympy.Symbol(name)

    def atom(self, expr, hint):
        lowered = self.lower(expr)
        if isinstance(lowered, (sympy.Symbol, sympy.Number)):  # a number: max(h, 0)
            return lowered
        return self.emit(Compute(self.fresh(hint), lowered))

    def lower(self, expr):
        if expr in self.memo:
            return self.memo[expr]
        if isinstance(expr, (sympy.Symbol, sympy.Number)):
            return expr
        if isinstance(expr, (dot, dot_t)):
            lowered = self.affine(expr, None)
        elif isinstance(expr, sympy.Add):
            lowered = self.lower_sum(expr)
        elif function_rule(expr) is not None:
            fname = type(expr).__name__
            args = [self.atom(arg, f"pre_{fname}") for arg in expr.args]
            name = "_".join([fname, *(arg.name for arg in args if isinstance(arg, sympy.Symbol))])  # max(v, 0.5)
            lowered = self.emit(Compute(self.fresh(name), expr.func(*args)))
        else:
            lowered = expr.func(*[self.lower(a) for a in expr.args])
        self.memo[expr] = lowered
        return lowered

    def affine(self, product, bias):
        weight, vector = product.args
        transposed = isinstance(product, dot_t)
        suffix = naming.param_suffix(weight.name) + ("_T" if transposed else "")
        arg = self.atom(vector, f"v_{suffix}")
        return self.emit(Affine(self.fresh(f"u_{suffix}"), weight, arg, bias, transposed))

    def lower_sum(self, expr):
        products = [t for t in expr.args if isinstance(t, (dot, dot_t))]
        # Products of the layer's input first: their affine nodes are hoisted
        # out of the time loop, so they are the best home for a bias.
        products.sort(key=lambda t: t.args[1] not in self.hoistable)
        biases = [t for t in expr.args if t in self.biases]
        others = [t for t in expr.args if not isinstance(t, (dot, dot_t)) and t not in biases]
        terms = []
        for k, product in enumerate(products):
            bias = biases.pop(0) if k == 0 and biases else None
            terms.append(self.affine(product, bias))
        return sympy.Add(*terms, *biases, *[self.lower(t) for t in others])


def step_sizes(cell, graph):
    """Each symbol of one step -> its size letter: the cell's vectors as the
    cell declares them, a product's output the rows of its weight, a
    previous value its value's, any other node the size of the vectors it
    reads ("1" for one number per item: a mean, and what only means and
    constants make)."""
    shapes = {p.name: p.shape for p in cell.parameters}
    sizes = {sympy.Symbol(name): letter for name, letter in cell.sizes.items()}
    sizes |= {previous: sizes[state] for state, previous in graph.prev_symbols.items()}
    if graph.prev_input is not None:
        sizes[graph.prev_input] = sizes[cell.input]
    for node in graph.nodes:
        if isinstance(node, Affine):
            rows, columns = shapes[node.weight.name]
            sizes[node.out] = columns if node.transposed else rows
        elif isinstance(node.expr, mean):
            sizes[node.out] = "1"
        elif node.out not in sizes:
            vectors = [sizes[s] for s in sorted(node.expr.free_symbols, key=str) if sizes.get(s, "1") != "1"]
            vectors += [shapes[s.name][0] for s in node.expr.free_symbols if s.name in shapes]
            sizes[node.out] = vectors[0] if vectors else "1"
    return sizes
