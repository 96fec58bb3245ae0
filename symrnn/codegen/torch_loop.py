"""The reference the torch backend is measured and checked against: the
cell's step equations, node by node from its step graph, as a plain PyTorch
loop over time that autograd differentiates step by step (what an engineer
writes by hand for a custom cell). Outputs are the top layer's states at
every step, zero past each item's length (``--output states``).

Imports: the derived network, the step graph's node types, the rule
table, the templating environment, the NumPy spelling helpers and the torch
ones (the printer, function arguments).
"""

from ..derived import derive_network
from ..files import do_not_edit
from ..graph import Affine
from ..rules import function_rule
from ..templating import environment
from .numpy_text import python_tuple
from .torch_text import function_args, torch_text


def step_lines(graph):
    """One line per node of the step graph: a product (with its bias) or an expression."""
    lines = []
    for node in graph.nodes:
        if isinstance(node, Affine):
            expr = node.product + (node.bias if node.bias is not None else 0)
            lines.append(f"{node.out.name} = {torch_text(expr)}")
        elif function_rule(node.expr) is not None and len(node.expr.args) > 1:  # max(a, 0.5)
            args = function_args(torch_text, node.expr)
            lines.append(f"{node.out.name} = {function_rule(node.expr).torch.format(*args)}")
        else:
            lines.append(f"{node.out.name} = {torch_text(node.expr)}")
    return lines


def render_loop(network, command=None):
    """The source text of the plain-loop torch reference of ``network``'s cell and layers."""
    return environment().get_template("torch_loop.py.j2").render(
        **loop_context(network, command, step_lines), summary_tail="autograd over a plain loop.")


def loop_context(network, command, lines_of):
    """What a reference loop's template reads: the cell's names, each layer's,
    and ``lines_of(graph)``, the step's lines in the backend's spelling."""
    derived = derive_network(network)
    cell, graph = network.cell, derived.graph
    layers = range(1, network.layers + 1)
    return {
        "header": f"# {do_not_edit(command)}",
        "summary": f"{cell.description}: {network.layers} layer(s)",
        "params": [p.name for p in cell.parameters],
        "layer_params": [python_tuple(full for _, full in network.layer_params(layer)) for layer in layers],
        "initial_states": [python_tuple(network.initial_states(layer)) for layer in layers],
        "input": cell.input.name,
        "prevs": [graph.prev_symbols[s].name for s in cell.states],
        "states": [s.name for s in cell.states],
        "exposed": cell.states.index(cell.output_state) if cell.output_state in cell.states else None,
        "output": None if cell.output_state in cell.states else cell.output_state.name,
        "prev_input": graph.prev_input.name if graph.prev_input is not None else None,
        "lines": lines_of(graph),
        "cell_params": python_tuple(p.name for p in cell.parameters),
    }
