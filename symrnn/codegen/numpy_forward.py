"""The NumPy text of a layer's forward function, from its plan: set-up
before the loop (stacked weights, exp factors, hoisted projections, stores),
the step's lines and the cache. Nothing is decided here.

Imports: the rule table, names, the plan's roles, the statements and the
NumPy spelling helpers.
"""

from ..rules import EXP_FORMS, function_rule
from . import names
from .numpy_text import member_cols, previous_input_lines, product_weights, size_lines, width
from .plan import Role
from .statements import (
    ActivationRun,
    Apply,
    Assign,
    ExpApply,
    ExpRun,
    FusedStep,
    GateView,
    InPlace,
    InputView,
    Into,
    KeepValue,
    Product,
    Projection,
    ProjectionView,
    StateView,
    StoreView,
)


def product_text(group, arg_text):
    """An in-loop group's product at one step."""
    text = f"{arg_text} @ {names.loop_weights(group)}"
    bias = names.stacked_bias(group)
    return f"{text} + {bias}" if bias else text


def loop_weight_lines(plan, group):
    """An in-loop group's weights as one contiguous (in, out) array, made
    once before the loop: NumPy's product with a transposed view (h @ w.T)
    takes 1.1-1.9 times as long at a step's shapes (B = 32, H = 128, float64
    and float32, OpenBLAS), the product with a copy does not. A fused sum
    activated by exp has its scaled copy instead (fused_sum_setup)."""
    if group.hoisted or group.transposed or any(f.loop is group and f.exp for f in plan.fused_sums):
        return []
    return [f"{names.loop_weights(group)} = np.ascontiguousarray({names.stacked_weights(group)}.T)"]


def exp_array(plan, group):
    scaling = plan.exp_scaling(group)
    return names.exp_factors(plan.group(scaling.array_of))


def setup_lines(plan):
    """Forward's lines before the loop."""
    lines = ["T, B, _ = inputs.shape", *size_lines(plan)]
    lines += previous_input_lines(plan, "np.zeros_like")
    for group in plan.groups:
        lines += stacking_lines(group) + exp_factor_lines(plan, group) + loop_weight_lines(plan, group)
        if group.hoisted:
            lines += hoisted_lines(plan, group)
    for fused in plan.fused_sums:
        lines += fused_sum_setup(plan, fused)
    lines += [f"{names.store(k.value)} = np.empty((T, B, {1 if k.per_item else plan.size(k.value)}), "
              "dtype=inputs.dtype)" for k in plan.kept if k.store is None]
    # Each state's values of all steps, its initial value first: step t
    # reads [t] and writes [t + 1], and the layer's output is [1:].
    for state in plan.states:
        lines += [f"{names.history(state)} = np.empty((T + 1, B, {plan.size(state)}), dtype=inputs.dtype)",
                  f"{names.history(state)}[0] = {names.initial_state(state)}"]
    return lines


def stacking_lines(group, concatenate="np.concatenate", zeros_like="np.zeros_like"):
    """A stacked group's weights (and biases, zeros for a member without) in one
    array; ``concatenate`` and ``zeros_like`` spell the backend's functions
    (torch.cat, jnp.concatenate, ...)."""
    if not group.stacked:
        return []
    weights = ", ".join(m.weight.name for m in group.members)
    lines = [f"{names.stacked_weights(group)} = {concatenate}([{weights}])"]
    if group.has_bias:
        zeros = f"{zeros_like}({group.members[0].weight.name}[:, 0])"
        biases = ", ".join(m.bias.name if m.bias is not None else zeros for m in group.members)
        lines.append(f"{names.stacked_bias(group)} = {concatenate}([{biases}])")
    return lines


def exp_factor_lines(plan, group):
    """The factor of each output row of ``group`` in its exp call, folded
    into the weights: -1 (sigmoid), -2 (tanh), 1 (not activated by exp)."""
    scaling = plan.exp_scaling(group)
    if scaling is None or scaling.array_of != group.index:
        return []
    listed = ", ".join(map(str, scaling.factors))
    return ["# The gates are activated in their store, each to a few ulp: sigmoid(u) = 1/(1 + exp(-u)),",
            "# tanh(u) = -1/(1 + 2/expm1(-2u)); each gate's factor of u (-1, -2) is folded into its weights.",
            f"{names.exp_factors(group)} = np.repeat(np.array([{listed}], dtype=inputs.dtype), {group.size})"]


