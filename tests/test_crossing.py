"""A fixed-seed slice of the construct-crossing generator (tests/crossing.py)
for CI: the generated cells that together hold every construct, each in two
configurations, checked against finite differences, the torch module,
copy-by-copy differences (truncation, per-step terms, state adjoints) and
SymPy; plus the three known classes of issue 23 and one crash the generator
found, each as a small cell of its own.

The long run is ``python3 tests/crossing.py --cells N --seed S``.
"""

import crossing
import pytest
from crossing import Config

import symrnn

SEED = 0
T, B = 3, 2


def covering_cells(seed, candidates=40):
    """Indices of generated cells that together hold every construct: greedily,
    the cell holding the most constructs not yet held (the first on ties)."""
    cells = [crossing.generate_cell(seed, index) for index in range(candidates)]
    chosen, held = [], set()
    while held != set(crossing.CONSTRUCTS):
        index = max(range(candidates), key=lambda k: (len(cells[k].constructs - held), -k))
        if not cells[index].constructs - held:
            break
        chosen.append(index)
        held |= cells[index].constructs
    return chosen


SLICE = covering_cells(SEED)
# Twelve configurations that cross layers 1-3, every output, both costs, both kinds of lengths and every
# window; the slice's cells take them in turn.
CONFIGS = [(1, "last", "squared", True, None), (2, "sequence", "xent", False, 1), (3, "states", "squared", True, 2),
           (1, "sequence", "squared", False, "T"), (2, "last", "xent", True, 2), (1, "states", "squared", False, 1),
           (2, "sequence", "squared", True, None), (3, "last", "xent", True, "T"), (1, "last", "xent", False, 2),
           (2, "states", "squared", True, "T"), (1, "sequence", "xent", True, 1), (3, "sequence", "squared", False, None)]
CASES = [(SLICE[k % len(SLICE)], Config(*config, T=T, B=B)) for k, config in enumerate(CONFIGS)]


def case_id(case):
    index, config = case
    return f"n{index}-l{config.layers}-{config.output}-{config.loss}-{'u' if config.unequal else 'e'}-K{config.window}"


def fail_message(index, config, failures):
    cell = crossing.generate_cell(SEED, index)
    return "\n".join(crossing.Failure(cell, config, check, *f).report() for check, f in failures)


# --------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------


def test_the_slice_holds_every_construct():
    held = set().union(*(crossing.generate_cell(SEED, index).constructs for index in SLICE))
    assert held == set(crossing.CONSTRUCTS)
    assert len(SLICE) <= 8


def test_generation_is_deterministic():
    assert crossing.generate_cell(3, 7) == crossing.generate_cell(3, 7)
    assert crossing.generate_cell(3, 7).text != crossing.generate_cell(3, 8).text
    assert crossing.configs_for(3, 7, 4) == crossing.configs_for(3, 7, 4)


def test_the_slice_crosses_every_configuration_value():
    for position, values in enumerate([(1, 2, 3), crossing.OUTPUTS, ("squared", "xent"), (False, True),
                                       crossing.TRUNCATES]):
        assert {config[position] for config in CONFIGS} == set(values)


def test_configurations_cross_everything():
    combos = crossing.all_configs()
    assert len(combos) == 3 * (2 * 2 + 1) * 2 * 4
    first = {c for index in range(30) for c in crossing.configs_for(SEED, index, 4)}
    assert {(c.layers, c.output, c.loss, c.unequal, c.truncate) for c in first} == set(combos)


@pytest.mark.parametrize("index", range(40))
def test_every_generated_cell_is_accepted_by_code_generation(index):
    cell = crossing.generate_cell(SEED, index)
    net = symrnn.network(symrnn.parse_cell(cell.text), layers=2, output="sequence")
    assert "def backward" in symrnn.generate(net)


# --------------------------------------------------------------------------
# The slice
# --------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gradients_per_step_terms_and_windows(case):
    """Finite differences of the NumPy module's cost, per-step sums, and
    copy-by-copy differences of the truncated cost (state adjoints too)."""
    index, config = case
    text = crossing.generate_cell(SEED, index).text
    failures = [("fd", f) for f in crossing.check_fd(text, config)]
    failures += [("per_step", f) for f in crossing.check_per_step(text, config)]
    failures += [("reference", f) for f in crossing.check_reference(text, config) or []]
    assert not failures, fail_message(index, config, failures)


@pytest.mark.parametrize("case", CASES[::2], ids=case_id)
def test_torch_module_equals_the_numpy_module(case):
    pytest.importorskip("torch")
    index, config = case
    text = crossing.generate_cell(SEED, index).text
    failures = [("torch", f) for f in crossing.check_torch(text, config, gradcheck=case == CASES[0])]
    assert not failures, fail_message(index, config, failures)


@pytest.mark.parametrize("case", CASES[::2], ids=case_id)
def test_jax_module_equals_the_numpy_module(case):
    """Outputs, final states and every gradient, the final states' adjoints seeding both backwards."""
    pytest.importorskip("jax")
    index, config = case
    text = crossing.generate_cell(SEED, index).text
    failures = [("jax", f) for f in crossing.check_jax(text, config)]
    assert not failures, fail_message(index, config, failures)


