"""The derived network: the engine run once per network, shared by every consumer.

:func:`derive_network` flattens the cell into its step graph and runs the
reverse-mode engine (:func:`symrnn.derive.reverse`) three times, once per
graph it differentiates:

* the cell's step, seeded with ``d_s_next`` and ``d_s_out``: the BPTT step
  equations every layer and step share;
* the output layer and cost, seeded with ``dC/dC = 1``;
* the output layer alone, seeded with the caller's ``d_out`` (the generated
  ``backward(d_outputs)``).

Code generation, the unrolled network, the LaTeX derivation and the copy
analysis all read this one :class:`DerivedNetwork`; none of them runs the
engine on these graphs again.

Imports: the engine (:mod:`symrnn.derive`), the step graph and the network
only.
"""

import functools
from dataclasses import dataclass

import sympy

from .derive import Adjoints, reverse, step_seeds
from .graph import StepGraph, Total, flatten_cell, step_sizes
from .network import COST, MASK, TARGET, Network, head_nodes

# The output layer's inputs that get no adjoint: targets and the length mask are data.
HEAD_CONSTANTS = (MASK, TARGET)
# The adjoint the caller of the generated backward(d_outputs) passes in.
OUTPUTS_SEED = sympy.Symbol("d_out")


@dataclass(frozen=True, eq=False)
class DerivedNetwork:
    """``network`` with its step graph and every adjoint the engine derives.

    ``cell``: the BPTT step equations (:class:`symrnn.derive.Adjoints`) of
    one layer at one step. ``head``: the output layer's nodes, ``outputs`` the
    symbol the module returns, ``cost`` the cost node. ``from_cost``: the
    output layer and cost reversed from C; ``from_outputs``: the output layer
    reversed from :data:`OUTPUTS_SEED`.
    """

    network: Network
    graph: StepGraph
    cell: Adjoints
    head: tuple
    outputs: sympy.Symbol
    cost: Total
    from_cost: Adjoints
    from_outputs: Adjoints


@functools.lru_cache(maxsize=64)
def derive_network(network):
    """The :class:`DerivedNetwork` of ``network``, derived once per network
    object (later calls return the same object)."""
    if isinstance(network, DerivedNetwork):
        return network
    graph = flatten_cell(network.cell)
    head, outputs, cost = head_nodes(network)
    head = tuple(head)
    return DerivedNetwork(
        network=network,
        graph=graph,
        cell=reverse(graph.nodes, step_seeds(network.cell), sizes=step_sizes(network.cell, graph)),
        head=head,
        outputs=outputs,
        cost=cost,
        from_cost=reverse(list(head) + [cost], {COST: sympy.Integer(1)}, HEAD_CONSTANTS),
        from_outputs=reverse(list(head), {outputs: OUTPUTS_SEED}, HEAD_CONSTANTS),
    )
