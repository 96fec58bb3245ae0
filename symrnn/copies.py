"""Which copies of which weights enter a derivative of the unrolled network.

The lecture notes ask: *which weights (including copies of the same weight)
are used in one backpropagation-through-time step when computing dC/dw^(x)?*
In the network unrolled for T steps (:class:`symrnn.unroll.Unrolled`) every
step's copy of every parameter is a distinct symbol, and the engine's exact
gradient of each copy is an expression over forward values (``a_2``) and
adjoints (``d_pre_a_3``). For dC/dθ = Σ_t dC/dθ_t every copy gets one role:

``differentiated``
    θ's own copies; their gradient terms are summed into dC/dθ.
``chain``
    on the chain: copies that multiply the back-propagated signal between a
    differentiated copy and C. They appear in the adjoint expressions the
    gradient needs as the weights of the transposed products (w^T·δ) or as
    elementwise factors.
``forward``
    forward only: needed to compute activations the gradient uses (through
    the forward values in those expressions), but on no chain.
``unused``
    none of the above.

A copy is marked ``zero`` when its own gradient dC/d(copy) is identically 0
for zero initial states (symrnn's default): w^(a)_1 when a_0 = 0, whose term
is δ·a_0. Its value then does not change C, whatever its role.

Truncated BPTT (``--truncate K``)
---------------------------------
BPTT truncated to K steps: the gradient of the output C_t at step t reaches
only the copies used at steps t−K+1 … t (K = ∞, the default, is full BPTT).
The truncated gradient is Σ_t Σ_{s=t−K+1..t} ∂C_t/∂θ_s, where ∂C_t/∂θ_s is
the exact derivative in the unrolled network (every path from θ_s to C_t runs
through steps s … t, so it lies in the window). With output ``last`` there is
one C_t, t = T; with ``sequence`` one per step, C = Σ_t C_t. In a stack of
layers the window is on steps, not layers: a path from layer 1 at step s to
C_t may climb to the top at any step from s to t (in a cell that reads
x[t-1], also from step j to step j + 1). This is the generated code's
truncation: every value computed at a step <= t−K is a constant for C_t —
the states entering the window and, above the first layer, the layer
below's output at t−K that x[t-1] reads at t−K+1. Call (θ_s, C_t) a *kept
pair* when t−K+1 <= s <= t. Then, for dC/dθ with window K:

``differentiated``
    θ's copies θ_s in a kept pair: their term is in the truncated gradient.
``chain``
    not θ's, and in the local derivative of an edge on a path from θ_s to C_t
    for a kept pair (θ_s, C_t).
``truncated``
    differentiated or on the chain in the full gradient, and neither with the
    window: θ's copies of no kept pair (rnn, T = 6, output last, K = 2:
    w^(x)_1 … w^(x)_4), and copies only on the chains of removed pairs
    (w^(a)_2 … w^(a)_5). Truncated wins over forward: w^(a)_5 is still read
    forward (a_5 is), but what the window took from it is its chain.
``forward``
    none of the above, and needed to compute a forward value that the kept
    pairs' terms and chains read.
``unused``
    none of the above: unused in the full gradient, or forward only there and
    read by no kept pair (only by removed ones).

``zero`` does not depend on K or θ: it describes the copy's full gradient
dC/d(copy); a truncated copy's term is removed whatever its flag. ``chain_of`` lists the kept pairs' differentiated copies only. K >= T
gives the full table. Each role only shrinks as K does, so a copy has a least
window (:meth:`CopyAnalysis.windows`) from which on it keeps its full role;
the explorer embeds these numbers and not one table per K. They come from one
more pass over the adjoint definitions that labels every copy with the
earliest output C_t it reaches the gradient through (an adjoint is linear, so
a factor reaches what the adjoint factor of its product reaches).

The roles come from the expressions: the free symbols of the gradient terms,
followed through the definitions of adjoints (collecting the copies that
appear in them directly: the chain) and of forward values (collecting every
copy a value depends on: forward). Each definition's closure is computed
once, in definition order, and shared by every parameter, so nothing is
expanded. ``tests/test_copies.py`` checks the roles against reachability in
the unrolled forward graph, an independent computation.

Notation
--------
Displays use the notes' names: the copy of w_x at step 3 is ``w^(x)_3``
(LaTeX ``w^{(x)}_{3}``); in a network of L >= 2 layers the layer follows the
superscript in brackets, ``w^(x)[2]_3`` (``w^{(x)[2]}_{3}``); the output
layer is ``w^(y)``, ``b^(y)``. JSON and code use the code names: ``w_x_3``,
``w_x_l2_3``, ``w_y_3`` (:func:`symrnn.unroll.copy_symbol`).

JSON schema (``symrnn copies ... --json``, :meth:`CopyTable.to_json`)
---------------------------------------------------------------------
Version 2 (``symrnn.copies/2``) added ``truncate``, the role ``truncated``
in ``roles`` and ``counts`` (0 without a window), and may give a copy that
role; everything else is as in version 1.
::

    {
      "schema": "symrnn.copies/2",
      "network": {"cell": "rnn", "layers": 1, "output": "last", "steps": 3},
      "truncate": null,                   # the window K, or null: full BPTT
      "wrt": "w_x",                       # the parameter θ of dC/dθ (code name)
      "wrt_display": "w^(x)",
      "roles": ["differentiated", "chain", "truncated", "forward", "unused"],
      "initial_states": "zero",           # what "zero" assumes
      "counts": {"differentiated": 3, "chain": 3, "truncated": 0, "forward": 5, "unused": 0, "zero": 1},
      "copies": [                         # every copy of every parameter:
        {                                 # by parameter (network order), then step
          "copy": "w_x_1",                # code name of the copy
          "display": "w^(x)_1",           # the notes' notation
          "param": "w_x",                 # the parameter it copies
          "layer": 1,                     # its layer; null for the output layer
          "step": 1,                      # the step t that uses it
          "role": "differentiated",       # one of "roles"
          "zero": false,                  # dC/d(copy) == 0 for zero initial states
          "chain_of": []                  # differentiated copies whose chain to C
        }                                 #   this copy multiplies (code names; with a
                                          #   window, within a kept pair)
      ]
    }

Example::

    >>> import symrnn
    >>> table = copy_table(symrnn.network("rnn"), 3, "w_x")
    >>> [(c.copy, c.role) for c in table.copies if c.param == "w_a"]
    [('w_a_1', 'forward'), ('w_a_2', 'chain'), ('w_a_3', 'chain')]
    >>> [c.copy for c in table.copies if c.zero]
    ['w_a_1']
    >>> table = copy_table(symrnn.network("rnn"), 6, "w_x", truncate=2)
    >>> [c.copy for c in table.copies if c.role == "differentiated"]
    ['w_x_5', 'w_x_6']
    >>> [c.copy for c in table.copies if c.role == "truncated"][:5]
    ['w_x_1', 'w_x_2', 'w_x_3', 'w_x_4', 'w_a_2']

A row's ``param``, ``layer`` and ``step`` come from the unrolled network's
:class:`~symrnn.placement.ParamCopy` values, not from the copy's name.

Imports: :mod:`symrnn.unroll`, :mod:`symrnn.placement`, naming, limits,
errors and :mod:`symrnn.notation` (names and titles) only.
"""

