"""The forward decisions of a layer plan: fused pre-activation sums, gates
activated by one exp call, what forward keeps for backward (and which of
it a backend may recompute after the loop), the statements of the forward
step and the cache.

Imports: the rule table, the step graph's node types, the algebra helpers,
the in-place schedule, names, the plan and the statements.
"""

from dataclasses import dataclass

import sympy

from ..graph import Affine, Compute, is_param
from ..rules import EXP_FORMS, ElementwiseRule, function_rule, sigmoid
from . import names
from .algebra import fewest_operations
from .in_place import write_into
from .plan import CacheEntry, ExpScaling, FusedSum, Kept, Recomputable, Role
from .statements import (
    ActivationRun,
    Apply,
    Assign,
    ExpApply,
    ExpRun,
    FusedStep,
    GateView,
    InPlace,
    InputView,
    Into,
    KeepValue,
    Op,
    Product,
    Projection,
    ProjectionView,
    StateView,
    StoreView,
    mentioned_symbols,
)


@dataclass(frozen=True)
class ForwardParts:
    fused_sums: tuple
    exp_scalings: tuple
    kept: tuple
    recomputable: tuple
    step: tuple
    cache: tuple
    reused_projection: object


def plan_forward(facts):
    """The forward parts of the plan of ``facts`` (a :class:`~symrnn.codegen.planner.StepFacts`)."""
    consumers = consumers_in_place(facts)
    fused = fused_sums(facts, consumers)
    kept = kept_values(facts, fused, consumers)
    reused = reused_projection(facts)
    return ForwardParts(
        fused_sums=fused,
        exp_scalings=exp_scalings(facts.groups, fused),
        kept=kept,
        recomputable=recomputable_values(facts, kept),
        step=forward_step(facts, fused, consumers, kept),
        cache=cache_entries(facts, kept, reused),
        reused_projection=reused,
    )


def consumers_in_place(facts):
    """{pre-activation: the function node that overwrites it with its value}."""
    return {n.expr.args[0]: n for n in facts.graph.nodes
            if isinstance(n, Compute) and facts.computes_in_place(n)}


def fused_sums(facts, consumers):
    """Pre-activations that are sums of a hoisted product and an in-loop
    product over the same slots (u_f + u_F, u_i + u_I, ...): computed as
    one in-place addition of the in-loop projection to (part of) the
    hoisted one. One :class:`FusedSum` per in-loop group that has one."""
    fused = []
    for loop_group in (g for g in facts.groups if not g.hoisted):
        for hoisted in (g for g in facts.groups if g.hoisted):
            pres = _fusable_pres(facts, loop_group, hoisted)
            if pres is None:
                continue
            earlier = sum(f.gate_major for f in fused)
            store = pres[0] if len(pres) == 1 else names.fused_store(earlier)
            fused.append(FusedSum(loop_group, hoisted, pres, store, loop_group.start - hoisted.start,
                                  _exp_factors(pres, consumers)))
            break
    return tuple(fused)


def _fusable_pres(facts, loop_group, hoisted):
    """The pre-activations u_a + u_b of each member pair of the two groups
    where their slots overlap (the in-loop group may go on past the hoisted
    one: GRU's u_G beside u_Z, u_R), if every one is such a sum of products
    nothing else reads; else None."""
    if not hoisted.start <= loop_group.start < hoisted.stop or loop_group.transposed or hoisted.transposed:
        return None
    sums = {n.expr: n.out for n in facts.graph.nodes if isinstance(n, Compute)}
    pairs = list(zip(hoisted.members[loop_group.start - hoisted.start:], loop_group.members))
    pres = tuple(sums.get(a.out + b.out) for a, b in pairs)
    members = [m.out for pair in pairs for m in pair]
    if None in pres or any(facts.uses.get(m) != 1 or m in facts.read for m in members):
        return None
    if any(p in facts.cell.states for p in pres):
        return None  # a state is written into its history instead
    return pres


def _exp_factors(pres, consumers):
    """Each gate's factor k when one exp call per function activates the
    store (rules' exp forms): every gate has an exp form, and there is a
    sigmoid among them or more than one function. Else None."""
    nodes = [consumers.get(p) for p in pres]
    if len(nodes) < 2 or any(n is None or type(n.expr) not in EXP_FORMS for n in nodes):
        return None
    kinds = {type(n.expr) for n in nodes}
    if sigmoid not in kinds and len(kinds) == 1:
        return None
    return tuple(EXP_FORMS[type(n.expr)].factor for n in nodes)


