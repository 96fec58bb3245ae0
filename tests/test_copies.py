"""The roles of weight copies, checked against exact tables and against an
independent computation: reachability in the unrolled forward graph."""

import json
import random
from collections import defaultdict
from pathlib import Path

import pytest
import sympy

import symrnn
from symrnn import Cell, dot, parameters, prev, vectors
from symrnn.cellfile import load_cell
from symrnn.cli import main
from symrnn.copies import ALL_ROLES, ROLES, CopyAnalysis, copy_table
from symrnn.errors import ConfigError
from symrnn.limits import MAX_STEPS
from symrnn.network import COST
from symrnn.rules import explicit


def mgu():
    return load_cell(Path(__file__).resolve().parent / "cells" / "mgu.cell")


def delayed():
    """A state read only at the next step (its last copies are unused) and an
    elementwise parameter that multiplies the signal (on the chain without a
    matrix product)."""
    x, s, h = vectors("x s h")
    w_s, w_h, w_r, b_h, b_k = parameters("w_s w_h w_r b_h b_k")
    return Cell("delayed", input=x, states=[s, h], output_state=h, equations=[
        (s, sympy.tanh(dot(w_s, x))),
        (h, b_k * sympy.tanh(dot(w_h, prev(s)) + dot(w_r, prev(h)) + b_h)),
    ])


CELLS = {
    "rnn": lambda: symrnn.get_cell("rnn"),
    "rnn_relu": lambda: symrnn.get_cell("rnn", activation="relu"),
    "rnn_identity": lambda: symrnn.get_cell("rnn", activation="identity"),
    "lstm": lambda: symrnn.get_cell("lstm"),
    "gru": lambda: symrnn.get_cell("gru"),
    "gru_pytorch": lambda: symrnn.get_cell("gru", "pytorch"),
    "mgu": mgu,
    "delayed": delayed,
    "qrnn": lambda: symrnn.get_cell("qrnn"),  # reads x[t-1]; its output h is not a state
    "sru": lambda: symrnn.get_cell("sru"),  # its output h is not a state
}


def rows(table):
    return [(c.copy, c.role, c.zero) for c in table.copies]


# --- the notes' question, exactly -----------------------------------------------

RNN_T3_LAST = [
    ("w_x_1", "differentiated", False), ("w_x_2", "differentiated", False), ("w_x_3", "differentiated", False),
    ("w_a_1", "forward", True), ("w_a_2", "chain", False), ("w_a_3", "chain", False),
    ("b_a_1", "forward", False), ("b_a_2", "forward", False), ("b_a_3", "forward", False),
    ("w_y_3", "chain", False), ("b_y_3", "forward", False),
]


def test_rnn_t3_wx_output_last():
    table = copy_table(symrnn.network("rnn"), 3, "w_x")
    assert rows(table) == RNN_T3_LAST
    chains = {c.copy: c.chain_of for c in table.copies}
    assert chains["w_a_3"] == ("w_x_1", "w_x_2")
    assert chains["w_a_2"] == ("w_x_1",)
    assert chains["w_y_3"] == ("w_x_1", "w_x_2", "w_x_3")
    assert table.counts() == {"differentiated": 3, "chain": 3, "truncated": 0, "forward": 5, "unused": 0, "zero": 1}


def test_rnn_t3_wx_output_sequence():
    table = copy_table(symrnn.network("rnn", output="sequence"), 3, "w_x")
    assert rows(table) == RNN_T3_LAST[:-2] + [
        ("w_y_1", "chain", False), ("w_y_2", "chain", False), ("w_y_3", "chain", False),
        ("b_y_1", "forward", False), ("b_y_2", "forward", False), ("b_y_3", "forward", False),
    ]
    chains = {c.copy: c.chain_of for c in table.copies}
    assert chains["w_y_1"] == ("w_x_1",) and chains["w_y_2"] == ("w_x_1", "w_x_2")


