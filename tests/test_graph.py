from symrnn.graph import Affine, Compute, flatten_cell
from symrnn.registry import get_cell


def nodes_by_name(cell):
    return {n.out.name: n for n in flatten_cell(cell).nodes}


def test_lstm_bias_joins_the_input_product_and_functions_get_nodes():
    nodes = nodes_by_name(get_cell("lstm"))
    assert nodes["u_f"] == Affine(nodes["u_f"].out, *map(__import__("sympy").Symbol, ["w_f", "x", "b_f"]))
    assert nodes["u_F"].bias is None and nodes["u_F"].arg.name == "h_prev"
    assert str(nodes["pre_f"].expr) == "u_F + u_f"
    assert str(nodes["tanh_c"].expr) == "tanh(c)"
    assert str(nodes["h"].expr) == "o*tanh_c"


def test_gru_reset_product_is_its_own_node():
    nodes = nodes_by_name(get_cell("gru"))
    assert str(nodes["v_G"].expr) == "h_prev*r"
    assert nodes["u_G"].arg.name == "v_G"


def test_pytorch_gru_recurrent_bias_stays_inside():
    nodes = nodes_by_name(get_cell("gru", "pytorch"))
    assert nodes["u_G"].bias.name == "b_G" and nodes["u_G"].arg.name == "h_prev"
    assert str(nodes["pre_g"].expr) == "r*u_G + u_g"


def test_nodes_are_in_computation_order():
    seen = set()
    graph = flatten_cell(get_cell("lstm"))
    inputs = {graph.input, *graph.prev_symbols.values()}
    for node in graph.nodes:
        needed = {node.arg} if isinstance(node, Affine) else {
            s for s in node.expr.free_symbols if not s.name.startswith(("w_", "b_"))}
        assert needed <= seen | inputs, node
        seen.add(node.out)
    assert all(isinstance(n, (Affine, Compute)) for n in graph.nodes)
