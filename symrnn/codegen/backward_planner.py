"""The backward decisions of a layer plan: local derivatives computed for all
steps before the loop, runs of slots scaled by one adjoint, the in-place
schedule of the step, what the step loads, and its window variant.

Imports: naming, the rule table's ``dot`` and ``dot_t``, the printer's ``fused_dot_t``
(SymPy functions), the algebra helpers, the in-place schedule, names, the
plan and the statements.
"""

import sympy

from .. import naming
from ..printing import fused_dot_t
from ..rules import dot, dot_t
from . import names
from .algebra import is_hoisted_product, split_term
from .in_place import evaluate_into, write_into
from .plan import BackwardPlan, LocalDerivative
from .statements import (
    AddParamTerm,
    Assign,
    CopyToSlot,
    InPlace,
    InputAdjoint,
    KeepStateAdjoint,
    Load,
    Op,
    ResetCarry,
    ScaleRun,
    SeedFinalStates,
    Source,
    ZeroCarry,
    mentioned_symbols,
)


def plan_backward(facts):
    """The :class:`BackwardPlan` of ``facts`` (a :class:`~symrnn.codegen.planner.StepFacts`)."""
    runs, terms = slot_runs(facts)
    step, state_stores, param_terms = backward_step(facts, runs)
    loads = step_loads(facts, step)
    per_step = {param for _, param, _ in param_terms}
    return BackwardPlan(
        seed_finals=SeedFinalStates(tuple(carry_symbol(s) for s in facts.cell.states)),
        summed_params=facts.summed_params,
        input_adjoint_in_loop=input_adjoint_in_loop(facts) != 0,
        local_derivatives=local_derivatives(facts, runs, terms),
        slot_runs=runs,
        loads=loads,
        step=step,
        window_step=window_step(facts, step, loads, state_stores, param_terms),
        per_step_params=tuple(p for p in facts.summed_params if p in per_step),
    )


def fuser(facts):
    """A function replacing the w_k^T·d_k terms of each stacked group by one
    product of the group (``fused_dot_t(index)``)."""
    node_adjoint = facts.adjoints.node_adjoint
    wanted = {g.index: [dot_t(m.weight, node_adjoint[m.out]) for m in g.members] for g in facts.groups if g.stacked}

    def fuse(expr):
        terms = list(sympy.Add.make_args(expr))
        for index, products in wanted.items():
            if all(p in terms for p in products):
                for p in products:
                    terms.remove(p)
                terms.append(fused_dot_t(index))
        return sympy.Add(*terms)

    return fuse


def slot_runs(facts):
    """Neighbouring slots whose adjoints are multiples of one adjoint:
    ((start, stop, adjoint), ...), and each slot's (adjoint, coefficient). The
    coefficient is a local derivative of forward values only (d_pre_f =
    d_c * c_prev*f*(1 - f)): before the loop each slot gets its own for all
    steps at once, and the loop multiplies a whole run by the adjoint in
    one call. Slots of several sizes have no gate-major view: no run then
    spans two."""
    terms = {lhs: split_term(rhs, facts.flow.adjoint_syms) for lhs, rhs in facts.flow.equations
             if lhs in facts.slots}
    one_size = len(set(facts.slot_sizes)) == 1
    runs = []
    for k, slot in enumerate(facts.slots):
        term = terms.get(slot)
        if term is None:
            continue
        if one_size and runs and runs[-1][1] == k and runs[-1][2] == term[0]:
            runs[-1] = (runs[-1][0], k + 1, term[0])
        else:
            runs.append((k, k + 1, term[0]))
    return tuple(runs), terms


def local_derivatives(facts, runs, terms):
    """Each run slot's local derivative for all steps, written into its slot."""
    in_run = {k for start, stop, _ in runs for k in range(start, stop)}
    derivatives = []
    for k in sorted(in_run):
        slot = facts.slots[k]
        adjoint, coefficient = terms[slot]
        if isinstance(coefficient, (sympy.Symbol, sympy.Number)):
            derivatives.append(LocalDerivative(k, slot, adjoint, coefficient, None, ()))
        else:
            target = names.local_derivative(adjoint, slot)
            derivatives.append(LocalDerivative(k, slot, adjoint, coefficient, target,
                                               tuple(evaluate_into(target, coefficient))))
    return tuple(derivatives)


def input_adjoint_in_loop(facts):
    """The terms of the input's adjoint that are not products with weights
    of a hoisted group (those are one product after the loop)."""
    node_adjoint = facts.adjoints.node_adjoint
    hoisted = {(dot if m.transposed else dot_t)(m.weight, node_adjoint[m.out])
               for g in facts.groups if g.hoisted for m in g.members}
    expr = facts.adjoints.inputs.get(facts.cell.input, sympy.S.Zero)
    return sympy.Add(*[t for t in sympy.Add.make_args(expr) if not is_hoisted_product(t, hoisted)])


def carries_of(facts):
    """{previous-value symbol: the adjoint it carries to step t-1}."""
    return {p: sympy.sympify(facts.flow.inputs.get(p, 0)) for p in facts.prev_of}


def carry_symbol(state):
    return sympy.Symbol(naming.next_adjoint_name(state.name))