def test_recurrent_weight_is_differentiated_and_on_later_chains():
    table = copy_table(symrnn.network("rnn"), 3, "w_a")
    by_name = table.by_name()
    assert [by_name[f"w_a_{t}"].role for t in (1, 2, 3)] == ["differentiated"] * 3
    assert by_name["w_a_1"].zero and not by_name["w_a_2"].zero
    assert by_name["w_a_3"].chain_of == ("w_a_1", "w_a_2")
    assert by_name["w_x_1"].role == "forward"


def test_output_layer_gradient_needs_no_chain():
    table = copy_table(symrnn.network("rnn", output="sequence"), 3, "w_y")
    assert {c.role for c in table.copies if c.param != "w_y"} == {"forward"}


def test_lstm_forget_gate_at_the_first_step_is_zero():
    """c_1 = f_1·c_0 + i_1·g_1 with c_0 = 0: f_1 changes nothing."""
    table = copy_table(symrnn.network("lstm"), 3, "w_f")
    zero = {c.copy for c in table.copies if c.zero}
    assert zero == {"w_f_1", "b_f_1", "w_F_1", "w_I_1", "w_G_1", "w_O_1"}
    assert {c.copy for c in table.copies if c.role == "chain"} == {
        "w_F_2", "w_F_3", "w_I_2", "w_I_3", "w_G_2", "w_G_3", "w_O_2", "w_O_3", "w_y_3"}


def test_two_layers_names_and_roles():
    table = copy_table(symrnn.network("rnn", layers=2), 2, "w_x_l1")
    by_name = table.by_name()
    assert by_name["w_x_l2_1"].role == "chain" and by_name["w_x_l2_1"].display == "w^(x)[2]_1"
    assert by_name["w_a_l2_2"].role == "chain" and by_name["w_a_l1_2"].role == "chain"
    assert by_name["w_a_l2_1"].zero and by_name["w_x_l2_1"].layer == 2 and by_name["w_y_2"].layer is None


def test_unused_copies_and_elementwise_factors():
    table = copy_table(symrnn.network(delayed()), 3, "w_r")
    by_name = table.by_name()
    assert [by_name[f"w_s_{t}"].role for t in (1, 2, 3)] == ["forward", "forward", "unused"]
    assert by_name["w_s_3"].zero and by_name["w_h_1"].zero  # s_3 is never read; h_1 reads s_0 = 0
    assert [by_name[f"b_k_{t}"].role for t in (1, 2, 3)] == ["chain"] * 3  # h_t = b_k_t · tanh(...)


# --- independent cross-check: reachability in the unrolled forward graph ----------


def graph_roles(unrolled, wrt):
    """Roles from the forward graph alone: a copy is on the chain when it
    appears in the local derivative of an edge on a path from one of θ's
    copies to C; forward when an ancestor of a value those local derivatives
    read. Local derivatives are SymPy's diff of one node's definition."""
    nodes = {**unrolled.values, COST: unrolled.cost}
    parents = {n: expr.free_symbols for n, expr in nodes.items()}
    children = defaultdict(set)
    for n, ps in parents.items():
        for p in ps:
            children[p].add(n)
    theta = set(unrolled.copies(wrt))
    downstream = _closure(theta, children)
    upstream = _closure({COST}, parents)
    on_path = (downstream & upstream) | theta
    local = set()
    for n in on_path & set(nodes):
        for p in parents[n] & on_path:
            local |= sympy.diff(nodes[n], p).free_symbols
    copies = {c for p in unrolled.parameter_names() for c in unrolled.copies(p)}
    chain = (local & copies) - theta
    forward = (_closure(local & set(nodes), parents) & copies) - chain - theta
    return {c.name: "differentiated" if c in theta else "chain" if c in chain else
            "forward" if c in forward else "unused" for c in copies}


def _closure(start, edges):
    seen, todo = set(start), list(start)
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


CONFIGS = [(cell, output, 1, steps) for cell in CELLS for output in ("last", "sequence") for steps in (1, 2, 3, 8)]
CONFIGS += [(cell, output, 2, steps) for cell in ("rnn", "lstm", "gru_pytorch", "mgu", "qrnn", "sru")
            for output in ("last", "sequence") for steps in (1, 3)]
