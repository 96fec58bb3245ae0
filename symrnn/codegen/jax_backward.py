"""The JAX text of a layer's backward function and its window variant, from
the plan: loads from the cache, the body of the reversed ``lax.scan`` (each
slot's local derivative first, from the forward values it reads; what it
carries: the states' adjoints and the elementwise parameters' sums; what it
emits: the slots' adjoints of each step, the input's where the step
computes terms of it, and in the window each step's state adjoints and
parameter terms), and the gradients after the loop, each weight's as one
product over all steps. Nothing is decided here.

A slot of NumPy's ``d_slots`` is a buffer the step writes through names
bound to it (a :class:`Load` from ``Source.SLOT``); here each slot is a value
whose current name :class:`BackwardStep` follows, and the step emits the
slots' last values, joined.

Imports: the graph's ``is_param``, names, the statements, the JAX printers
and the NumPy backward's and window's helpers whose text JAX shares (the
gradient products of a group, the per-step terms).
"""

import sympy

from ..graph import is_param
from . import names
from .jax_forward import emitted_kept, previous_input_lines
from .jax_text import JaxSequencePrinter, JaxStepPrinter, parameters_only
from .numpy_backward import carries, gradient_lines
from .numpy_text import adjoint_weights, cols, size_lines, sum_rows
from .numpy_window import steps_lines
from .statements import (
    AddParamTerm,
    Assign,
    CopyToSlot,
    InPlace,
    InputAdjoint,
    KeepStateAdjoint,
    Load,
    ResetCarry,
    ScaleRun,
    SeedFinalStates,
    Source,
    ZeroCarry,
)

__all__ = ["BackwardStep", "carries", "finish_lines", "setup_lines", "summed_init", "window_finish_lines"]


def local_derivative(k):
    """Slot ``k``'s local derivative at the step."""
    return f"slot_{k}_local"


def setup_lines(plan):
    """Backward's lines before the scan."""
    initial = [names.initial_state(s) for s in plan.states]
    lines = ['inputs = cache["inputs"]', "T, B, _ = inputs.shape", *[f'{s} = cache["{s}"]' for s in initial]]
    lines += previous_input_lines(plan) + size_lines(plan)
    lines += [f'{w} = cache["{w}"]' for w in (names.stacked_weights(g) for g in plan.groups if g.stacked)]
    lines += [f'{names.store(k.value)} = cache["{names.store(k.value)}"]' for k in emitted_kept(plan)]
    lines += [f'{names.history(s)} = cache["{names.history(s)}"]' for s in plan.states]
    for r in plan.recomputable:  # every step's, from the kept values and histories (jax_forward.recomputed)
        lines.append(f"{names.store(r.value)} = {JaxSequencePrinter(plan, r.expr).show(r.expr)}")
    return lines


def step_array(plan, symbol):
    """(its name in the backward step, the (T, ...) array scanned for it) of a
    forward value the step reads: a state after or before the step, the
    input, or a kept value's store."""
    previous = plan.previous_states
    if symbol in plan.states:
        return f"{names.history(symbol)}_next", f"{names.history(symbol)}[1:]"
    if symbol in previous:
        return f"{names.history(previous[symbol])}_prev", f"{names.history(previous[symbol])}[:-1]"
    if symbol == plan.input:
        return "inputs", "inputs"
    return names.store(symbol), names.store(symbol)


def summed_init(plan, window=False):
    """(name, initial value) of each elementwise parameter's (B, n) sum;
    ``window``: of those whose terms are not kept per step."""
    per_step = set(plan.backward.per_step_params) if window else set()
    return [(names.summed_gradient(p), f"jnp.zeros((B, {p.name}.shape[0]), inputs.dtype)")
            for p in plan.backward.summed_params if p not in per_step]


