"""The copy-by-copy reference (symrnn.copy_differences): what it defines
(windows, leaves, constants), that generated modules agree with it, and that
it fails a module whose per-step terms, state adjoints or gradients are off.

The three classes of issue 23 (mean with a further size, truncation of a
stack of qrnn, the SCRN-like state adjoints) were seen failing here before
their fixes; they are left to the tests that come with those fixes.
"""

import numpy as np
import pytest

import symrnn
from symrnn.codegen import load_module
from symrnn.copy_differences import (
    FUNCTIONS,
    MAX_COPY_WORK,
    WindowRows,
    array_labels,
    check_size,
    check_window,
    copy_work,
    reference,
    window_steps,
)
from symrnn.errors import CellError
from symrnn.rules import ELEMENTWISE, ROW_FUNCTIONS
from symrnn.verify import format_table, streamed_table

# (cell, layers, output, truncate): every rnn configuration, a slice of the LSTM's and GRU's
AGREEMENT = (
    [("rnn", layers, output, k) for layers in (1, 2) for output in ("last", "sequence") for k in (None, 1, 2)]
    + [(cell, 1, "last", None) for cell in ("lstm", "gru")]
    + [(cell, 1, "sequence", 2) for cell in ("lstm", "gru")]
    + [(cell, 2, "sequence", 1) for cell in ("lstm", "gru")]
    + [(cell, 2, "last", 2) for cell in ("lstm", "gru")]
    + [("gru", 2, "sequence", None)]
)


@pytest.mark.parametrize("cell, layers, output, truncate", AGREEMENT)
def test_generated_modules_agree_with_the_reference(cell, layers, output, truncate):
    result = check_window(symrnn.network(cell, layers=layers, output=output), truncate=truncate, unequal=True)
    assert result.passed, format_table([result])


def test_equal_lengths_xent_and_states_agree():
    for net in [symrnn.network("gru", output="sequence", loss="xent"), symrnn.network("rnn", output="states")]:
        for truncate in (None, 2):
            result = check_window(net, truncate=truncate)
            assert result.passed, format_table([result])


# --- a wrong module fails ---------------------------------------------------------------------


class _Wrong:
    """A generated module whose loss_and_grad returns one array changed by
    ``change`` (left out where ``change`` returns None)."""

    def __init__(self, module, kind, name, change):
        self.module, self.kind, self.name, self.change = module, kind, name, change

    def __getattr__(self, attribute):
        return getattr(self.module, attribute)

    def loss_and_grad(self, *args, **kwargs):
        loss, grads = self.module.loss_and_grad(*args, **kwargs)
        arrays = grads if self.kind == "grads" else grads[self.kind]
        changed = self.change(arrays[self.name].copy())
        if changed is None:
            del arrays[self.name]
        else:
            arrays[self.name] = changed
        return loss, grads


def _relative(array):
    return array * (1 + 1e-4)


def _one_step(array):
    array[1] *= 1 + 1e-4  # one step's term only: the sum over the steps moves far less
    return array


@pytest.mark.parametrize("kind, name, change, worst", [
    ("per_step", "w_a", _relative, "per_step w_a"),
    ("per_step", "w_x", _one_step, "per_step w_x"),
    ("state_adjoints", "a", _one_step, "adjoint a"),
    ("grads", "b_a", _relative, "b_a"),
    ("grads", "a0", _relative, "a0"),
    ("per_step", "w_y", lambda a: a[:, :1], "per_step w_y"),  # a wrong shape
])
def test_a_wrong_array_fails_and_is_named(kind, name, change, worst):
    net = symrnn.network("rnn", output="sequence")
    module = _Wrong(load_module(net), kind, name, change)
    for truncate in (None, 2):
        result = check_window(net, truncate=truncate, unequal=True, module=module)
        assert not result.passed and result.worst == worst, format_table([result])
        assert result.max_error > 1e-5


def test_a_state_adjoint_missing_fails():
    net = symrnn.network("lstm")
    module = _Wrong(load_module(net), "state_adjoints", "c", lambda array: None)
    result = check_window(net, module=module)
    assert not result.passed and result.worst == "adjoint c" and result.max_error == np.inf


# --- what the reference defines ---------------------------------------------------------------


def _reference(net, steps=4, truncate=None, lengths=None, seed=1):
    module = load_module(net)
    rng = np.random.default_rng(seed)
    params = module.init_params(2, 3, 2, seed=seed)
    x = rng.normal(size=(steps, 2, 2))
    y = rng.normal(size=(2, 2) if net.output == "last" else (steps, 2, 2))
    state0 = {name: 0.5 * rng.normal(size=(2, 3)) for names in module.INITIAL_STATES for name in names}
    return reference(net, module, params, x, y, lengths, state0, truncate), module