CONFIGS += [("qrnn", output, 3, 3) for output in ("last", "sequence")]


@pytest.mark.parametrize("cell,output,layers,steps", CONFIGS)
def test_roles_equal_reachability_in_the_unrolled_graph(cell, output, layers, steps):
    analysis = CopyAnalysis(symrnn.network(CELLS[cell](), layers=layers, output=output), steps)
    for wrt in analysis.params:
        table = analysis.table(wrt)
        assert {c.copy: c.role for c in table.copies} == graph_roles(analysis.unrolled, wrt), wrt


def graph_truncated(unrolled, wrt, window):
    """Roles and chains with BPTT truncated to ``window`` steps, from the forward
    graph alone: for every output C_t, the paths to C_t from θ's copies at steps
    t - K + 1 ... t give, as in :func:`graph_roles`, the differentiated copies,
    the copies on their chains and the forward values those chains read. A copy
    differentiated or on the chain without the window and neither with it is
    truncated. Returns ({copy: role}, {differentiated copy: copies on its chains})."""
    nodes = dict(unrolled.values)
    steps = {p: list(unrolled.output_steps()) if p in ("w_y", "b_y") else list(range(1, unrolled.steps + 1))
             for p in unrolled.parameter_names()}
    step_of = {c: t for p in steps for c, t in zip(unrolled.copies(p), steps[p])}
    for term in sympy.Add.make_args(unrolled.cost):  # C = sum of C_t; C_t holds the target y_t
        t = next(t for t in unrolled.output_steps() if sympy.Symbol(f"y_{t}") in term.free_symbols)
        nodes[sympy.Symbol(f"C_{t}")] = nodes.get(sympy.Symbol(f"C_{t}"), 0) + term
    parents = {n: expr.free_symbols for n, expr in nodes.items()}
    children = defaultdict(set)
    for n, ps in parents.items():
        for p in ps:
            children[p].add(n)
    theta = set(unrolled.copies(wrt))
    kept, local, chains = set(), set(), defaultdict(set)
    for t in unrolled.output_steps():
        upstream = _closure({sympy.Symbol(f"C_{t}")}, parents)
        for d in (c for c in theta if t - window + 1 <= step_of[c] <= t):
            kept.add(d)
            on_path = (_closure({d}, children) & upstream) | {d}
            for n in on_path & set(nodes):
                for p in parents[n] & on_path:
                    found = sympy.diff(nodes[n], p).free_symbols
                    local |= found
                    chains[d] |= found & set(step_of)
    copies = set(step_of)
    chain = (local & copies) - theta
    forward = (_closure(local & set(nodes), parents) & copies) - chain - theta
    full = graph_roles(unrolled, wrt)
    cut = {c for c in copies if full[c.name] in ("differentiated", "chain")} - kept - chain
    roles = {c.name: "differentiated" if c in kept else "chain" if c in chain else "truncated" if c in cut
             else "forward" if c in forward else "unused" for c in copies}
    return roles, {d.name: {c.name for c in found} for d, found in chains.items()}


TRUNCATED_CONFIGS = [(cell, output, 1, 5) for cell in CELLS for output in ("last", "sequence")]
TRUNCATED_CONFIGS += [(cell, output, 2, 3) for cell in ("rnn", "lstm", "gru_pytorch", "mgu", "qrnn", "sru")
                      for output in ("last", "sequence")]
# a stack of cells that read x[t-1]: the layer below's output at t-K, read at t-K+1, is outside the window
TRUNCATED_CONFIGS += [("qrnn", output, 3, 3) for output in ("last", "sequence")]


