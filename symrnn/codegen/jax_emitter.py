"""The JAX emitter: a :class:`~symrnn.codegen.plan.LayerPlan` as the lines
of ``_layer_forward`` and ``_layer_backward`` in JAX (:class:`JaxLayerCode`,
laid out by ``templates/jax_module.py.j2``), the third emitter of the plan
beside :mod:`symrnn.codegen.numpy_emitter` and :mod:`symrnn.codegen.torch_emitter`.

The time loop is a ``lax.scan`` (reversed for backward) whose operands are
spelled by role: what the step carries (states, or their adjoints and the
elementwise parameters' sums), what it reads at step t (``scanned``) and
what it emits (kept values and states, or the slots' adjoints). The plan's
hoisted products come before it, every weight's gradient after it. The
window variant (truncation, per-step terms) is the NumPy module's alone.

Imports: naming, names and the JAX parts (jax_text, jax_forward, jax_backward).
"""

import re
from dataclasses import dataclass

from .. import naming
from . import jax_backward, jax_forward, names
from .jax_text import JaxStepPrinter


@dataclass(frozen=True)
class JaxLayerCode:
    """Lines of the per-layer forward and backward functions."""

    state_args: list
    exposed: str
    forward_params: list
    forward_setup: list
    forward_carry: list  # (name in the step, initial value)
    forward_scanned: list  # (name in the step, (T, ...) array)
    forward_step: list
    forward_carry_out: list
    forward_emitted: list  # (key, the step's value)
    forward_after: list
    forward_cache: list
    forward_result: str
    backward_params: list
    backward_setup: list
    backward_carry: list
    backward_scanned: list
    backward_seeds: list  # (carry, k) of the final states' adjoints added at the step's start
    backward_step: list
    backward_carry_out: list
    backward_emitted: list
    backward_finish: list
    backward_states: str


def emit_layer(plan):
    """The :class:`JaxLayerCode` of ``plan``."""
    forward = jax_forward.ForwardStep(plan, JaxStepPrinter(plan))
    step_text = "\n".join(forward.lines)
    scanned = [(n, a) for n, a in jax_forward.scanned(plan) if _mentions(step_text, n)]
    emitted = forward.kept_names() + [(names.history(s), s.name) for s in plan.states]
    cache = [("inputs", "inputs")] + [(names.initial_state(s), names.initial_state(s)) for s in plan.states]
    cache += [(names.store(k.value), f'ys["{names.store(k.value)}"]') for k in plan.kept]
    cache += [(names.history(s), names.history(s)) for s in plan.states]
    cache += [(names.stacked_weights(g), names.stacked_weights(g)) for g in plan.groups if g.stacked]

    backward = jax_backward.BackwardStep(plan)
    carries = jax_backward.carries(plan)
    summed = jax_backward.summed_init(plan)
    back_emitted = [("d_slots", backward.slot_row())] if plan.slots else []
    if plan.backward.input_adjoint_in_loop:
        back_emitted.append(("d_inputs", "d_inputs"))
    return JaxLayerCode(
        state_args=[names.initial_state(s) for s in plan.states],
        exposed=plan.output_state.name,
        forward_params=list(plan.forward_params),
        forward_setup=_without_unused_sizes(plan, jax_forward.setup_lines(plan), step_text),
        forward_carry=[(p.name, names.initial_state(s)) for s, p in plan.prev_symbols],
        forward_scanned=scanned,
        forward_step=forward.lines,
        forward_carry_out=[s.name for s in plan.states],
        forward_emitted=emitted,
        forward_after=jax_forward.history_lines(plan),
        forward_cache=cache,
        forward_result=jax_forward.output_sequence(plan),
        backward_params=list(plan.backward_params),
        backward_setup=_without_unused(jax_backward.setup_lines(plan), [names.store(k.value) for k in plan.kept],
                                       "\n".join(backward.lines + jax_backward.finish_lines(plan))
                                       + str(backward.scanned)),
        backward_carry=[(c, f"jnp.zeros_like({names.initial_state(s)})") for c, s in zip(carries, plan.states)]
        + summed,
        backward_scanned=list(backward.scanned.items()),
        backward_seeds=[(carry.name, k) for k, carry in enumerate(plan.backward.seed_finals.carries)],
        backward_step=backward.lines,
        backward_carry_out=carries + [name for name, _ in summed],
        backward_emitted=back_emitted,
        backward_finish=(['d_slots = ys["d_slots"]'] if plan.slots else []) + jax_backward.finish_lines(plan),
        backward_states=", ".join(naming.next_adjoint_name(s.name) for s in plan.states),
    )


def _mentions(text, name):
    return re.search(rf"\b{re.escape(name)}\b", text) is not None


def _without_unused_sizes(plan, setup, step_text):
    """The set-up lines but those binding a size letter nothing else reads."""
    return _without_unused(setup, [letter for letter, _ in plan.size_bindings], step_text)


def _without_unused(setup, bound, rest):
    """The set-up lines but those binding a name of ``bound`` that nothing else (nor ``rest``) reads."""
    unused = [line for line in setup if line.split(" = ")[0] in bound]
    text = "\n".join(line for line in setup if line not in unused) + rest
    return [line for line in setup if line not in unused or _mentions(text, line.split(" = ")[0])]
