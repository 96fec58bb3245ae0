"""From a derived network to a :class:`~symrnn.codegen.plan.LayerPlan`.

:func:`plan_layer` gathers the facts every decision reads (:class:`StepFacts`:
the groups and slot order, the adjoint flow, which symbols backward reads,
which values forward must keep), then asks the forward planner
(:mod:`symrnn.codegen.forward_planner`) and the backward planner
(:mod:`symrnn.codegen.backward_planner`) for their parts. The engine does
not run here: everything comes from :func:`symrnn.derived.derive_network`.

Imports: errors, the step graph's node types,
the rule table, the layout, the algebra helpers, the statements, the plan and
the two planners.
"""

from dataclasses import dataclass
from functools import cached_property

import sympy

from ..errors import ConfigError
from ..graph import Affine, Compute, step_sizes
from ..rules import ElementwiseRule, dot, dot_t, function_rule, mean, prev, rule_of
from . import backward_planner, forward_planner
from .algebra import adjoint_symbols, free_symbols, inline_adjoints, means_factored, split_term
from .layout import plan_groups
from .plan import LayerPlan
from .statements import called_functions, mentioned_symbols


@dataclass(frozen=True)
class StepFacts:
    """What the planner knows of one step before deciding anything."""

    cell: object
    graph: object
    adjoints: object  # the step's derived Adjoints
    flow: object  # algebra.Flow: the adjoints with one-multiple adjoints inlined
    groups: tuple
    slots: tuple

    @cached_property
    def prev_of(self):
        """Previous-value symbol -> its state (h_prev -> h)."""
        return {p: s for s, p in self.graph.prev_symbols.items()}

    @cached_property
    def uses(self):
        """How many nodes of the step read each symbol."""
        uses = {}
        for node in self.graph.nodes:
            for symbol in (node.expr.free_symbols if isinstance(node, Compute) else {node.arg}):
                uses[symbol] = uses.get(symbol, 0) + 1
        return uses

    @cached_property
    def summed_params(self):
        """Vector parameters outside any affine node: their terms are summed at every step."""
        matrices = {p.name for p in self.cell.parameters if p.is_matrix}
        folded = {m.bias.name for g in self.groups for m in g.members if m.bias is not None}
        return tuple(sympy.Symbol(n) for n in self.adjoints.params if n not in matrices and n not in folded)

    @cached_property
    def read(self):
        """Symbols the backward step reads: node values, states, previous states."""
        exprs = [rhs for _, rhs in self.flow.equations] + list(self.flow.inputs.values())
        for param in self.summed_params:
            exprs += self.flow.params[param.name]
        return frozenset(free_symbols(exprs))

    @cached_property
    def needed(self):
        """Node values (other than states) forward must keep: for backward, and
        an output that is not a state (the layer's output of every step)."""
        needed = self.read | {g.arg for g in self.groups if not g.hoisted} | {self.cell.output_state}
        return tuple(n.out for n in self.graph.nodes if n.out in needed and n.out not in self.cell.states)

    @cached_property
    def per_item(self):
        """Node values with one number per item: see :func:`per_item_values`."""
        return per_item_values(self.graph)

    def computes_in_place(self, node):
        """An elementwise function of one argument may overwrite it when the
        argument is an intermediate of this step that nothing else reads (a
        function of two, max(a, b), writes a new array)."""
        if not isinstance(function_rule(node.expr), ElementwiseRule) or len(node.expr.args) != 1:
            return False
        (arg,) = node.expr.args
        intermediates = {n.out for n in self.graph.nodes} - set(self.cell.states)
        return (arg in intermediates and self.uses[arg] == 1 and arg not in self.read
                and arg != self.cell.output_state)

    def group_of(self, node):
        return next(g for g in self.groups if node in g.members)

    @cached_property
    def size_of(self):
        """Symbol -> its size letter: see :func:`step_sizes`."""
        return step_sizes(self.cell, self.graph)

    @cached_property
    def slot_sizes(self):
        """The size letter of each slot, in buffer order (a product's output size)."""
        size = {self.adjoints.node_adjoint[m.out]: g.size for g in self.groups for m in g.members}
        return tuple(size[slot] for slot in self.slots)


def per_item_values(graph):
    """Node values with one number per item: a mean (row-wise, broadcast
    back over the units), and functions and polynomials of those and of
    constants only (sqrt(mean(m^2) + 1e-5))."""
    found = set()
    for node in graph.nodes:
        symbols = node.expr.free_symbols if isinstance(node, Compute) else None
        if symbols is not None and (isinstance(node.expr, mean) or (symbols and symbols <= found)):
            found.add(node.out)
    return frozenset(found)


def per_item_symbols(graph, flow):
    """The per-item node values and the adjoints that are means (one number per item too)."""
    return per_item_values(graph) | {lhs for lhs, rhs in flow.equations if isinstance(rhs, mean)}


