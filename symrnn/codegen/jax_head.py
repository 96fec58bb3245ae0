"""The JAX text of the output layer and cost, from a
:class:`~symrnn.codegen.head.HeadPlan`: its forward, its reverse pass from
the caller's d(outputs) and from the cost. Nothing is decided here; the
mask (sequence outputs) is always an array, as in torch.

Imports: the step graph's node types, the rule table's ``outer``, the JAX
printer and the NumPy spelling helpers whose text JAX shares (the per-step
terms' lines, spelled with the JAX printer).
"""

from dataclasses import dataclass

from ..graph import Affine
from ..rules import outer
from .jax_text import jax_code
from .numpy_head import steps_lines
from .numpy_text import sum_rows


@dataclass(frozen=True)
class JaxHeadCode:
    """Lines of the output layer's functions, for ``templates/jax_module.py.j2``."""

    forward: list
    outputs: str
    cached: list
    backward: list
    loads: list
    loss: str
    backward_loss: list
    loss_loads: list
    steps_outputs: list  # per_step: each output-layer parameter's terms by step, from d_out
    steps_loss: list  # the same, from the cost


def emit_head(plan):
    """The :class:`JaxHeadCode` of a head plan."""
    forward = []
    for node in plan.nodes:
        if isinstance(node, Affine):
            forward.append(f"{node.out.name} = {node.arg.name} @ {node.weight.name}.T + {node.bias.name}")
        else:
            forward.append(f"{node.out.name} = {jax_code(node.expr)}")
    return JaxHeadCode(forward=forward, outputs=plan.outputs.name, cached=[s.name for s in plan.cached],
                       backward=reverse_lines(plan.from_outputs), loads=[s.name for s in plan.from_outputs.loads],
                       loss=f"jnp.sum({jax_code(plan.cost)})", backward_loss=reverse_lines(plan.from_cost),
                       loss_loads=[s.name for s in plan.from_cost.loads],
                       steps_outputs=steps_lines(plan.from_outputs, jax_code, "jnp.einsum"),
                       steps_loss=steps_lines(plan.from_cost, jax_code, "jnp.einsum"))


def reverse_lines(reverse):
    """A reverse pass's lines: its adjoints, each gradient summed over the rows, d_top."""
    lines = [f"{lhs.name} = {jax_code(rhs)}" for lhs, rhs in reverse.equations]
    for name, total in reverse.gradients:
        value = jax_code(total) if isinstance(total, outer) else sum_rows(jax_code(total), total)
        lines.append(f"grads[\"{name}\"] = {value}")
    return lines + [f"d_top = {jax_code(reverse.top_adjoint)}"]
