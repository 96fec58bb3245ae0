"""The NumPy text of a layer's backward function and its window variant,
from the plan: loads from the cache, local derivatives before the loop, the
step's lines, and the gradients after the loop. Nothing is decided here.

Imports: naming, names, the statements and the NumPy spelling helpers.
"""

from .. import naming
from . import names
from .numpy_text import (
    SequencePrinter,
    cols,
    input_adjoint_lines,
    previous_input_lines,
    size_lines,
    sum_rows,
    width,
)
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

REUSED_BUFFER_NOTE = ["# The input projections are dead after forward's loop: their buffer",
                      "# takes the slots' adjoints (pages already mapped, no fresh memory)."]


def carries(plan):
    return [naming.next_adjoint_name(s.name) for s in plan.states]


def setup_lines(plan, with_size, window=False):
    """Backward's lines before the loop; ``with_size``: bind the sizes even
    where nothing else needs them; ``window``: no accumulator for the
    parameters whose terms are kept per step (both: the window variant)."""
    initial = [names.initial_state(s) for s in plan.states]
    lines = ['inputs = cache["inputs"]', "T, B, _ = inputs.shape", *[f'{s} = cache["{s}"]' for s in initial]]
    lines += previous_input_lines(plan, "np.zeros_like")
    if with_size or plan.slots:
        lines += size_lines(plan)
    stacked = [names.stacked_weights(g) for g in plan.groups if g.stacked]
    lines += [f'{w} = cache["{w}"]' for w in stacked]
    lines += [f'{names.store(k.value)} = cache["{k.value.name}"]' for k in plan.kept]
    lines += [f'{names.history(s)} = cache["{s.name}"]' for s in plan.states]
    if plan.reused_projection is not None:
        lines += REUSED_BUFFER_NOTE + [f'd_slots = cache["{names.projection(plan.reused_projection)}"]']
    elif plan.slots:
        lines.append(f"d_slots = np.empty((T, B, {width(plan.slot_sizes)}), dtype=inputs.dtype)")
    backward = plan.backward
    lines += summed_gradient_lines(backward, "np.zeros((B, {}.shape[0]), dtype=inputs.dtype)", window)
    if backward.input_adjoint_in_loop:
        lines.append("d_inputs = np.zeros_like(inputs)")
    lines += [f"{carry} = np.zeros_like({arg})" for carry, arg in zip(carries(plan), initial)]
    lines += local_derivative_lines(plan)
    if backward.gate_major_slots:
        (size,) = set(plan.slot_sizes)  # the planner views the slots gate-major only where they have one size
        lines.append(f"d_slots_gates = d_slots.reshape(T, B, {len(plan.slots)}, {size}).transpose(0, 2, 1, 3)")
    return lines


SUMMED_NOTE = ["# The elementwise parameters' terms, added up per item over the steps and",
               "# summed over the batch after the loop: one reduction each, not one per step."]


def summed_gradient_lines(backward, zeros, window=False):
    """The (B, n) accumulator of each elementwise parameter's terms (``zeros``:
    the backend's, of a name); ``window``: of those not kept per step."""
    per_step = set(backward.per_step_params) if window else set()
    summed = [p for p in backward.summed_params if p not in per_step]
    return (SUMMED_NOTE if summed else []) + [f"{names.summed_gradient(p)} = {zeros.format(p.name)}" for p in summed]


def local_derivative_lines(plan):
    """Each slot's local derivative for all steps, written into its slot."""
    derivatives = plan.backward.local_derivatives
    if not derivatives:
        return []
    first = derivatives[0]
    adjoint, node, of = first.adjoint.name, first.slot.name.removeprefix("d_"), first.adjoint.name.removeprefix("d_")
    lines = ["# Local derivatives, which do not depend on the recurrence, for all steps at",
             f"# once: each slot first holds its own ({first.slot.name} = {adjoint} * d{of}/d{node}), and the",
             "# loop multiplies it by that adjoint."]
    for d in derivatives:
        printer = SequencePrinter(plan, d.coefficient)
        view = f"d_slots[:, :, {cols(d.k, d.k + 1, plan.slot_sizes)}]"
        if d.target is None:
            lines.append(f"{view} = {printer.show(d.coefficient)}")
        else:
            lines += [f"{d.target.name} = {view}", *(printer.in_place(s) for s in d.statements)]
    return lines


def load_line(plan, load):
    symbol, source = load.symbol.name, load.source
    if source is Source.SLOT:
        return f"{symbol} = d_slots[t, :, {cols(load.subject, load.subject + 1, plan.slot_sizes)}]"
    if source is Source.STATE:
        return f"{symbol} = {names.history(load.symbol)}[t + 1]"
    if source is Source.PREVIOUS:
        return f"{symbol} = {names.history(load.subject)}[t]"
    if source is Source.INPUT:
        return f"{symbol} = inputs[t]"
    return f"{symbol} = {names.store(load.symbol)}[t]"  # a value, or the adjoint from above


