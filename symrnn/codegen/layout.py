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

Imports: the step graph's node types, naming and the rule table only.
"""

import itertools
from dataclasses import dataclass

import sympy

from .. import naming
from ..graph import Affine, Compute
from ..rules import function_rule

MAX_SEARCHED_SLOTS = 7  # 7! orders at most; past that, groups are split instead


@dataclass(frozen=True)
class Group:
    """Affine nodes multiplying one vector ``arg``: one stacked product.

    ``members`` are sorted by slot; the group's adjoints are the slots
    ``start:stop``. ``label`` is the name generated code gives the group's
    arrays (proj_x, w_x_all, d_x_all): its vector's name, numbered from the
    second group of one vector on (x_2). ``transposed``: its one member is a
    transposed product w^T·v (``v @ w`` over batch-major arrays), never
    stacked with others.
    """

    index: int
    arg: sympy.Symbol
    members: tuple
    start: int
    hoisted: bool
    label: str
    transposed: bool = False
    size: str = "H"  # the size letter of every member's output (never mixed in one group)

    @property
    def stop(self):
        return self.start + len(self.members)

    @property
    def has_bias(self):
        return any(m.bias is not None for m in self.members)

    @property
    def stacked(self):
        """Whether the members' weights are stacked into one matrix."""
        return len(self.members) > 1


def plan_groups(nodes, node_adjoint, hoistable, multiplier=None, size_of=None):
    """Groups of affine nodes with a slot order making each contiguous.

    Among such orders the one with the fewest changes between neighbouring
    slots is taken, counting changes of activation function (one call
    applies a function to neighbouring pre-activations at once) and of
    ``multiplier(slot)``, the adjoint a slot's adjoint is a multiple of (one
    call multiplies neighbouring slots by it: the LSTM's d_pre_f, d_pre_i,
    d_pre_g are all multiples of d_c). ``size_of(symbol)``: its size letter
    (all H if None); products of different output sizes are never stacked.

    Returns ``(groups, slots)``: a tuple of :class:`Group` and the adjoint
    symbols in buffer order.
    """
    affine = [n for n in nodes if isinstance(n, Affine) and n.out in node_adjoint]
    size_of = size_of or (lambda symbol: "H")
    member_lists = _group_by_arg(affine, node_adjoint, size_of)
    slots = list(dict.fromkeys(node_adjoint[n.out] for n in affine))
    activation = _activation_of(nodes)
    multiplier = multiplier or (lambda slot: None)
    order = _contiguous_order(slots, member_lists, node_adjoint,
                              lambda slot: (activation(slot), multiplier(slot)))
    if order is None:
        order = slots
        member_lists = [run for members in member_lists for run in _contiguous_runs(members, order, node_adjoint)]
    position = {s: k for k, s in enumerate(order)}
    groups, seen = [], {}
    for index, members in enumerate(member_lists):
        arg = members[0].arg
        seen[arg] = seen.get(arg, 0) + 1
        members = sorted(members, key=lambda m: position[node_adjoint[m.out]])
        groups.append(Group(
            index=index, arg=arg, members=tuple(members), start=position[node_adjoint[members[0].out]],
            hoisted=arg in hoistable, label=arg.name if seen[arg] == 1 else f"{arg.name}_{seen[arg]}",
            transposed=members[0].transposed, size=size_of(members[0].out),
        ))
    return tuple(groups), tuple(order)


def _group_by_arg(affine, node_adjoint, size_of):
    """Lists of nodes with one vector and one output size, no two of a list
    sharing an adjoint; a transposed product is a list of its own (its
    weight reads the other way)."""
    lists = []
    for node in affine:
        home = next(
            (members for members in lists if members[0].arg == node.arg and not node.transposed
             and not members[0].transposed and size_of(members[0].out) == size_of(node.out)
             and node_adjoint[node.out] not in {node_adjoint[m.out] for m in members}),
            None,
        )
        if home is None:
            lists.append([node])
        else:
            home.append(node)
    return lists


def _is_contiguous(members, position, node_adjoint):
    places = sorted(position[node_adjoint[m.out]] for m in members)
    return places == list(range(places[0], places[0] + len(places)))


def _activation_of(nodes):
    """Adjoint symbol name of a pre-activation -> the function applied to it."""
    functions = {}
    for node in nodes:
        if isinstance(node, Compute) and function_rule(node.expr) is not None:
            functions[naming.adjoint_name(str(node.expr.args[0]))] = type(node.expr).__name__
    return lambda slot: functions.get(slot.name)


def _contiguous_order(slots, member_lists, node_adjoint, keys):
    if len(slots) > MAX_SEARCHED_SLOTS:
        return None
    best = None
    for order in itertools.permutations(slots):
        position = {s: k for k, s in enumerate(order)}
        if all(_is_contiguous(members, position, node_adjoint) for members in member_lists):
            changes = sum(x != y for a, b in itertools.pairwise(order) for x, y in zip(keys(a), keys(b)))
            if best is None or changes < best[0]:
                best = (changes, list(order))
    return None if best is None else best[1]


def _contiguous_runs(members, order, node_adjoint):
    position = {s: k for k, s in enumerate(order)}
    members = sorted(members, key=lambda m: position[node_adjoint[m.out]])
    runs = [[members[0]]]
    for member in members[1:]:
        if position[node_adjoint[member.out]] == position[node_adjoint[runs[-1][-1].out]] + 1:
            runs[-1].append(member)
        else:
            runs.append([member])
    return runs