def accumulating_states(facts, carries):
    """{d_s: d_s_next} for states whose adjoint d_s = d_s_next + ... can be
    summed into the carry's own buffer. The buffer is overwritten by the
    carry to step t-1, so no carry written after it may read d_s."""
    order = list(facts.graph.prev_symbols.items())
    carry_exprs = [carries[p] for _, p in order]
    equations = dict(facts.flow.equations)
    result = {}
    for j, (state, _) in enumerate(order):
        adjoint, carry = facts.adjoints.node_adjoint.get(state), carry_symbol(state)
        later = set().union(*(e.free_symbols for e in carry_exprs[j + 1:]))
        equation = equations.get(adjoint)
        if (equation is not None and adjoint not in facts.slots and adjoint not in later
                and carry in sympy.Add.make_args(equation)):
            result[adjoint] = carry
    return result


def carries_in_place(facts):
    """The carried adjoints are buffers of their own, so the next step's are
    written into them, unless a state's adjoint is its carry itself."""
    seeds = {carry_symbol(s) for s in facts.cell.states}
    return not seeds & set(facts.adjoints.node_adjoint.values())


def backward_step(facts, runs):
    """The step's statements; where each state's adjoint is known
    ((statement count, state) pairs); where each parameter term is summed
    ((statement index, parameter, total) triples)."""
    fuse, carries = fuser(facts), carries_of(facts)
    in_place = carries_in_place(facts)
    accumulating = accumulating_states(facts, carries) if in_place else {}
    run_of = {facts.slots[k]: run for run in runs for k in range(run[0], run[1])}
    in_runs = set(run_of)
    state_of_adjoint = {facts.adjoints.node_adjoint.get(s): s for s in facts.cell.states}
    step, state_stores = [], []
    for lhs, rhs in facts.flow.equations:
        if lhs in accumulating:
            carry = accumulating[lhs]
            step += [InPlace(carry, Op.IADD, (fuse(rhs - carry),)), Assign(lhs, carry)]
        elif lhs in run_of:
            step.append(_scale_run(facts, lhs, run_of))
        elif lhs in in_runs:
            continue  # scaled with its run
        else:
            step.append(write_into(lhs, rhs, fuse) if lhs in facts.slots else Assign(lhs, fuse(rhs)))
        if lhs in state_of_adjoint:
            state_stores.append((len(step), state_of_adjoint.pop(lhs)))
    defined = {lhs for lhs, _ in facts.flow.equations}
    step += [CopyToSlot(k, slot) for k, slot in enumerate(facts.slots) if slot not in defined]
    param_terms = _param_terms(facts, step, fuse)
    step += [AddParamTerm(param, total) for _, param, total in param_terms]
    x_local = input_adjoint_in_loop(facts)
    if x_local != 0:
        step.append(InputAdjoint(fuse(x_local)))
    step += _carry_statements(facts, carries, in_place, fuse)
    # A state whose adjoint is not computed by the step is its carry, known at the start.
    state_stores += [(0, s) for s in state_of_adjoint.values()]
    return tuple(step), state_stores, param_terms


def _scale_run(facts, lhs, run_of):
    """The run of ``lhs``, done where its first member is needed."""
    start, stop, adjoint = run_of[lhs]
    for slot in facts.slots[start:stop]:
        run_of.pop(slot, None)
    return InPlace(lhs, Op.IMUL, (adjoint,)) if stop == start + 1 else ScaleRun(start, stop, adjoint)


def _param_terms(facts, step, fuse):
    """(statement index, parameter, total) of each summed parameter's term;
    its uses can cancel (b + h[t-1] - b): its gradient then stays 0."""
    terms = []
    for param in facts.summed_params:
        total = sympy.Add(*facts.flow.params[param.name])
        if total != 0:
            terms.append((len(step) + len(terms), param, fuse(total)))
    return terms


def _carry_statements(facts, carries, in_place, fuse):
    """Each state's carry to step t-1, into its own buffer where it has one."""
    statements = []
    for state, prev_symbol in facts.graph.prev_symbols.items():
        expr, carry = carries[prev_symbol], carry_symbol(state)
        if expr == 0:
            statements.append(ZeroCarry(carry))
        else:
            statements.append(write_into(carry, expr, fuse) if in_place else Assign(carry, fuse(expr)))
    return statements


def step_loads(facts, step):
    """What the step reads at step t: the adjoint from above, then the slot
    views, values and states that its statements mention."""
    defined = {lhs for lhs, _ in facts.flow.equations}
    loads = [Load(slot, Source.SLOT, k) for k, slot in enumerate(facts.slots) if slot in defined]
    for node in facts.graph.nodes:
        is_state = node.out in facts.cell.states
        loads.append(Load(node.out, Source.STATE if is_state else Source.VALUE))
    loads += [Load(p, Source.PREVIOUS, s) for p, s in facts.prev_of.items()]
    loads.append(Load(facts.cell.input, Source.INPUT))
    used = mentioned_symbols(step)
    from_above = sympy.Symbol(naming.output_adjoint_name(facts.cell.output_state.name))
    return (Load(from_above, Source.OUTPUT_ADJOINT), *(load for load in loads if load.symbol in used))


def window_step(facts, step, loads, state_stores, param_terms):
    """The step of the window variant: each carry reset where ``keep[t]`` is
    False (truncation), each state's adjoint kept where it is known, and
    each summed parameter's term kept per step rather than summed."""
    keeps = {}
    for index, state in state_stores:
        adjoint = facts.adjoints.node_adjoint.get(state, carry_symbol(state))
        keeps.setdefault(index, []).append(KeepStateAdjoint(state, adjoint))
    per_step = {index: AddParamTerm(param, total, per_step=True) for index, param, total in param_terms}
    window = [ResetCarry(carry_symbol(s)) for s in facts.cell.states] + list(loads)
    for index, statement in enumerate(step):
        window += keeps.get(index, [])
        window.append(per_step.get(index, statement))
    window += keeps.get(len(step), [])
    return tuple(window)
