"""The PyTorch emitter: a :class:`~symrnn.codegen.plan.LayerPlan` as the
lines of ``_layer_forward`` and ``_layer_backward`` in torch
(:class:`TorchLayerCode`, laid out by ``templates/torch_module.py.j2``),
the second emitter of the plan beside :mod:`symrnn.codegen.numpy_emitter`.

It decides nothing: every choice it spells is a field of the plan, and each
function's torch call is its rule row's ``torch`` form. The window variant
(truncation, per-step terms) is the NumPy module's alone.

Imports: naming, names and the torch parts (torch_text, torch_forward, torch_backward).
"""

from dataclasses import dataclass

from .. import naming
from . import names, torch_backward, torch_forward
from .torch_text import TorchStepPrinter


@dataclass(frozen=True)
class TorchLayerCode:
    """Lines of the per-layer forward and backward functions."""

    state_args: list
    exposed: str
    forward_params: list
    forward_setup: list
    forward_step: list
    forward_cache: list
    forward_result: str
    backward_params: list
    backward_setup: list
    backward_step: list
    backward_finish: list
    backward_states: str


def emit_layer(plan):
    """The :class:`TorchLayerCode` of ``plan``."""
    printer = TorchStepPrinter(plan)
    return TorchLayerCode(
        state_args=[names.initial_state(s) for s in plan.states],
        exposed=plan.output_state.name,
        forward_params=list(plan.forward_params),
        forward_setup=torch_forward.setup_lines(plan),
        forward_step=torch_forward.step_lines(plan, printer),
        forward_cache=torch_forward.cache_lines(plan),
        forward_result=names.output_sequence(plan),
        backward_params=list(plan.backward_params),
        backward_setup=torch_backward.setup_lines(plan),
        backward_step=torch_backward.step_lines(plan, printer),
        backward_finish=torch_backward.finish_lines(plan),
        backward_states=", ".join(naming.next_adjoint_name(s.name) for s in plan.states),
    )
