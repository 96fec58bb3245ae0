"""A cell's names never collide with the names generated code makes.

Either the cell check refuses a name (saying why), or the generated module
computes exactly what the same cell with harmless names computes.
"""

import ast
import re
from pathlib import Path

import numpy as np
import pytest

import symrnn
from symrnn import naming
from symrnn.cellfile import parse_cell
from symrnn.codegen import render
from symrnn.codegen.planner import unsupported
from symrnn.errors import CellError
from symrnn.registry import CELLS, get_cell, resolve_cell

CELL_FILES = sorted(Path(__file__).parent.glob("cells/*.cell"))
WORD = re.compile(r"[a-z][a-z0-9]*\Z")


def every_cell():
    """Every built-in and test cell code generation supports (codegen.planner.unsupported)."""
    cells = [get_cell(n, v) for n, variants in CELLS.items() for v in variants] + [
        resolve_cell(str(p)) for p in CELL_FILES]
    return [cell for cell in cells if not unsupported(cell)]


def generated_identifiers(cell, layers, output):
    """``(bare, words)``: the identifiers bound or read in the layer functions of
    the module that are shaped like a vector name, and every '_'-separated word
    of any identifier of the module."""
    tree = ast.parse(render(symrnn.network(cell, layers=layers, output=output)))
    bare, words = set(), set()
    for function in tree.body:
        if not isinstance(function, ast.FunctionDef):
            continue
        for node in ast.walk(function):
            name = node.id if isinstance(node, ast.Name) else node.arg if isinstance(node, ast.arg) else None
            if name is None:
                continue
            words.update(w for w in name.split("_") if WORD.match(w))
            if function.name.startswith("_layer") and WORD.match(name):
                bare.add(name)
    return bare, words


@pytest.mark.parametrize("cell", every_cell(), ids=lambda c: c.name)
def test_bare_names_of_layer_functions_are_the_cells_or_reserved(cell):
    """A generated name in the scope of a cell's vectors is reserved, so no
    vector can shadow it; this fails when codegen starts using a new one."""
    vectors = {cell.input.name, *(s.name for s in cell.states), *(lhs.name for lhs, _ in cell.equations)}
    initial = {naming.initial_state_name(s.name) for s in cell.states}
    for layers, output in ((1, "last"), (2, "sequence")):
        bare, _ = generated_identifiers(cell, layers, output)
        unexpected = bare - vectors - initial - naming.RESERVED
        assert not unexpected, f"{cell.name}: generated names a vector could take: {sorted(unexpected)}"


def candidate_names():
    """Every word of every generated identifier, the initial-state names and
    a few plain words: the names most likely to collide."""
    words = set()
    for cell in every_cell():
        for layers, output in ((1, "last"), (2, "sequence")):
            words |= generated_identifiers(cell, layers, output)[1]
    return sorted(words | {"h0", "c0", "a0", "d", "u", "v", "g", "dh", "ok"})


TEMPLATE = """cell probe
input x
state c, h
{n} = sigmoid(w^(f) x + w^(F) h[t-1] + b^(f))
g = tanh(w^(g) x + w^(G) ({n} * h[t-1]) + b^(g))
c = {n} * c[t-1] + (1 - {n}) * g
h = tanh(c) * h[t-1] + g
"""


def loss_and_grads(cell):
    module = symrnn.load_module(symrnn.network(cell, output="sequence"))
    params = module.init_params(input_size=3, hidden_size=4, output_size=2, seed=1)
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3, 2, 3)), rng.normal(size=(3, 2, 2))
    return module.loss_and_grad(params, x, y, lengths=np.array([3, 2]))


def test_every_generated_word_as_a_gate_name_is_refused_or_harmless():
    reference_loss, reference = loss_and_grads(parse_cell(TEMPLATE.format(n="q")))
    refused, accepted = [], []
    for name in candidate_names():
        if name in ("c", "h", "g", "x"):  # the probe's own vectors
            continue
        try:
            cell = parse_cell(TEMPLATE.format(n=name))
        except CellError as error:
            assert name in str(error).splitlines()[0], str(error)  # the reason names the name
            refused.append(name)
            continue
        loss, grads = loss_and_grads(cell)
        assert loss == reference_loss, name
        assert grads.keys() == reference.keys()
        for key in grads:
            np.testing.assert_array_equal(grads[key], reference[key], err_msg=f"{name}: {key}")
        accepted.append(name)
    assert "h0" in refused and "c0" in refused and "prev" in refused and "np" in refused
    assert "d" in accepted and "u" in accepted


@pytest.mark.parametrize("text, message", [
    ("cell p\ninput x\nstate h\nh0 = tanh(w^(x) x)\nh = h0 * h[t-1]\n", "initial value of the state h 'h0'"),
    ("cell p\ninput h0\nstate h\nh = tanh(w^(x) h0) * h[t-1]\n", "initial value of the state h 'h0'"),
    ("cell p\ninput x\nstate h\nseq = tanh(w^(x) x)\nh = seq * h[t-1]\n", "joins it to vector names"),
    ("cell p\ninput x\nstate h\nsum = tanh(w^(x) x)\nh = sum * h[t-1]\n", "a Python built-in"),
    ("cell p\ninput x\nstate h\ncache = tanh(w^(x) x)\nh = cache * h[t-1]\n", "layer functions"),
])
def test_reserved_names_are_refused_with_the_reason(text, message):
    with pytest.raises(CellError, match=re.escape(message)):
        parse_cell(text)


def rebound_stores(function):
    """Names in ``function`` written through a subscript (``d_c_steps[t] = d_c``,
    a store of every step) and bound to another array by a plain assignment
    after that: two roles under one name, the second overwriting the first."""
    assignments = sorted((node for node in ast.walk(function) if isinstance(node, ast.Assign)),
                         key=lambda node: node.lineno)
    stored, rebound = set(), set()
    for node in assignments:
        for target in node.targets:
            if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                stored.add(target.value.id)
            elif isinstance(target, ast.Name) and target.id in stored:
                rebound.add(target.id)
    return rebound


@pytest.mark.parametrize("cell", every_cell(), ids=lambda c: c.name)
def test_no_store_of_every_step_is_rebound_to_another_array(cell):
    """One name, one role: the per-step adjoint of a state (d_c_steps) and the
    per-step adjoint of the product of that state (then d_proj_c_steps) once had
    the same name, and the state's adjoints came back as the product's."""
    for layers, output in ((1, "last"), (2, "sequence")):
        tree = ast.parse(render(symrnn.network(cell, layers=layers, output=output)))
        for function in (node for node in tree.body if isinstance(node, ast.FunctionDef)):
            assert not rebound_stores(function), f"{cell.name} {function.name}: {sorted(rebound_stores(function))}"