def hoisted_lines(plan, group):
    """The group's products of all steps: one matrix product, biases added in place."""
    weights, bias = product_weights(group), names.stacked_bias(group)
    if plan.exp_scaling(group) is not None:
        factors = exp_array(plan, group)
        weights, bias = f"({weights} * {factors})", bias and f"{bias} * {factors}"
    projection, inputs = names.projection(group), names.input_sequence(plan, group)
    lines = [f"{projection} = ({inputs}.reshape(T * B, -1) @ {weights}).reshape(T, B, -1)"]
    return lines + ([f"{projection} += {bias}"] if bias else [])


def fused_sum_setup(plan, fused):
    """The buffers of a fused sum: the in-loop product's, and for several
    gates gate-major views and the store of every step."""
    n, summed = len(fused.loop.members), len(fused.pres)
    hoisted, loop = fused.hoisted, fused.loop
    lines = []
    if fused.exp:
        # order="C": the product reads a contiguous (in, out) array (see loop_weight_lines)
        lines.append(f"{names.exp_weights(loop)} = np.multiply({names.stacked_weights(loop)}.T, "
                     f"{exp_array(plan, loop)}, order=\"C\")")
        if loop.has_bias:
            lines.append(f"{names.exp_bias(loop)} = {names.stacked_bias(loop)} * {exp_array(plan, loop)}")
    size = loop.size
    lines.append(f"{names.projection(loop)} = np.empty((B, {width((size,) * n)}), dtype=inputs.dtype)")
    if n > 1:
        outer, inner = names.projection(hoisted), names.projection(loop)
        lines += [
            f"{names.gates(outer)} = {outer}.reshape(T, B, {len(hoisted.members)}, {size}).transpose(0, 2, 1, 3)",
            f"{names.gates(inner)} = {inner}.reshape(B, {n}, {size}).transpose(1, 0, 2)",
            f"{names.store(fused.store)} = np.empty((T, {summed}, B, {size}), dtype=inputs.dtype)",
        ]
    return lines


def fused_step_lines(plan, fused):
    """One product per step into a buffer allocated once, added to the
    hoisted projection. With several members the sum is stored gate-major,
    (n, B, H) per step, so that each member's values are contiguous: the
    elementwise work on them runs about twice as fast as on column slices."""
    loop, hoisted, store = fused.loop, fused.hoisted, fused.store.name
    product = names.projection(loop)
    weights = names.exp_weights(loop) if fused.exp else names.loop_weights(loop)
    lines = [f"np.matmul({loop.arg.name}, {weights}, out={product})"]
    if loop.has_bias:
        lines.append(f"{product} += {names.exp_bias(loop) if fused.exp else names.stacked_bias(loop)}")
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
                    f"np.add({gates}, {names.gates(product)}{f'[:{summed}]' if past else ''}, out={store})"]


def step_lines(plan, printer):
    """The loop body: the previous states, then every statement."""
    prevs = ", ".join(p.name for _, p in plan.prev_symbols)
    lines = [f"{prevs} = {', '.join(f'{names.history(s)}[t]' for s in plan.states)}"]
    for statement in plan.forward_step:
        lines += statement_lines(plan, printer, statement)
    return lines


def statement_lines(plan, printer, s):
    """The lines of one forward statement."""
    if isinstance(s, FusedStep):
        return fused_step_lines(plan, s.fused)
    if isinstance(s, ActivationRun):
        block = f"{s.store.name}[{s.start or ''}:{s.stop}]"
        return [function_rule(s.nodes[0].expr).numpy_out.format(block, block),
                f"{', '.join(n.out.name for n in s.nodes)} = {block}"]
    if isinstance(s, ExpRun):
        return exp_run_lines(s)
    if isinstance(s, ExpApply):
        return exp_apply_lines(printer, s)
    if isinstance(s, Apply):
        return [f"{s.out.name} = {apply_text(printer, s)}"]
    if isinstance(s, InPlace):
        return [printer.in_place(s)]
    return [single_line(s, printer)]


