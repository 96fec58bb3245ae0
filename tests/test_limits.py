"""Budgets on the work a cell can cause (symrnn.budgets): adversarial files
within the language's limits are refused at once with a message naming the
budget, or their work stays small; the built-in and test cells stay well
within every budget. Times are measured in benchmarks/bench_adversarial.py;
the only time assertions here are coarse guards against a hang."""

import glob
import sys
import time
from pathlib import Path

import pytest
import sympy

from symrnn import budgets
from symrnn.cellfile import parse_cell
from symrnn.cli import main
from symrnn.derivation import Derivation
from symrnn.derive import derive_cell
from symrnn.errors import CellError, CellFileError
from symrnn.graph import flatten_cell, substitute
from symrnn.limits import MAX_STEPS
from symrnn.network import MAX_LAYERS, Network
from symrnn.registry import CELLS, get_cell, resolve_cell
from symrnn.unroll import Unrolled

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import bench_adversarial  # noqa: E402  the adversarial files

FILES = dict(bench_adversarial.adversarial_files())
GUARD = 10  # seconds: a hang guard only, far above what these take
HEADER = "cell adv\ninput x\nstate h\n"


def all_cells():
    cells = [get_cell(name, variant) for name, variants in CELLS.items() for variant in variants]
    cells += [get_cell("rnn", activation=a) for a in ("relu", "sigmoid", "identity")]
    return cells + [resolve_cell(path, None, None) for path in sorted(glob.glob("tests/cells/*.cell"))]


# The layer-normalized LSTM normalizes five vectors: 54 step nodes, within every budget but
# not five times over; its derivation at two layers stops at T = 37 (MAX_DERIVATION_NODES) and its
# copy analysis at T = 100 at three layers (MAX_UNROLLED_NODES).
LARGE = {"lstm_ln": 3, "lstmp": 5}  # lstmp: 21 nodes, its derivation at two layers stops at T = 95


def test_builtin_and_test_cells_are_well_within_every_budget():
    for cell in all_cells():
        graph = flatten_cell(cell)
        margin = LARGE.get(cell.name, 5)
        terms = max(budgets.polynomial_terms(p) for _, rhs in cell.equations for p in budgets._polynomials(rhs))
        assert terms * 50 <= budgets.MAX_POLYNOMIAL_TERMS, cell.name
        assert len(graph.nodes) * margin <= budgets.MAX_STEP_NODES, cell.name
        assert budgets.derivative_size(graph) * margin <= budgets.MAX_DERIVATIVE_SIZE, cell.name
        steps = {"lstm_ln": 37, "lstmp": 95, "lstmp_peephole": 95}.get(cell.name, MAX_STEPS)
        for layers in (1, 2):
            network = Network(cell, layers=layers)
            assert budgets.verify_size(network) <= budgets.MAX_VERIFY_SIZE, cell.name
            if cell.name != "lstm_ln":
                assert budgets.verify_size(network) * 2 <= budgets.MAX_VERIFY_SIZE, cell.name
            budgets.check_derivation(network, steps)  # latex at the largest T, two layers
        layers = MAX_LAYERS if cell.name != "lstm_ln" else 3
        budgets.check_unrolled(Network(cell, layers=layers), MAX_STEPS)  # copies, quiz at the largest


@pytest.mark.parametrize("function", bench_adversarial.FUNCTIONS)
def test_deep_nesting_of_each_function_is_cheap(function):
    start = time.perf_counter()
    cell = parse_cell(FILES[f"deep_{function}"])
    graph, adjoints = derive_cell(cell)
    Derivation(Network(cell), 3)  # rebuilds the nested equations at every step
    assert time.perf_counter() - start < GUARD


def test_function_calls_are_not_evaluated():
    # evaluated, tanh(-u) would become -tanh(u) and exp(exp(u))... would ask assumptions
    cell = parse_cell(HEADER + "h = tanh(-(w^(x) x)) + exp(tanh(h[t-1]))\n")
    rhs = cell.equations[0][1]
    assert any(isinstance(a, sympy.tanh) and a.args[0].could_extract_minus_sign() for a in rhs.args)
    u = sympy.Symbol("u")
    call = sympy.tanh(-u, evaluate=False)
    assert substitute(call, {u: sympy.Symbol("v")}) == sympy.tanh(-sympy.Symbol("v"), evaluate=False)


def refusal(text):
    with pytest.raises(CellFileError) as caught:
        parse_cell(text, path="adv.cell")
    return str(caught.value)


def test_composed_powers_are_refused_naming_the_budget():
    message = refusal(FILES["pow_issue"])
    assert message.startswith("adv.cell:4:1: cell 'adv', equation for h:")
    assert f"limit of {budgets.MAX_POLYNOMIAL_TERMS} terms" in message and "MAX_POLYNOMIAL_TERMS" in message
    assert "found up to 1166803110" in message
    for name in ("pow_tower", "pow_sum"):
        assert "MAX_POLYNOMIAL_TERMS" in refusal(FILES[name])


def test_polynomial_terms_bound():
    a, b, c = sympy.symbols("a b c")
    assert budgets.polynomial_terms((a + b + c)**4) == 15
    assert budgets.polynomial_terms((a + 1) * (b + 1) + c) == 5
    assert budgets.polynomial_terms(sympy.tanh((a + b)**16, evaluate=False)) == 1  # a call is one atom


def test_large_graphs_and_derivatives_are_refused_naming_the_budget():
    assert "MAX_STEP_NODES" in refusal(FILES["many_equations"])
    assert "MAX_STEP_NODES" in refusal(FILES["many_gates_dense"])
    assert "MAX_DERIVATIVE_SIZE" in refusal(FILES["long_product"])  # 40 partials of 39 factors
    assert "MAX_DERIVATIVE_SIZE" in refusal(FILES["many_gates_wide"])


def test_unrolled_and_derivation_budgets_refuse_before_work():
    lstm = Network(get_cell("lstm"), layers=MAX_LAYERS)
    start = time.perf_counter()
    with pytest.raises(CellError, match=r"exceeds the limit of \d+ nodes .*MAX_DERIVATION_NODES; found"):
        Derivation(lstm, MAX_STEPS)
    big = parse_cell(bench_adversarial._gates(40, lambda k: (f"tanh(w^(a{k}) x + w^(b{k}) h[t-1]"
                                                            + (f" + g{k - 1}" if k > 1 else ""), "", ")")))
    with pytest.raises(CellError, match="MAX_UNROLLED_NODES"):
        Unrolled(Network(big, layers=MAX_LAYERS), MAX_STEPS)
    assert time.perf_counter() - start < GUARD


def test_cli_refuses_with_one_error_line(tmp_path, capsys):
    path = tmp_path / "wide.cell"
    path.write_text(bench_adversarial._gates(40, lambda k: (f"tanh(w^(a{k}) x + w^(b{k}) h[t-1]"
                                                            + (f" + g{k - 1}" if k > 1 else ""), "", ")")))
    assert main(["verify", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symrnn: error: cell 'adv': verifying it exceeds the limit of") and "MAX_VERIFY_SIZE" in err
    path.write_text(FILES["pow_issue"])
    for command in (["cells"], ["generate", "-o", str(tmp_path / "m.py")], ["latex", "--steps", "3"],
                    ["copies"], ["quiz"]):
        argv = [command[0], str(path), *command[1:]]
        assert main(argv) == 2, argv
        assert "MAX_POLYNOMIAL_TERMS" in capsys.readouterr().err.splitlines()[0]
