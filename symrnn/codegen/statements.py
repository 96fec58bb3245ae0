"""The statements of a plan: what one line of a layer function does, as data.

A statement names SymPy symbols and holds SymPy expressions, never text;
an emitter decides how each kind is spelled. ``expressions()`` lists every
symbol and expression a statement mentions, so the planner can ask which
values a step reads, which parameters a function uses and which functions it
calls without printing anything.

Statements of the forward step work on one step's values (``out`` is a
node's symbol); those of the backward step on one step's adjoints. Both
kinds share :class:`Assign` and :class:`InPlace`.

Imports: SymPy, the products ``dot_t`` (rules) and ``fused_dot_t`` (printing),
and the layout's :class:`Group`.
"""

from dataclasses import dataclass
from enum import Enum

import sympy

from ..printing import fused_dot_t
from ..rules import dot_t
from .layout import Group


class Op(Enum):
    """How an :class:`InPlace` statement writes into its target."""

    ADD = "add"  # target = a + b
    SUBTRACT = "subtract"  # target = a - b (b may be the target itself)
    MULTIPLY = "multiply"  # target = a * b
    SQUARE = "square"  # target = a**2
    MATMUL = "matmul"  # target = the product w^T·d (dot_t or fused_dot_t)
    APPLY = "apply"  # target = F(u) for the function application F(u)
    IADD = "+="
    ISUB = "-="
    IMUL = "*="
    FILL = "fill"  # target[...] = a


class Into(Enum):
    """Where an elementwise function of one step writes its values."""

    NEW = "a new array"
    ARGUMENT = "its argument's array"  # the argument is dead after this
    STORE = "the value's per-step store"  # forward keeps the value for backward


class Source(Enum):
    """Where a backward step reads one symbol from, at step t."""

    OUTPUT_ADJOINT = "the adjoint from above"
    SLOT = "its slot of d_slots"
    VALUE = "the value's store"
    STATE = "the state's history, after the step"
    PREVIOUS = "the state's history, before the step"
    INPUT = "the layer's input"


class Statement:
    """Base of every statement: what it mentions, and a readable form."""

    def expressions(self):
        return ()

    def __str__(self):
        values = (getattr(self, f) for f in self.__dataclass_fields__)
        fields = ", ".join(_field_text(v) for v in values if v is not None)
        return f"{type(self).__name__}({fields})"


def _field_text(value):
    """A field of a statement, short: a group by its label, a node by its symbol."""
    if isinstance(value, Group):
        return f"group {value.label}"
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, tuple):
        return "(" + ", ".join(_field_text(v) for v in value) + ")"
    return str(getattr(value, "out", value))


# --- shared by both passes ---------------------------------------------------


@dataclass(frozen=True)
class Assign(Statement):
    lhs: sympy.Symbol
    rhs: sympy.Expr

    def expressions(self):
        return (self.lhs, self.rhs)

    def __str__(self):
        return f"{self.lhs} = {self.rhs}"


@dataclass(frozen=True)
class InPlace(Statement):
    """``target`` computed into its existing array by ``op`` from ``args``."""

    target: sympy.Symbol
    op: Op
    args: tuple

    def expressions(self):
        return (self.target, *self.args)

    def __str__(self):
        if self.op in (Op.IADD, Op.ISUB, Op.IMUL):
            return f"{self.target} {self.op.value} {self.args[0]}"
        return f"{self.target} <- {self.op.value}({', '.join(map(str, self.args))})"


# --- the forward step --------------------------------------------------------


@dataclass(frozen=True)
class InputView(Statement):
    """The layer's input at step t, which the step reads elementwise (h = r*tanh(c) + (1 - r)*x)."""

    input: sympy.Symbol


@dataclass(frozen=True)
class StateView(Statement):
    """The state's slot of its history at step t + 1, written by what follows."""

    state: sympy.Symbol


@dataclass(frozen=True)
class StoreView(Statement):
    """A kept value's slot of its per-step store at step t, written by what follows."""

    value: sympy.Symbol


@dataclass(frozen=True)
class FusedStep(Statement):
    """The in-loop product of a fused sum, added to the hoisted projection
    (``fused``: a :class:`symrnn.codegen.plan.FusedSum`)."""

    fused: object

    def __str__(self):
        fused = self.fused
        return f"FusedStep({fused.store} = {fused.loop.label}'s product + {fused.hoisted.label}'s projection)"


@dataclass(frozen=True)
class Product(Statement):
    """``out`` = the one product of a single-member in-loop group."""

    out: sympy.Symbol
    group: Group


@dataclass(frozen=True)
class Projection(Statement):
    """The stacked product of an in-loop group, for all its members."""

    group: Group


@dataclass(frozen=True)
class ProjectionView(Statement):
    """``out`` = member ``k``'s block of its group's projection."""

    out: sympy.Symbol
    group: Group
    k: int


