"""The Triton emitter: a layer's :class:`~symrnn.codegen.triton_plan.FusedLayer`
as kernel sources and the lines of ``_layer_forward_fused`` and
``_layer_backward_fused`` (laid out by ``templates/torch_fused.py.j2``,
included in the torch module). Set-up, cache and the gradients after the
loop are the torch emitter's lines; the step is its kernels' launches
between torch's matrix products. Nothing is decided here.

Imports: names, the statements, the fusion plan, the Triton printer and the
torch emitter's parts whose lines the fused functions share.
"""

from dataclasses import dataclass

import sympy

from . import names, torch_forward
from .numpy_backward import load_line, seed_lines, statement_line
from .numpy_forward import single_line
from .statements import (
    ActivationRun,
    AddParamTerm,
    Apply,
    Assign,
    CopyToSlot,
    ExpRun,
    FusedStep,
    InPlace,
    InputAdjoint,
    Op,
    ScaleRun,
    ZeroCarry,
)
from .torch_text import TorchStepPrinter
from .triton_plan import HostProduct, Place, Unfusable, plan_fusion
from .triton_text import TritonPrinter


@dataclass(frozen=True)
class TritonLayerCode:
    """The kernels' sources and the fused functions' loop bodies (None: ``unsupported`` says why)."""

    kernels: list
    forward_setup: list
    forward_step: list
    backward_step: list
    backward_setup: list
    unsupported: str | None = None


def emit_layer(plan):
    """The :class:`TritonLayerCode` of ``plan``; a plan the kernels cannot run is named in ``unsupported``."""
    try:
        fused = plan_fusion(plan)
        return _Emitter(plan).code(fused)
    except Unfusable as error:
        return TritonLayerCode([], [], [], [], [], unsupported=str(error))


def operand_text(plan, operand):
    """The host's tensor of one kernel operand at step t."""
    place, subject = operand.place, operand.subject
    if place is Place.VALUE:
        if subject.store is None:
            return f"{names.store(subject.value)}[t]"
        return f"{names.store(subject.store)}[t, {subject.index}]"
    return {
        Place.PREVIOUS: lambda: f"{names.history(subject)}[t]",
        Place.STATE: lambda: f"{names.history(subject)}[t + 1]",
        Place.INPUT: lambda: "inputs[t]",
        Place.PARAM: lambda: subject,
        Place.PROJECTION: lambda: f"{names.projection(subject)}[t]",
        Place.PRODUCT: lambda: names.projection(subject),
        Place.NAME: lambda: subject,
        Place.SLOTS: lambda: "d_slots[t]",
        Place.SUMMED: lambda: names.summed_gradient(subject),
        Place.INPUT_ADJOINT: lambda: "d_inputs[t]",
        Place.SPILL: lambda: f"_spill_{subject}",
    }[place]()


class _Emitter:
    def __init__(self, plan):
        self.plan, self.count = plan, 0

    def code(self, fused):
        kernels, forward = self.pieces(fused.forward, "fwd", self.forward_host)
        more, backward = self.pieces(fused.backward, "bwd", self.backward_host)
        prevs = ", ".join(p.name for _, p in self.plan.prev_symbols)
        first = f"{prevs} = {', '.join(f'{names.history(s)}[t]' for s in self.plan.states)}"
        loads = [load_line(self.plan, s) for s in self.plan.backward.loads]
        aliases = [f"{s.lhs.name} = {s.rhs.name}" for s in self.plan.backward.step
                   if isinstance(s, Assign) and isinstance(s.rhs, sympy.Symbol)]
        return TritonLayerCode(
            kernels=kernels + more,
            forward_setup=self.loop_buffers() + self.spill_lines(fused.forward_spills),
            forward_step=[first] + forward,
            backward_setup=self.spill_lines(fused.backward_spills),
            backward_step=seed_lines(self.plan.backward.seed_finals) + loads + aliases + backward,
        )

    def spill_lines(self, spills):
        return [f"_spill_{reg} = inputs.new_empty((B, {'1' if per_item else 'H'}))" for reg, per_item in spills]

    def loop_buffers(self):
        """The in-loop products' buffers the torch path adds in place instead."""
        return [f"{names.projection(f.loop)} = inputs.new_empty((B, {len(f.loop.members)} * H))"
                for f in self.plan.fused_sums if torch_forward.adds_in_place(f)]

    def pieces(self, pieces, kind, host):
        kernels, lines = [], []
        for piece in pieces:
            if isinstance(piece, HostProduct):
                lines += [f"{name} = _spill_{reg}" for name, reg in piece.spilled] + host(piece.statement)
                continue
            name = f"_{kind}_{self.count}"
            self.count += 1
            kernels.append(kernel_source(name, piece, self.plan))
            tensors = ", ".join(operand_text(self.plan, o) for o in piece.operands)
            lines.append(f"_launch({name}, B, H, {tensors})")
        return kernels, lines

    def forward_host(self, s):
        if not isinstance(s, FusedStep):
            return [single_line(s, TorchStepPrinter(self.plan), torch_forward.product_text)]
        loop = s.fused.loop
        lines = self.bind_arg(loop.arg)
        weights, buffer = f"{names.stacked_weights(loop)}.T", names.projection(loop)
        if loop.has_bias:
            return lines + [f"torch.addmm({names.stacked_bias(loop)}, {loop.arg.name}, {weights}, out={buffer})"]
        return lines + [f"torch.matmul({loop.arg.name}, {weights}, out={buffer})"]

    def bind_arg(self, arg):
        """The product's vector by its name, where the loop's first line does not bind it."""
        if arg in self.plan.previous_states:
            return []
        kept = next(k for k in self.plan.kept if k.value == arg)
        store = f"{names.store(arg)}[t]" if kept.store is None else f"{names.store(kept.store)}[t, {kept.index}]"
        return [f"{arg.name} = {store}"]

    def backward_host(self, s):
        return [statement_line(TorchStepPrinter(self.plan), s)]