@pytest.mark.parametrize("cell,output,layers,steps", TRUNCATED_CONFIGS)
def test_truncated_roles_equal_reachability_within_the_window(cell, output, layers, steps):
    analysis = CopyAnalysis(symrnn.network(CELLS[cell](), layers=layers, output=output), steps)
    for wrt in analysis.params:
        windows = analysis.windows(wrt)
        for window in range(1, steps + 1):
            table = analysis.table(wrt, truncate=window)
            roles, chains = graph_truncated(analysis.unrolled, wrt, window)
            assert {c.copy: c.role for c in table.copies} == roles, (wrt, window)
            differentiated = {c.copy for c in table.copies if c.role == "differentiated"}
            chain_of = {d: {c.copy for c in table.copies if d in c.chain_of} for d in differentiated}
            assert chain_of == {d: chains.get(d, set()) for d in differentiated}, (wrt, window)
            # the page's form: the least window that keeps each copy's full role
            full = analysis.roles(wrt)[0]
            assert [c.role for c in table.copies] == [
                role if k is not None and k <= window else "truncated" if role in ("differentiated", "chain")
                else "unused" for role, k in zip(full, windows)], (wrt, window)
        assert analysis.table(wrt, truncate=steps).copies == analysis.table(wrt).copies


def test_truncated_rnn_t6_output_last_k2():
    """The issue's example, by hand: the output at step 6 reaches w^(x)_5 and w^(x)_6
    only; w^(a)_6 multiplies the signal from a_5 to a_6; w^(a)_2 ... w^(a)_5 were on
    the chains of w^(x)_1 ... w^(x)_4 only; every b^(a) and w^(a)_1 is still read forward."""
    table = copy_table(symrnn.network("rnn"), 6, "w_x", truncate=2)
    roles = {c.copy: c.role for c in table.copies}
    assert [roles[f"w_x_{t}"] for t in range(1, 7)] == ["truncated"] * 4 + ["differentiated"] * 2
    assert [roles[f"w_a_{t}"] for t in range(1, 7)] == ["forward"] + ["truncated"] * 4 + ["chain"]
    assert [roles[f"b_a_{t}"] for t in range(1, 7)] == ["forward"] * 6
    assert roles["w_y_6"] == "chain" and roles["b_y_6"] == "forward"
    chains = {c.copy: c.chain_of for c in table.copies}
    assert chains["w_a_6"] == ("w_x_5",) and chains["w_y_6"] == ("w_x_5", "w_x_6") and chains["w_a_5"] == ()
    assert table.counts() == {"differentiated": 2, "chain": 2, "truncated": 8, "forward": 8, "unused": 0,
                              "zero": 1}
    assert table.title() == "dC/dw^(x) for rnn, T = 6, output last, 1 layer, BPTT truncated to K = 2"


def test_truncated_sequence_output_k1_keeps_each_step_alone():
    """With an output at every step and K = 1, C_t reaches only step t's copies:
    no recurrent weight is on a chain."""
    table = copy_table(symrnn.network("rnn", output="sequence"), 4, "w_x", truncate=1)
    roles = {c.copy: c.role for c in table.copies}
    assert [roles[f"w_x_{t}"] for t in range(1, 5)] == ["differentiated"] * 4
    assert [roles[f"w_a_{t}"] for t in range(1, 5)] == ["forward", "truncated", "truncated", "truncated"]
    assert [roles[f"w_y_{t}"] for t in range(1, 5)] == ["chain"] * 4
    assert {c.copy: c.chain_of for c in table.copies}["w_y_3"] == ("w_x_3",)


def test_truncation_in_a_stack():
    """Layer 1's copy at step s reaches C_t through layer 2 at steps s ... t only."""
    table = copy_table(symrnn.network("rnn", layers=2), 4, "w_x_l1", truncate=2)
    roles = {c.copy: c.role for c in table.copies}
    assert [roles[f"w_x_l1_{t}"] for t in range(1, 5)] == ["truncated"] * 2 + ["differentiated"] * 2
    assert [roles[f"w_a_l1_{t}"] for t in range(1, 5)] == ["forward", "truncated", "truncated", "chain"]
    assert [roles[f"w_x_l2_{t}"] for t in range(1, 5)] == ["truncated"] * 2 + ["chain"] * 2
    assert [roles[f"w_a_l2_{t}"] for t in range(1, 5)] == ["forward", "truncated", "truncated", "chain"]


