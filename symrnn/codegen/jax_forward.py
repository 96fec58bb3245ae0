"""The JAX text of a layer's forward function, from its plan: set-up before
the loop (stacked weights, in-loop weights transposed once, hoisted
projections, their biases added in the step), the body
of the ``lax.scan`` over steps, what each step carries (the states) and
emits (the kept values and the states, stacked by the scan into (T, B, n)
arrays), and the cache. Nothing is decided here.

The plan's in-place schedule is NumPy's memory plan; in JAX every statement
binds a new value to its name (a view of a store or history is a name bound
later), and a kept value is the value its name holds where the NumPy step
would have written it. The exp forms are NumPy's (its float64 tanh is slow):
as in torch, a run of gates is activated by the function itself.

Imports: names, the statements, the JAX spelling and the NumPy helpers
whose text JAX shares (column blocks, sizes, product weights).
"""

from . import names, numpy_forward
from .jax_text import JAX_FUNCTIONS
from .numpy_text import member_cols, product_weights, size_lines
from .statements import (
    ActivationRun,
    Apply,
    Assign,
    ExpRun,
    FusedStep,
    GateView,
    InPlace,
    InputView,
    KeepValue,
    Product,
    Projection,
    ProjectionView,
    StateView,
    StoreView,
)


def product_text(group, arg_text):
    """The group's product of ``arg_text``, its bias added (an in-loop group
    reads its weights transposed once before the scan: loop_weight_lines)."""
    bias = names.stacked_bias(group)
    weights = product_weights(group) if group.hoisted else names.loop_weights(group)
    return f"{arg_text} @ {weights}" + (f" + {bias}" if bias else "")


def loop_weight_lines(group):
    """An in-loop group's weights as the (in, out) matrix of its product, made
    once before the scan: XLA's CPU product of a step with the transposed
    weights (h @ w.T) takes 1.1-1.3 times as long at B = 32, H = 128
    (float32), and the forward scan of an LSTM ~15% longer."""
    if group.hoisted or group.transposed:
        return []
    return [f"{names.loop_weights(group)} = {names.stacked_weights(group)}.T"]


def setup_lines(plan):
    """Forward's lines before the scan."""
    lines = ["T, B, _ = inputs.shape", *size_lines(plan), *previous_input_lines(plan)]
    for group in plan.groups:
        lines += stacking_lines(group) + loop_weight_lines(group)
        if group.hoisted:  # its bias is added in the step (hoisted_bias)
            projection = f"{names.input_sequence(plan, group)}.reshape(T * B, -1) @ {product_weights(group)}"
            lines.append(f"{names.projection(group)} = ({projection}).reshape(T, B, -1)")
    return lines


def previous_input_lines(plan):
    """x[t-1], zero at the first step, where the cell reads it."""
    if plan.prev_input is None:
        return []
    return ["inputs_prev = jnp.concatenate([jnp.zeros_like(inputs[:1]), inputs[:-1]])  # x[t-1]: zero at t = 0"]


def stacking_lines(group):
    """A stacked group's weights and biases in one array (numpy_forward.stacking_lines)."""
    return numpy_forward.stacking_lines(group, "jnp.concatenate", "jnp.zeros_like")


def scanned(plan):
    """(name in the step, the (T, ...) array) of what the step may read at step t."""
    return [(names.projection(g), names.projection(g)) for g in plan.hoisted] + [("inputs", "inputs")]


def hoisted_bias(group, view=""):
    """The text `` + bias`` (its columns ``view``) a hoisted group's projection
    is read with in the step ("" without a bias): the bias added outside the
    scan is one more pass over the (T, B, n) projection (XLA's CPU product
    does not fuse it), inside it joins the step's elementwise fusion."""
    bias = names.stacked_bias(group)
    return f" + {bias}{view}" if bias else ""


def gate_major(array, members, size):
    """A (B, n * size) block as (n, B, size)."""
    return f"{array}.reshape(B, {members}, {size}).transpose(1, 0, 2)"


def recomputed(plan):
    """The kept values the JAX backward recomputes for all steps after the
    forward scan rather than the scan emitting them (the plan's
    ``recomputable``): each array a scan emits costs XLA a zero-filled
    buffer and a write per step, more than one elementwise pass after the
    loop (mgu, CPU float32: ~10% of forward + backward)."""
    return {r.value for r in plan.recomputable}


def emitted_kept(plan):
    """The kept values the forward scan emits, in the plan's order."""
    again = recomputed(plan)
    return [k for k in plan.kept if k.value not in again]


