"""The JAX emitter: a :class:`~symrnn.codegen.plan.LayerPlan` as the lines
of ``_layer_forward`` and ``_layer_backward`` in JAX (:class:`JaxLayerCode`,
laid out by ``templates/jax_module.py.j2``), the third emitter of the plan
beside :mod:`symrnn.codegen.numpy_emitter` and :mod:`symrnn.codegen.torch_emitter`.

The time loop is a ``lax.scan`` (reversed for backward) whose operands are
spelled by role: what the step carries (states, or their adjoints and the
elementwise parameters' sums), what it reads at step t (``scanned``) and
what it emits (kept values and states, or the slots' adjoints). The plan's
hoisted products come before it, every weight's gradient after it. The
window variant (truncation, per-step terms) is a second reversed scan of
the plan's window step, which also emits each step's state adjoints and
parameter terms.

Imports: naming, names and the JAX parts (jax_text, jax_forward, jax_backward).
"""

import re
from dataclasses import dataclass

from .. import naming
from . import jax_backward, jax_forward, names
from .jax_text import JaxStepPrinter


@dataclass(frozen=True)
class JaxBackwardCode:
    """Lines of one backward function: the parameters it reads, its set-up,
    its reversed ``lax.scan`` and what follows it (the full BPTT's, or the
    window variant's)."""

    params: list
    setup: list
    carry: list  # (name in the step, initial value)
    scanned: list  # (name in the step, (T, ...) array)
    step: list
    carry_out: list
    emitted: list  # (key, the step's value)
    finish: list


@dataclass(frozen=True)
class JaxLayerCode:
    """Lines of the per-layer forward, backward and window functions."""

    state_args: list
    exposed: str
    states: list
    forward_params: list
    forward_setup: list
    forward_carry: list  # (name in the step, initial value)
    forward_scanned: list  # (name in the step, (T, ...) array)
    forward_step: list
    forward_carry_out: list
    forward_emitted: list  # (key, the step's value)
    forward_after: list
    forward_cache: list
    cache_batch_axes: list  # (key, the axis of its items or None), for tiling a cache into lanes
    forward_result: str
    backward: JaxBackwardCode
    backward_seeds: list  # (carry, k) of the final states' adjoints added at the step's start
    backward_states: str
    # The window variant (truncation and per-step terms): the same step with
    # its carries reset where ``keep`` is False, each state's adjoint and each
    # elementwise parameter's term emitted per step, and every parameter's
    # per-step terms after the scan.
    window: JaxBackwardCode
    reads_previous_input: bool


def emit_layer(plan):
    """The :class:`JaxLayerCode` of ``plan``."""
    forward = jax_forward.ForwardStep(plan, JaxStepPrinter(plan))
    step_text = "\n".join(forward.lines)
    scanned = [(n, a) for n, a in jax_forward.scanned(plan) if _mentions(step_text, n)]
    emitted = forward.kept_names() + [(names.history(s), s.name) for s in plan.states]
    cache = [("inputs", "inputs", 1)] + [(names.initial_state(s), names.initial_state(s), 0) for s in plan.states]
    cache += [(names.store(k.value), f'ys["{names.store(k.value)}"]', 1) for k in jax_forward.emitted_kept(plan)]
    cache += [(names.history(s), names.history(s), 1) for s in plan.states]
    cache += [(names.stacked_weights(g), names.stacked_weights(g), None) for g in plan.groups if g.stacked]
    return JaxLayerCode(
        state_args=[names.initial_state(s) for s in plan.states],
        exposed=plan.output_state.name,
        states=[s.name for s in plan.states],
        forward_params=list(plan.forward_params),
        forward_setup=_without_unused_sizes(plan, jax_forward.setup_lines(plan), step_text),
        forward_carry=[(p.name, names.initial_state(s)) for s, p in plan.prev_symbols],
        forward_scanned=scanned,
        forward_step=forward.lines,
        forward_carry_out=[s.name for s in plan.states],
        forward_emitted=emitted,
        forward_after=jax_forward.history_lines(plan),
        forward_cache=[(key, value) for key, value, _ in cache],
        cache_batch_axes=[(key, axis) for key, _, axis in cache],
        forward_result=jax_forward.output_sequence(plan),
        backward=backward_code(plan, plan.backward.loads + plan.backward.step, window=False),
        backward_seeds=[(carry.name, k) for k, carry in enumerate(plan.backward.seed_finals.carries)],
        backward_states=", ".join(naming.next_adjoint_name(s.name) for s in plan.states),
        window=backward_code(plan, plan.backward.window_step, window=True),
        reads_previous_input=plan.prev_input is not None,
    )


def backward_code(plan, statements, window):
    """The :class:`JaxBackwardCode` of a reversed scan whose step is ``statements``."""
    step = jax_backward.BackwardStep(plan, statements)
    carries = jax_backward.carries(plan)
    summed = jax_backward.summed_init(plan, window)
    emitted = [("d_slots", step.slot_row())] if plan.slots else []
    if plan.backward.input_adjoint_in_loop:
        emitted.append(("d_inputs", "d_inputs"))
    emitted += step.kept
    finish = ['d_slots = ys["d_slots"]'] if plan.slots else []
    if window:
        finish += jax_backward.window_finish_lines(plan, [key for key, _ in step.kept])
    else:
        finish += jax_backward.finish_lines(plan)
    carry = [(c, f"jnp.zeros_like({names.initial_state(s)})") for c, s in zip(carries, plan.states)] + summed
    used = "\n".join(step.lines + finish) + str(step.scanned)
    setup = _without_unused(jax_backward.setup_lines(plan), [names.store(k.value) for k in plan.kept], used)
    read = "\n".join(setup + [value for _, value in carry]) + used
    return JaxBackwardCode(
        params=[name for name in plan.backward_params if _reads(read, name)],  # the window sums no bias over B
        setup=setup,
        carry=carry,
        scanned=list(step.scanned.items()),
        step=step.lines,
        carry_out=carries + [name for name, _ in summed],
        emitted=emitted,
        finish=finish,
    )


def _mentions(text, name):
    return re.search(rf"\b{re.escape(name)}\b", text) is not None


def _reads(text, name):
    """Whether the code ``text`` reads the variable ``name`` (not a key "name")."""
    return re.search(rf'(?<!["\w]){re.escape(name)}\b(?!")', text) is not None


def _without_unused_sizes(plan, setup, step_text):
    """The set-up lines but those binding a size letter nothing else reads."""
    return _without_unused(setup, [letter for letter, _ in plan.size_bindings], step_text)


def _without_unused(setup, bound, rest):
    """The set-up lines but those binding a name of ``bound`` that nothing else (nor ``rest``) reads."""
    unused = [line for line in setup if line.split(" = ")[0] in bound]
    text = "\n".join(line for line in setup if line not in unused) + rest
    return [line for line in setup if line not in unused or _mentions(text, line.split(" = ")[0])]
