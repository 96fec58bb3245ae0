"""Pictures of the unrolled network: SVG and TikZ with copies coloured by role."""

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import sympy

import symrnn
from symrnn import Cell, dot, parameters, prev, vectors
from symrnn.cli import main
from symrnn.copies import copy_table
from symrnn.errors import ConfigError
from symrnn.pictures import COLOURS, Label, latex_text, layout, svg, tikz

NS = {"svg": "http://www.w3.org/2000/svg"}


def chips_of(picture):
    root = ET.fromstring(picture)
    return {g.get("data-copy"): g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "chip"}


def test_rnn_t3_svg_colours_every_copy_by_role():
    table = copy_table(symrnn.network("rnn"), 3, "w_x")
    chips = chips_of(svg(table))
    assert set(chips) == {c.copy for c in table.copies}
    for copy in table.copies:
        chip = chips[copy.copy]
        rect = chip.find("svg:rect", NS)
        assert chip.get("data-role") == copy.role and rect.get("fill") == COLOURS[copy.role][0]
        assert (rect.get("stroke-dasharray") == "3 2") == copy.zero == (copy.copy == "w_a_1")
    text = "".join(chips["w_a_2"].find("svg:text", NS).itertext())
    assert text == "w(a)2"


def test_output_layer_only_at_the_end_or_at_every_step():
    last = layout(symrnn.network("rnn"), 3)
    sequence = layout(symrnn.network("rnn", output="sequence"), 3)
    assert [c[0] for c in last.chips if c[0].startswith("w_y")] == ["w_y_3"]
    assert [c[0] for c in sequence.chips if c[0].startswith("w_y")] == ["w_y_1", "w_y_2", "w_y_3"]
    assert sum(b[4] == "output" for b in last.boxes) == 1 and sum(b[4] == "output" for b in sequence.boxes) == 3


def _inside(inner, outer):
    x, y, w, h = inner
    ox, oy, ow, oh = outer
    return ox <= x and oy <= y and x + w <= ox + ow and y + h <= oy + oh


def _overlap(a, b):
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@pytest.mark.parametrize("cell,variant", [("rnn", None), ("lstm", None), ("gru", "notes"), ("gru", "pytorch")])
@pytest.mark.parametrize("layers", [1, 2])
def test_layout_is_readable_for_every_length(cell, variant, layers):
    """Every chip lies in one box and in the picture; no two chips or boxes overlap."""
    for steps in range(1, 9):
        for output in ("last", "sequence"):
            lay = layout(symrnn.network(cell, variant=variant, layers=layers, output=output), steps)
            boxes = [b[:4] for b in lay.boxes]
            chips = [c[1:5] for c in lay.chips]
            assert all(_inside(b, (0, 0, lay.width, lay.legend_y)) for b in boxes)
            assert all(sum(_inside(c, b) for b in boxes) == 1 for c in chips)
            assert not any(_overlap(a, b) for k, a in enumerate(chips) for b in chips[k + 1:])
            assert not any(_overlap(a, b) for k, a in enumerate(boxes) for b in boxes[k + 1:])
            assert len({c[0] for c in lay.chips}) == len(lay.chips)


def test_long_parameter_names_widen_the_chips():
    x, h = vectors("x h")
    w_input, w_Recurrent, b_h = parameters("w_input w_Recurrent b_h")
    cell = Cell("long", input=x, states=[h],
                equations=[(h, sympy.tanh(dot(w_input, x) + dot(w_Recurrent, prev(h)) + b_h))])
    lay = layout(symrnn.network(cell), 2)
    assert lay.chips[0][3] >= Label("w", "Recurrent", "2").width() + 14
    assert 'data-copy="w_Recurrent_2" data-role="chain"' in svg(copy_table(symrnn.network(cell), 2, "w_input"))


def test_names_are_validated_and_escaped():
    with pytest.raises(ConfigError, match="cannot draw"):
        Label("w", "<script>", "1")
    assert latex_text("gru_pytorch & 50% {x}") == r"gru\_pytorch \& 50\% \{x\}"
    table = copy_table(symrnn.network("gru", variant="pytorch"), 2, "w_z")
    assert r"for gru\_pytorch" in tikz(table)
    ET.fromstring(svg(table))  # well-formed XML


def test_steps_limit():
    """Pictures take the T of ``symrnn copies`` (symrnn.limits.MAX_STEPS)."""
    assert len(layout(symrnn.network("rnn"), 100).chips) == 3 * 100 + 2
    with pytest.raises(ConfigError, match="from 1 to 100 for a picture"):
        layout(symrnn.network("rnn"), 101)


def test_tikz_has_one_chip_per_copy():
    table = copy_table(symrnn.network("lstm", layers=2, output="sequence"), 3, "w_f_l1")
    picture = tikz(table)
    assert picture.count("\\begin{tikzpicture}") == picture.count("\\end{tikzpicture}") == 1
    marks = dict(re.findall(r"% (\w+): (\w+(?: zero)?)$", picture, re.MULTILINE))
    assert marks == {c.copy: c.role + (" zero" if c.zero else "") for c in table.copies}
    assert picture.count("{") == picture.count("}")