def test_a_window_of_at_least_t_steps_is_full_bptt():
    net = symrnn.network("gru", layers=2, output="sequence")
    full, _ = _reference(net)
    wide, _ = _reference(net, truncate=4)
    for kind in ("grads", "per_step", "state_adjoints"):
        for name, array in full[kind].items():
            np.testing.assert_array_equal(array, wide[kind][name])


def test_per_step_terms_sum_to_the_gradient_and_follow_the_window():
    net = symrnn.network("lstm", output="last")
    result, _ = _reference(net, steps=5, truncate=2)
    for name, terms in result["per_step"].items():
        np.testing.assert_allclose(terms.sum(axis=0), result["grads"][name], rtol=0, atol=1e-15)
        assert np.all(terms[:3] == 0), name  # one output, at step 5: its window is steps 4 and 5
    assert np.all(result["state_adjoints"]["c"][:3] == 0) and np.all(result["state_adjoints"]["c"][3:] != 0)
    assert np.all(result["grads"]["c0"] == 0) and np.all(result["grads"]["h0"] == 0)


def test_the_input_is_a_leaf_and_the_layer_below_a_constant():
    # qrnn reads x[t-1]: with K = 1 the output at T reaches x[T-1] through layer 1's x[t-1], but
    # nothing of step T-1 itself (layer 1's state, or its output that layer 2 reads as x[t-1])
    net = symrnn.network("qrnn", layers=2, output="last")
    result, _ = _reference(net, steps=3, truncate=1)
    x = result["grads"]["x"]
    assert np.all(x[0] == 0) and np.all(x[1] != 0) and np.all(x[2] != 0)
    for name in ("c0_l1", "c0_l2"):
        assert np.all(result["grads"][name] == 0), name
    assert np.all(result["state_adjoints"]["c_l1"][:2] == 0) and np.all(result["state_adjoints"]["c_l2"][:2] == 0)


def test_initial_states_reach_only_windows_from_step_1():
    net = symrnn.network("rnn", output="sequence")
    result, _ = _reference(net, steps=4, truncate=2)
    full, _ = _reference(net, steps=4)
    # the outputs at steps 1 and 2 alone reach a0: less than all four outputs do
    assert np.all(result["grads"]["a0"] != 0)
    assert not np.allclose(result["grads"]["a0"], full["grads"]["a0"])


def test_nothing_past_an_items_length_enters_the_cost():
    net = symrnn.network("lstm", layers=2, output="sequence")
    result, _ = _reference(net, lengths=np.array([4, 2]))
    # the total cost still holds the other item's outputs: zero within the differences' roundoff
    assert np.all(np.abs(result["grads"]["x"][2:, 1]) < 1e-12) and np.all(result["grads"]["x"][:2, 1] != 0)
    for name, adjoint in result["state_adjoints"].items():
        assert np.all(np.abs(adjoint[2:, 1]) < 1e-12), name


def test_state_adjoint_keys_are_the_modules():
    net = symrnn.network("lstm", layers=2)
    result, module = _reference(net)
    assert list(result["state_adjoints"]) == [name for names in module.LAYER_STATES for name in names]
    assert {f"adjoint {name}" for name in result["state_adjoints"]} <= set(array_labels(net))


# --- the table and the budget -----------------------------------------------------------------


def test_every_function_of_the_rule_table_has_a_numpy_form():
    rules = [*ELEMENTWISE.values(), *ROW_FUNCTIONS.values()]
    assert all(rule.function in FUNCTIONS for rule in rules)


def test_a_network_over_the_budget_is_refused_at_once(monkeypatch):
    net = symrnn.network("lstm_ln", layers=2, output="sequence")
    assert copy_work(net, window_steps(3), 3) < MAX_COPY_WORK  # every built-in at two layers fits with K = 3
    with pytest.raises(CellError, match="MAX_COPY_WORK"):
        check_size(net, 40)
    with pytest.raises(CellError, match="MAX_COPY_WORK"):
        check_window(net, steps=40)


def test_verify_rows_line_up_with_format_tables():
    networks = [symrnn.network("rnn"), symrnn.network("gru", layers=2, output="sequence")]
    lines, results = zip(*streamed_table(networks, more=WindowRows((None, 2))))
    assert [r.lengths for r in results[2:]] == ["equal", "unequal", "unequal K=T", "unequal K=2"] * 2
    assert all(r.passed for r in results[2:]), format_table(results[2:])
    starts = {line.index(r.lengths) for line, r in zip(lines[2:], results[2:])}
    ends = {line.index(f"{r.max_error:.2e}") for line, r in zip(lines[2:], results[2:])}
    assert len(starts) == 1 and len(ends) == 1 and len(lines[1].split()) == 6