class BackwardStep:
    """The lines of one backward step (the body of the reversed scan) from
    its ``statements`` (the plan's step, or its window variant), the
    per-step arrays they read (``scanned``), the value they emit for the
    slots (``slot_row``) and, in the window, what else each step emits
    (``kept``: (key, the step's value) of the state adjoints and the
    per-step parameter terms)."""

    def __init__(self, plan, statements):
        self.plan = plan
        self.printer = JaxStepPrinter(plan, self.slot_block)
        self.slots = {d.k: local_derivative(d.k) for d in plan.backward.local_derivatives}
        self.aliases = {}  # symbol name -> the slot it is bound to
        self.scanned = {}  # name in the step -> the (T, ...) array
        self.kept = []
        self.versions = 0
        self.lines = self.local_lines()
        for s in statements:
            self.lines += self.statement_lines(s)

    def local_lines(self):
        """Each slot's local derivative, computed in the step from the forward
        values it reads (scanned): XLA fuses it into the step's elementwise
        work, where a (T, B, n) array of every step's before the scan costs a
        pass over memory to write and one to read (mgu's forward + backward
        ~10% faster, CPU float32)."""
        lines = []
        for d in self.plan.backward.local_derivatives:
            coefficient = sympy.sympify(d.coefficient)
            symbols = sorted((s for s in coefficient.free_symbols if not is_param(s)), key=lambda s: s.name)
            arrays = {s: step_array(self.plan, s) for s in symbols}  # sorted: the same text for any hash seed
            self.scanned.update(arrays.values())
            value = self.printer.show(coefficient.xreplace({s: sympy.Symbol(key) for s, (key, _) in arrays.items()}))
            if parameters_only(coefficient):
                value = f"jnp.broadcast_to({value}, (B, {self.plan.slot_sizes[d.k]}))"
            lines.append(f"{local_derivative(d.k)} = {value}")
        return lines

    def slot_block(self, group):
        """The group's slots at this step, joined."""
        values = [self.slot(k) for k in range(group.start, group.stop)]
        return values[0] if len(values) == 1 else f"jnp.concatenate([{', '.join(values)}], axis=-1)"

    def slot(self, k):
        if k not in self.slots:
            raise AssertionError(f"slot {k} is read before the step writes it")
        return self.slots[k]

    def slot_row(self):
        """Every slot's value at this step, joined (T, B, slots) by the scan."""
        values = [self.slot(k) for k in range(len(self.plan.slots))]
        return values[0] if len(values) == 1 else f"jnp.concatenate([{', '.join(values)}], axis=-1)"

    def write_slot(self, k, value):
        """Slot ``k`` set to ``value`` (text): a new name, and every name bound to the slot bound again."""
        self.versions += 1
        name = f"slot_{k}_v{self.versions}"
        self.slots[k] = name
        return [f"{name} = {value}"] + [f"{alias} = {name}" for alias, slot in self.aliases.items() if slot == k]

    def read(self, symbol, key, array):
        """``symbol`` bound to this step's entry of ``array``, scanned as ``key``."""
        self.scanned[key] = array
        return [f"{symbol} = {key}"]

    def statement_lines(self, s):
        plan, show = self.plan, self.printer.show
        if isinstance(s, Load):
            return self.load_lines(s)
        if isinstance(s, InPlace):
            line = f"{s.target.name} = {self.printer.value_of(s)}"
            k = self.aliases.get(s.target.name)
            return [line] if k is None else [line, *self.write_slot(k, s.target.name)]
        if isinstance(s, Assign):
            self.aliases.pop(s.lhs.name, None)
            if isinstance(s.rhs, sympy.Symbol) and s.rhs.name in self.aliases:
                self.aliases[s.lhs.name] = self.aliases[s.rhs.name]
            return [f"{s.lhs.name} = {show(s.rhs)}"]
        if isinstance(s, ScaleRun):
            return [line for k in range(s.start, s.stop)
                    for line in self.write_slot(k, f"{self.slot(k)} * {s.adjoint.name}")]
        if isinstance(s, CopyToSlot):
            return self.write_slot(s.k, f"jnp.broadcast_to({s.adjoint.name}, (B, {plan.slot_sizes[s.k]}))")
        if isinstance(s, AddParamTerm) and s.per_step:
            return self.keep(names.per_step_gradient(s.param), sum_rows(show(s.total), s.total))
        if isinstance(s, AddParamTerm):
            summed = names.summed_gradient(s.param)
            return [f"{summed} = {summed} + {show(s.total)}"]
        if isinstance(s, InputAdjoint):
            return [f"d_inputs = {show(s.expr)}"]
        if isinstance(s, ZeroCarry):
            return [f"{s.carry.name} = jnp.zeros_like({s.carry.name})"]
        if isinstance(s, ResetCarry):
            self.scanned["keep"] = "keep"
            return [f"{s.carry.name} = jnp.where(keep, {s.carry.name}, 0)"]
        if isinstance(s, KeepStateAdjoint):
            return self.keep(names.state_adjoint_steps(s.state), s.adjoint.name)
        if isinstance(s, SeedFinalStates):
            return []  # the template adds the seeds at the step's start
        raise TypeError(f"no JAX form for the backward statement {s}")

    def keep(self, key, value):
        """``value`` (text) emitted by the step as ``key``: bound to a name of its
        own first, since the name it is read from may be bound again later in the step."""
        name = f"{key.removesuffix('_steps')}_at_t"
        self.kept.append((key, name))
        return [f"{name} = {value}"]

    def load_lines(self, load):
        symbol, source = load.symbol.name, load.source
        if source is Source.SLOT:
            self.aliases[symbol] = load.subject
            # a slot without a local derivative is written (through this name) before it is read
            return [f"{symbol} = {self.slots[load.subject]}"] if load.subject in self.slots else []
        if source is Source.OUTPUT_ADJOINT:
            return self.read(symbol, names.store(load.symbol), names.store(load.symbol))
        return self.read(symbol, *step_array(self.plan, load.symbol))


