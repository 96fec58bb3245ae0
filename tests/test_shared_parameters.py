"""A parameter in more than one place of a cell: its gradient is the sum of
the gradients of its uses.

The generator fuses products into groups, and a weight may then stand twice
in one group (``w^(x) x`` plain and scaled) or in several groups; a bias may
be shared by gates or also be an elementwise factor. Each cell of
``tests/cells/shared_*.cell`` is checked through its generated module against
finite differences and by the engine's unrolled gradient against SymPy's
``diff`` of the fully nested cost.
"""

from pathlib import Path

import numpy as np
import pytest

import symrnn
from symrnn.verify import check_gradients, check_unrolled, format_table

CELLS = Path(__file__).resolve().parent / "cells"
SHARED = sorted(p.stem for p in CELLS.glob("shared_*.cell"))


def test_the_family_has_its_four_cells():
    assert SHARED == ["shared_everywhere", "shared_gates", "shared_input_slot", "shared_same_product"]


@pytest.mark.parametrize("name", SHARED)
@pytest.mark.parametrize("output, layers, loss", [("last", 1, "squared"), ("sequence", 2, "xent")])
def test_generated_gradients_match_finite_differences(module_for, name, output, layers, loss):
    net, module = module_for(str(CELLS / f"{name}.cell"), layers=layers, output=output, loss=loss)
    for unequal in (False, True):
        result = check_gradients(module, net, unequal=unequal)
        assert result.passed, format_table([result])


@pytest.mark.parametrize("name", SHARED)
def test_a_weight_twice_in_one_group_gets_the_sum_of_its_blocks(name):
    source = symrnn.render(symrnn.network(str(CELLS / f"{name}.cell")))
    source = source[source.index("def _layer_backward("):]
    source = source[:source.index("\ndef ")]
    assert sum(source.count(f'grads["{w}"] =') for w in ("w_h", "w_f", "w_x", "w_a")) <= 2
    if name == "shared_same_product":
        assert 'grads["w_x"] = grad_blocks[0] + grad_blocks[1]' in source


def test_a_parameter_whose_uses_cancel_has_a_zero_gradient(module_for):
    net, module = module_for(str(CELLS / "cancelling_bias.cell"), output="sequence")
    params = module.init_params(3, 4, 2, seed=0)
    x = np.random.default_rng(0).normal(size=(5, 2, 3))
    _, grads = module.loss_and_grad(params, x, np.ones((5, 2, 2)), state0={"h0": np.full((2, 4), 0.1)})
    assert np.array_equal(grads["b_b"], np.zeros(4)) and np.abs(grads["w_a"]).max() > 0
    error, copies = check_unrolled(net, 3)
    assert copies > 5 and error < 1e-25


def test_groups_of_one_vector_have_names_of_their_own():
    """Three groups multiply the input: each has its own projection."""
    source = symrnn.render(symrnn.network(str(CELLS / "shared_input_slot.cell")))
    assert all(source.count(f"{name} = (inputs.reshape") == 1 for name in ("proj_x", "proj_x_2", "proj_x_3"))


@pytest.mark.parametrize("name", SHARED)
@pytest.mark.parametrize("output", ["last", "sequence"])
def test_engine_equals_sympy_diff_of_the_nested_cost(name, output):
    error, copies = check_unrolled(symrnn.network(str(CELLS / f"{name}.cell"), output=output), 3)
    assert copies > 10 and error < 1e-25