def statement_line(printer, s):
    """The line of one backward statement."""
    if isinstance(s, Load):
        return load_line(printer.plan, s)
    if isinstance(s, InPlace):
        return printer.in_place(s)
    if isinstance(s, Assign):
        return f"{s.lhs.name} = {printer.show(s.rhs)}"
    if isinstance(s, ScaleRun):
        return f"d_slots_gates[t, {s.start or ''}:{s.stop}] *= {s.adjoint.name}"
    if isinstance(s, CopyToSlot):
        return f"d_slots[t, :, {cols(s.k, s.k + 1, printer.plan.slot_sizes)}] = {s.adjoint.name}"
    if isinstance(s, AddParamTerm):
        if s.per_step:
            return f"{names.per_step_gradient(s.param)}[t] = {sum_rows(printer.show(s.total), s.total)}"
        return f"{names.summed_gradient(s.param)} += {printer.show(s.total)}"
    if isinstance(s, InputAdjoint):
        return f"d_inputs[t] = {printer.show(s.expr)}"
    if isinstance(s, ZeroCarry):
        return f"{s.carry.name} = np.zeros_like({s.carry.name})"
    if isinstance(s, ResetCarry):
        return f"{s.carry.name} = np.where(keep[t], {s.carry.name}, 0)"
    if isinstance(s, KeepStateAdjoint):
        return f"{names.state_adjoint_steps(s.state)}[t] = {s.adjoint.name}"
    raise TypeError(f"no NumPy form for the backward statement {s}")


def step_lines(plan, printer, statements):
    lines = []
    for s in statements:
        lines += seed_lines(s) if isinstance(s, SeedFinalStates) else [statement_line(printer, s)]
    return lines


def seed_lines(seed):
    """``final_seeds``: None, or each state's final adjoint at every step (T,
    B, n), zero but at each item's last step, in the cell's state order. A
    new sum, not ``+=``: a carry may share memory with what the step wrote."""
    return ["if final_seeds is not None:  # the final states' adjoints, at each item's last step",
            *(f"    {carry.name} = {carry.name} + final_seeds[{k}][t]" for k, carry in enumerate(seed.carries))]


def arg_sequence(plan, group):
    """The group's vector at every step, a (T, B, n) array."""
    arg = group.arg
    previous = plan.previous_states
    if group.hoisted:
        return names.input_sequence(plan, group)
    if arg in previous:
        return f"{names.history(previous[arg])}[:-1]"
    if arg in plan.states:  # a state's value at this step (w·c after c is computed)
        return f"{names.history(arg)}[1:]"
    return names.store(arg)


def finish_lines(plan, window=False):
    """After the loop: every gradient from the slots (and the summed
    parameters), then the input's adjoint; ``window``: the summed
    parameters' gradients from their per-step terms, and x[t-1]'s adjoint
    masked by ``keep_previous``."""
    return gradient_lines(plan, window) + input_adjoint_lines(plan, "np.zeros_like", window)


def gradient_lines(plan, window=False):
    """After the loop: every gradient from the slots, and each summed
    parameter's terms summed over the batch (every backend's; ``window``: of
    the per-step terms of those the window variant keeps per step)."""
    lines = ["d_slots_2d = d_slots.reshape(T * B, -1)"] if plan.slots else []
    lines.append("grads = {}")
    assigned = set()
    for group in plan.groups:
        lines += group_gradient_lines(plan, group, assigned)
    per_step = set(plan.backward.per_step_params) if window else set()
    for p in plan.backward.summed_params:
        value = names.per_step_gradient(p) if p in per_step else names.summed_gradient(p)
        lines.append(f'grads["{p.name}"] = {value}.sum(axis=0)')
    return lines


def group_gradient_lines(plan, group, assigned):
    """The gradients of the group's weights (one product over all steps) and biases."""
    adjoint = names.group_adjoint(group)
    lines = [f"{adjoint} = d_slots_2d[:, {cols(group.start, group.stop, plan.slot_sizes)}]"]
    weights = [m.weight.name for m in group.members]
    product = f"{adjoint}.T @ {arg_sequence(plan, group)}.reshape(T * B, -1)"
    if group.transposed:  # u = w^T·v: the gradient is v d^T summed, (in, out)
        product = f"{arg_sequence(plan, group)}.reshape(T * B, -1).T @ {adjoint}"
    lines += split_assign(weights, product, f"({product})", f"{group.size}, -1", assigned)
    biases = [m.bias.name for m in group.members if m.bias is not None]
    if biases and len(biases) == len(group.members):
        lines += split_assign(biases, f"{adjoint}.sum(axis=0)", f"{adjoint}.sum(axis=0)", group.size, assigned)
    else:
        for k, member in enumerate(group.members):
            if member.bias is not None:
                block = f"d_slots_2d[:, {cols(group.start + k, group.start + k + 1, plan.slot_sizes)}]"
                lines += split_assign([member.bias.name], f"{block}.sum(axis=0)", None, group.size, assigned)
    return lines


def split_assign(names_, value, operand, block_shape, assigned):
    """The lines ``grads[...] = value``, split into equal row blocks of shape
    ``block_shape`` (views, unpacked from one reshape of ``operand``, the
    value as an operand). A parameter in more than one product, of this
    group (``w_x`` in ``w_x·x + b·(w_x·x)``) or of an earlier one
    (``assigned``), gets the sum of its blocks."""
    if len(names_) == 1:
        op = "+=" if names_[0] in assigned else "="
        assigned.add(names_[0])
        return [f"grads[\"{names_[0]}\"] {op} {value}"]
    n = len(names_)
    blocks = f"{operand}.reshape({n}, {block_shape})"
    if len(set(names_)) == n and not assigned.intersection(names_):
        assigned.update(names_)
        return [", ".join(f"grads[\"{name}\"]" for name in names_) + f" = {blocks}"]
    lines = [f"grad_blocks = {blocks}"]
    for name in dict.fromkeys(names_):
        terms = " + ".join(f"grad_blocks[{k}]" for k, other in enumerate(names_) if other == name)
        lines.append(f"grads[\"{name}\"] {'+=' if name in assigned else '='} {terms}")
        assigned.add(name)
    return lines
