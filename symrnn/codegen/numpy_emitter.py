"""The NumPy emitter: a :class:`~symrnn.codegen.plan.LayerPlan` as the lines
of ``_layer_forward``, ``_layer_backward`` and ``_layer_backward_window``
(:class:`LayerCode`, laid out by ``templates/module.py.j2``).

The emitter decides nothing: every choice it spells is a field of the plan.
How an elementwise function is computed at run time (NumPy call or helper,
and whether the helper needs the errstate decorator) is the rule table's
row (:data:`symrnn.rules.ELEMENTWISE`). A second backend is a second
emitter beside this one, reading the same plan.

Imports: naming, the rule table, names and the NumPy parts
(numpy_text, numpy_forward, numpy_backward, numpy_window).
"""

from dataclasses import dataclass

from .. import naming
from ..rules import mean, rule_of
from . import names, numpy_backward, numpy_forward, numpy_window
from .numpy_text import MEAN_HELPER, StepPrinter
from .statements import ExpApply

# Activations from exp and expm1 (the rules' exp forms) and the tanh helper may overflow to inf
# for a huge argument, where the result is the exact limit, and tanh's 2/E divides by zero at
# u = 0 (giving tanh(0) = 0): neither is an error.
ERRSTATE_DECORATOR = ["# exp overflows to inf for huge pre-activations, and tanh's 2/expm1(-2u) divides by",
                      "# zero at u = 0: the results are then exact (sigmoid 0, tanh -1; tanh(0) = 0).",
                      '@np.errstate(over="ignore", divide="ignore")']


@dataclass(frozen=True)
class LayerCode:
    """Lines of the per-layer forward, backward and window functions."""

    state_args: list
    exposed: str
    states: list
    forward_decorators: list
    forward_params: list
    forward_setup: list
    forward_step: list
    forward_cache: list
    forward_result: str
    # Each cache entry's batch axis (None: no batch axis), for tiling a cache into lanes.
    cache_batch_axes: list
    backward_params: list
    backward_setup: list
    backward_step: list
    backward_finish: list
    backward_states: str
    # The window variant of backward (truncation and per-step terms): the same
    # step with its carries reset where ``keep`` is False, each state's adjoint
    # and each elementwise parameter's term stored per step, and every
    # parameter's per-step terms after the loop.
    window_setup: list
    window_step: list
    window_finish: list
    # Whether the cell reads x[t-1]: the window variant then also takes
    # ``keep_previous``, where x[t-1]'s adjoint reaches the input one step earlier.
    reads_previous_input: bool


def emit_layer(plan):
    """The :class:`LayerCode` of ``plan``."""
    printer = StepPrinter(plan)
    cache = numpy_forward.cache_lines(plan)
    return LayerCode(
        state_args=[names.initial_state(s) for s in plan.states],
        exposed=plan.output_state.name,
        states=[s.name for s in plan.states],
        forward_decorators=ERRSTATE_DECORATOR if forward_needs_errstate(plan) else [],
        forward_params=list(plan.forward_params),
        forward_setup=numpy_forward.setup_lines(plan),
        forward_step=numpy_forward.step_lines(plan, printer),
        forward_cache=cache,
        forward_result=names.output_sequence(plan),
        cache_batch_axes=[(key, entry.batch_axis) for (key, _), entry in zip(cache, plan.cache)],
        backward_params=list(plan.backward_params),
        backward_setup=numpy_backward.setup_lines(plan, with_size=False),
        backward_step=numpy_backward.step_lines(
            plan, printer, (plan.backward.seed_finals, *plan.backward.loads, *plan.backward.step)),
        backward_finish=numpy_backward.finish_lines(plan),
        backward_states=", ".join(naming.next_adjoint_name(s.name) for s in plan.states),
        window_setup=numpy_window.setup_lines(plan),
        window_step=numpy_backward.step_lines(plan, printer, plan.backward.window_step),
        window_finish=numpy_window.window_finish_lines(plan),
        reads_previous_input=plan.prev_input is not None,
    )


def forward_needs_errstate(plan):
    """Gates activated by an exp form, or a function whose runtime form
    (the rule table's row) may overflow or divide by zero on purpose."""
    return (bool(plan.exp_scalings) or any(isinstance(s, ExpApply) for s in plan.forward_step)
            or any(rule_of(f).errstate for f in plan.forward_functions))


def layer_helpers(plan):
    """The helper functions (``_sigmoid``, ``_tanh``, ...) the layer's code calls."""
    functions = plan.forward_functions + plan.backward_functions
    rules = map(rule_of, functions)
    return {rule.helper for rule in rules if rule.helper} | ({MEAN_HELPER} if mean in functions else set())
