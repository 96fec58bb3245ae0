"""Fusion of a layer's step into Triton kernels: which statements of the
plan run in one kernel, which stay torch calls, and what each kernel loads
and stores. Decided here from the :class:`~symrnn.codegen.plan.LayerPlan`;
:mod:`symrnn.codegen.triton_emitter` only spells it.

A step is cut at its matrix products (a fused sum's or a group's product,
a backward product term): each run of elementwise statements between two
products is one :class:`Kernel`, each product a :class:`HostProduct`
(cuBLAS). Inside a kernel every value is a register block of (rows, units)
of the step; a name bound to another (``d_h = d_h_next``, a gate of a fused
store, a slot) is that register, as the torch module's names are one view.
What a kernel reads before it writes is loaded from where the plan keeps it
(:class:`Place`), and what later code reads (states, kept values, carries,
slots, values a later kernel or product reads) is stored back.

Refused by name (:class:`Unfusable`): cells whose step vectors have more
than one size, a cell reading x[t-1], and statements with no kernel form.

Imports: errors, the rule table's products, the graph's ``is_param``,
naming, names and the statements.
"""

from dataclasses import dataclass, field
from enum import Enum

import sympy

from .. import naming
from ..errors import ConfigError
from ..graph import is_param
from ..printing import fused_dot_t
from ..rules import dot_t
from .statements import (
    ActivationRun,
    AddParamTerm,
    Apply,
    Assign,
    CopyToSlot,
    ExpRun,
    FusedStep,
    GateView,
    InPlace,
    InputAdjoint,
    InputView,
    Into,
    KeepValue,
    Load,
    Op,
    Product,
    Projection,
    ProjectionView,
    ScaleRun,
    SeedFinalStates,
    Source,
    StateView,
    StoreView,
    ZeroCarry,
)


class Unfusable(ConfigError):
    """A plan with a construct the Triton emitter has no kernel form for."""


class Place(Enum):
    """Where a kernel operand lives (the emitter spells each)."""

    PREVIOUS = "a state's history at t (subject: the state)"
    STATE = "a state's history at t + 1"
    VALUE = "a kept value's store at t (subject: the Kept)"
    INPUT = "the layer's input at t"
    PARAM = "a vector parameter (units only)"
    PROJECTION = "a hoisted group's projection at t (subject: the group)"
    PRODUCT = "an in-loop group's product buffer (subject: the group)"
    NAME = "a tensor the host bound to the symbol's name"
    SLOTS = "d_slots at t"
    SUMMED = "a summed parameter's per-item accumulator (subject: the parameter)"
    INPUT_ADJOINT = "d_inputs at t"
    SPILL = "a buffer for a value a later kernel or product reads"


@dataclass(frozen=True)
class Operand:
    """A (rows, units) block of memory: ``place`` and its ``subject``;
    ``per_item``: one number per row."""

    place: Place
    subject: object = None
    per_item: bool = False


@dataclass(frozen=True)
class Access:
    """Register ``register`` is column block ``k`` of ``operand``."""

    register: str
    operand: Operand
    k: int = 0


@dataclass(frozen=True)
class Kernel:
    """One fused launch: ``loads``, then ``statements`` (each register named by
    ``registers``, symbol name -> register), then ``stores``."""

    statements: tuple
    registers: tuple  # (symbol name, register name), the aliases of this kernel
    loads: tuple
    stores: tuple
    per_item: frozenset  # registers with one number per row

    @property
    def operands(self):
        """Each operand once, in order of first use."""
        return tuple(dict.fromkeys(a.operand for a in self.loads + self.stores))


@dataclass(frozen=True)
class HostProduct:
    """A matrix product the host computes: ``statement`` (a forward product
    statement, or a backward statement that is a product), ``spilled``:
    names the host binds to their spill buffers before it."""

    statement: object
    spilled: tuple = ()  # (name, register)


@dataclass(frozen=True)
class FusedLayer:
    """The forward and backward step as kernels and products, and the spill
    buffers each pass allocates (their symbols, with per_item)."""

    forward: tuple
    backward: tuple
    forward_spills: tuple
    backward_spills: tuple


