"""Forms of cells the generator once got wrong, each a file in
``tests/cells/form_*.cell`` (found by running random cell files through
``symrnn verify``): checked through the generated module against finite
differences and by the engine against SymPy's ``diff`` of the nested cost."""

from pathlib import Path

import pytest

import symrnn
from symrnn.verify import check_gradients, check_unrolled, format_table

CELLS = Path(__file__).resolve().parent / "cells"
FORMS = sorted(p.stem for p in CELLS.glob("form_*.cell"))


def test_there_are_forms():
    assert len(FORMS) >= 2


@pytest.mark.parametrize("name", FORMS)
@pytest.mark.parametrize("output, layers, loss", [("last", 1, "xent"), ("sequence", 2, "squared")])
def test_generated_gradients_match_finite_differences(module_for, name, output, layers, loss):
    net, module = module_for(str(CELLS / f"{name}.cell"), layers=layers, output=output, loss=loss)
    for unequal in (False, True):
        result = check_gradients(module, net, unequal=unequal)
        assert result.passed, format_table([result])


@pytest.mark.parametrize("name", FORMS)
def test_engine_equals_sympy_diff_of_the_nested_cost(name):
    error, copies = check_unrolled(symrnn.network(str(CELLS / f"{name}.cell"), output="sequence"), 2)
    assert copies > 10 and error < 1e-25
