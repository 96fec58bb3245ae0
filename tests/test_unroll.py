import pytest
import sympy

import symrnn
from symrnn.errors import ConfigError
from symrnn.unroll import Unrolled, copy_symbol
from symrnn.verify import check_unrolled

CELLS = [("rnn", None, "tanh"), ("rnn", None, "relu"), ("rnn", None, "sigmoid"),
         ("lstm", None, None), ("gru", "notes", None), ("gru", "pytorch", None)]


@pytest.mark.parametrize("cell,variant,activation", CELLS)
@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("steps", [1, 2, 3])
def test_engine_equals_sympy_diff_of_the_nested_cost(cell, variant, activation, output, steps):
    net = symrnn.network(cell, variant=variant, activation=activation, output=output)
    error, copies = check_unrolled(net, steps)
    assert copies >= steps * len(net.cell.parameters)
    assert error < 1e-25


@pytest.mark.parametrize("cell,variant", [("rnn", None), ("gru", "pytorch"), ("lstm", None)])
def test_two_layers(cell, variant):
    error, _ = check_unrolled(symrnn.network(cell, variant=variant, layers=2, output="sequence"), 2)
    assert error < 1e-25


def test_rnn_gradient_is_exactly_sympys():
    unrolled = Unrolled(symrnn.network("rnn", output="sequence"), 2)
    cost = unrolled.nested_cost()
    for copy in unrolled.copies("w_a"):
        engine = unrolled.expand(unrolled.copy_gradient(copy))
        assert sympy.expand(engine - sympy.diff(cost, copy)) == 0


def test_copies_are_distinct_symbols_per_step():
    unrolled = Unrolled(symrnn.network("rnn"), 3)
    assert unrolled.copies("w_x") == [copy_symbol("w_x", t) for t in (1, 2, 3)]
    assert unrolled.copies("w_y") == [copy_symbol("w_y", 3)]  # one output, at the last step
    cost = unrolled.nested_cost()
    assert {s.name for s in cost.free_symbols} >= {"w_x_1", "w_x_2", "w_x_3", "w_a_1", "a0", "x_1", "y_3"}


def test_first_recurrent_copy_is_zero_with_zero_initial_state():
    unrolled = Unrolled(symrnn.network("rnn"), 3)
    gradient = unrolled.expand(unrolled.copy_gradient(copy_symbol("w_a", 1)))
    assert gradient != 0 and gradient.subs(sympy.Symbol("a0"), 0) == 0


def test_total_gradient_is_the_sum_over_copies():
    unrolled = Unrolled(symrnn.network("rnn"), 2)
    parts = [unrolled.copy_gradient(c) for c in unrolled.copies("w_x")]
    assert unrolled.gradient("w_x") == sympy.Add(*parts)


def test_bad_unroll_requests():
    with pytest.raises(ConfigError, match="positive integer"):
        Unrolled(symrnn.network("rnn"), 0)
    with pytest.raises(ConfigError, match="softmax"):
        Unrolled(symrnn.network("rnn", loss="xent"), 2)


def test_total_derivative_of_the_shared_weight_is_the_sum_over_copies():
    """With every copy set to the one shared weight, the summed copy gradients
    are the total derivative of the cost with respect to that weight."""
    unrolled = Unrolled(symrnn.network("rnn", output="sequence"), 2)
    shared = unrolled.identify_copies(unrolled.nested_cost())
    for param in ("w_x", "w_a", "b_a", "w_y"):
        total = unrolled.identify_copies(unrolled.expand(unrolled.gradient(param)))
        assert sympy.expand(total - sympy.diff(shared, sympy.Symbol(param))) == 0