def step_facts(derived):
    """The :class:`StepFacts` of a derived network's cell step."""
    cell, graph, adjoints = derived.network.cell, derived.graph, derived.cell
    affine = [n.out for n in graph.nodes if isinstance(n, Affine)]
    slot_set = {adjoints.node_adjoint[u] for u in affine if u in adjoints.node_adjoint}
    flow = inline_adjoints(adjoints, slot_set, adjoint_symbols(adjoints, cell))
    flow = means_factored(flow, per_item_symbols(graph, flow))
    multipliers = {lhs: split_term(rhs, flow.adjoint_syms) for lhs, rhs in flow.equations if lhs in slot_set}
    # the previous input's products are hoisted too: the input's, shifted by one step
    hoistable = {cell.input} | ({graph.prev_input} if graph.prev_input is not None else set())
    sizes = step_sizes(cell, graph)
    groups, slots = plan_groups(graph.nodes, adjoints.node_adjoint, hoistable,
                                lambda slot: (multipliers.get(slot) or (None,))[0], sizes.get)
    return StepFacts(cell, graph, adjoints, flow, groups, slots)


# Constructs of the cell language (Cell.constructs) that code generation does not support yet.
NOT_YET_GENERATED = ()


def unsupported(cell):
    """The constructs of ``cell`` code generation does not support yet, sorted.
    """
    found = set(cell.constructs & set(NOT_YET_GENERATED))
    if any(_elementwise(rhs, prev(cell.input)) for _, rhs in cell.equations):
        found.add("the input's previous value x[t-1] other than as a weight's whole operand")
    return sorted(found)


def _elementwise(expr, symbol):
    """Whether ``symbol`` occurs in ``expr`` other than as a weight's whole operand."""
    if expr == symbol:
        return True
    if isinstance(expr, (dot, dot_t)):
        return expr.args[1] != symbol and _elementwise(expr.args[1], symbol)
    return any(_elementwise(arg, symbol) for arg in expr.args)


def plan_layer(derived):
    """The :class:`LayerPlan` of ``derived`` (a :class:`symrnn.derived.DerivedNetwork`)."""
    blocked = unsupported(derived.network.cell)
    if blocked:
        raise ConfigError(f"cell {derived.network.cell.name!r} uses {', '.join(blocked)}: "
                          "not yet supported by code generation")
    facts = step_facts(derived)
    forward = forward_planner.plan_forward(facts)
    backward = backward_planner.plan_backward(facts)
    cell = facts.cell
    return LayerPlan(
        states=tuple(cell.states),
        input=cell.input,
        output_state=cell.output_state,
        prev_symbols=tuple(facts.graph.prev_symbols.items()),
        prev_input=facts.graph.prev_input,
        parameters=tuple(p.name for p in cell.parameters),
        groups=facts.groups,
        slots=facts.slots,
        slot_sizes=facts.slot_sizes,
        sizes=tuple(facts.size_of.items()),
        size_bindings=_size_bindings(facts),
        fused_sums=forward.fused_sums,
        exp_scalings=forward.exp_scalings,
        kept=forward.kept,
        recomputable=forward.recomputable,
        forward_step=forward.step,
        cache=forward.cache,
        reused_projection=forward.reused_projection,
        forward_params=_params_read(cell, _mentioned(forward.step) | _group_params(facts.groups)),
        backward_params=_params_read(cell, _backward_mentions(backward) | _backward_structural_params(facts)),
        forward_functions=_sorted_functions(called_functions(forward.step)),
        backward_functions=_sorted_functions(_backward_functions(backward)),
        backward=backward,
    )


def _size_bindings(facts):
    """(letter, source) for each size letter the layer's arrays use, in
    order of first use: the first state of that size (its initial value's
    columns), else a weight whose rows have it."""
    cell = facts.cell
    letters = dict.fromkeys([facts.size_of[s] for s in cell.states] + list(facts.slot_sizes))
    letters |= dict.fromkeys(facts.size_of[s] for s in facts.needed)
    letters.pop("1", None)
    bindings = []
    for letter in letters:
        state = next((s for s in cell.states if facts.size_of[s] == letter), None)
        weight = next((p for p in cell.parameters if p.shape[0] == letter), None)
        bindings.append((letter, state if state is not None else sympy.Symbol(weight.name)))
    return tuple(bindings)


def _group_params(groups):
    """Every weight and bias of the groups: forward computes every product."""
    return {s.name for g in groups for m in g.members for s in (m.weight, m.bias) if s is not None}


def _sorted_functions(functions):
    """Function classes with a rule (not the structural products), by name."""
    return tuple(sorted((f for f in functions if rule_of(f) is not None), key=lambda f: f.__name__))


def _backward_functions(backward):
    local = backward.local_derivatives
    statements = [*backward.step, *(s for d in local for s in d.statements)]
    return called_functions(statements, [d.coefficient for d in local])


def _mentioned(statements):
    return {s.name for s in mentioned_symbols(statements)}


def _backward_mentions(backward):
    """The names backward's step and local derivatives mention."""
    local = backward.local_derivatives
    statements = [*backward.step, *(s for d in local for s in d.statements)]
    return _mentioned(statements) | {s.name for s in free_symbols(d.coefficient for d in local)}


def _backward_structural_params(facts):
    """Parameters backward reads outside its statements: the summed
    parameters (their gradient's zeros), the weights of a hoisted group
    of one member (the input's adjoint after the loop) and those a size is
    read from."""
    names = {p.name for p in facts.summed_params}
    names |= {g.members[0].weight.name for g in facts.groups if g.hoisted and not g.stacked}
    names |= {source.name for _, source in _size_bindings(facts) if source not in facts.cell.states}  # a size's weight
    return names


def _params_read(cell, mentioned):
    """The cell's parameters among the names ``mentioned``, in the cell's order."""
    return tuple(p.name for p in cell.parameters if p.name in mentioned)
