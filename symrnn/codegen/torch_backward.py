"""The PyTorch text of a layer's backward function, from the plan: loads
from the cache, local derivatives before the loop, the step's lines, and
the gradients after the loop, each weight's as one product over all steps.
Nothing is decided here.

Imports: names, the statements, the torch spelling helpers and the NumPy
backward's helpers whose text torch shares (loads, views, the gradient
products of a group).
"""

from . import names
from .numpy_backward import (
    REUSED_BUFFER_NOTE,
    carries,
    gradient_lines,
    seed_lines,
    statement_line,
    summed_gradient_lines,
)
from .numpy_text import cols, input_adjoint_lines, previous_input_lines, size_lines, width
from .statements import ZeroCarry
from .torch_text import TorchSequencePrinter, new_array


def setup_lines(plan):
    """Backward's lines before the loop."""
    initial = [names.initial_state(s) for s in plan.states]
    lines = ['inputs = cache["inputs"]', "T, B, _ = inputs.shape", *[f'{s} = cache["{s}"]' for s in initial]]
    lines += previous_input_lines(plan, "torch.zeros_like")
    if plan.slots:
        lines += size_lines(plan)
    lines += [f'{w} = cache["{w}"]' for w in (names.stacked_weights(g) for g in plan.groups if g.stacked)]
    lines += [f'{names.store(k.value)} = cache["{k.value.name}"]' for k in plan.kept]
    lines += [f'{names.history(s)} = cache["{s.name}"]' for s in plan.states]
    if plan.reused_projection is not None:
        lines += REUSED_BUFFER_NOTE + [f'd_slots = cache["{names.projection(plan.reused_projection)}"]']
    elif plan.slots:
        lines.append(f"d_slots = {new_array(f'(T, B, {width(plan.slot_sizes)})')}")
    backward = plan.backward
    lines += summed_gradient_lines(backward, "inputs.new_zeros((B, {}.shape[0]))")
    if backward.input_adjoint_in_loop:
        lines.append("d_inputs = torch.zeros_like(inputs)")
    lines += [f"{carry} = torch.zeros_like({arg})" for carry, arg in zip(carries(plan), initial)]
    lines += local_derivative_lines(plan)
    if backward.gate_major_slots:
        (size,) = set(plan.slot_sizes)  # the planner views the slots gate-major only where they have one size
        lines.append(f"d_slots_gates = d_slots.reshape(T, B, {len(plan.slots)}, {size}).permute(0, 2, 1, 3)")
    return lines


def local_derivative_lines(plan):
    """Each slot's local derivative for all steps, written into its slot."""
    lines = []
    for d in plan.backward.local_derivatives:
        printer = TorchSequencePrinter(plan, d.coefficient)
        view = f"d_slots[:, :, {cols(d.k, d.k + 1, plan.slot_sizes)}]"
        if d.target is None:
            lines.append(f"{view} = {printer.show(d.coefficient)}")
        else:
            lines += [f"{d.target.name} = {view}", *(printer.in_place(s) for s in d.statements)]
    return lines


def step_lines(plan, printer):
    """The loop body: every statement of the plan's backward step."""
    statements = plan.backward.loads + plan.backward.step
    return seed_lines(plan.backward.seed_finals) + [step_line(printer, s) for s in statements]


def step_line(printer, s):
    if isinstance(s, ZeroCarry):
        return f"{s.carry.name} = torch.zeros_like({s.carry.name})"
    return statement_line(printer, s)


def finish_lines(plan):
    """After the loop: every gradient from the slots (and the summed
    parameters), then the input's adjoint."""
    return gradient_lines(plan) + input_adjoint_lines(plan, "torch.zeros_like")