ELEMENTWISE = (Assign, InPlace, Apply, ActivationRun, ExpRun, GateView, StateView, StoreView, KeepValue,
               InputView, ProjectionView, Load, ScaleRun, CopyToSlot, AddParamTerm, InputAdjoint, ZeroCarry,
               FusedStep)


def has_product(expr):
    return any(isinstance(t, (dot_t, fused_dot_t)) for t in sympy.preorder_traversal(sympy.sympify(expr)))


def check_fusable(plan):
    """Raise :class:`Unfusable` naming what the kernels cannot do."""
    letters = {size for _, size in plan.sizes if size != "1"} - {plan.size(plan.input)}
    if len(letters) > 1:
        raise Unfusable(f"the step's vectors have sizes {sorted(letters)}; fused kernels take one size")
    if plan.prev_input is not None:
        raise Unfusable("the cell reads x[t-1]; fused kernels do not")
    for fused in plan.fused_sums:
        if len(fused.loop.members) != len(fused.pres):
            raise Unfusable(f"the in-loop group {fused.loop.label} has members outside its fused sum")
    for s in plan.forward_step + plan.backward.loads + plan.backward.step:
        if not isinstance(s, ELEMENTWISE + (Product, Projection)):
            raise Unfusable(f"no fused kernel form for the statement {type(s).__name__} ({s})")


def plan_fusion(plan):
    """The :class:`FusedLayer` of ``plan``, or :class:`Unfusable`."""
    check_fusable(plan)
    forward, forward_spills = _Cutter(plan, _ForwardMemory(plan)).cut(plan.forward_step)
    statements = tuple(s for s in plan.backward.loads + plan.backward.step if not isinstance(s, SeedFinalStates))
    backward, backward_spills = _Cutter(plan, _BackwardMemory(plan)).cut(_split_products(statements))
    return FusedLayer(forward, backward, forward_spills, backward_spills)


def _split_products(statements):
    """Each statement that sums elementwise terms and matrix products as two:
    the elementwise part into the target (a kernel's), then ``+=`` the products (the host's)."""
    out = []
    for s in statements:
        if isinstance(s, InPlace) and s.op is Op.ADD and any(has_product(a) for a in s.args):
            total = sympy.Add(*s.args)
        elif isinstance(s, Assign) and has_product(s.rhs) and not _is_product(s.rhs):
            total = s.rhs
        else:
            if not isinstance(s, (Assign, InPlace)) or not (s.op is Op.MATMUL if isinstance(s, InPlace) else True):
                if any(has_product(e) for e in s.expressions()) and not (isinstance(s, Assign)
                                                                      and _is_product(s.rhs)):
                    raise Unfusable(f"a matrix product inside an elementwise statement: {s}")
            out.append(s)
            continue
        terms = sympy.Add.make_args(total)
        products = [t for t in terms if has_product(t)]
        if not all(_is_product(t) for t in products):
            raise Unfusable(f"a matrix product times an elementwise factor: {s}")
        target = s.target if isinstance(s, InPlace) else s.lhs
        out += [Assign(target, sympy.Add(*(t for t in terms if not has_product(t)))),
                InPlace(target, Op.IADD, (sympy.Add(*products),))]
    return tuple(out)


def _is_product(expr):
    return all(isinstance(t, (dot_t, fused_dot_t)) for t in sympy.Add.make_args(expr))


def is_host(statement):
    """Whether a statement is a matrix product the host computes."""
    if isinstance(statement, (FusedStep, Product, Projection)):
        return True
    if isinstance(statement, InPlace):
        return statement.op is Op.MATMUL or (statement.op is Op.IADD and _is_product(statement.args[0]))
    return isinstance(statement, Assign) and has_product(statement.rhs) and _is_product(statement.rhs)


