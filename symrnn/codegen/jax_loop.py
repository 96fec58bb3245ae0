"""The reference the JAX backend is checked and timed against: the cell's
step equations, node by node from its step graph, as a plain ``lax.scan``
that ``jax.grad`` transposes (what a JAX user writes by hand for a custom
cell). ``run`` returns the top layer's states at every step, zero past each
item's length, and every layer's final states by initial-state name.

Imports: the step graph's node types, the templating environment, the JAX
printer and the torch reference's template context (``loop_context``).
"""

from ..graph import Affine
from ..templating import environment
from .jax_text import jax_code
from .torch_loop import loop_context


def step_lines(graph):
    """One line per node of the step graph: a product (with its bias) or an expression."""
    lines = []
    for node in graph.nodes:
        expr = node.product + (node.bias if node.bias is not None else 0) if isinstance(node, Affine) else node.expr
        lines.append(f"{node.out.name} = {jax_code(expr)}")
    return lines


def render_loop(network, command=None):
    """The source text of the plain-scan JAX reference of ``network``'s cell and layers."""
    return environment().get_template("jax_loop.py.j2").render(
        **loop_context(network, command, step_lines), summary_tail="jax.grad of a plain lax.scan.")