def kernel_source(name, kernel, plan):
    """The text of one ``@_jit`` kernel."""
    operands = {o: f"p{k}" for k, o in enumerate(kernel.operands)}
    args = ", ".join(f"{p}, {p}_s0, {p}_s1" for p in operands.values())
    first = next(iter(operands.values()))
    lines = [f"def {name}(_B, _H, {args}, BLOCK_B: \"tl.constexpr\", BLOCK_H: \"tl.constexpr\"):",
             "    _rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)[:, None]",
             "    _cols = tl.arange(0, BLOCK_H)[None, :]",
             "    _rmask = _rows < _B",
             "    _mask = _rmask & (_cols < _H)",
             f"    _zero = tl.zeros([BLOCK_B, BLOCK_H], dtype={first}.dtype.element_ty)"]
    lines += [f"    {a.register} = {load_text(operands[a.operand], a)}" for a in kernel.loads]
    for s, before, after in kernel.statements:
        lines += [f"    {line}" for line in statement_lines(s, TritonPrinter(before), TritonPrinter(after))]
    for a in kernel.stores:
        p = operands[a.operand]
        value = a.register if a.operand.per_item else f"_zero + {a.register}"
        lines.append(f"    tl.store({address(p, a)}, {value}, mask={'_rmask' if a.operand.per_item else '_mask'})")
    return "\n".join(lines)


def address(p, access):
    if access.operand.per_item:
        return f"{p} + _rows * {p}_s0"
    if access.operand.place is Place.PARAM:
        return f"{p} + _cols * {p}_s1"
    offset = f"{access.k} * _H + " if access.k else ""
    return f"{p} + _rows * {p}_s0 + ({offset}_cols) * {p}_s1"


def load_text(p, access):
    mask = "_rmask" if access.operand.per_item else "_cols < _H" if access.operand.place is Place.PARAM else "_mask"
    return f"tl.load({address(p, access)}, mask={mask}, other=0.0)"


def statement_lines(s, before, after):
    """One statement's kernel lines: ``before`` prints what it reads, ``after`` what it writes."""
    if isinstance(s, FusedStep):
        regs = [after.show(p) for p in s.fused.pres]
        return [f"{r} = _h{r} + _l{r}" for r in regs]
    if isinstance(s, (ExpRun, ActivationRun)):
        runs = s.pieces if isinstance(s, ExpRun) else ((s.start, s.stop, type(s.nodes[0].expr)),)
        return [f"{s.store.name}_{k} = {after.show(function(sympy.Symbol(f'{s.store.name}_{k}')))}"
                for start, stop, function in runs for k in range(start, stop)]
    if isinstance(s, Assign):
        if isinstance(s.rhs, sympy.Symbol):
            return []
        return [f"{after.show(s.lhs)} = {filled(before, s.rhs)}"]
    if isinstance(s, InPlace):
        return [f"{after.show(s.target)} = {in_place_text(s, before)}"]
    if isinstance(s, Apply):
        return [f"{after.show(s.out)} = {before.show(s.expr)}"]
    if isinstance(s, ScaleRun):
        return [f"_slot{k} = _slot{k} * {before.show(s.adjoint)}" for k in range(s.start, s.stop)]
    if isinstance(s, CopyToSlot):
        return [f"_slot{s.k} = _zero + {before.show(s.adjoint)}"]
    if isinstance(s, AddParamTerm):
        return [f"_sum_{s.param.name} = _sum_{s.param.name} + {before.show(s.total)}"]
    if isinstance(s, InputAdjoint):
        return [f"_d_inputs = _zero + {before.show(s.expr)}"]
    if isinstance(s, ZeroCarry):
        return [f"{after.show(s.carry)} = _zero"]
    return []


def in_place_text(s, printer):
    target, args = s.target, s.args
    value = {
        Op.ADD: lambda: args[0] + args[1], Op.SUBTRACT: lambda: args[0] - args[1],
        Op.MULTIPLY: lambda: args[0] * args[1], Op.SQUARE: lambda: args[0] ** 2, Op.APPLY: lambda: args[0],
        Op.IADD: lambda: target + args[0], Op.ISUB: lambda: target - args[0], Op.IMUL: lambda: target * args[0],
        Op.FILL: lambda: args[0],
    }[s.op]()
    return filled(printer, value)


def filled(printer, expr):
    """``expr``'s text; a number as a block (a value of one number per row keeps its shape)."""
    return f"_zero + {printer.show(expr)}" if not sympy.sympify(expr).free_symbols else printer.show(expr)