def exp_scalings(groups, fused):
    """The exp factors folded into each group's weights: the in-loop group's
    own, and the hoisted group's with 1 for members outside the sum. A group
    uses the factor array of the first hoisted group with the same factors."""
    factors = {}
    for f in fused:
        if f.exp is None:
            continue
        factors[f.loop.index] = f.exp + (1,) * (len(f.loop.members) - len(f.exp))  # 1: past the sum
        outer = [1] * len(f.hoisted.members)
        outer[f.offset:f.offset + len(f.exp)] = f.exp
        factors[f.hoisted.index] = tuple(outer)
    scalings = []
    for index in sorted(factors):
        owner = next((g.index for g in groups if g.hoisted and factors.get(g.index) == factors[index]), index)
        scalings.append(ExpScaling(index, factors[index], owner))
    return tuple(scalings)


def kept_values(facts, fused, consumers):
    """Each value forward keeps, in its gate store where it is computed in
    one: by the function that overwrites its pre-activation, or by the
    expression that reads the pre-activation last (:func:`last_reader`)."""
    homes = {}
    for f in (f for f in fused if f.gate_major):
        for k, pre in enumerate(f.pres):
            node = consumers.get(pre) or last_reader(facts, pre)
            if node is not None and node.out in facts.needed:
                homes[node.out] = (f.store, k)
    return tuple(Kept(s, *homes.get(s, (None, None)), per_item=s in facts.per_item) for s in facts.needed)


def recomputable_values(facts, kept):
    """The kept values whose node is an elementwise sum or product (integer
    powers, numbers) of the states (before or after the step), the input,
    parameters and kept values not themselves recomputed: mgu's
    ``v_G = f h_prev``. Not a per-item value, nor the layer's output when
    it is not a state (the output of every step is the forward's result)."""
    nodes = {n.out: n for n in facts.graph.nodes if isinstance(n, Compute)}
    kept_values_ = {k.value for k in kept}
    sources = set(facts.cell.states) | set(facts.prev_of) | {facts.cell.input}
    candidates = {}
    for k in kept:
        node = nodes.get(k.value)
        if node is None or k.per_item or k.value == facts.cell.output_state or not _polynomial(node.expr):
            continue
        if all(is_param(s) or s in sources or s in kept_values_ for s in node.expr.free_symbols):
            candidates[k.value] = node.expr
    read_by_candidates = set().union(*(expr.free_symbols for expr in candidates.values()))
    return tuple(Recomputable(value, expr) for value, expr in candidates.items() if value not in read_by_candidates)


def _polynomial(expr):
    """Whether ``expr`` is made of symbols and numbers by sums, products and positive integer powers."""
    for part in sympy.preorder_traversal(expr):
        if isinstance(part, sympy.Pow):
            if not (part.exp.is_Integer and part.exp > 0):
                return False
        elif not isinstance(part, (sympy.Symbol, sympy.Number, sympy.Add, sympy.Mul)):
            return False
    return True


def last_reader(facts, pre):
    """The algebraic node that reads ``pre`` last, if it may write its value
    over it: backward never reads ``pre``, and the node makes a vector
    (layer normalization's m_f = u_f - mean(u_f) takes u_f's block of the
    gate store once mean(u_f) is known)."""
    readers = [n for n in facts.graph.nodes if isinstance(n, Compute) and pre in n.expr.free_symbols]
    if not readers or pre in facts.read or pre == facts.cell.output_state:
        return None
    node = readers[-1]
    if function_rule(node.expr) is not None or node.out in facts.per_item or node.out in facts.cell.states:
        return None
    return node


def reused_projection(facts):
    """The hoisted group whose buffer backward reuses for the slots'
    adjoints: it is dead after the forward loop and has their shape, so
    backward writes into pages already mapped instead of fresh ones."""
    hoisted = [g for g in facts.groups if g.hoisted]
    if len(hoisted) == 1 and (hoisted[0].size,) * len(hoisted[0].members) == facts.slot_sizes:
        return hoisted[0]
    return None


def cache_entries(facts, kept, reused):
    """What forward's cache holds, in order."""
    cell = facts.cell
    entries = [CacheEntry(Role.VALUE, k) for k in kept]
    entries += [CacheEntry(Role.HISTORY, s) for s in cell.states]
    entries.append(CacheEntry(Role.INPUTS, cell.input))
    entries += [CacheEntry(Role.INITIAL_STATE, s) for s in cell.states]
    entries += [CacheEntry(Role.STACKED_WEIGHTS, g) for g in facts.groups if g.stacked]
    if reused is not None:
        entries.append(CacheEntry(Role.PROJECTION, reused))
    return tuple(entries)