@dataclass
class _KernelState:
    """The kernel being built: aliases, registers defined, loads and stores."""

    aliases: dict = field(default_factory=dict)
    defined: set = field(default_factory=set)
    loads: list = field(default_factory=list)
    written: dict = field(default_factory=dict)  # register -> symbol written
    statements: list = field(default_factory=list)
    per_item: set = field(default_factory=set)


class _Cutter:
    """Cuts a pass's statements into kernels and host products, asking
    ``memory`` where each symbol lives."""

    def __init__(self, plan, memory):
        self.plan, self.memory = plan, memory
        self.defined_in = {}  # register -> index of the kernel that wrote it last
        self.kernels = []

    def cut(self, statements):
        pieces, state = [], _KernelState()
        for s in statements:
            if is_host(s):
                if isinstance(s, FusedStep):
                    pieces += self._close(state) + [HostProduct(s)]
                    state = _KernelState(aliases=dict(state.aliases))
                    self._add(state, s)
                    continue
                pieces += self._close(state) + [HostProduct(s, self._host_spills(s, state))]
                state = _KernelState(aliases=dict(state.aliases))
                self._host_writes(s, state)
            else:
                self._add(state, s)
        pieces += self._close(state)
        return self._finish(pieces)

    # --- registers ---------------------------------------------------------

    def register(self, state, symbol):
        return state.aliases.get(symbol.name, symbol.name)

    def read(self, state, symbol):
        """The register of ``symbol``, loaded first where this kernel has not defined it."""
        reg = self.register(state, symbol)
        if reg not in state.defined:
            access = self.memory.place_of(symbol, reg)
            state.loads.append(access)
            state.defined.add(reg)
            if access.operand.per_item:
                state.per_item.add(reg)
        return reg

    def write(self, state, symbol, reg=None, per_item=False):
        reg = reg or self.register(state, symbol)
        state.defined.add(reg)
        state.written[reg] = symbol
        if per_item:
            state.per_item.add(reg)
        return reg

    def alias(self, state, name, reg):
        state.aliases[name] = reg

    def _add(self, state, s):
        """Record ``s`` in the kernel with the aliases before and after it."""
        before = dict(state.aliases)
        self.memory.statement(self, state, s)
        state.statements.append((s, before, dict(state.aliases)))

    def _close(self, state):
        if not any(self.memory.does_work(s) for s, _, _ in state.statements):
            return []
        return [state]

    def _host_spills(self, s, state):
        """Symbols the host product reads that live only in a kernel's registers."""
        spilled, read = [], set().union(*(sympy.sympify(e).free_symbols for e in s.expressions()[-1:]))
        if isinstance(s, InPlace):
            read.add(s.target)
        for symbol in sorted(read, key=str):
            reg = self.register(state, symbol)
            if not is_param(symbol) and self.memory.spillable(reg):
                spilled.append((symbol.name, reg))
        return tuple(spilled)

    def _host_writes(self, s, state):
        out = s.lhs if isinstance(s, Assign) else s.out if isinstance(s, Product) else None
        if out is not None:
            self.memory.host_names.add(out.name)
            state.aliases.pop(out.name, None)

    def _finish(self, pieces):
        """Kernels with their stores: what they wrote that memory must hold."""
        out, spills = [], {}
        later_reads = self._later_reads(pieces)
        for index, piece in enumerate(pieces):
            if isinstance(piece, _KernelState):
                out.append(self._kernel(piece, later_reads[index], spills))
            else:
                out.append(piece)
        return tuple(out), tuple(sorted(spills.items()))

    def _later_reads(self, pieces):
        """For each piece, the registers later pieces load (as spills) or the host reads."""
        reads, seen = {}, set()
        for index in reversed(range(len(pieces))):
            reads[index] = set(seen)
            piece = pieces[index]
            if isinstance(piece, _KernelState):
                seen |= {a.register for a in piece.loads if a.operand.place is Place.SPILL}
            else:
                seen |= {reg for _, reg in piece.spilled}
        return reads

    def _kernel(self, state, later, spills):
        stores = []
        for reg in state.written:
            aliasing = {reg} | {name for name, r in state.aliases.items() if r == reg}
            for access in self.memory.stores_of(reg, sorted(aliasing), later):
                stores.append(access)
                if access.operand.place is Place.SPILL:
                    spills[access.operand.subject] = access.operand.per_item
        registers = tuple(sorted(state.aliases.items()))
        return Kernel(tuple(state.statements), registers, tuple(state.loads), tuple(stores),
                      frozenset(state.per_item))


