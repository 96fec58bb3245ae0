"""The names of the arrays a layer's generated functions hold, by role, and
the keys of its cache: one place that spells them for every emitter.

A plan says what an array is (a group's stacked weights, a value's per-step
store, a state's history); these functions say what it is called. The names
are reserved (:data:`symrnn.naming.RESERVED` lists their words), so that no
vector of a cell can take one.

Imports: naming and the plan's roles only.
"""

import sympy

from .. import naming
from .plan import Role


def stacked_weights(group):
    """The group's weights: the one weight, or the members' stacked."""
    return group.members[0].weight.name if not group.stacked else f"w_{group.label}_all"


def stacked_bias(group):
    """The group's bias (None: it has none): the one bias, or the members' stacked."""
    if not group.has_bias:
        return None
    return group.members[0].bias.name if not group.stacked else f"b_{group.label}_all"


def projection(group):
    """The group's product (of all steps for a hoisted group, of one step else)."""
    return f"proj_{group.label}"


def gates(array):
    """A projection viewed gate-major."""
    return f"{array}_gates"


def exp_factors(group):
    """The factor of each output row of the group in its exp call."""
    return f"exp_{group.label}"


def exp_weights(group):
    """The group's weights transposed and scaled by their exp factors."""
    return f"w_{group.label}_exp"


def exp_bias(group):
    """The group's stacked bias scaled by their exp factors."""
    return f"b_{group.label}_exp"


def loop_weights(group):
    """An in-loop group's weights transposed, as the step's product reads them
    (a transposed product reads its weight as it is)."""
    return stacked_weights(group) if group.transposed else f"w_{group.label}_T"


def store(symbol):
    """A value's (or a fused store's) values of every step."""
    return f"{symbol.name}_seq"


def output_sequence(plan):
    """The layer's output of every step: its state's history after the
    initial value, or the per-step store of a vector that is not a state."""
    if plan.output_is_state:
        return f"{history(plan.output_state)}[1:]"
    kept = next(k for k in plan.kept if k.value == plan.output_state)
    return store(kept.value) if kept.store is None else f"{store(kept.store)}[:, {kept.index}]"


def input_sequence(plan, group):
    """The inputs a hoisted group multiplies: the layer's, or the previous
    step's (``inputs_prev``, zero at the first step) for x[t-1]."""
    return "inputs_prev" if group.arg == plan.prev_input else "inputs"


def history(state):
    """A state's values of every step, its initial value first."""
    return f"{state.name}_hist"


def group_adjoint(group):
    """The group's slots of all steps, as one matrix."""
    return f"d_{group.label}_all"


def group_adjoint_steps(group):
    """The group's slots, step by step: the adjoint of its projection at each
    step (``d_proj_c_steps``, never ``d_c_steps``, which is state c's adjoint)."""
    return f"d_proj_{group.label}_steps"


def summed_gradient(param):
    """The sum over steps of an elementwise parameter's terms."""
    return f"g_{param.name}"


def per_step_gradient(param):
    """An elementwise parameter's term at each step."""
    return f"g_{param.name}_steps"


def state_adjoint_steps(state):
    """A state's adjoint at every step (window)."""
    return f"d_{state.name}_steps"


def local_derivative(adjoint, slot):
    """The view of a slot holding d(of)/d(node) of all steps: dc_dpre_f."""
    return sympy.Symbol(f"d{adjoint.name.removeprefix('d_')}_d{slot.name.removeprefix('d_')}")


def initial_state(state):
    return naming.initial_state_name(state.name)


def cache_key(entry):
    """The key of a :class:`~symrnn.codegen.plan.CacheEntry` in the cache."""
    subject = entry.subject
    if entry.role is Role.INPUTS:
        return "inputs"
    if entry.role is Role.STACKED_WEIGHTS:
        return stacked_weights(subject)
    if entry.role is Role.PROJECTION:
        return projection(subject)
    if entry.role is Role.VALUE:
        return subject.value.name
    return subject.name if entry.role is Role.HISTORY else initial_state(subject)


def fused_store(earlier):
    """The symbol of a gate-major fused store, after ``earlier`` others: pre_all, pre_all_2, ..."""
    return sympy.Symbol("pre_all" + (f"_{earlier + 1}" if earlier else ""))
