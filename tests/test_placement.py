"""Placing step expressions at a layer and a step, and copies as values (symrnn.placement)."""

import sympy

import symrnn
from symrnn.copies import CopyAnalysis
from symrnn.network import MASK, TOP
from symrnn.notation import Notation
from symrnn.placement import ParamCopy, Placement
from symrnn.rules import prev
from symrnn.unroll import Unrolled

S = sympy.Symbol


def test_the_copies_of_w_a_in_two_layers_are_values():
    unrolled = Unrolled(symrnn.network("rnn", layers=2), 3)
    for layer in (1, 2):
        copies = unrolled.param_copies(f"w_a_l{layer}")
        assert [(c.param, c.layer, c.step) for c in copies] == [("w_a", layer, t) for t in (1, 2, 3)]
        assert [c.name for c in copies] == [f"w_a_l{layer}_{t}" for t in (1, 2, 3)]
        assert all(unrolled.copy_of[c.symbol] == c for c in copies)
    head = unrolled.param_copies("w_y")
    assert [(c.param, c.layer, c.step, c.name) for c in head] == [("w_y", None, 3, "w_y_3")]


def test_every_copy_the_unrolled_network_reads_is_mapped_to_its_value():
    unrolled = Unrolled(symrnn.network("lstm", layers=2, output="sequence"), 2)
    cell_params = len(unrolled.network.cell.parameters)
    assert len(unrolled.copy_of) == 2 * cell_params * 2 + 2 * 2  # two layers, two steps; w_y, b_y at each step
    params = {s for s in unrolled.nested_cost().free_symbols if symrnn.naming.is_param_name(s.name)}
    assert params <= set(unrolled.copy_of)
    assert unrolled.copy_of[S("w_F_l2_1")] == ParamCopy("w_F", 2, 1, layers=2)


def test_copy_table_rows_are_the_copies_fields():
    net = symrnn.network("gru", layers=2, output="sequence")
    analysis = CopyAnalysis(net, 2)
    rows = analysis.table("w_z_l2").copies
    expected = [c for p in analysis.params for c in analysis.unrolled.param_copies(p)]
    assert [(r.copy, r.layer, r.step) for r in rows] == [(c.name, c.layer, c.step) for c in expected]
    assert {r.param for r in rows if r.layer == 2} == {c.network_param for c in expected if c.layer == 2}


def test_the_previous_state_at_step_one_is_the_initial_state():
    place = Placement(symrnn.network("lstm", layers=2))
    h_prev, c_prev = (place.graph.prev_symbols[S(name)] for name in ("h", "c"))
    assert place.at(h_prev, layer=2, time=1) == S("h0_l2")
    assert place.at(c_prev, layer=1, time=1) == S("c0_l1")
    assert place.at(c_prev, layer=1, time=3) == S("c_l1_2")
    assert place.at(c_prev, layer=2, time="t") == S("c_l2@t-1")
    h = sympy.Symbol("h")
    assert place.at(prev(h), layer=2, time=1) == S("h0_l2")  # a cell equation's prev(h) too


def test_inputs_parameters_and_copies():
    place = Placement(symrnn.network("rnn", layers=2))
    x, w_x, a = sympy.symbols("x w_x a")
    expr = w_x * x + a
    assert place.at(expr, 1, 3) == S("w_x_l1") * S("x_3") + S("a_l1_3")
    assert place.at(expr, 2, 3) == S("w_x_l2") * S("a_l1_3") + S("a_l2_3")  # layer 2 reads layer 1's state
    assert place.at(expr, 2, 3, copies=True) == S("w_x_l2_3") * S("a_l1_3") + S("a_l2_3")
    assert place.at(expr, 1, "t") == S("w_x_l1") * S("x@t") + S("a_l1@t")
    placeholder = sympy.Dummy("seed")
    assert place.at(placeholder * a, 1, 2) == placeholder * S("a_l1_2")  # a Dummy is the caller's


def test_one_layer_names_have_no_layer_suffix():
    place = Placement(symrnn.network("rnn"))
    assert place.at(S("w_a") * S("a_prev"), 1, 2, copies=True) == S("w_a_2") * S("a_1")
    assert place.copy_of("w_a", 2) == ParamCopy("w_a", 1, 2)
    assert (place.param_layer("w_y"), place.cell_param("w_a"), place.param_layer("w_a")) == (None, "w_a", 1)


def test_the_output_layer_at_a_step():
    place = Placement(symrnn.network("rnn", layers=2, output="sequence"))
    w_y, b_y, y_pre, y = sympy.symbols("w_y b_y y_pre y")
    expr = MASK * (w_y * TOP + b_y - y) + y_pre
    assert place.head_at(expr, 2) == MASK * (w_y * S("a_l2_2") + b_y - S("y_2")) + S("y_pre_2")
    one_item = place.head_at(expr, 2, copies=True, mask=sympy.Integer(1))
    assert one_item == S("w_y_2") * S("a_l2_2") + S("b_y_2") - S("y_2") + S("y_pre_2")


def test_notation_names_every_symbol_the_unrolled_network_places():
    net = symrnn.network("gru", layers=2, output="sequence")
    unrolled, notation = Unrolled(net, 2), Notation(net, 2)
    placed = set(unrolled.copy_of) | set(unrolled.initial.values()) | set(unrolled.inputs)
    vectors = [lhs for lhs, _ in net.cell.equations]
    placed |= {unrolled.at(v, layer, t) for v in vectors for layer in (1, 2) for t in (1, 2)}
    placed |= {sympy.Symbol(f"y_pre_{t}") for t in (1, 2)}
    assert placed <= set(unrolled.values) | set(unrolled.copy_of) | set(unrolled.initial.values()) | set(
        unrolled.inputs)
    assert placed - set(notation.names) == set()


def test_a_cell_whose_input_is_not_named_x_unrolls_and_derives_exactly():
    from symrnn import Cell, parameters, vectors
    from symrnn.derivation import Derivation
    from symrnn.verify import check_derivation

    u, a = vectors("u a")
    w_u, w_a, b_a = parameters("w_u w_a b_a")
    cell = Cell("urnn", input=u, states=[a], equations=[(a, sympy.tanh(symrnn.dot(w_u, u) + symrnn.dot(w_a, prev(a)) + b_a))])
    net = symrnn.network(cell, output="sequence")
    unrolled = Unrolled(net, 2)
    assert unrolled.inputs == [S("u_1"), S("u_2")]  # the cell's own input name, as the derivation writes it
    differences = check_derivation(Derivation(net, 2, wrt=["w_u", "w_a"]))
    assert len(differences) == 4 and max(differences.values()) < 1e-25
