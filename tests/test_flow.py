"""symrnn flow: per-copy term norms, their plot and the command."""

import json

import numpy as np
import pytest

import symrnn
from symrnn.cli import main
from symrnn.flow import capture, capture_svg, flow, svg, to_json


def test_rnn_terms_vanish_with_small_recurrent_weights():
    small = flow(symrnn.network("rnn"), 50, scale=0.5).terms["w_x"]
    assert small[0] < 1e-15 * small[-1]
    ratios = np.array(small[1:]) / np.array(small[:-1])
    assert np.median(ratios) > 2  # geometric decay towards step 1


def test_the_exploding_example_explodes_and_a_saturating_cell_does_not():
    """generated/'s exploding plot: its rnn panel's w^(x) term at t = 1 is at least 100 times
    its term at t = T; the tanh RNN at a larger scale does not (1 - a^2 shrinks)."""
    from symrnn.build import FLOW_PLOTS, FLOW_STEPS, _flow_network

    (cells, activation, scale), = [plot for plot in FLOW_PLOTS if plot[2] > 1]
    assert cells[0] == "rnn" and activation in ("identity", "relu")
    terms = flow(_flow_network("rnn", activation), FLOW_STEPS, scale=scale).terms["w_x"]
    assert terms[0] >= 100 * terms[-1]
    tanh = flow(symrnn.network("rnn"), FLOW_STEPS, scale=3.0).terms["w_x"]
    assert tanh[0] < 100 * tanh[-1]


def test_lstm_forget_path_keeps_the_terms():
    network = symrnn.network("lstm")
    module = symrnn.load_module(network)
    params = module.init_params(4, 16, 2, seed=0)
    params["b_f"] += 5.0  # forget gate open
    rng = np.random.default_rng(0)
    _, grads = module.loss_and_grad(params, 0.1 * rng.normal(size=(50, 1, 4)), rng.normal(size=(1, 2)),
                                    per_step=True)
    norms = np.linalg.norm(grads["per_step"]["w_g"].reshape(50, -1), axis=1)
    assert norms[0] > 0.1 * norms[-1]


def test_truncated_flow_has_zero_terms_outside_the_window():
    panel = flow(symrnn.network("gru"), 12, truncate=4)
    for name, norms in panel.terms.items():
        assert norms[:8] == [0.0] * 8 and all(v > 0 for v in norms[8:]), name


def test_svg_is_deterministic_and_in_the_notes_notation():
    panels = [flow(symrnn.network(c), 20, scale=0.5) for c in ("rnn", "lstm")]
    picture = svg(panels)
    assert picture == svg([flow(symrnn.network(c), 20, scale=0.5) for c in ("rnn", "lstm")])
    # rnn: one line per parameter and δa; lstm: one per gate (4) and δa^(c), δa^(h)
    assert picture.startswith("<svg") and picture.count("<polyline") == 3 + 1 + 4 + 2
    assert 'w<tspan font-size="8" dy="-4">(x)</tspan><tspan font-size="8" dy="7">t</tspan>' in picture
    assert ('δa<tspan font-size="8" dy="-4">(c)</tspan><tspan font-size="8" dy="7">t</tspan>' in picture)
    assert "rnn, T = 20, scale 0.5" in picture and "lstm" in picture


def texts(picture):
    """The text of every <text> element (tspans joined)."""
    import xml.etree.ElementTree as ET

    return ["".join(t.itertext()) for t in ET.fromstring(picture).iter("{http://www.w3.org/2000/svg}text")]


def test_labels_are_typeset_not_spelled_with_underscores():
    """Axis labels and legends go through symrnn.notation: scripts are tspans, no literal _ or ^."""
    for picture in (svg([flow(symrnn.network("lstm", layers=2), 4)]), capture_svg([capture(symrnn.network("gru"), 4)])):
        assert not [t for t in texts(picture) if "_" in t or "^" in t]
    assert "‖∂C/∂θt‖ (solid), ‖δst‖ (dashed)" in texts(svg([flow(symrnn.network("rnn"), 3)]))


@pytest.mark.parametrize("cell,layers", [("rnn", 1), ("lstm", 1), ("gru", 1), ("lstm", 2), ("rnn", 2)])
def test_colours_are_unique_within_a_panel_and_parameters_are_solid(cell, layers):
    """Every line of a panel has its own colour; parameters (or gates) solid, states dashed."""
    import re

    panel = flow(symrnn.network(cell, layers=layers), steps=4)
    text = svg([panel])
    entries = re.findall(r'<line x1="[^"]*" y1="[^"]*" x2="[^"]*" y2="[^"]*" stroke="(#[0-9A-F]{6})" '
                         r'stroke-width="1.5"( stroke-dasharray="5,3")?/>\n<text [^>]*>(.*?)</text>', text)
    colours = [colour for colour, _, _ in entries]
    assert len(colours) == len(set(colours)) == len(entries) >= 2
    for _, dashed, label in entries:
        assert bool(dashed) == label.startswith("δ"), label
    if layers == 1:
        assert len(entries) <= 8  # the LSTM's 12 parameters are drawn as its 4 gates