def forward_step(facts, fused, consumers, kept):
    """The statements of one forward step, node by node, then the copies of
    kept values that no statement wrote into their stores."""
    runs = activation_runs(fused, consumers)
    in_gate_store = {k.value: k for k in kept if k.store is not None}
    emitted, step = set(), []
    for node in facts.graph.nodes:
        if node.out in runs:
            step += [runs[node.out]] if runs[node.out] is not None else []
        else:
            step += _node_statements(facts, node, fused, emitted, in_gate_store)
    written = {s.out for s in step if isinstance(s, Apply) and s.into is Into.STORE}
    written |= {s.value for s in step if isinstance(s, StoreView)}
    step += [KeepValue(k.value) for k in kept if k.store is None and k.value not in written]
    if facts.cell.input in mentioned_symbols(step):  # the input read elementwise
        step.insert(0, InputView(facts.cell.input))
    return tuple(step)


def activation_runs(fused, consumers):
    """Neighbouring gates of a fused sum that share an activation function,
    or that all have an exp form: one in-place call over their block of the
    gate-major store. Returns {node symbol: statement}, None for the nodes
    (and pre-activations) a run covers after its first."""
    runs = {}
    for f in fused:
        nodes = [consumers.get(p) for p in f.pres]
        if f.exp:
            runs[nodes[0].out] = ExpRun(f.store, _function_runs(nodes, 0, len(nodes)),
                                        tuple(n.out for n in nodes))
            runs.update({n.out: None for n in nodes[1:]})
            runs.update({p: None for p in f.pres})
            continue
        for start, stop, _ in _function_runs(nodes, 0, len(nodes)):
            if stop - start > 1:
                runs[nodes[start].out] = ActivationRun(f.store, start, stop, tuple(nodes[start:stop]))
                runs.update({n.out: None for n in nodes[start + 1:stop]})
                runs.update({p: None for p in f.pres[start:stop]})
    return runs


def _function_runs(nodes, start, stop):
    """(start, stop, function) of each run of neighbouring nodes applying one
    function (a missing node is a run of its own)."""
    runs, k = [], start
    while k < stop:
        end = k + 1
        while (nodes[k] is not None and end < stop and nodes[end] is not None
               and type(nodes[end].expr) is type(nodes[k].expr)):
            end += 1
        runs.append((k, end, None if nodes[k] is None else type(nodes[k].expr)))
        k = end
    return tuple(runs)


def _node_statements(facts, node, fused, emitted, in_gate_store):
    """The statements computing one node (none where a fused sum or an
    earlier statement of its group covers it). ``emitted``: the groups
    whose in-loop product is already written."""
    for f in fused:
        k0 = f.offset
        if node in f.hoisted.members[k0:k0 + len(f.pres)]:
            return []  # folded into the fused sum
        if node in f.loop.members:
            return _loop_member_statements(f, node, emitted)
        if isinstance(node, Compute) and node.out in f.pres:
            return [] if len(f.pres) == 1 else [GateView(node.out, f.store, f.pres.index(node.out))]
    if isinstance(node, Affine):
        return _affine_statements(facts.group_of(node), node, emitted)
    return _compute_statements(facts, node, in_gate_store)


def _loop_member_statements(fused, node, emitted):
    """The fused step where the in-loop group is first met; a member past
    the sum is a view of the step's product."""
    statements = []
    if fused.loop.index not in emitted:
        emitted.add(fused.loop.index)
        statements.append(FusedStep(fused))
    k = fused.loop.members.index(node)
    return statements + ([ProjectionView(node.out, fused.loop, k)] if k >= len(fused.pres) else [])


def _affine_statements(group, node, emitted):
    """An in-loop group's product where its first member is met, then each
    member's view of it (a single member is the product itself)."""
    statements = []
    if group.index not in emitted and not group.hoisted:
        emitted.add(group.index)
        if not group.stacked:
            return [Product(node.out, group)]
        statements.append(Projection(group))
    return statements + [ProjectionView(node.out, group, group.members.index(node))]


def _compute_statements(facts, node, in_gate_store):
    """A function application or an algebraic node: a state into its history,
    a kept value into its store (no copy at the step's end), else in place
    of its argument where that is dead, else a new array."""
    out, is_state = node.out, node.out in facts.cell.states
    kept_in_store = out in facts.needed and out not in in_gate_store
    if not isinstance(function_rule(node.expr), ElementwiseRule):
        expr = fewest_operations(node.expr)
        if is_state:
            return [StateView(out), write_into(out, expr)]
        if out in in_gate_store:
            kept = in_gate_store[out]
            return [GateView(out, kept.store, kept.index), write_into(out, expr)]
        return [StoreView(out), write_into(out, expr)] if kept_in_store else [Assign(out, expr)]
    if is_state:
        return [StateView(out), InPlace(out, Op.APPLY, (node.expr,))]
    if kept_in_store:
        return [_apply(node, Into.STORE)]
    return [_apply(node, Into.ARGUMENT if facts.computes_in_place(node) else Into.NEW)]


def _apply(node, into):
    """A function node's application: from its exp form where its rule says so."""
    return (ExpApply if function_rule(node.expr).exp_alone else Apply)(node.out, node.expr, into)
