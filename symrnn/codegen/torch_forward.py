"""The PyTorch text of a layer's forward function, from its plan: set-up
before the loop (stacked weights, hoisted projections with their biases in
one ``addmm``, per-step buffers), the step's lines and the cache. Nothing is
decided here.

The plan's exp forms (:data:`symrnn.rules.EXP_FORMS`) are NumPy's: its
float64 tanh is slow, so it activates a store of gates from one exp call
with each gate's factor folded into the weights. torch's sigmoid and tanh
kernels are vectorised, so here a run of gates is activated by the function
itself, one call per run, and no factor is folded in.

Imports: the rule table, names, the statements, the torch spelling helpers
and the NumPy helpers whose text torch shares (column blocks, views, cache).
"""

from ..rules import function_rule, rule_of
from . import names, numpy_forward
from .numpy_forward import cache_lines, single_line
from .numpy_text import member_cols, previous_input_lines, product_weights, size_lines, width
from .statements import (
    ActivationRun,
    Apply,
    ExpRun,
    FusedStep,
    InPlace,
    Into,
)
from .torch_text import function_args, new_array

__all__ = ["cache_lines", "setup_lines", "step_lines"]


def product_text(group, arg_text):
    """The group's product of ``arg_text``, its bias added in the same call."""
    weights, bias = product_weights(group), names.stacked_bias(group)
    return f"torch.addmm({bias}, {arg_text}, {weights})" if bias else f"{arg_text} @ {weights}"


def setup_lines(plan):
    """Forward's lines before the loop."""
    lines = ["T, B, _ = inputs.shape", *size_lines(plan)]
    lines += previous_input_lines(plan, "torch.zeros_like")
    for group in plan.groups:
        lines += stacking_lines(group)
        if group.hoisted:
            projection = product_text(group, f"{names.input_sequence(plan, group)}.reshape(T * B, -1)")
            lines.append(f"{names.projection(group)} = ({projection}).reshape(T, B, -1)")
    for fused in plan.fused_sums:
        lines += fused_sum_setup(fused)
    lines += [f"{names.store(k.value)} = {new_array(store_shape(plan, k))}" for k in plan.kept if k.store is None]
    # Each state's values of all steps, its initial value first: step t
    # reads [t] and writes [t + 1], and the layer's output is [1:].
    for state in plan.states:
        lines += [f"{names.history(state)} = {new_array(f'(T + 1, B, {plan.size(state)})')}",
                  f"{names.history(state)}[0] = {names.initial_state(state)}"]
    return lines


def store_shape(plan, kept):
    """A kept value's store: (T, B, its size), or (T, B, 1) for one number per item."""
    return f"(T, B, {1 if kept.per_item else plan.size(kept.value)})"


def stacking_lines(group):
    """A stacked group's weights and biases in one tensor (numpy_forward.stacking_lines)."""
    return numpy_forward.stacking_lines(group, "torch.cat", "torch.zeros_like")


def fused_sum_setup(fused):
    """The buffers of a fused sum: the in-loop product's, and for several
    gates gate-major views and the store of every step."""
    n, summed = len(fused.loop.members), len(fused.pres)
    hoisted, loop = fused.hoisted, fused.loop
    if adds_in_place(fused):
        return []
    size = loop.size
    lines = [f"{names.projection(loop)} = {new_array(f'(B, {width((size,) * n)})')}"]
    if n > 1:
        outer, inner = names.projection(hoisted), names.projection(loop)
        lines += [
            f"{names.gates(outer)} = {outer}.reshape(T, B, {len(hoisted.members)}, {size}).permute(0, 2, 1, 3)",
            f"{names.gates(inner)} = {inner}.reshape(B, {n}, {size}).permute(1, 0, 2)",
            f"{names.store(fused.store)} = {new_array(f'(T, {summed}, B, {size})')}",
        ]
    return lines


