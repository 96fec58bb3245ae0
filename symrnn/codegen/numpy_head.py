"""The NumPy text of the output layer and cost, from a
:class:`~symrnn.codegen.head.HeadPlan`. Nothing is decided here.

Imports: the step graph's node types, the rule table, the NumPy printer and
the NumPy spelling helpers.
"""

from dataclasses import dataclass

import sympy

from ..graph import Affine
from ..printing import numpy_code
from ..rules import function_rule, outer
from .numpy_text import python_tuple, sum_rows


@dataclass(frozen=True)
class HeadCode:
    """Lines of the output layer's functions, for ``templates/module.py.j2``."""

    forward: list
    outputs: str
    cached: list
    backward_outputs: list
    outputs_loads: list
    loss_value: str
    backward_loss: list
    loss_loads: list
    steps_outputs: list  # per_step: each output-layer parameter's terms by step, from d_out
    steps_loss: list  # the same, from the cost
    backward_keeps: str | None  # the cached values backward() reads, where the cost reads more


def emit_head(plan):
    """The :class:`HeadCode` of a head plan."""
    unpadded = dict(plan.unpadded)

    def spelled(expr, spell=numpy_code):
        """``spell(expr)``, or both spellings where the expression reads the
        mask: its unpadded form where ``mask`` is None."""
        if expr not in unpadded:
            return spell(expr)
        return f"{spell(unpadded[expr])} if mask is None else {spell(expr)}"

    forward = []
    for node in plan.nodes:
        if isinstance(node, Affine):
            forward.append(f"{node.out.name} = {node.arg.name} @ {node.weight.name}.T + {node.bias.name}")
        else:
            forward.append(f"{node.out.name} = {spelled(node.expr)}")
    return HeadCode(
        forward=forward,
        outputs=plan.outputs.name,
        cached=[s.name for s in plan.cached],
        backward_outputs=backward_lines(plan.from_outputs, spelled),
        outputs_loads=[s.name for s in plan.from_outputs.loads],
        loss_value=spelled(plan.cost, lambda cost: f"np.sum({numpy_code(cost)})"),
        backward_loss=backward_lines(plan.from_cost, spelled),
        loss_loads=[s.name for s in plan.from_cost.loads],
        steps_outputs=steps_lines(plan.from_outputs),
        steps_loss=steps_lines(plan.from_cost),
        backward_keeps=python_tuple(s.name for s in plan.keeps) if plan.keeps else None,
    )


def head_helpers(plan):
    """The helper functions (such as ``_log_softmax``) the head's code calls."""
    exprs = [n.expr for n in plan.nodes if not isinstance(n, Affine)] + [plan.cost]
    for reverse in (plan.from_outputs, plan.from_cost):
        exprs += [rhs for _, rhs in reverse.equations] + [t for _, t in reverse.gradients] + [reverse.top_adjoint]
    rules = (function_rule(sub) for e in exprs for sub in sympy.preorder_traversal(e))
    return {rule.helper for rule in rules if rule is not None and rule.helper}


def backward_lines(reverse, spelled):
    """The reverse pass's lines; ``spelled(expr[, spell])`` writes an expression."""
    lines = [f"{lhs.name} = {spelled(rhs)}" for lhs, rhs in reverse.equations]
    for name, total in reverse.gradients:
        lines.append(f"grads[\"{name}\"] = {spelled(total, _gradient)}")
    lines.append(f"d_top = {spelled(reverse.top_adjoint)}")
    return lines


def _gradient(total):
    """A parameter's gradient, summed over the rows."""
    return numpy_code(total) if isinstance(total, outer) else sum_rows(numpy_code(total), total)


def steps_lines(reverse, code=numpy_code, einsum="np.einsum"):
    """The output layer's per-step terms: its gradient's sum over rows taken
    per step instead, with ``group`` (steps, rows), 1 where a row is the output
    of that step. An outer product u.T @ v becomes the stack of its per-step
    sums; a summed row expression ``group @ (...)``. ``code`` and ``einsum``:
    the backend's printer and einsum (the JAX head's are jax_code, jnp.einsum)."""
    lines = []
    for name, total in reverse.gradients:
        if isinstance(total, outer):
            u, v = (code(arg) for arg in total.args)
            value = f'{einsum}("sr,ri,rj->sij", group, {u}, {v}, optimize=True)'
        else:
            text = code(total)
            value = f"group @ {text if isinstance(total, sympy.Symbol) else f'({text})'}"
        lines.append(f"steps[\"{name}\"] = {value}")
    return lines
