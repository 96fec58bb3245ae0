"""Fusion and layout: which matrix products become one, and where each
product's adjoint lives in the backward buffer.

Affine nodes that multiply the same vector are a *group*: their weights are
stacked so forward does one matrix product per group, and their adjoints are
written side by side in one buffer ``d_slots`` (T, B, S·H), so backward does
one product per group too, and every weight's gradient over all steps is one
large product after the time loop. A group whose vector is the layer's input
is *hoisted*: its product for all steps is one matrix product before the loop.

Several affine nodes may share one adjoint (``u_f`` and ``u_F`` both get
``d_pre_f``); the slots are ordered so that every group's adjoints are
contiguous, which makes each group's part of the buffer a view.
"""

import itertools
from dataclasses import dataclass

from . import naming
from .graph import Affine, Compute
from .rules import function_rule

MAX_SEARCHED_SLOTS = 7  # 7! orders at most; past that, groups are split instead


@dataclass
class Group:
    index: int
    arg: object
    members: list
    start: int = 0
    hoisted: bool = False
    # The name generated code gives the group's arrays (proj_x, w_x_all, d_x_all):
    # its vector's name, numbered from the second group of one vector on (x_2).
    label: str = ""

    @property
    def stop(self):
        return self.start + len(self.members)

    @property
    def has_bias(self):
        return any(m.bias is not None for m in self.members)


def plan_groups(nodes, node_adjoint, hoistable, multiplier=None):
    """Groups of affine nodes with a slot order making each contiguous.

    Among such orders the one with the fewest changes between neighbouring
    slots is taken, counting changes of activation function (one call
    applies a function to neighbouring pre-activations at once) and of
    ``multiplier(slot)``, the adjoint a slot's adjoint is a multiple of (one
    call multiplies neighbouring slots by it: the LSTM's d_pre_f, d_pre_i,
    d_pre_g are all multiples of d_c).

    Returns ``(groups, slots)`` where ``slots`` lists the adjoint symbols in
    buffer order and each group's members are sorted by slot.
    """
    affine = [n for n in nodes if isinstance(n, Affine) and n.out in node_adjoint]
    groups = _group_by_arg(affine, node_adjoint)
    slots = list(dict.fromkeys(node_adjoint[n.out] for n in affine))
    activation = _activation_of(nodes)
    multiplier = multiplier or (lambda slot: None)
    order = _contiguous_order(slots, groups, node_adjoint, lambda slot: (activation(slot), multiplier(slot)))
    if order is None:
        order = slots
        groups = [part for g in groups for part in _contiguous_runs(g, order, node_adjoint)]
    position = {s: k for k, s in enumerate(order)}
    seen = {}
    for index, group in enumerate(groups):
        group.index = index
        seen[group.arg] = seen.get(group.arg, 0) + 1
        group.label = group.arg.name if seen[group.arg] == 1 else f"{group.arg.name}_{seen[group.arg]}"
        group.members.sort(key=lambda m: position[node_adjoint[m.out]])
        group.start = position[node_adjoint[group.members[0].out]]
        group.hoisted = group.arg in hoistable
    return groups, order


def _group_by_arg(affine, node_adjoint):
    groups = []
    for node in affine:
        home = next(
            (g for g in groups if g.arg == node.arg
             and node_adjoint[node.out] not in {node_adjoint[m.out] for m in g.members}),
            None,
        )
        if home is None:
            groups.append(Group(len(groups), node.arg, [node]))
        else:
            home.members.append(node)
    return groups


def _is_contiguous(group, position, node_adjoint):
    places = sorted(position[node_adjoint[m.out]] for m in group.members)
    return places == list(range(places[0], places[0] + len(places)))


def _activation_of(nodes):
    """Adjoint symbol name of a pre-activation -> the function applied to it."""
    functions = {}
    for node in nodes:
        if isinstance(node, Compute) and function_rule(node.expr) is not None:
            functions[naming.adjoint_name(str(node.expr.args[0]))] = type(node.expr).__name__
    return lambda slot: functions.get(slot.name)


def _contiguous_order(slots, groups, node_adjoint, keys):
    if len(slots) > MAX_SEARCHED_SLOTS:
        return None
    best = None
    for order in itertools.permutations(slots):
        position = {s: k for k, s in enumerate(order)}
        if all(_is_contiguous(g, position, node_adjoint) for g in groups):
            changes = sum(x != y for a, b in itertools.pairwise(order) for x, y in zip(keys(a), keys(b)))
            if best is None or changes < best[0]:
                best = (changes, list(order))
    return None if best is None else best[1]


def _contiguous_runs(group, order, node_adjoint):
    position = {s: k for k, s in enumerate(order)}
    members = sorted(group.members, key=lambda m: position[node_adjoint[m.out]])
    runs = [[members[0]]]
    for member in members[1:]:
        if position[node_adjoint[member.out]] == position[node_adjoint[runs[-1][-1].out]] + 1:
            runs[-1].append(member)
        else:
            runs.append([member])
    return [Group(0, group.arg, run) for run in runs]