def test_tikz_compiles(tmp_path):
    # .ci/deps installs pdflatex and tikz.sty (Debian: texlive-pictures); without them this fails

    table = copy_table(symrnn.network("lstm", layers=2, output="sequence"), 3, "w_f_l1")
    (tmp_path / "picture.tex").write_text(tikz(table, standalone=True), encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "picture.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-2000:]


def test_deterministic_across_hash_seeds():
    code = ("import symrnn; from symrnn.copies import copy_table; from symrnn.pictures import svg, tikz; "
            "t = copy_table(symrnn.network('gru', layers=2, output='sequence'), 3, 'w_z_l2'); "
            "print(svg(t) + tikz(t))")
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(outputs) == 1


def test_cli_writes_pictures(tmp_path, capsys):
    svg_path, tikz_path = tmp_path / "p.svg", tmp_path / "p.tikz"
    assert main(["copies", "gru", "--steps", "2", "--wrt", "w_z", "--svg", str(svg_path),
                 "--tikz", str(tikz_path), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("{") and f"wrote {svg_path}" in captured.err
    assert set(chips_of(svg_path.read_text(encoding="utf-8"))) >= {"w_z_1", "w_z_2", "w_y_2"}
    assert tikz_path.read_text(encoding="utf-8").startswith("% dC/dw^(z) for gru")


def legend_labels(picture):
    root = ET.fromstring(picture)
    return [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.text and not list(t)]


def test_truncated_copies_have_their_own_style_and_legend_entry(tmp_path):
    """rnn, T = 6, output last, K = 2: w^(x)_1..4 and w^(a)_2..5 are cut off by the window."""
    table = copy_table(symrnn.network("rnn"), 6, "w_x", truncate=2)
    chips = chips_of(svg(table))
    truncated = {name for name, chip in chips.items() if chip.get("data-role") == "truncated"}
    assert truncated == {f"w_x_{t}" for t in (1, 2, 3, 4)} | {f"w_a_{t}" for t in (2, 3, 4, 5)}
    for name in truncated:
        rect = chips[name].find("svg:rect", NS)
        assert (rect.get("fill"), rect.get("stroke")) == (COLOURS["truncated"][0], COLOURS["truncated"][2])
        assert chips[name].find("svg:title", NS).text.endswith(": truncated")
    assert len({fill for fill, _, _ in COLOURS.values()}) == len(COLOURS) == 5
    labels = legend_labels(svg(table))
    assert labels[-6:] == ["differentiated", "on the chain", "truncated", "forward only", "unused",
                           "dashed border: gradient exactly 0 (zero initial states)"]
    title = next(ET.fromstring(svg(table)).iter("{http://www.w3.org/2000/svg}text"))
    assert "".join(title.itertext()) == "∂C/∂w(x) for rnn, T = 6, output last, 1 layer, BPTT truncated to K = 2"
    # without a window nothing is truncated and the legend has no entry for it
    assert "truncated" not in legend_labels(svg(copy_table(symrnn.network("rnn"), 6, "w_x")))
    picture = tikz(table, standalone=True)
    marks = dict(re.findall(r"% (\w+): (\w+(?: zero)?)$", picture, re.MULTILINE))
    assert {name for name, role in marks.items() if role == "truncated"} == truncated
    assert "\\definecolor{symrnnTruncated}{HTML}{E7D4E8}" in picture and "{truncated};" in picture
    assert "symrnnTruncated" not in tikz(copy_table(symrnn.network("rnn"), 6, "w_x"))
    (tmp_path / "picture.tex").write_text(picture, encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "picture.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-2000:]


def test_cli_truncate_writes_truncated_pictures(tmp_path, capsys):
    svg_path = tmp_path / "p.svg"
    assert main(["copies", "rnn", "--steps", "6", "--wrt", "w^(x)", "--truncate", "2", "--svg", str(svg_path)]) == 0
    out = capsys.readouterr().out
    assert "dC/dw^(x) for rnn, T = 6, output last, 1 layer, BPTT truncated to K = 2" in out
    assert "2 differentiated, 2 on the chain, 8 truncated, 8 forward only, 0 unused;" in out
    assert chips_of(svg_path.read_text(encoding="utf-8"))["w_x_4"].get("data-role") == "truncated"


def test_titles_are_typeset_through_one_notation_function():
    """SVG: ∂C/∂w with the superscript as a tspan and the text after it back on the
    baseline; TikZ: $\\partial C/\\partial w^{(x)[2]}$; the terminal keeps ASCII."""
    from symrnn.notation import Label, Partial, copies_title, latex_runs, plain_text, svg_text

    table = copy_table(symrnn.network("lstm", layers=2), 3, "w_f_l2", truncate=2)
    runs = table.title_runs()
    assert runs == copies_title(Label("w", "f", "", "2"), "lstm", 3, "last", 2, 2)
    assert isinstance(runs[0], Partial)
    picture = svg(table)
    assert ('<text x="12" y="22" font-size="14" font-weight="bold">∂C/∂w<tspan font-size="8" dy="-4">(f)[2]</tspan>'
            '<tspan dy="4"> for lstm, </tspan>T = 3') in picture
    assert "dC/d" not in picture.split("<g ", 1)[0]
    assert "{$\\partial C/\\partial w^{(f)[2]}$ for lstm, $T = 3$, output last, 2 layers, " in tikz(table)
    assert latex_runs(runs).endswith("BPTT truncated to $K = 2$")
    assert plain_text(runs) == "∂C/∂w^(f)[2] for lstm, T = 3, output last, 2 layers, BPTT truncated to K = 2"
    assert table.title() == plain_text(runs, unicode=False) and table.title().startswith("dC/dw^(f)[2] for")
    assert svg_text([Label("a", "c", "1"), ", ", Label("a")]) == (
        'a<tspan font-size="8" dy="-4">(c)</tspan><tspan font-size="8" dy="7">1</tspan><tspan dy="-3">, </tspan>a')