def finish_lines(plan):
    """After the scan: every gradient from the slots (and the summed
    parameters), then the input's adjoint."""
    return gradient_lines(plan) + input_adjoint_lines(plan)


def window_finish_lines(plan, kept):
    """After the window's scan: the arrays of what each step kept (``kept``:
    keys of the scan's outputs), every gradient (the per-step parameters'
    from their terms), the input's adjoint, then ``steps``, each copy's term
    of every parameter."""
    lines = [f'{key} = ys["{key}"]' for key in kept]
    return (lines + gradient_lines(plan, window=True) + input_adjoint_lines(plan, window=True)
            + steps_lines(plan, "jnp.matmul", "jnp.zeros"))


def input_adjoint_lines(plan, window=False):
    """The input's adjoint: the hoisted groups' slots times their weights, one
    product each (a product of x[t-1] adds to the adjoint one step earlier;
    ``window``: only where ``keep_previous`` is True at that earlier step, as
    in the NumPy module's window)."""
    def products(groups):
        return " + ".join(f"d_slots_2d[:, {cols(g.start, g.stop, plan.slot_sizes)}] @ {adjoint_weights(g)}"
                          for g in groups)
    current = products(g for g in plan.hoisted if g.arg != plan.prev_input)
    previous = products(g for g in plan.hoisted if g.arg == plan.prev_input)
    in_loop = plan.backward.input_adjoint_in_loop
    if current:
        start = 'ys["d_inputs"] + ' if in_loop else ""
        lines = [f"d_inputs = {start}({current}).reshape(T, B, -1)"]
    else:
        lines = ['d_inputs = ys["d_inputs"]' if in_loop else "d_inputs = jnp.zeros_like(inputs)"]
    if previous:
        earlier = f"({previous}).reshape(T, B, -1)[1:]"
        if window:
            earlier = f"jnp.where(keep_previous[:-1], {earlier}, 0)"
        lines.append(f"d_inputs = d_inputs.at[:-1].add({earlier})")
    return lines