def test_truncation_can_leave_forward_copies_unused():
    """The delayed cell's s_t reaches the output only at step t + 1: with K = 1 the one
    kept term, of w^(s)_4 (in the window, exactly 0 as in the full gradient: s_4 is never
    read), reads nothing, and every copy that was forward only is unused."""
    table = copy_table(symrnn.network(delayed()), 4, "w_s", truncate=1)
    assert [c.role for c in table.copies if c.param == "w_s"] == ["truncated"] * 3 + ["differentiated"]
    assert table.by_name()["w_s_4"].zero
    assert {c.role for c in table.copies if c.param != "w_s"} == {"truncated", "unused"}
    full = copy_table(symrnn.network(delayed()), 4, "w_s").by_name()
    assert [c.copy for c in table.copies if c.role == "unused" and full[c.copy].role == "forward"] == [
        "w_h_1", "w_r_1", "w_r_2", "b_k_1", "b_h_1", "b_h_2", "b_h_3", "b_h_4", "b_y_4"]


def test_cli_truncate(capsys):
    assert main(["copies", "rnn", "--steps", "6", "--wrt", "w_x", "--truncate", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "symrnn.copies/2" and data["truncate"] == 2
    assert [c["copy"] for c in data["copies"] if c["role"] == "differentiated"] == ["w_x_5", "w_x_6"]
    assert main(["copies", "rnn", "--steps", "3", "--truncate", "0"]) == 2
    assert "truncation window K must be a positive integer" in capsys.readouterr().err


@pytest.mark.parametrize("window", [0, -1, 2.5, True, "2"])
def test_bad_truncation_windows(window):
    with pytest.raises(ConfigError, match="truncation window K must be a positive integer"):
        copy_table(symrnn.network("rnn"), 3, "w_x", truncate=window)


def cost_function(unrolled):
    """C as a float function of a point, by evaluating the forward definitions in order."""
    steps = [(symbol, sorted(expr.free_symbols, key=str)) for symbol, expr in unrolled.values.items()]
    compiled = [(symbol, args, sympy.lambdify(args, explicit(unrolled.values[symbol]), "math"))
                for symbol, args in steps]
    cost_args = sorted(unrolled.cost.free_symbols, key=str)
    cost = sympy.lambdify(cost_args, unrolled.cost, "math")

    def evaluate(point):
        env = dict(point)
        for symbol, args, function in compiled:
            env[symbol] = function(*[env[a] for a in args])
        return cost(*[env[a] for a in cost_args])
    return evaluate


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "gru_pytorch", "mgu", "delayed"])
@pytest.mark.parametrize("output,layers", [("last", 1), ("sequence", 1), ("sequence", 2)])
def test_zero_copies_leave_the_cost_unchanged_and_others_change_it(cell, output, layers):
    """With zero initial states, moving a copy marked zero leaves C exactly
    as it is (it only ever multiplies an exact 0); moving any other copy
    changes C. Forward evaluation only: no adjoint, no zero propagation."""
    analysis = CopyAnalysis(symrnn.network(CELLS[cell](), output=output, layers=layers), 3)
    unrolled = analysis.unrolled
    evaluate = cost_function(unrolled)
    rng = random.Random(1)
    leaves = set().union(*[e.free_symbols for e in unrolled.values.values()], unrolled.cost.free_symbols)
    point = {s: rng.uniform(-1.5, 1.5) for s in sorted(leaves - set(unrolled.values), key=str)}
    point.update({s: 0.0 for s in unrolled.initial.values()})
    point[sympy.Symbol("mask")] = 1.0
    for param in analysis.params:
        for copy in unrolled.copies(param):
            moved = {**point, copy: point.get(copy, 0.0) + 0.25}
            change = abs(evaluate(moved) - evaluate(point))
            if copy in analysis.zero:
                assert change == 0.0, copy
            else:
                assert change > 1e-9, copy


# --- output ------------------------------------------------------------------