def fused_step_lines(fused):
    """The in-loop product, added to the hoisted projection's members (gate-major
    (n, B, H) for several)."""
    loop, hoisted, store = fused.loop, fused.hoisted, fused.store.name
    product = names.projection(loop)
    lines = [f"{product} = {product_text(loop, loop.arg.name)}"]
    summed, past = len(fused.pres), len(loop.members) > len(fused.pres)  # past: members after the sum
    if not fused.gate_major:
        cols_view = f"[:, {member_cols(hoisted, fused.offset)}]" if hoisted.stacked else ""
        view = names.projection(hoisted) + cols_view
        return lines + [f"{store} = {view} + {product}" + (f"[:, {member_cols(loop, 0)}]" if past else "")
                        + hoisted_bias(hoisted, f"[{member_cols(hoisted, fused.offset)}]" if cols_view else "")]
    size = loop.size
    gates = gate_major(names.projection(hoisted), len(hoisted.members), size)
    bias_view = f".reshape({len(hoisted.members)}, 1, {size})"
    if (fused.offset, summed) != (0, len(hoisted.members)):
        gates += f"[{fused.offset or ''}:{fused.offset + summed}]"
        bias_view += f"[{fused.offset or ''}:{fused.offset + summed}]"
    inner = gate_major(product, len(loop.members), size) + (f"[:{summed}]" if past else "")
    return lines + [f"{store} = {gates} + {inner}" + hoisted_bias(hoisted, bias_view)]


class ForwardStep:
    """The lines of one forward step, and the name each kept value has where
    the NumPy step would have stored it (``kept_names``)."""

    def __init__(self, plan, printer):
        self.plan, self.printer = plan, printer
        self.lines, self.snapshots = [], {}
        for statement in plan.forward_step:
            self.lines += self.statement_lines(statement)

    def kept_names(self):
        """(store name, the step's value) of each kept value the scan emits."""
        return [(names.store(k.value), self.snapshots.get(k.value, k.value.name)) for k in emitted_kept(self.plan)]

    def statement_lines(self, s):
        show = self.printer.show
        if isinstance(s, FusedStep):
            return fused_step_lines(s.fused)
        if isinstance(s, ActivationRun):
            return self.activation_lines(s.store.name, [(s.start, s.stop, type(s.nodes[0].expr))],
                                         [n.out.name for n in s.nodes], s.start, s.stop)
        if isinstance(s, ExpRun):
            return self.activation_lines(s.store.name, s.pieces, [out.name for out in s.outs], None, None)
        if isinstance(s, Apply):  # and ExpApply: the function itself
            return [f"{s.out.name} = {show(s.expr)}"]
        if isinstance(s, InPlace):
            return [f"{s.target.name} = {self.printer.value_of(s)}"]
        if isinstance(s, Assign):
            return [f"{s.lhs.name} = {show(s.rhs)}"]
        if isinstance(s, KeepValue) and s.value in recomputed(self.plan):
            return []  # backward computes it for all steps
        if isinstance(s, KeepValue):
            snapshot = f"{s.value.name}_kept"
            self.snapshots[s.value] = snapshot
            return [f"{snapshot} = {s.value.name}"]
        if isinstance(s, InputView):
            return [f"{s.input.name} = inputs"]
        if isinstance(s, (StateView, StoreView)):
            return []  # the value is bound where it is computed
        if isinstance(s, (Product, Projection)):
            target = s.out.name if isinstance(s, Product) else names.projection(s.group)
            return [f"{target} = {product_text(s.group, s.group.arg.name)}"]
        if isinstance(s, ProjectionView):
            view = "" if s.group.hoisted and not s.group.stacked else f"[:, {member_cols(s.group, s.k)}]"
            bias = hoisted_bias(s.group, view and f"[{member_cols(s.group, s.k)}]") if s.group.hoisted else ""
            return [f"{s.out.name} = {names.projection(s.group)}{view}{bias}"]
        if isinstance(s, GateView):
            return [f"{s.out.name} = {s.store.name}[{s.k}]"]
        raise TypeError(f"no JAX form for the forward statement {s}")

    @staticmethod
    def activation_lines(store, pieces, outs, start, stop):
        """Each run of gates of one function activated by one call, the store
        made again of the runs, then each gate's name bound to its block."""
        parts, at = [], 0
        for a, b, function in pieces:
            parts += [f"{store}[{at}:{a}]"] if a > at else []
            parts.append(JAX_FUNCTIONS[function].format(f"{store}[{a}:{b}]"))
            at = b
        lines = [f"{store} = jnp.concatenate([{', '.join(parts)}, {store}[{at}:]])"]
        block = store if start is None else f"{store}[{start or ''}:{stop}]"
        return lines + [f"{', '.join(outs)}{',' if len(outs) == 1 else ''} = {block}"]


def history_lines(plan):
    """After the scan: each state's history, its initial value first."""
    return [f"{names.history(s)} = jnp.concatenate([{names.initial_state(s)}[None], ys[\"{names.history(s)}\"]])"
            for s in plan.states]


def output_sequence(plan):
    """The layer's output of every step."""
    if plan.output_is_state:
        return f"{names.history(plan.output_state)}[1:]"
    return f"ys[\"{names.store(plan.output_state)}\"]"