class _Memory:
    """Where a pass's symbols live; subclassed per pass."""

    def __init__(self, plan):
        self.plan = plan
        self.host_names = set()
        self.per_item_symbols = {s.name for s, size in plan.sizes if size == "1"}

    def spill(self, reg):
        return Access(reg, Operand(Place.SPILL, reg, reg in self.per_item_symbols))

    def spillable(self, reg):
        return self.place_of(sympy.Symbol(reg), reg).operand.place is Place.SPILL

    def does_work(self, s):
        return not isinstance(s, (Load, GateView, StateView, StoreView, KeepValue, InputView, ProjectionView))


class _ForwardMemory(_Memory):
    """The forward step: histories, kept stores, projections, parameters."""

    def __init__(self, plan):
        super().__init__(plan)
        self.kept = {k.value.name: k for k in plan.kept}
        self.prev = {p.name: s for s, p in plan.prev_symbols}
        self.states = {s.name: s for s in plan.states}
        self.views = {}

    def place_of(self, symbol, reg):
        name = symbol.name
        if name in self.views:
            return Access(reg, *self.views[name])
        if name in self.prev:
            return Access(reg, Operand(Place.PREVIOUS, self.prev[name]))
        if name in self.states:
            return Access(reg, Operand(Place.STATE, self.states[name]))
        if name in self.kept:
            return Access(reg, Operand(Place.VALUE, self.kept[name], self.kept[name].per_item))
        if symbol == self.plan.input:
            return Access(reg, Operand(Place.INPUT))
        if is_param(symbol):
            return Access(reg, Operand(Place.PARAM, name))
        if name in self.host_names:
            return Access(reg, Operand(Place.NAME, name))
        return self.spill(reg)

    def stores_of(self, reg, aliasing, later):
        out = [Access(reg, Operand(Place.STATE, self.states[n])) for n in aliasing if n in self.states]
        out += [Access(reg, Operand(Place.VALUE, self.kept[n], self.kept[n].per_item))
                for n in aliasing if n in self.kept]
        return out or ([self.spill(reg)] if reg in later else [])

    def statement(self, cutter, state, s):
        """Reads and writes of one forward statement."""
        if isinstance(s, FusedStep):
            fused = s.fused
            for k, pre in enumerate(fused.pres):
                reg = f"{fused.store.name}_{k}" if fused.gate_major else fused.store.name
                state.loads += [Access(f"_h{reg}", Operand(Place.PROJECTION, fused.hoisted), fused.offset + k),
                                Access(f"_l{reg}", Operand(Place.PRODUCT, fused.loop), k)]
                cutter.write(state, pre, reg)
                cutter.alias(state, pre.name, reg)
            return
        if isinstance(s, (ExpRun, ActivationRun)):
            outs = s.outs if isinstance(s, ExpRun) else tuple(n.out for n in s.nodes)
            start = 0 if isinstance(s, ExpRun) else s.start
            for k, out in enumerate(outs):
                reg = f"{s.store.name}_{start + k}"
                cutter.read(state, sympy.Symbol(reg))
                cutter.alias(state, out.name, reg)
                cutter.write(state, out, reg)
            return
        if isinstance(s, GateView):
            cutter.alias(state, s.out.name, f"{s.store.name}_{s.k}")
            return
        if isinstance(s, ProjectionView):
            place = Place.PROJECTION if s.group.hoisted else Place.PRODUCT
            self.views[s.out.name] = (Operand(place, s.group), s.k)  # loaded where a kernel reads it
            return
        _elementwise(cutter, state, s, self.per_item_symbols)