@pytest.mark.parametrize("case", [CASES[0], CASES[2]], ids=case_id)  # CASES[1]'s cell takes ~90 s at vector units
def test_engine_equals_sympy_diff(case):
    """One layer with several units (T = 1: means, transposed weights,
    further sizes), and the truncated cost at T = 3 with one unit."""
    index, config = case
    text = crossing.generate_cell(SEED, index).text
    symbolic = Config(1, config.output, config.loss, False, 1 + SLICE.index(index) % 2, T, B)
    outcomes = {"sympy": crossing.check_sympy(text, symbolic, seconds=60),
                "truncated_sympy": crossing.check_truncated_sympy(text, symbolic, seconds=60)}
    assert None not in outcomes.values(), "a SymPy check took over 60 s"
    failures = [(check, f) for check, outcome in outcomes.items() for f in outcome]
    assert not failures, fail_message(index, symbolic, failures)


# --------------------------------------------------------------------------
# The known classes of issue 23, and what the generator found
# --------------------------------------------------------------------------

MEAN_AND_FURTHER_SIZE = """cell t
input x
state h, r
size r P
h = tanh(w^(x) x + w^(R) r[t-1] + w^(h) h[t-1])
r = (w^(r) h) + mean(h)
"""
PREVIOUS_INPUT = """cell q
input x
state c
output h
z = tanh(w^(z) x + w^(Z) x[t-1] + b^(z))
f = sigmoid(w^(f) x + w^(F) x[t-1] + b^(f))
c = f * c[t-1] + (1 - f) * z
h = sigmoid(w^(o) x) * c
"""
READ_THROUGH_A_WEIGHT = """cell scrn
input x
state c, s
c = tanh(w^(c) x + w^(S) s[t-1] + w^(k) c[t-1])
s = w^(s) c
"""


def _known(text, config, checks):
    failures = []
    for check in checks:
        outcome = getattr(crossing, f"check_{check}")(text, config) or []
        failures += [(check, f) for f in outcome]
    return failures


@pytest.mark.parametrize("layers, output", [(1, "sequence"), (2, "last")])
def test_mean_in_a_cell_with_a_further_size(layers, output):
    """Known class 1: the gradients of such a cell (finite differences) and its state adjoints."""
    config = Config(layers, output, "squared", True, None, T, B)
    failures = _known(MEAN_AND_FURTHER_SIZE, config, ["fd", "reference"])
    assert not failures, failures


@pytest.mark.parametrize("layers, output, truncate", [(2, "last", 1), (2, "sequence", 2), (3, "sequence", 1)])
def test_truncation_in_a_stack_of_cells_that_read_the_previous_input(layers, output, truncate):
    """Known class 2: x[t-1] of a layer >= 2 entering the window is a constant."""
    config = Config(layers, output, "squared", False, truncate, T + 1, B)
    failures = _known(PREVIOUS_INPUT, config, ["reference"])
    assert not failures, failures


@pytest.mark.parametrize("layers", [1, 2])
def test_state_adjoints_of_a_state_read_through_a_weight(layers):
    """Known class 3: per_step state adjoints of c, which s = w^(s) c reads in the same step."""
    config = Config(layers, "sequence", "squared", True, None, T, B)
    failures = _known(READ_THROUGH_A_WEIGHT, config, ["reference"])
    assert not failures, failures


@pytest.mark.parametrize("equation", [
    "h = h[t-1] + max(tanh(w^(x) x + w^(h) h[t-1]), -0.5)",
    "h = 0.5 * max(tanh(w^(x) x + w^(h) h[t-1]), -0.5)",
    "h = tanh(max(w^(x) x + w^(h) h[t-1], -0.5))",
])
def test_max_of_a_constant_inside_an_expression(equation):
    """Found by the generator: max(v, c) of a constant c is generated as a
    whole right-hand side (tests/codegen_cells/max_rnn.cell) but crashed
    code generation anywhere else (AttributeError: 'Float' object has no
    attribute 'name', in graph.Flattener.lower)."""
    text = f"cell t\ninput x\nstate h\n{equation}\n"
    config = Config(1, "sequence", "squared", True, None, T, B)
    assert crossing.check_fd(text, config) == []


def test_gain_on_a_previous_state_inside_a_power_in_the_torch_backend():
    """Found by the generator: the torch module's backward raised
    UnboundLocalError (u_p in _layer_backward) for a gain times a previous
    state inside a product or power; the NumPy module is right."""
    pytest.importorskip("torch")
    text = "cell t\ninput x\nstate h\nh = (g^(F) * h[t-1] + w^(p) x)^2\n"
    config = Config(1, "sequence", "squared", True, None, T, B)
    assert crossing.check_fd(text, config) == []
    assert crossing.check_torch(text, config) == []


def test_check_unrolled_of_a_layer_normalized_cell():
    """Found by the generator: verify.check_unrolled raised KeyError h0 for a
    cell with layer normalization (at one unit u - mean(u) is 0, the cost
    does not depend on h0, but the engine's adjoints name it): lstm_ln too."""
    text = ("cell t\ninput x\nstate h\nu = w^(x) x + w^(h) h[t-1]\nm = u - mean(u)\n"
            "h = tanh(g^(n) * m / sqrt(mean(m^2) + 1e-5) + b^(n))\n")
    error, _ = crossing.check_unrolled(symrnn.network(symrnn.parse_cell(text), output="sequence"), 2)
    assert error < crossing.SYMPY
