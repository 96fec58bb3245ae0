"""Quiz material: the notes' question and seeded items, answers from the analysis."""

import shutil
import subprocess

import pytest

import symrnn
from symrnn.cli import main
from symrnn.copies import copy_table
from symrnn.errors import ConfigError
from symrnn.quiz import ROLE_CHOICES, make_quiz

ROLE_ORDER = ["differentiated", "chain", "forward", "unused"]


def choice_text(choice):
    return "".join(text for _, text in choice)


def test_notes_question_and_its_key_for_rnn_t3():
    quiz = make_quiz(symrnn.network("rnn"), 3, "w_x", seed=1)
    first = quiz.items[0]
    assert choice_text(first.question).startswith("Which weights (including copies of the same weight) are used")
    x, a, y = (rf"w^{{\left({s}\right)}}" for s in "xay")  # the notation of symrnn latex
    assert [choice_text(c) for c in first.choices][:4] == [x + "_{1}", x + "_{2}", x + "_{3}", a + "_{1}"]
    answer = [choice_text(first.choices[k]) for k in first.answer]
    assert answer == [x + "_{1}", x + "_{2}", x + "_{3}", a + "_{2}", a + "_{3}", y + "_{3}"]
    assert "are exactly 0" in choice_text(first.explanation) and a + "_{1}" in choice_text(first.explanation)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("output", ["last", "sequence"])
def test_every_answer_agrees_with_the_analysis(seed, output):
    network = symrnn.network("lstm", output=output)
    table = copy_table(network, 3, "w_f")
    quiz = make_quiz(network, 3, "w_f", seed=seed)
    by_display = {rf"{c.param[0]}^{{\left({c.param[2:]}\right)}}_{{{c.step}}}": c for c in table.copies}
    chain_item = quiz.items[1]
    chain = {c.copy for c in table.copies if c.role == "chain"}
    assert len(chain_item.choices) == 4 and len(set(map(choice_text, chain_item.choices))) == 4
    (correct,) = chain_item.answer
    assert {by_display[text].copy for kind, text in chain_item.choices[correct] if kind == "math"} == chain
    for item in quiz.items[2:]:
        copy = by_display[item.question[3][1]]
        (answer,) = item.answer
        assert ROLE_ORDER[answer] == copy.role
        assert choice_text(item.choices[answer]).startswith(ROLE_CHOICES[copy.role].split("{theta}")[0])


@pytest.mark.parametrize("cell, layers, wrt", [("lstm", 1, "w_f"), ("gru", 2, "w_z_l2"), ("rnn", 2, "w_y")])
def test_same_notation_and_delimiters_as_latex(cell, layers, wrt):
    """Every copy the quiz names is written as symrnn latex's notation writes it;
    Markdown math between \\( \\) by default (as latex's snippet), $ with math="dollars"."""
    import re

    import sympy

    from symrnn.derivation import derivation
    from symrnn.notation import Notation

    network = symrnn.network(cell, layers=layers)
    quiz = make_quiz(network, 3, wrt, seed=3)
    names = Notation(network, 3).names
    copies = {c.copy for c in copy_table(network, 3, wrt).copies}
    written = {names[sympy.Symbol(copy)] for copy in copies} | {names[sympy.Symbol(wrt)]}
    math = {text for item in quiz.items for choice in item.choices for kind, text in choice if kind == "math"}
    assert math and math <= written
    assert names[sympy.Symbol(wrt)] in derivation(cell, 3, wrt=[wrt], layers=layers).snippet()
    parens, dollars, tex = quiz.markdown(), quiz.render("markdown", "dollars"), quiz.latex()
    assert "$" not in parens and parens.count(r"\(") == parens.count(r"\)") > 10
    assert r"\(" not in dollars and dollars.replace("$", "\x00") == re.sub(r"\\[()]", "\x00", parens)
    assert "$" not in tex and r"\(" in tex
    with pytest.raises(ConfigError, match="unknown math delimiters"):
        quiz.render("markdown", "brackets")


def test_seeded_and_deterministic():
    network = symrnn.network("gru")
    assert make_quiz(network, 3, "w_z", seed=4).markdown() == make_quiz(network, 3, "w_z", seed=4).markdown()
    assert len({make_quiz(network, 3, "w_z", seed=s).markdown() for s in range(5)}) > 1


def test_markdown_layout():
    text = make_quiz(symrnn.network("rnn"), 3, "w_x", seed=1).markdown()
    assert text.startswith("# BPTT weight copies: rnn, T = 3, output last\n")
    assert "**1.** Which weights (including copies of the same weight)" in text
    assert "## Answer key" in text and "**1.** (a), (b), (c), (e), (f), (j)." in text


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is installed by .ci/deps")
def test_latex_compiles(tmp_path):
    quiz = make_quiz(symrnn.network("gru", variant="pytorch", layers=2), 3, "w_z_l1", seed=2)
    (tmp_path / "quiz.tex").write_text(quiz.latex(), encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "quiz.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-2000:]
    assert r"gru\_pytorch" in quiz.latex()


def test_bad_requests():
    with pytest.raises(ConfigError, match="unknown parameter 'w_q'"):
        make_quiz(symrnn.network("rnn"), 3, "w_q")
    with pytest.raises(ConfigError, match="seed must be an integer"):
        make_quiz(symrnn.network("rnn"), 3, "w_x", seed="x")
    with pytest.raises(ConfigError, match="unknown quiz format"):
        make_quiz(symrnn.network("rnn"), 3, "w_x").render("html")


def test_cli(tmp_path, capsys):
    assert main(["quiz", "rnn", "--steps", "3", "--wrt", "w_x", "--seed", "1"]) == 0
    assert capsys.readouterr().out == make_quiz(symrnn.network("rnn"), 3, "w_x", seed=1).markdown()
    path = tmp_path / "quiz.tex"
    assert main(["quiz", "lstm", "--format", "latex", "-o", str(path)]) == 0
    assert path.read_text(encoding="utf-8").startswith("\\documentclass{article}")
    capsys.readouterr()
    assert main(["quiz", "rnn", "--steps", "3", "--wrt", "w_x", "--seed", "1", "--math", "dollars"]) == 0
    assert capsys.readouterr().out == make_quiz(symrnn.network("rnn"), 3, "w_x", seed=1).markdown("dollars")
    assert main(["quiz", "rnn", "--steps", "9", "--wrt", "b_z"]) == 2
    assert "unknown parameter 'b_z'" in capsys.readouterr().err