@dataclass(frozen=True)
class GateView(Statement):
    """``out`` = gate ``k`` of a gate-major fused store."""

    out: sympy.Symbol
    store: sympy.Symbol
    k: int


@dataclass(frozen=True)
class ActivationRun(Statement):
    """One call of one function over gates ``start:stop`` of ``store``, in
    place, then each gate's name bound to its block."""

    store: sympy.Symbol
    start: int
    stop: int
    nodes: tuple

    def expressions(self):
        return tuple(n.expr for n in self.nodes)


@dataclass(frozen=True)
class ExpRun(Statement):
    """Every gate of ``store`` activated from exp or expm1 (rules' exp forms):
    ``pieces`` are (start, stop, function) runs of one function."""

    store: sympy.Symbol
    pieces: tuple
    outs: tuple


@dataclass(frozen=True)
class Apply(Statement):
    """``out = F(u)`` for the node's ``expr``, written ``into`` where it says."""

    out: sympy.Symbol
    expr: sympy.Expr
    into: Into

    def expressions(self):
        return (self.out, self.expr)


@dataclass(frozen=True)
class ExpApply(Apply):
    """``out = F(u)`` computed from F's exp form (rules' EXP_FORMS) rather
    than its helper, by a backend that has exp forms; another computes it
    as an :class:`Apply`. It calls no helper of F."""

    def expressions(self):
        return (self.out, *self.expr.args)


@dataclass(frozen=True)
class KeepValue(Statement):
    """Copy the step's ``value`` into its per-step store."""

    value: sympy.Symbol


# --- the backward step -------------------------------------------------------


@dataclass(frozen=True)
class Load(Statement):
    """Bind ``symbol`` to its step-t view in ``source`` (``subject``: the
    slot's index, or the state whose history it is)."""

    symbol: sympy.Symbol
    source: Source
    subject: object = None


@dataclass(frozen=True)
class ScaleRun(Statement):
    """Slots ``start:stop`` (each holding its local derivative) times ``adjoint``."""

    start: int
    stop: int
    adjoint: sympy.Symbol

    def expressions(self):
        return (self.adjoint,)


@dataclass(frozen=True)
class CopyToSlot(Statement):
    """Slot ``k`` of d_slots at step t = ``adjoint``."""

    k: int
    adjoint: sympy.Symbol

    def expressions(self):
        return (self.adjoint,)


@dataclass(frozen=True)
class AddParamTerm(Statement):
    """The step's term of an elementwise parameter's gradient, summed over the
    batch; ``per_step``: stored at step t instead of added up (window)."""

    param: sympy.Symbol
    total: sympy.Expr
    per_step: bool = False

    def expressions(self):
        return (self.total,)


@dataclass(frozen=True)
class InputAdjoint(Statement):
    """The input's adjoint at step t (the terms not done after the loop)."""

    expr: sympy.Expr

    def expressions(self):
        return (self.expr,)


@dataclass(frozen=True)
class ZeroCarry(Statement):
    """A carried adjoint that is 0: nothing flows to the previous step."""

    carry: sympy.Symbol


@dataclass(frozen=True)
class ResetCarry(Statement):
    """Window: drop the carry where the window of step t's lane ends."""

    carry: sympy.Symbol


@dataclass(frozen=True)
class SeedFinalStates(Statement):
    """At the last step of some items, their final states' adjoints (from a
    loss that reads the states a run ends with) join the carries: the
    carry into an item's last step is otherwise 0, nothing after it reaching C."""

    carries: tuple


@dataclass(frozen=True)
class KeepStateAdjoint(Statement):
    """Window: the state's adjoint at step t, stored."""

    state: sympy.Symbol
    adjoint: sympy.Symbol


def mentioned_symbols(statements):
    """Every symbol the statements mention (read or written)."""
    exprs = [e for s in statements for e in s.expressions()]
    return set().union(*(sympy.sympify(e).free_symbols for e in exprs))


def matrix_products(statements):
    """How many matrix products the statements compute: a group's product
    (forward), a product written in place, or each product term w^T·d of an
    expression (backward)."""
    count = 0
    for s in statements:
        if isinstance(s, (FusedStep, Product, Projection)) or (isinstance(s, InPlace) and s.op is Op.MATMUL):
            count += 1
        else:
            count += sum(isinstance(t, (dot_t, fused_dot_t))
                         for e in s.expressions() for t in sympy.preorder_traversal(sympy.sympify(e)))
    return count


def called_functions(statements, extra=()):
    """The function classes the statements (and ``extra`` expressions) compute by their runtime form."""
    exprs = [e for s in statements for e in s.expressions()] + list(extra)
    return {type(sub) for e in exprs for sub in sympy.preorder_traversal(sympy.sympify(e))
            if isinstance(sub, sympy.Function)}