def single_line(s, printer, product=None):
    """The line of a statement whose spelling is the same in NumPy and torch
    but for the matrix product (``product``: the backend's, NumPy's by default)."""
    product = product or product_text
    if isinstance(s, StateView):
        return f"{s.state.name} = {names.history(s.state)}[t + 1]"
    if isinstance(s, StoreView):
        return f"{s.value.name} = {names.store(s.value)}[t]"
    if isinstance(s, InputView):
        return f"{s.input.name} = inputs[t]"
    if isinstance(s, Product):
        return f"{s.out.name} = {product(s.group, s.group.arg.name)}"
    if isinstance(s, Projection):
        return f"{names.projection(s.group)} = {product(s.group, s.group.arg.name)}"
    if isinstance(s, ProjectionView):
        return f"{s.out.name} = {names.projection(s.group)}{view_index(s.group, s.k)}"
    if isinstance(s, GateView):
        return f"{s.out.name} = {s.store.name}[{s.k}]"
    if isinstance(s, Assign):
        return f"{s.lhs.name} = {printer.show(s.rhs)}"
    if isinstance(s, KeepValue):
        return f"{names.store(s.value)}[t] = {s.value.name}"
    raise TypeError(f"no line spelling the forward statement {s}")


def view_index(group, k):
    """Member ``k``'s block of the group's projection at step t."""
    if group.hoisted:
        return "[t]" if not group.stacked else f"[t, :, {member_cols(group, k)}]"
    return f"[:, {member_cols(group, k)}]"


def apply_text(printer, s):
    rule, args = function_rule(s.expr), [printer.show(a) for a in s.expr.args]
    if s.into is Into.NEW:
        return rule.numpy.format(*args)
    target = args[0] if s.into is Into.ARGUMENT else f"{names.store(s.out)}[t]"
    return rule.numpy_out.format(*args, target)


def exp_apply_lines(printer, s):
    """One value from its function's exp form: E = e(k·u) into its array, then the rest."""
    form, out = EXP_FORMS[type(s.expr)], s.out.name
    arg = printer.show(s.expr.args[0])
    target = {Into.NEW: "", Into.ARGUMENT: f", out={arg}", Into.STORE: f", out={names.store(s.out)}[t]"}[s.into]
    scaled = f"np.negative({arg}{target})" if form.factor == -1 else f"np.multiply({arg}, {form.factor}{target})"
    return [f"{out} = {scaled}", f"np.{form.function}({out}, out={out})",
            *(statement.format(out) for statement in form.statements)]


def exp_run_lines(s):
    """Each run of gates of one function in place (the rules' exp forms): one
    exp (sigmoid: 1/(1 + E)) or expm1 (tanh: -1/(1 + 2/E)) call, then the rest."""
    lines = []
    for start, stop, function in s.pieces:
        block = f"{s.store.name}[{start}]" if stop == start + 1 else f"{s.store.name}[{start or ''}:{stop}]"
        form = EXP_FORMS[function]
        lines.append(f"np.{form.function}({block}, out={block})")
        lines += [statement.format(block) for statement in form.statements]
    unpack = ", ".join(out.name for out in s.outs)
    return lines + [f"{unpack}{',' if len(s.outs) == 1 else ''} = {s.store.name}"]


def cache_lines(plan):
    """(key, value) of each entry of forward's cache."""
    return [(names.cache_key(entry), cache_value(entry)) for entry in plan.cache]


def cache_value(entry):
    subject = entry.subject
    if entry.role is Role.VALUE:
        return names.store(subject.value) if subject.store is None else f"{names.store(subject.store)}[:, {subject.index}]"
    if entry.role is Role.HISTORY:
        return names.history(subject)
    return names.cache_key(entry)