class _BackwardMemory(_Memory):
    """The backward step: the host's loads by name, slots, carries, accumulators."""

    def __init__(self, plan):
        super().__init__(plan)
        self.carries = {naming.next_adjoint_name(s.name) for s in plan.states}

    def place_of(self, symbol, reg):
        name = reg
        if name == "_d_inputs":
            return Access(reg, Operand(Place.INPUT_ADJOINT))
        if name.startswith("_slot"):
            return Access(reg, Operand(Place.SLOTS), int(name[len("_slot"):]))
        if name.startswith("_sum_"):
            return Access(reg, Operand(Place.SUMMED, sympy.Symbol(name[len("_sum_"):])))
        if name in self.carries or name in self.host_names or is_param(sympy.Symbol(name)):
            return Access(reg, Operand(Place.NAME, name, name in self.per_item_symbols))
        return self.spill(reg)

    def stores_of(self, reg, aliasing, later):
        access = self.place_of(sympy.Symbol(reg), reg)
        return [] if access.operand.place is Place.SPILL and reg not in later else [access]

    def statement(self, cutter, state, s):
        """Reads and writes of one backward statement."""
        if isinstance(s, Load):
            if s.source is Source.SLOT:
                cutter.alias(state, s.symbol.name, f"_slot{s.subject}")
            else:
                self.host_names.add(s.symbol.name)
            return
        if isinstance(s, ScaleRun):
            cutter.read(state, s.adjoint)
            for k in range(s.start, s.stop):
                reg = cutter.read(state, sympy.Symbol(f"_slot{k}"))
                cutter.write(state, sympy.Symbol(reg), reg)
            return
        if isinstance(s, CopyToSlot):
            cutter.read(state, s.adjoint)
            cutter.write(state, sympy.Symbol(f"_slot{s.k}"), f"_slot{s.k}")
            return
        if isinstance(s, AddParamTerm):
            _reads(cutter, state, s.total)
            reg = cutter.read(state, sympy.Symbol(f"_sum_{s.param.name}"))
            cutter.write(state, sympy.Symbol(reg), reg)
            return
        if isinstance(s, InputAdjoint):
            _reads(cutter, state, s.expr)
            cutter.write(state, sympy.Symbol("_d_inputs"), "_d_inputs")
            return
        if isinstance(s, ZeroCarry):
            cutter.write(state, s.carry)
            return
        _elementwise(cutter, state, s, self.per_item_symbols)


def _reads(cutter, state, expr):
    for symbol in sorted(sympy.sympify(expr).free_symbols, key=str):
        cutter.read(state, symbol)


def _elementwise(cutter, state, s, per_item):
    """Assign, InPlace and Apply: their reads, then their write (an alias for ``a = b``)."""
    if isinstance(s, (StateView, StoreView, KeepValue, InputView)):
        return
    if isinstance(s, Assign):
        if isinstance(s.rhs, sympy.Symbol) and not is_param(s.rhs):
            cutter.alias(state, s.lhs.name, cutter.read(state, s.rhs))
            return
        _reads(cutter, state, s.rhs)
        cutter.alias(state, s.lhs.name, s.lhs.name)
        cutter.write(state, s.lhs, per_item=s.lhs.name in per_item)
        return
    if isinstance(s, InPlace):
        if s.op in (Op.IADD, Op.ISUB, Op.IMUL):
            cutter.read(state, s.target)
        for arg in s.args:
            _reads(cutter, state, arg)
        cutter.write(state, s.target, per_item=s.target.name in per_item)
        return
    if isinstance(s, Apply):
        _reads(cutter, state, s.expr.args[0] if len(s.expr.args) == 1 else s.expr)
        if s.into is Into.ARGUMENT and isinstance(s.expr.args[0], sympy.Symbol):
            reg = cutter.register(state, s.expr.args[0])
            cutter.alias(state, s.out.name, reg)
            cutter.write(state, s.out, reg)
            return
        cutter.alias(state, s.out.name, s.out.name)
        cutter.write(state, s.out, per_item=s.out.name in per_item)
        return
    raise Unfusable(f"no fused kernel form for the statement {type(s).__name__} ({s})")