def adds_in_place(fused):
    """Whether the step's product is added into the hoisted projection by one
    ``addmm_`` (one member, no bias of its own): no buffer for it."""
    return not fused.gate_major and not fused.loop.has_bias and len(fused.loop.members) == 1


def fused_step_lines(fused):
    """One product per step into a buffer allocated once, added to the
    hoisted projection (gate-major, (n, B, H) per step, for several
    members); a single member's product is added in place by ``addmm_``."""
    loop, hoisted, store = fused.loop, fused.hoisted, fused.store.name
    product, weights = names.projection(loop), f"{names.stacked_weights(loop)}.T"
    if adds_in_place(fused):
        view = f"{names.projection(hoisted)}[t]"
        if hoisted.stacked:
            view = f"{names.projection(hoisted)}[t, :, {member_cols(hoisted, fused.offset)}]"
        return [f"{store} = {view}", f"{store}.addmm_({loop.arg.name}, {weights})"]
    if loop.has_bias:
        lines = [f"torch.addmm({names.stacked_bias(loop)}, {loop.arg.name}, {weights}, out={product})"]
    else:
        lines = [f"torch.matmul({loop.arg.name}, {weights}, out={product})"]
    summed, past = len(fused.pres), len(loop.members) > len(fused.pres)  # past: members after the sum
    if not fused.gate_major:
        view = f"{names.projection(hoisted)}[t]"
        if hoisted.stacked:
            view = f"{names.projection(hoisted)}[t, :, {member_cols(hoisted, fused.offset)}]"
        return lines + [f"{store} = {view}", f"{store} += {product}" + (f"[:, {member_cols(loop, 0)}]" if past else "")]
    gates = f"{names.gates(names.projection(hoisted))}[t]"
    if (fused.offset, summed) != (0, len(hoisted.members)):
        gates = f"{names.gates(names.projection(hoisted))}[t, {fused.offset or ''}:{fused.offset + summed}]"
    return lines + [f"{store} = {names.store(fused.store)}[t]",
                    f"torch.add({gates}, {names.gates(product)}{f'[:{summed}]' if past else ''}, out={store})"]


def step_lines(plan, printer):
    """The loop body: the previous states, then every statement."""
    prevs = ", ".join(p.name for _, p in plan.prev_symbols)
    lines = [f"{prevs} = {', '.join(f'{names.history(s)}[t]' for s in plan.states)}"]
    for statement in plan.forward_step:
        lines += statement_lines(printer, statement)
    return lines


def statement_lines(printer, s):
    """The lines of one forward statement."""
    if isinstance(s, FusedStep):
        return fused_step_lines(s.fused)
    if isinstance(s, ActivationRun):
        block = f"{s.store.name}[{s.start or ''}:{s.stop}]"
        return [function_rule(s.nodes[0].expr).torch_out.format(block, block),
                f"{', '.join(n.out.name for n in s.nodes)} = {block}"]
    if isinstance(s, ExpRun):
        return exp_run_lines(s)
    if isinstance(s, Apply):
        return [f"{s.out.name} = {apply_text(printer, s)}"]
    if isinstance(s, InPlace):
        return [printer.in_place(s)]
    return [single_line(s, printer, product_text)]


def apply_text(printer, s):
    rule, args = function_rule(s.expr), function_args(printer.show, s.expr)
    if s.into is Into.NEW:
        return rule.torch.format(*args)
    target = args[0] if s.into is Into.ARGUMENT else f"{names.store(s.out)}[t]"
    return rule.torch_out.format(*args, target)


def exp_run_lines(s):
    """Each run of gates of one function activated in place by one call."""
    lines = []
    for start, stop, function in s.pieces:
        block = f"{s.store.name}[{start}]" if stop == start + 1 else f"{s.store.name}[{start or ''}:{stop}]"
        lines.append(rule_of(function).torch_out.format(block, block))
    unpack = ", ".join(out.name for out in s.outs)
    return lines + [f"{unpack}{',' if len(s.outs) == 1 else ''} = {s.store.name}"]