def test_flow_help_says_what_explodes(capsys):
    with pytest.raises(SystemExit):
        main(["flow", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--activation" in out and "identity" in out and "saturate" in out and "1 - a^2" in out
    assert "--capture" in out and "1 to 200" in out


# --- what truncation loses ----------------------------------------------------------


def test_capture_is_one_at_full_bptt():
    panel = capture(symrnn.network("lstm", output="sequence"), 6)
    for entry in [*panel.parameters.values(), *panel.gate_totals.values(), panel.cell_total]:
        assert entry["norm_ratio"][-1] == 1.0 and entry["cosine"][-1] == 1.0 and entry["lost"][-1] == 0.0
        assert len(entry["norm_ratio"]) == 6


def test_capture_small_weights_keep_much_at_k1_large_ones_little():
    """With small recurrent weights the terms vanish towards early steps, so one step
    keeps nearly all of the gradient; a linear RNN with large ones keeps little."""
    small = capture(symrnn.network("rnn"), 20, scale=0.1).cell_total
    assert small["norm_ratio"][0] > 0.95 and small["lost"][0] < 0.1
    large = capture(symrnn.network("rnn", activation="identity"), 20, scale=2.0).cell_total
    assert large["norm_ratio"][0] < 0.1 and large["cosine"][0] < 0.5 and large["lost"][0] > 0.9


@pytest.mark.parametrize("output", ["last", "sequence"])
def test_capture_equals_an_independent_computation(output):
    """Against loss_and_grad(..., truncate=K) directly, with numpy's own norms and cosine."""
    from symrnn.flow import seeded_example

    network = symrnn.network("gru", output=output)
    steps = 7
    panel = capture(network, steps, seed=3, scale=1.5)
    module = symrnn.load_module(network)
    params, x, y = seeded_example(network, module, steps, seed=3, scale=1.5)
    g = module.loss_and_grad(params, x, y)[1]
    for k in (1, 3):
        g_k = module.loss_and_grad(params, x, y, truncate=k)[1]
        for name in ("w_z", "w_G", "b_r"):
            a, b = g_k[name].ravel(), g[name].ravel()
            assert panel.parameters[name]["norm_ratio"][k - 1] == pytest.approx(np.linalg.norm(a) / np.linalg.norm(b))
            assert panel.parameters[name]["cosine"][k - 1] == pytest.approx(
                a @ b / (np.linalg.norm(a) * np.linalg.norm(b)), abs=1e-12)
            assert panel.parameters[name]["lost"][k - 1] == pytest.approx(np.linalg.norm(b - a) / np.linalg.norm(b))
        together = np.concatenate([g_k[n].ravel() for n in ("w_z", "w_Z", "b_z")])
        full = np.concatenate([g[n].ravel() for n in ("w_z", "w_Z", "b_z")])
        assert panel.gate_totals["z"]["norm_ratio"][k - 1] == pytest.approx(np.linalg.norm(together) / np.linalg.norm(full))


def test_capture_command_writes_svg_and_json(tmp_path, capsys):
    out = tmp_path / "capture.svg"
    assert main(["flow", "rnn", "lstm", "--capture", "--steps", "5", "-o", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["version"], data["kind"]) == (2, "capture") and [p["cell"] for p in data["panels"]] == ["rnn", "lstm"]
    lstm = data["panels"][1]
    assert lstm["gates"]["f"] == ["w_f", "w_F", "b_f"] and lstm["cell_total"]["cosine"][-1] == 1.0
    assert len(lstm["parameters"]["w_O"]["norm_ratio"]) == 5
    picture = out.read_text()
    assert picture.startswith("<svg") and picture.count("<polyline") >= 3 * (3 + 1 + 4 + 1)


@pytest.mark.parametrize("argv,message", [
    (["--capture", "--truncate", "2"], "leave out --truncate"),
    (["--capture", "--steps", "201"], "from 1 to 200"),
    (["--activation", "identity", "lstm"], "no panel is rnn"),
])
def test_capture_and_activation_errors(argv, message, capsys):
    cells = [] if "lstm" in argv else ["rnn"]
    assert main(["flow", *cells, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symrnn: error:") and message in err


def test_command_writes_svg_and_json(tmp_path, capsys):
    out = tmp_path / "flow.svg"
    assert main(["flow", "rnn", "gru", "--steps", "6", "--scale", "2", "--output", "sequence",
                     "--layers", "2", "-o", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["version"], data["kind"]) == (2, "flow") and [p["cell"] for p in data["panels"]] == ["rnn", "gru"]
    assert data["panels"][1]["gates"]["z_l2"] == ["w_z_l2", "w_Z_l2", "b_z_l2"]
    assert len(data["panels"][0]["terms"]["w_a_l2"]) == 6 and "a_l1" in data["panels"][0]["state_adjoints"]
    assert out.read_text().startswith("<svg")


@pytest.mark.parametrize("argv,message", [
    (["--steps", "0"], "from 1 to 1000"),
    (["--steps", "1001"], "from 1 to 1000"),
    (["--scale", "-1"], "--scale"),
    (["--truncate", "0"], "--truncate"),
    (["-o", "/nonexistent-dir/x.svg"], "cannot write"),
])
def test_command_errors_are_one_line(argv, message, capsys):
    assert main(["flow", "rnn", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symrnn: error:") and message in err and err.count("\n") == 1


def test_help_states_the_limit(capsys):
    with pytest.raises(SystemExit):
        main(["flow", "--help"])
    assert "1 to 1000" in capsys.readouterr().out
