"""symrnn flow: per-copy term norms, their plot and the command."""

import json

import numpy as np
import pytest

import symrnn
from symrnn.cli import main
from symrnn.flow import flow, svg, to_json


def test_rnn_terms_vanish_with_small_recurrent_weights_and_grow_with_large_ones():
    small = flow(symrnn.network("rnn"), 50, scale=0.5).terms["w_x"]
    large = flow(symrnn.network("rnn"), 50, scale=3.0).terms["w_x"]
    assert small[0] < 1e-15 * small[-1]
    ratios = np.array(small[1:]) / np.array(small[:-1])
    assert np.median(ratios) > 2  # geometric decay towards step 1
    assert large[0] > 5 * large[-1]


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
    assert picture.startswith("<svg") and picture.count("<polyline") >= 3 + 1 + 12 + 2
    assert 'w<tspan baseline-shift="super" font-size="8">(x)</tspan>' in picture
    assert "rnn, T = 20, scale 0.5" in picture and "lstm" in picture


def test_command_writes_svg_and_json(tmp_path, capsys):
    out = tmp_path / "flow.svg"
    assert main(["flow", "rnn", "gru", "--steps", "6", "--scale", "2", "--output", "sequence",
                     "--layers", "2", "-o", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == 1 and [p["cell"] for p in data["panels"]] == ["rnn", "gru"]
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



def test_every_line_of_a_panel_has_its_own_colour_and_dash():
    """The LSTM's panel has more lines than colours: no two share (colour, dash)."""
    import re

    import symrnn
    from symrnn.flow import flow, svg

    panel = flow(symrnn.network("lstm"), steps=4)
    n = len(panel.terms) + len(panel.state_adjoints)
    assert n > 8
    text = svg([panel])
    styles = re.findall(r'<line x1="[^"]*" y1="[^"]*" x2="[^"]*" y2="[^"]*" stroke="(#[0-9A-F]{6})" '
                        r'stroke-width="1.5"(?: stroke-dasharray="([^"]*)")?/>', text)
    assert len(styles) == n and len(set(styles)) == n
    assert styles[0] == ("#0072B2", "") and styles[8] == ("#0072B2", "1.5,2.5")
    assert all(dash in ("5,3", "9,3,3,3") for _, dash in styles[len(panel.terms):])