def test_json_document():
    data = json.loads(copy_table(symrnn.network("rnn"), 3, "w_x").to_json())
    assert data["schema"] == "symrnn.copies/2" and data["truncate"] is None
    assert data["network"] == {"cell": "rnn", "layers": 1, "output": "last", "steps": 3}
    assert data["wrt"] == "w_x" and data["wrt_display"] == "w^(x)" and data["roles"] == list(ALL_ROLES)
    assert data["counts"] == {"differentiated": 3, "chain": 3, "truncated": 0, "forward": 5, "unused": 0, "zero": 1}
    assert data["copies"][3] == {"copy": "w_a_1", "display": "w^(a)_1", "param": "w_a", "layer": 1, "step": 1,
                                 "role": "forward", "zero": True, "chain_of": []}
    assert [c["copy"] for c in data["copies"] if c["role"] == "chain"] == ["w_a_2", "w_a_3", "w_y_3"]


def test_deterministic():
    first = copy_table(symrnn.network("gru", output="sequence", layers=2), 4, "w_z_l1").to_json()
    assert copy_table(symrnn.network("gru", output="sequence", layers=2), 4, "w_z_l1").to_json() == first


def test_parameter_as_the_notes_write_it():
    assert copy_table(symrnn.network("rnn"), 2, "w^(a)").wrt == "w_a"
    assert copy_table(symrnn.network("lstm", layers=2), 2, "w^(F)[2]").wrt == "w_F_l2"


@pytest.mark.parametrize("wrt", ["w^(f)", "w_f", "w^(f)[1]", "w_f_l1"])
def test_a_bare_name_in_a_stack_means_layer_1(wrt):
    table = copy_table(symrnn.network("lstm", layers=2), 2, wrt)
    assert table.wrt == "w_f_l1" and table.wrt_display == "w^(f)[1]"
    assert [c.copy for c in table.copies if c.role == "differentiated"] == ["w_f_l1_1", "w_f_l1_2"]


def test_bad_requests():
    with pytest.raises(ConfigError, match=r"unknown parameter 'w_q'.*w_x, w_a, b_a, w_y, b_y"):
        copy_table(symrnn.network("rnn"), 3, "w_q")
    with pytest.raises(ConfigError, match=r"expected one of: w_x_l1"):
        copy_table(symrnn.network("rnn", layers=2), 3, "w_q")
    with pytest.raises(ConfigError, match=r"expected one of: w_x_l1"):
        copy_table(symrnn.network("rnn", layers=2), 3, "w^(x)[3]")
    for steps in (0, -1, MAX_STEPS + 1, 2.5, True):
        with pytest.raises(ConfigError, match=rf"T \(--steps\) must be an integer from 1 to {MAX_STEPS}"):
            copy_table(symrnn.network("rnn"), steps, "w_x")


def test_one_hundred_steps_of_a_stacked_lstm_with_sequence_output():
    """The limit is T = 100 (symrnn.limits); the analysis is linear in T (bit
    masks of copies), about 2.5 s and 80 MB here."""
    assert MAX_STEPS == 100
    table = copy_table(symrnn.network("lstm", layers=2, output="sequence"), MAX_STEPS, "w^(f)")
    counts = table.counts()
    assert counts["differentiated"] == 100 and sum(counts[r] for r in ROLES) == 26 * 100
    by_name = table.by_name()
    # every recurrent weight of layer 1 after step 1 is on a chain; the output
    # weight at step t is on the chain of every copy of w^(f)[1] up to t
    assert all(by_name[f"w_F_l1_{t}"].role == "chain" for t in range(2, 101))
    assert by_name["w_y_100"].chain_of == tuple(f"w_f_l1_{t}" for t in range(1, 101))
    assert by_name["w_y_1"].chain_of == ("w_f_l1_1",)


# --- the command line -----------------------------------------------------------


