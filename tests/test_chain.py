"""The chain-rule mathematics of derivations (symrnn.chain) against SymPy's diff of the unrolled network."""

import random

import sympy

import symrnn
from symrnn.chain import JACOBIAN, OUTPUT, PARAMETER, ChainAtom, ChainRule, local_derivatives
from symrnn.derived import derive_network
from symrnn.unroll import scalar
from symrnn.verify import _reference_functions, _with_reference_functions

S = sympy.Symbol


def rule_for(cell, steps, **options):
    truncate = options.pop("truncate", None)
    return ChainRule(derive_network(symrnn.network(cell, **options)), steps, truncate=truncate)


def in_terms_of(expr, unrolled, keep):
    """``expr`` with every forward value replaced by its definition, except the symbols ``keep``."""
    while True:
        mapping = {s: unrolled.values[s] for s in expr.free_symbols if s in unrolled.values and s not in keep}
        if not mapping:
            return expr
        expr = expr.xreplace(mapping)


def numerically_equal(a, b, symbols, seed=0, tolerance=1e-12):
    """``a`` and ``b`` agree at a random point (sigmoid and the like by their definitions)."""
    functions, modules = _reference_functions()
    rng = random.Random(seed)
    symbols = sorted(symbols, key=str)
    point = [rng.uniform(-1, 1) for _ in symbols]
    a, b = (sympy.lambdify(symbols, _with_reference_functions(e, functions), modules) for e in (a, b))
    return abs(float(a(*point)) - float(b(*point))) < tolerance


def test_the_rnn_step_jacobian_is_sympys_diff_of_the_unrolled_state():
    rule = rule_for("rnn", 3)
    u = rule.unrolled
    a_2, a_3 = S("a_2"), S("a_3")
    a_3_of_a_2 = in_terms_of(a_3, u, keep={a_2})
    reference = sympy.diff(a_3_of_a_2, a_2)
    chain = in_terms_of(rule.state_derivative(1, "a", 1, "a", 3), u, keep={a_2})
    assert chain.has(S("w_a_3")) and not chain.has(S("w_a_2"))  # the copy step 3 uses
    assert sympy.simplify(chain - reference) == 0


def test_the_generic_step_jacobian_is_in_the_notes_symbols():
    rule = rule_for("rnn", 3)
    assert rule.state_derivative(1, "a", 1, "a", "t") == S("w_a") * (1 - S("a@t") ** 2)


def test_the_lstm_jacobian_matrix_is_sympys_diff_of_both_states():
    rule = rule_for("lstm", 2)
    u = rule.unrolled
    before = [S("c_1"), S("h_1")]
    after = [in_terms_of(S(name), u, keep=set(before)) for name in ("c_2", "h_2")]
    assert [s for _, s in rule.states] == ["c", "h"]
    jacobian = rule.atom_value(rule.atom(JACOBIAN, 2))
    symbols = set().union(*(e.free_symbols for e in after)) | set(before)
    for i, state in enumerate(after):
        for j, previous in enumerate(before):
            entry = in_terms_of(jacobian[i, j], u, keep=set(before))
            reference = sympy.diff(_with_reference_functions(state, _reference_functions()[0]), previous)
            assert numerically_equal(entry, reference, symbols), (i, j)


def test_parameter_and_output_derivatives_are_sympys():
    rule = rule_for("rnn", 2)
    u = rule.unrolled
    a_1, w_x_2 = S("a_1"), S("w_x_2")
    a_2 = in_terms_of(S("a_2"), u, keep={a_1})
    local = in_terms_of(rule.parameter_derivative(1, "a", "w_x", 2), u, keep={a_1})
    assert sympy.simplify(local - sympy.diff(a_2, w_x_2)) == 0
    cost = u.cost.xreplace({S("y_pre_2"): u.values[S("y_pre_2")]})  # C_2 in a_2
    output = in_terms_of(rule.output_derivative(1, "a", 2), u, keep={S("a_2")})
    assert sympy.expand(output - sympy.diff(cost, S("a_2"))) == 0


