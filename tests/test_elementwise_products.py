"""An elementwise factor on a matrix product (issue 10, item 1).

Multiplicative integration (Wu et al. 2016) and its relatives scale a product
w·v elementwise by a parameter (a *gain*), by a vector computed at each step
(a gate), or by both, on the recurrent product, the input product, a sum of
products or a product that feeds another. The adjoint of such a product's
slot is then the gain times the adjoint of the sum it enters; backward fills
each slot's local derivative for all steps at once before its time loop, and
there a parameter is the same at every step: it is broadcast, not read from a
per-step array (``b_a_seq`` did not exist: NameError).

Each cell of the family in ``tests/cells/mi_*.cell`` is checked (a) through its
generated module against finite differences and (b) by the engine's unrolled
gradient against SymPy's ``diff`` of the fully nested cost.
"""

from pathlib import Path

import pytest

import symrnn
from symrnn.verify import check_gradients, check_unrolled, format_table, verify_network

CELLS = Path(__file__).resolve().parent / "cells"

# Each cell of the family, and its gains: the parameters that scale a product.
FAMILY = {
    "mi_rnn": ["b_a"],  # on the recurrent product: the issue's cell
    "mi_input": ["b_a"],  # on the input product
    "mi_sum": ["b_a"],  # on a sum of both products
    "mi_two_params": ["b_a", "b_c"],  # two gains, one after the other
    "mi_gate": [],  # a gate (computed at each step) on the recurrent product
    "mi_gain_gate": ["b_a", "b_c"],  # a gain and a gate together, a gain on the input product
    "mi_full": ["b_a", "b_p", "b_q"],  # a*(Wx)*(Uh) + p*(Uh) + q*(Wx): products of products
    "mi_nested": ["b_a"],  # between two products
    "mi_linear": ["b_a"],  # on the product of a state no function activates
    "mi_lstm": ["b_F", "b_I", "b_G", "b_gx"],  # several gated slots of one group
}


def family_network(name, **options):
    return symrnn.network(str(CELLS / f"{name}.cell"), **options)


class GainsNearOne:
    """A generated module whose ``init_params`` draws every gain from (0.5, 1.5),
    as multiplicative-integration RNNs start from gain 1. With its usual
    draw (|gain| < 0.5) two gains in a row make the gradient of the initial
    state ~1e-8 of the others' after four steps, which central differences
    do not resolve to the check's relative tolerance."""

    def __init__(self, module, network, gains):
        self.module = module
        self.shifted = {full for layer in range(1, network.layers + 1)
                        for name, full in network.layer_params(layer) if name in gains}

    def __getattr__(self, attr):
        return getattr(self.module, attr)

    def init_params(self, *args, **kwargs):
        params = self.module.init_params(*args, **kwargs)
        return {name: value + 1 if name in self.shifted else value for name, value in params.items()}


def test_the_family_is_in_tests_cells():
    assert {p.stem for p in CELLS.glob("mi_*.cell")} == set(FAMILY)


@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("loss", ["squared", "xent"])
def test_the_issues_cell_verifies(module_for, output, layers, loss):
    """The issue's multiplicative-integration RNN, as ``symrnn verify`` checks it."""
    net, _ = module_for(str(CELLS / "mi_rnn.cell"), layers=layers, output=output, loss=loss)
    results = verify_network(net)
    assert all(r.passed for r in results), format_table(results)


FD_CASES = [(name, output, 1, "squared") for name in FAMILY for output in ("last", "sequence")] + [
    ("mi_two_params", "sequence", 2, "squared"),
    ("mi_full", "last", 2, "xent"),
    ("mi_gain_gate", "sequence", 2, "xent"),
    ("mi_lstm", "last", 2, "squared"),
    ("mi_sum", "last", 1, "xent"),
]


@pytest.mark.parametrize("name,output,layers,loss", FD_CASES)
def test_generated_gradients_match_finite_differences(module_for, name, output, layers, loss):
    net, module = module_for(str(CELLS / f"{name}.cell"), layers=layers, output=output, loss=loss)
    module = GainsNearOne(module, net, FAMILY[name])
    for unequal in (False, True):
        result = check_gradients(module, net, unequal=unequal)
        assert result.passed, format_table([result])


@pytest.mark.parametrize("name", FAMILY)
def test_no_parameter_is_read_per_step(name):
    """A gain is the same at every step: generated code uses the parameter
    itself and keeps no per-step array of it."""
    net = family_network(name, layers=2, output="sequence")
    source = symrnn.render(net)
    for param in net.cell.parameters:
        assert f"{param.name}_seq" not in source


UNROLLED_CASES = [(name, output, 1, 2 if name == "mi_lstm" else 3)
                  for name in FAMILY for output in ("last", "sequence")] + [
    ("mi_rnn", "sequence", 2, 2),
    ("mi_two_params", "last", 2, 2),
    ("mi_gain_gate", "sequence", 2, 2),
]


@pytest.mark.parametrize("name,output,layers,steps", UNROLLED_CASES)
def test_engine_equals_sympy_diff_of_the_nested_cost(name, output, layers, steps):
    net = family_network(name, layers=layers, output=output)
    error, copies = check_unrolled(net, steps)
    assert copies >= steps * len(net.cell.parameters)
    assert error < 1e-25
