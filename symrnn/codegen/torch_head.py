"""The PyTorch text of the output layer, from a
:class:`~symrnn.codegen.head.HeadPlan`: its forward and its reverse pass
from the caller's d(outputs) (the cost is the caller's, in torch). Nothing
is decided here.

Imports: the step graph's node types, the rule table, the torch printer and
the NumPy spelling helpers whose text torch shares.
"""

from dataclasses import dataclass

from ..graph import Affine
from ..printing import torch_code
from ..rules import outer
from .numpy_text import sum_rows


@dataclass(frozen=True)
class TorchHeadCode:
    """Lines of the output layer's functions, for ``templates/torch_module.py.j2``."""

    forward: list
    outputs: str
    cached: list
    backward: list
    loads: list


def emit_head(plan):
    """The :class:`TorchHeadCode` of a head plan."""
    forward = []
    for node in plan.nodes:
        if isinstance(node, Affine):
            forward.append(f"{node.out.name} = torch.addmm({node.bias.name}, {node.arg.name}, {node.weight.name}.T)")
        else:
            forward.append(f"{node.out.name} = {torch_code(node.expr)}")
    reverse = plan.from_outputs
    backward = [f"{lhs.name} = {torch_code(rhs)}" for lhs, rhs in reverse.equations]
    for name, total in reverse.gradients:
        value = torch_code(total) if isinstance(total, outer) else sum_rows(torch_code(total), total)
        backward.append(f"grads[\"{name}\"] = {value}")
    backward.append(f"d_top = {torch_code(reverse.top_adjoint)}")
    loads = [s.name for s in reverse.loads]
    return TorchHeadCode(forward=forward, outputs=plan.outputs.name, cached=loads, backward=backward, loads=loads)