def test_a_lower_layer_parameter_reaches_the_top_state_through_the_layer_input():
    rule = rule_for("rnn", 2, layers=2)
    u = rule.unrolled
    keep = {S("a_l1_1"), S("a_l2_1")}
    top = in_terms_of(S("a_l2_2"), u, keep)
    chain = in_terms_of(rule.parameter_derivative(2, "a", "w_x_l1", 2), u, keep)
    assert sympy.simplify(chain - sympy.diff(top, S("w_x_l1_2"))) == 0
    assert rule.parameter_derivative(1, "a", "w_x_l2", 2) == 0  # layer 2's weights do not reach layer 1


def test_chains_are_ordered_products_of_atoms():
    rule = rule_for("rnn", 3)
    chain = rule.chain("w_x", 1)
    assert chain.args == tuple(ChainAtom(k, t, p).symbol for k, t, p in [
        (OUTPUT, 3, None), (JACOBIAN, 3, None), (JACOBIAN, 2, None), (PARAMETER, 1, "w_x")])
    assert rule.atoms[chain.args[-1]] == ChainAtom(PARAMETER, 1, "w_x")
    sequence = rule_for("rnn", 2, output="sequence")
    assert sequence.chain("w_x", 1) == (ChainAtom(OUTPUT, 1).symbol + ChainAtom(OUTPUT, 2).symbol
                                        * ChainAtom(JACOBIAN, 2).symbol) * ChainAtom(PARAMETER, 1, "w_x").symbol


def test_truncation_windows():
    last = rule_for("rnn", 3, truncate=2)
    assert [last.window(k) for k in (1, 2, 3)] == [[], [3], [3]]
    assert last.chain("w_x", 1) is None
    sequence = rule_for("rnn", 3, output="sequence", truncate=2)
    assert [sequence.window(k) for k in (1, 2, 3)] == [[1, 2], [2, 3], [3]]


def _chain_value(rule, expr):
    if expr.is_Add:
        return sum((_chain_value(rule, a) for a in expr.args[1:]), _chain_value(rule, expr.args[0]))
    if expr.is_Mul:
        value = _chain_value(rule, expr.args[0])
        for factor in expr.args[1:]:
            value = value * _chain_value(rule, factor)
        return value
    return rule.atom_value(expr)


def test_each_copys_chain_equals_its_gradient():
    rule = rule_for("gru", 2, output="sequence")
    u = rule.unrolled
    for param in ("w_z", "w_Z", "b_g"):
        for copy in u.param_copies(param):
            chain = _chain_value(rule, rule.chain(param, copy.step))
            assert chain.shape == (1, 1)
            expected = u.expand(u.copy_gradient(copy.symbol)).xreplace({S("mask"): 1})
            value = u.expand(chain[0, 0])
            assert numerically_equal(value, expected, value.free_symbols | expected.free_symbols), copy


def test_copy_terms_are_the_unrolled_networks_copy_gradients():
    rule = rule_for("lstm", 2, layers=2)
    u = rule.unrolled
    for param in ("w_f_l1", "w_O_l2", "b_g_l2"):
        for copy in u.param_copies(param):
            assert scalar(rule.copy_term(param, copy.step, copies=True)) == u.copy_gradient(copy.symbol)


def test_local_derivatives_of_the_rnn():
    graph = derive_network(symrnn.network("rnn")).graph
    nodes = {n.out.name: n for n in graph.nodes}
    shown = {S("a"), S("pre_a")}
    assert dict(local_derivatives(graph, nodes["a"], shown)) == {S("pre_a"): 1 - S("a") ** 2}
    assert dict(local_derivatives(graph, nodes["pre_a"], shown)) == {
        S("x"): S("w_x"), S("a_prev"): S("w_a"), S("w_x"): S("x"), S("w_a"): S("a_prev"), S("b_a"): 1}


def test_the_written_out_gradient_size_counts_without_expanding():
    rule = rule_for("rnn", 2)
    # pre_a_1 = u_a_1 + u_x_1 = a0*w_a_1 + (b_a_1 + w_x_1*x_1): each definition counted where it is used,
    # 1 + 3 + 5 = 9 nodes (SymPy's flattened sum would have 8); a_1 = tanh(pre_a_1) one more
    assert [rule.expanded_size(S(name)) for name in ("x_1", "u_x_1", "pre_a_1", "a_1")] == [1, 5, 9, 10]
    assert rule.expanded_size(S("a_1") + S("x_1")) == 12
    assert rule.expanded_gradient("w_x").free_symbols >= {S("w_x_1"), S("w_x_2"), S("x_1"), S("a0")}