def test_cli_table(capsys):
    assert main(["copies", "rnn", "--steps", "3", "--wrt", "w_x"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "dC/dw^(x) for rnn, T = 3, output last, 1 layer"
    assert "w^(a)_1  w_a_1  1     forward only    yes" in out
    assert "w^(a)_3  w_a_3  3     on the chain    no    w^(x)_1, w^(x)_2" in out


def test_jupyter_display_and_str(capsys):
    """str() is what 'symrnn copies' prints; _repr_html_ the same rows as an
    escaped HTML table; copy_table is exported by the package."""
    import dataclasses
    from html.parser import HTMLParser

    assert symrnn.copy_table is copy_table and "copy_table" in symrnn.__all__
    table = symrnn.copy_table(symrnn.network("lstm", output="sequence"), 3, "w_f", truncate=2)
    assert main(["copies", "lstm", "--steps", "3", "--wrt", "w_f", "--output", "sequence", "--truncate", "2"]) == 0
    assert str(table) == capsys.readouterr().out

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.caption, self.where = [], "", None

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.rows.append([])
            if tag in ("td", "th", "caption"):
                self.where = tag
                if tag != "caption":
                    self.rows[-1].append("")

        def handle_endtag(self, tag):
            self.where = None

        def handle_data(self, data):
            if self.where == "caption":
                self.caption += data
            elif self.where:
                self.rows[-1][-1] += data

    odd = dataclasses.replace(table.copies[0], display="w<&>\"x")
    for shown in (table, dataclasses.replace(table, copies=(odd, *table.copies[1:]))):
        parser = Cells()
        parser.feed(shown._repr_html_())
        assert parser.caption == shown.title()
        lines = shown.format().splitlines()
        assert len(parser.rows) == len(shown.copies) + 2  # header, copies, counts
        words = [" ".join(" ".join(row).split()) for row in parser.rows[1:-1]]
        assert words == [" ".join(line.split()) for line in lines[3:-2]]
        assert parser.rows[-1] == [lines[-1]]
    assert "w&lt;&amp;&gt;&quot;x" in dataclasses.replace(table, copies=(odd,))._repr_html_()
    assert len(repr(table)) > 1000  # the dataclass repr stays; the text display is the table
    printed = []
    table._repr_pretty_(type("Printer", (), {"text": lambda self, text: printed.append(text)})(), False)
    assert printed == [str(table).rstrip("\n")]


def test_cli_json(capsys):
    assert main(["copies", "lstm", "--steps", "2", "--wrt", "w_f", "--output", "sequence", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["network"]["output"] == "sequence" and data["wrt"] == "w_f"
    assert {c["copy"] for c in data["copies"] if c["role"] == "differentiated"} == {"w_f_1", "w_f_2"}


def test_cli_errors(capsys):
    assert main(["copies", "rnn", "--steps", "3", "--wrt", "w_z"]) == 2
    assert "unknown parameter 'w_z'" in capsys.readouterr().err
    assert main(["copies", "rnn", "--steps", "0"]) == 2
    assert "T (--steps) must be an integer from 1 to 100" in capsys.readouterr().err
    assert main(["copies", "rnn", "--steps", "101"]) == 2
    assert "T (--steps) must be an integer from 1 to 100, got 101" in capsys.readouterr().err


def test_cli_readme_example_with_a_stack(tmp_path, capsys, monkeypatch):
    """The README's example: a bare name with --layers 2 is layer 1's parameter."""
    monkeypatch.chdir(tmp_path)
    assert main(["copies", "lstm", "--steps", "4", "--wrt", "w^(f)", "--layers", "2",
                 "--svg", "lstm.svg", "--tikz", "lstm.tikz"]) == 0
    assert "dC/dw^(f)[1] for lstm, T = 4, output last, 2 layers" in capsys.readouterr().out
    assert (tmp_path / "lstm.svg").stat().st_size > 0 and (tmp_path / "lstm.tikz").stat().st_size > 0


def test_steps_limits_in_help(capsys):
    for command in ("copies", "quiz", "latex"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "1 to 100" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit):
        main(["explorer", "--help"])
    assert "1 to 16" in " ".join(capsys.readouterr().out.split())