import json
from collections import defaultdict
from dataclasses import asdict, dataclass

import sympy

from . import naming
from .errors import ConfigError
from .limits import MAX_STEPS, steps_problem
from .notation import copies_title, parameter_label, plain_text
from .placement import param_origins
from .unroll import Unrolled

ROLES = ("differentiated", "chain", "forward", "unused")  # the roles in the full gradient (K = ∞)
TRUNCATED = "truncated"
ALL_ROLES = ("differentiated", "chain", TRUNCATED, "forward", "unused")  # with a truncation window
ROLE_LABELS = {"differentiated": "differentiated", "chain": "on the chain", TRUNCATED: "truncated",
               "forward": "forward only", "unused": "unused"}
SCHEMA = "symrnn.copies/2"


# --- notation ---------------------------------------------------------------


def param_label(param, network, step=""):
    """The notes' name of a network parameter as a :class:`symrnn.notation.Label`."""
    base, layer = param_origin(param, network)
    return parameter_label(base, layer, network.layers, step)


def param_display(param, network):
    """The notes' name of a network parameter: ``w_x`` -> ``w^(x)``, ``w_x_l2`` -> ``w^(x)[2]``."""
    return param_label(param, network).plain()


def param_latex(param, network):
    """``w^{(x)}``, ``w^{(x)[2]}``: names are validated, so they are safe in LaTeX."""
    return param_label(param, network).latex()


