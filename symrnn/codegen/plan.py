"""The plan of one layer's generated code: every decision, as frozen data.

:func:`symrnn.codegen.planner.plan_layer` computes a :class:`LayerPlan` once
from a derived network; emitters (:mod:`symrnn.codegen.numpy_emitter`) only
turn it into text. Its fields are the decisions: which products are fused
and hoisted (``groups``, ``slots``), which pre-activations are summed in place
(``fused_sums``) and activated by one exp call (``exp_scalings``), which
values forward keeps for backward (``kept``, ``cache``), the statements of
both steps (:mod:`symrnn.codegen.statements`), the local derivatives backward
computes before its loop, the window (truncation) variant of the backward
step, and which parameters each function reads. ``describe()`` prints it.

Imports: the layout and the statements only.
"""

from dataclasses import dataclass
from enum import Enum

import sympy

from .layout import Group


@dataclass(frozen=True)
class FusedSum:
    """Pre-activations ``pres`` = the in-loop group's product + the hoisted
    group's members from ``offset`` on, summed in place once per step into
    ``store`` (gate-major, (n, B, H), when there are several). ``exp``: each
    gate's factor k of its exp form when one exp call activates them all."""

    loop: Group
    hoisted: Group
    pres: tuple
    store: sympy.Symbol
    offset: int = 0
    exp: tuple | None = None

    @property
    def gate_major(self):
        return len(self.pres) > 1


@dataclass(frozen=True)
class ExpScaling:
    """Group ``group``'s weights scaled row-block-wise by ``factors`` (each
    gate's k), held in the factor array of group ``array_of`` (a hoisted group
    with the same factors shares its array)."""

    group: int
    factors: tuple
    array_of: int


@dataclass(frozen=True)
class Kept:
    """A step value forward keeps for backward: in its own per-step store, or
    as gate ``index`` of the gate-major fused ``store``. ``per_item``: one
    number per item (a mean, or a function of means and constants), kept
    as (T, B, 1) and broadcast over the units where it is read."""

    value: sympy.Symbol
    store: sympy.Symbol | None = None
    index: int | None = None
    per_item: bool = False


@dataclass(frozen=True)
class Recomputable:
    """A kept value that an elementwise sum or product of other kept values,
    states, the input and parameters (``expr``) gives again after the loop:
    a backend may compute it there for all steps instead of storing it at
    each step (the JAX scan's emitted arrays each cost a zero-filled buffer
    and a write per step; NumPy stores it, which costs nothing more)."""

    value: sympy.Symbol
    expr: sympy.Expr


class Role(Enum):
    """What an entry of a layer's cache is."""

    VALUE = "a step value of every step"
    HISTORY = "a state's history (T + 1 steps)"
    INPUTS = "the layer's input"
    INITIAL_STATE = "an initial state"
    STACKED_WEIGHTS = "a group's stacked weights"
    PROJECTION = "the hoisted projection, reused as backward's slot buffer"


@dataclass(frozen=True)
class CacheEntry:
    """One entry of the cache forward returns: ``subject`` is the symbol (a
    value, a state, an initial state's name) or the :class:`Group` it holds."""

    role: Role
    subject: object

    @property
    def batch_axis(self):
        """The axis of the items (None: none), for tiling a cache into lanes."""
        return {Role.INITIAL_STATE: 0, Role.STACKED_WEIGHTS: None}.get(self.role, 1)


@dataclass(frozen=True)
class LocalDerivative:
    """Slot ``k``'s adjoint is ``adjoint`` times ``coefficient``, a function of
    forward values only: before the loop the slot gets the coefficient of all
    steps (``statements``, in place into ``target``, a view of the slot; no
    statements where the coefficient is a symbol or number, copied directly)."""

    k: int
    slot: sympy.Symbol
    adjoint: sympy.Symbol
    coefficient: sympy.Expr
    target: sympy.Symbol | None
    statements: tuple


@dataclass(frozen=True)
class BackwardPlan:
    """The backward pass of one layer.

    ``seed_finals``: the statement that starts each step of the full
    backward, adding the final states' adjoints to the carries of the items
    whose last step it is. ``summed_params``: vector parameters outside every product, whose terms
    the step sums. ``slot_runs``: (start, stop, adjoint) of neighbouring slots
    multiplied by one adjoint in one call. ``loads``: what the step reads at
    step t. ``window_step``: the step with carries reset, state adjoints and
    parameter terms kept per step (truncation), ``per_step_params`` the
    parameters whose terms it keeps. ``input_adjoint_in_loop``: whether the
    input's adjoint has terms the step computes (the rest is one product
    after the loop).
    """

    seed_finals: object
    summed_params: tuple
    input_adjoint_in_loop: bool
    local_derivatives: tuple
    slot_runs: tuple
    loads: tuple
    step: tuple
    window_step: tuple
    per_step_params: tuple

    @property
    def gate_major_slots(self):
        """Whether a run spans several slots: the step views d_slots gate-major."""
        return any(stop - start > 1 for start, stop, _ in self.slot_runs)


@dataclass(frozen=True)
class LayerPlan:
    """Every decision about one layer's forward, backward and window functions."""

    states: tuple
    input: sympy.Symbol
    output_state: sympy.Symbol
    prev_symbols: tuple  # (state, its previous value's symbol)
    prev_input: sympy.Symbol | None  # the input's previous value (x_prev), where the cell reads x[t-1]
    parameters: tuple  # the cell's parameter names, in order
    groups: tuple
    slots: tuple
    slot_sizes: tuple  # each slot's size letter, in buffer order
    sizes: tuple  # (symbol, size letter) for every symbol of the step
    size_bindings: tuple  # (letter, the state or weight whose size it is), each letter the arrays use
    fused_sums: tuple
    exp_scalings: tuple
    kept: tuple
    recomputable: tuple  # of the kept values, those Recomputable from the others
    forward_step: tuple
    cache: tuple
    reused_projection: Group | None
    forward_params: tuple
    backward_params: tuple
    # The functions each pass computes by its runtime form (the rule table's
    # row says how: a NumPy call or a helper, and whether it needs errstate);
    # gates activated from an exp form (exp_scalings) are not among them.
    forward_functions: tuple
    backward_functions: tuple
    backward: BackwardPlan

    def group(self, index):
        return self.groups[index]

    def size(self, symbol):
        """The size letter of a symbol of the step ("1": one number per item)."""
        return dict(self.sizes)[symbol]

    @property
    def output_is_state(self):
        """Whether the layer's output is a state (its history) or a vector
        the step computes (its per-step store, a kept value)."""
        return self.output_state in self.states

    def exp_scaling(self, group):
        """The :class:`ExpScaling` of ``group``, or None."""
        return next((e for e in self.exp_scalings if e.group == group.index), None)

    @property
    def previous_states(self):
        """{previous value's symbol: its state} (h_prev -> h)."""
        return {p: s for s, p in self.prev_symbols}

    @property
    def hoisted(self):
        return tuple(g for g in self.groups if g.hoisted)

    def describe(self):
        """The plan as readable text (see :mod:`symrnn.codegen.describe`)."""
        from .describe import describe_layer

        return describe_layer(self)

    def __str__(self):
        return self.describe()
