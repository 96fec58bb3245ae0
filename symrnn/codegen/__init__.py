"""Code generation: one plan, many emitters.

A derived network (:func:`symrnn.derived.derive_network`) is planned once:
:func:`~symrnn.codegen.planner.plan_layer` makes every decision about a
layer's code (fused and hoisted products, slot layout, in-place schedule,
what forward keeps for backward, the window variant) and returns a frozen
:class:`~symrnn.codegen.plan.LayerPlan` of SymPy symbols and expressions;
:func:`~symrnn.codegen.head.plan_head` does the same for the output layer.
Emitters only spell a plan: :mod:`~symrnn.codegen.numpy_emitter` (with
numpy_forward, numpy_backward, numpy_window, numpy_head and numpy_text) writes
NumPy. :mod:`~symrnn.codegen.module` renders a whole module.

The modules, in data-flow order: layout (groups and slot order), algebra
(SymPy questions about the adjoint equations), statements (what a line does),
plan (the frozen plan), in_place (the in-place schedule), forward_planner,
backward_planner, planner (the facts of a step and plan_layer), head,
describe (a plan as text), names (the generated arrays' names), the NumPy
emitter's modules, and module. A planner module never imports an emitter.

>>> import symrnn
>>> from symrnn.derived import derive_network
>>> plan = plan_layer(derive_network(symrnn.network("lstm")))
>>> [g.label for g in plan.groups if g.hoisted], len(plan.fused_sums)
(['x'], 1)
"""

from .module import load_module, module_summary, render, write_module
from .planner import plan_layer

__all__ = ["load_module", "module_summary", "plan_layer", "render", "write_module"]