def param_origin(param, network):
    """(cell parameter name, layer) of a network parameter; layer None for the output layer."""
    origins = param_origins(network)
    if param not in origins:
        raise ConfigError(f"unknown parameter {param!r}; expected one of {list(origins)}")
    return origins[param]


def network_parameters(network):
    return list(param_origins(network))


def check_steps(steps, limit=MAX_STEPS, what=None):
    if steps_problem(steps, limit, what):
        raise ConfigError(steps_problem(steps, limit, what))
    return steps


# --- the result ---------------------------------------------------------------


@dataclass(frozen=True)
class Copy:
    """One copy of one parameter and its role in dC/dθ."""

    copy: str
    display: str
    param: str
    layer: int | None
    step: int
    role: str
    zero: bool
    chain_of: tuple = ()


@dataclass(frozen=True)
class CopyTable:
    """Every copy's role in dC/d(wrt) for ``network`` unrolled ``steps`` steps,
    with BPTT truncated to ``truncate`` steps (None: full BPTT, K = ∞)."""

    network: object
    steps: int
    wrt: str
    copies: tuple
    truncate: int | None = None

    @property
    def wrt_display(self):
        return param_display(self.wrt, self.network)

    def by_name(self):
        return {c.copy: c for c in self.copies}

    def counts(self):
        counts = {role: sum(c.role == role for c in self.copies) for role in ALL_ROLES}
        counts["zero"] = sum(c.zero for c in self.copies)
        return counts

    def to_data(self):
        """The JSON document of the module docstring, as Python data."""
        net = self.network
        return {
            "schema": SCHEMA,
            "network": {"cell": net.cell.name, "layers": net.layers, "output": net.output, "steps": self.steps},
            "truncate": self.truncate,
            "wrt": self.wrt,
            "wrt_display": self.wrt_display,
            "roles": list(ALL_ROLES),
            "initial_states": "zero",
            "counts": self.counts(),
            "copies": [{**asdict(c), "chain_of": list(c.chain_of)} for c in self.copies],
        }

    def to_json(self):
        return json.dumps(self.to_data(), indent=2) + "\n"

    def title_runs(self):
        """The title as runs (:func:`symrnn.notation.copies_title`), for the pictures' renderers."""
        net = self.network
        return copies_title(param_label(self.wrt, net), net.cell.name, self.steps, net.output, net.layers,
                            self.truncate)

    def title(self):
        """The title as ASCII text (``dC/dw^(x) for rnn, ...``), for terminals and JSON."""
        return plain_text(self.title_runs(), unicode=False)

    def shown_roles(self):
        """The roles a table, picture or legend shows: ``truncated`` only with a window."""
        return ALL_ROLES if self.truncate is not None else ROLES

    def format(self):
        """The table the ``symrnn copies`` command prints."""
        displays = {c.copy: c.display for c in self.copies}
        rows = [("copy", "code", "step", "role", "zero", "on the chain of")]
        for c in self.copies:
            rows.append((c.display, c.copy, str(c.step), ROLE_LABELS[c.role], "yes" if c.zero else "no",
                         ", ".join(displays[d] for d in c.chain_of)))
        widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
        lines = [self.title(), ""]
        lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        counts = self.counts()
        lines += ["", ", ".join(f"{counts[r]} {ROLE_LABELS[r]}" for r in self.shown_roles())
                  + f"; {counts['zero']} with a gradient that is exactly 0 (zero initial states)"]
        return "\n".join(lines) + "\n"

    def __str__(self):
        """The table ``symrnn copies`` prints (:meth:`format`)."""
        return self.format()

    def _repr_pretty_(self, printer, cycle):
        """IPython's plain-text display: the printed table, not the dataclass fields."""
        printer.text(self.format().rstrip("\n"))

    def _repr_html_(self):
        """Jupyter's display: the same table as HTML, every cell escaped."""
        from html import escape

        displays = {c.copy: c.display for c in self.copies}
        head = ("copy", "code", "step", "role", "zero", "on the chain of")
        rows = ["<tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
        for c in self.copies:
            cells = (c.display, c.copy, str(c.step), ROLE_LABELS[c.role], "yes" if c.zero else "no",
                     ", ".join(displays[d] for d in c.chain_of))
            rows.append(f'<tr data-role="{escape(c.role)}">' + "".join(f"<td>{escape(x)}</td>" for x in cells)
                        + "</tr>")
        counts = self.counts()
        summary = (", ".join(f"{counts[r]} {ROLE_LABELS[r]}" for r in self.shown_roles())
                   + f"; {counts['zero']} with a gradient that is exactly 0 (zero initial states)")
        return (f'<table class="symrnn-copies">\n<caption>{escape(self.title())}</caption>\n'
                + "\n".join(rows) + f'\n<tfoot><tr><td colspan="{len(head)}">{escape(summary)}</td></tr></tfoot>'
                + "\n</table>\n")


# --- the analysis -------------------------------------------------------------


class CopyAnalysis:
    """The closures of one unrolled network, shared by every parameter.

        >>> import symrnn
        >>> analysis = CopyAnalysis(symrnn.network("rnn", output="sequence"), 2)
        >>> [(c.copy, c.role) for c in analysis.table("w_y").copies if c.param == "w_y"]
        [('w_y_1', 'differentiated'), ('w_y_2', 'differentiated')]
    """

    def __init__(self, network, steps):
        self.network = network
        self.steps = check_steps(steps)
        self.unrolled = Unrolled(network, steps)
        self.params = self.unrolled.parameter_names()
        self.param_copies = {p: self.unrolled.param_copies(p) for p in self.params}
        self.copy_symbols = {p: [c.symbol for c in copies] for p, copies in self.param_copies.items()}
        self._origin = {p: param_origin(p, network) for p in self.params}
        self._display = {p: param_display(p, network) for p in self.params}
        # Sets of copies are bit masks over this order (closures of a long
        # network hold thousands of copies; a union is one integer OR).
        self._order = [c for p in self.params for c in self.copy_symbols[p]]
        self._bit = {c: 1 << i for i, c in enumerate(self._order)}
        self._forward = self._value_closures()
        self._adjoint_reach = self._adjoint_closures()
        self.zero = self._zero_copies()
        self._cache = {}

    def _value_closures(self):
        """Each forward value's copies, as a mask (values are defined in forward order)."""
        closure, bit = {}, self._bit
        for symbol, expr in self.unrolled.values.items():
            found = 0
            for s in expr.free_symbols:
                found |= bit.get(s, 0) or closure.get(s, 0)
            closure[symbol] = found
        return closure

    def _adjoint_closures(self):
        """Each adjoint's (chain copies, forward copies) masks; adjoints are
        defined after the adjoints they read. An adjoint that is identically 0
        (the top layer's exposed vector at a step with no output, when no later
        step reads it: qrnn's h with one output per item) carries no signal,
        so a copy that multiplies it is on no chain."""
        self._adjoint_reach, self._zero_adjoints = {}, set()
        for symbol, expr in self.unrolled.adjoint_values.items():
            expr = self._live(expr)
            if expr == 0:
                self._zero_adjoints.add(symbol)
            self._adjoint_reach[symbol] = self._reach_masks(expr)
        return self._adjoint_reach

    def _live(self, expr):
        """``expr`` with the adjoints that are identically 0 set to 0."""
        dead = expr.free_symbols & self._zero_adjoints
        return expr.xreplace({s: sympy.S.Zero for s in dead}) if dead else expr

    def _reach_masks(self, expr):
        chain = forward = 0
        for s in expr.free_symbols:
            if s in self._bit:
                chain |= self._bit[s]
            elif s in self._forward:
                forward |= self._forward[s]
            elif s in self._adjoint_reach:
                reach_chain, reach_forward = self._adjoint_reach[s]
                chain |= reach_chain
                forward |= reach_forward
            else:
                assert s not in self.unrolled.adjoint_values, f"adjoint {s} read before it is defined"
        return chain, forward

    def _copies_of(self, mask):
        """The copies of a mask, in network order."""
        found = []
        while mask:
            low = mask & -mask
            found.append(self._order[low.bit_length() - 1])
            mask ^= low
        return found

    def reach(self, expr):
        """(copies on the chain, copies needed forward) of an engine expression."""
        chain, forward = self._reach_masks(expr)
        return frozenset(self._copies_of(chain)), frozenset(self._copies_of(forward))

    def _zero_copies(self):
        """Copies whose gradient is identically 0 when every initial state is 0,
        by propagating zeros through the definitions in order."""
        zero = set(self.unrolled.initial.values())
        for table in (self.unrolled.values, self.unrolled.adjoint_values):
            for symbol, expr in table.items():
                if _vanishes(expr, zero):
                    zero.add(symbol)
        return frozenset(c for c in self._order if _vanishes(self.unrolled.copy_gradient(c), zero))

    def check_param(self, wrt):
        """The code name of parameter ``wrt``, given by code name (``w_x``) or as the notes write it (``w^(x)``).

        In a network of L >= 2 layers a cell parameter's bare name (``w_f``,
        ``w^(f)``) means its copy in layer 1 (``w_f_l1``, ``w^(f)[1]``), as on
        the explorer page; ``w_f_l2`` or ``w^(f)[2]`` names another layer.
        """
        if wrt in self.params:
            return wrt
        by_display = {display: param for param, display in self._display.items()}
        if self.network.layers > 1:
            for param, (base, layer) in self._origin.items():
                if layer == 1:
                    letter, suffix = base.split("_", 1)
                    by_display.setdefault(base, param)
                    by_display.setdefault(f"{letter}^({suffix})", param)
        if wrt in by_display:
            return by_display[wrt]
        raise ConfigError(f"unknown parameter {wrt!r} for cell {self.network.cell.name!r} with "
                          f"{self.network.layers} layer(s); expected one of: {', '.join(self.params)}")

    def roles(self, wrt, truncate=None):
        """The role of every copy in dC/d(wrt), in the order of :attr:`copies_in_order`, and the
        differentiated copies' chain masks (one integer per copy of ``wrt``; 0 for a truncated one)."""
        wrt = self.check_param(wrt)
        truncate = check_truncate(truncate)
        chain = forward = 0
        chains = []
        for d in self.copy_symbols[wrt]:
            reach_chain, reach_forward = self._reach_masks(self._live(self.unrolled.copy_gradient(d)))
            chain |= reach_chain
            forward |= reach_forward
            chains.append(reach_chain)
        own = {self._bit[c] for c in self.copy_symbols[wrt]}
        roles = ["differentiated" if bit in own else "chain" if chain & bit
                 else "forward" if forward & bit else "unused"
                 for bit in (self._bit[c] for c in self._order)]
        if truncate is None or truncate >= self.steps:
            return roles, chains
        least, windowed = self._thresholds(wrt, horizon=truncate)
        thresholds = self._least_windows(roles, least)
        chains = [sum_masks(mask for k, mask in by_k.items() if k <= truncate) for by_k in windowed]
        return [truncated_role(role, k, truncate) for role, k in zip(roles, thresholds)], chains

    def windows(self, wrt):
        """For every copy (in the order of :attr:`copies_in_order`), the least window K that keeps
        its role in dC/d(wrt): with BPTT truncated to K steps a copy keeps its full role when
        K >= this number, and is otherwise truncated (differentiated or on the chain in the full
        gradient) or unused (forward only); None for a copy unused in the full gradient.

            >>> import symrnn
            >>> analysis = CopyAnalysis(symrnn.network("rnn"), 3)
            >>> [(c.name, k) for c, k in zip(analysis.copies_in_order, analysis.windows("w_x"))][:6]
            [('w_x_1', 3), ('w_x_2', 2), ('w_x_3', 1), ('w_a_1', 1), ('w_a_2', 3), ('w_a_3', 2)]
        """
        return self.roles_and_windows(wrt)[1]

    def roles_and_windows(self, wrt):
        """(:meth:`roles`' full roles, :meth:`windows`) of dC/d(wrt), the roles computed once."""
        wrt = self.check_param(wrt)
        roles, _ = self.roles(wrt)
        thresholds = self._least_windows(roles, self._thresholds(wrt, horizon=None)[0])
        assert all((k is None) == (role == "unused") for role, k in zip(roles, thresholds)), (wrt, thresholds)
        return roles, thresholds

    def _thresholds(self, wrt, horizon):
        """(least window of every copy on a chain and forward (lists in copy order, None where it
        is neither), and per copy of ``wrt`` its chain masks by window).

        A copy θ_s's term reaches C_t (t >= s) inside the window when t - s + 1 <= K; a copy that
        its term reads reaches C_t no earlier than :meth:`_windowed` says. Windows over
        ``horizon`` are not needed and may be left out (None: keep all)."""
        windows = self._windowed(horizon)
        outputs = sorted(self.unrolled.output_steps())
        chain_by_k, forward_by_k, per_copy = defaultdict(int), defaultdict(int), []
        for s, copy in ((c.step, c.symbol) for c in self.param_copies[wrt]):
            first = next((t for t in outputs if t >= s), None)
            if first is not None:
                chain_by_k[first - s + 1] |= self._bit[copy]
            entries, _, _, _ = self._walk(self._live(self.unrolled.copy_gradient(copy)), windows)
            by_k = {}
            for t, (chain, forward) in (entries or {}).items():
                chain_by_k[t - s + 1] |= chain
                forward_by_k[t - s + 1] |= forward
                by_k[t - s + 1] = chain
            per_copy.append(by_k)
        least = []
        for by_k in (chain_by_k, forward_by_k):
            found, seen = [None] * len(self._order), 0
            for k in sorted(by_k):
                new = by_k[k] & ~seen
                seen |= new
                for index in _bit_indices(new):
                    found[index] = k
            least.append(found)
        return least, per_copy

    def _least_windows(self, roles, least):
        """Per copy, the least window of its full role: a chain's for a differentiated copy or
        one on the chain, a forward one's for a forward-only copy, None for an unused one."""
        least_chain, least_forward = least
        return [chain if role in ("differentiated", "chain") else forward if role == "forward" else None
                for chain, forward, role in zip(least_chain, least_forward, roles)]

    def _windowed(self, horizon):
        """Each adjoint's copies by the earliest output C_t they reach it through:
        {t: (chain mask, forward mask)}, each copy under its least t only. A copy
        multiplies, in a product, the adjoint factor of that product (adjoints are
        linear), so it reaches the earliest output that factor reaches."""
        key = ("windows", horizon)
        if key in self._cache:
            return self._cache[key]
        seeds = self._seed_steps()
        windows = {}
        for symbol, expr in self.unrolled.adjoint_values.items():
            entries, earliest, chain, forward = self._walk(self._live(expr), windows)
            if chain or forward:
                if earliest is None and symbol not in seeds:
                    # identically zero: a vector the output reads only at the steps that have
                    # an output (SRU's h with one output per item) reaches none at the others
                    continue
                t = seeds[symbol] if earliest is None else earliest
                entries = _merge(entries, {t: (chain, forward)})
            if entries:
                windows[symbol] = _least_entries(entries, horizon)
        self._cache[key] = windows
        return windows

    def _seed_steps(self):
        """The output step t of each adjoint the cost C_t seeds (the head's adjoints at t)."""
        seeds = {}
        for bias in self.param_copies[naming.OUTPUT_BIAS]:
            t, todo = bias.step, [self.unrolled.copy_gradient(bias.symbol)]
            while todo:
                for s in todo.pop().free_symbols:
                    if s in self.unrolled.adjoint_values and s not in seeds:
                        seeds[s] = t
                        todo.append(self.unrolled.adjoint_values[s])
        return seeds

    def _walk(self, expr, windows):
        """(entries, earliest output, chain mask, forward mask) of an expression: entries as in
        :meth:`_windowed`; the masks are the copies of factors not yet multiplied by an adjoint."""
        if not expr.args:
            if expr in self._bit:
                return None, None, self._bit[expr], 0
            if expr in self._forward:
                return None, None, 0, self._forward[expr]
            entries = windows.get(expr)
            return (entries, min(entries), 0, 0) if entries else (None, None, 0, 0)
        entries, earliest, chain, forward = None, None, 0, 0
        for arg in expr.args:
            arg_entries, arg_earliest, arg_chain, arg_forward = self._walk(arg, windows)
            entries = _merge(entries, arg_entries)
            if arg_earliest is not None:
                earliest = arg_earliest if earliest is None else min(earliest, arg_earliest)
            chain |= arg_chain
            forward |= arg_forward
        if earliest is not None and not expr.is_Add and (chain or forward):
            entries = _merge(entries, {earliest: (chain, forward)})
            chain = forward = 0
        return entries, earliest, chain, forward

    @property
    def copies_in_order(self):
        """Every copy symbol: by parameter (network order), then step."""
        return list(self._order)

    def table(self, wrt, truncate=None):
        """The :class:`CopyTable` of dC/d(wrt), with BPTT truncated to ``truncate`` steps (None: full)."""
        wrt = self.check_param(wrt)
        truncate = check_truncate(truncate)
        roles, chains = self.roles(wrt, truncate)
        chain_of = defaultdict(list)
        for d, mask in zip(self.copy_symbols[wrt], chains):
            for c in self._copies_of(mask):
                chain_of[c].append(d.name)
        rows = []
        for (c, display, param, layer, t, zero), role in zip(self._rows(), roles):
            rows.append(Copy(c.name, display, param, layer, t, role, zero, tuple(chain_of[c])))
        return CopyTable(self.network, self.steps, wrt, tuple(rows), truncate)

    def _rows(self):
        """(copy, display, param, layer, step, zero) of every copy, in order; computed once."""
        if not hasattr(self, "_row_cache"):
            self._row_cache = [(c.symbol, f"{self._display[param]}_{c.step}", param, c.layer, c.step,
                                c.symbol in self.zero)
                               for param in self.params for c in self.param_copies[param]]
        return self._row_cache


def check_truncate(truncate):
    """A truncation window: None (full BPTT) or a positive integer K."""
    if truncate is not None and (not isinstance(truncate, int) or isinstance(truncate, bool) or truncate < 1):
        raise ConfigError(f"the truncation window K must be a positive integer (steps), got {truncate!r}")
    return truncate


def truncated_role(role, least_window, truncate):
    """A copy's role with BPTT truncated to ``truncate`` steps, from its full role and
    least window (:meth:`CopyAnalysis.windows`)."""
    if truncate is None or (least_window is not None and least_window <= truncate):
        return role
    return TRUNCATED if role in ("differentiated", "chain") else "unused"


def _bit_indices(mask):
    """The positions of a mask's set bits, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


def sum_masks(masks):
    total = 0
    for mask in masks:
        total |= mask
    return total


def _merge(entries, more):
    """Union of two {t: (chain, forward)} maps (None is empty); a new dict when both have entries."""
    if not more:
        return entries
    if not entries:
        return more
    merged = dict(entries)
    for t, (chain, forward) in more.items():
        old_chain, old_forward = merged.get(t, (0, 0))
        merged[t] = (old_chain | chain, old_forward | forward)
    return merged


def _least_entries(entries, horizon):
    """``entries`` with each copy under its least t only, and no t past the first + horizon - 1."""
    least, seen_chain, seen_forward = {}, 0, 0
    first = min(entries)
    for t in sorted(entries):
        if horizon is not None and t > first + horizon - 1:
            break
        chain, forward = entries[t]
        chain &= ~seen_chain
        forward &= ~seen_forward
        if chain or forward:
            least[t] = (chain, forward)
        seen_chain |= chain
        seen_forward |= forward
    return least


def _vanishes(expr, zero):
    hit = expr.free_symbols & zero
    return expr == 0 or (bool(hit) and expr.xreplace({s: sympy.S.Zero for s in hit}) == 0)


def copy_table(network, steps, wrt, truncate=None):
    """Every copy's role in dC/d(wrt): ``copy_table(symrnn.network("rnn"), 3, "w_x")``;
    ``truncate=K`` truncates BPTT to K steps."""
    return CopyAnalysis(network, steps).table(wrt, truncate)
