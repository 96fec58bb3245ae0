"""Quiz material: the notes' question and seeded items, answers from the analysis."""

import shutil
import subprocess

import pytest

import symrnn
from symrnn import templating
from symrnn.cli import main
from symrnn.copies import copy_table
from symrnn.errors import ConfigError
from symrnn.quiz import ROLE_CHOICES, ItemText, QuizText, make_quiz

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


# The quiz for rnn, T = 1, dC/dw^(x), seed 0 and one role item, as symrnn wrote it
# before the quiz moved to templates (quiz.md.j2, quiz.tex.j2).
QUIZ_MD = r"""# BPTT weight copies: rnn, T = 1, output last

The network (cell rnn, one layer) is unfolded for an input sequence of length \(T = 1\); there is one output, at the end of the sequence. Initial states are zero. The copy of a weight used at step \(t\) carries \(t\) as a subscript, e.g. \(w^{\left(x\right)}_{1}\).

**1.** Which weights (including copies of the same weight) are used in one backpropagation through time gradient descent step when computing \(\partial C / \partial w^{\left(x\right)}\)? (mark every one that applies)

- (a) \(w^{\left(x\right)}_{1}\)
- (b) \(w^{\left(a\right)}_{1}\)
- (c) \(b^{\left(a\right)}_{1}\)
- (d) \(w^{\left(y\right)}_{1}\)
- (e) \(b^{\left(y\right)}_{1}\)

**2.** Which copies multiply the back-propagated signal between a copy of \(w^{\left(x\right)}\) and C (the copies on the chain), and no others?

- (a) \(w^{\left(y\right)}_{1}\)
- (b) none
- (c) \(w^{\left(a\right)}_{1}\) and \(w^{\left(y\right)}_{1}\)
- (d) \(w^{\left(y\right)}_{1}\) and \(b^{\left(y\right)}_{1}\)

**3.** In computing \(\partial C / \partial w^{\left(x\right)}\), which role does the copy \(w^{\left(y\right)}_{1}\) play?

- (a) a copy of \(w^{\left(x\right)}\) itself: its gradient term is summed into the derivative
- (b) on the chain: it multiplies the back-propagated signal on its way to a copy of \(w^{\left(x\right)}\)
- (c) forward only: it is needed to compute activations, but on no chain
- (d) unused: the derivative needs neither it nor anything computed from it

## Answer key

**1.** (a), (d). The gradient is the sum of the terms of the copies of \(w^{\left(x\right)}\): \(w^{\left(x\right)}_{1}\); the back-propagated signal is multiplied by the copies on the chain \(w^{\left(y\right)}_{1}\). The forward pass also needs \(w^{\left(a\right)}_{1}\), \(b^{\left(a\right)}_{1}\) and \(b^{\left(y\right)}_{1}\) to compute the activations the gradient uses. With zero initial states the gradients of \(w^{\left(a\right)}_{1}\) are exactly 0: these copies do not change C.

**2.** (a). On the chain: \(w^{\left(y\right)}_{1}\).

**3.** (b). \(w^{\left(y\right)}_{1}\) is on the chain of \(w^{\left(x\right)}_{1}\).
"""
QUIZ_TEX = r"""\documentclass{article}
\usepackage[utf8]{inputenc}
\usepackage{multicol}
\setlength{\topskip}{16pt}
\setlength{\emergencystretch}{3em}
\begin{document}
\section*{BPTT weight copies: rnn, T = 1, output last}
The network (cell rnn, one layer) is unfolded for an input sequence of length \(T = 1\); there is one output, at the end of the sequence. Initial states are zero. The copy of a weight used at step \(t\) carries \(t\) as a subscript, e.g. \(w^{\left(x\right)}_{1}\).

\begin{enumerate}
\item Which weights (including copies of the same weight) are used in one backpropagation through time gradient descent step when computing \(\partial C / \partial w^{\left(x\right)}\)? (mark every one that applies)
\begin{multicols}{4}
\begin{enumerate}
\item[(a)] \(w^{\left(x\right)}_{1}\)
\item[(b)] \(w^{\left(a\right)}_{1}\)
\item[(c)] \(b^{\left(a\right)}_{1}\)
\item[(d)] \(w^{\left(y\right)}_{1}\)
\item[(e)] \(b^{\left(y\right)}_{1}\)
\end{enumerate}
\end{multicols}
\item Which copies multiply the back-propagated signal between a copy of \(w^{\left(x\right)}\) and C (the copies on the chain), and no others?
\begin{multicols}{3}
\begin{enumerate}
\item[(a)] \(w^{\left(y\right)}_{1}\)
\item[(b)] none
\item[(c)] \(w^{\left(a\right)}_{1}\) and \(w^{\left(y\right)}_{1}\)
\item[(d)] \(w^{\left(y\right)}_{1}\) and \(b^{\left(y\right)}_{1}\)
\end{enumerate}
\end{multicols}
\item In computing \(\partial C / \partial w^{\left(x\right)}\), which role does the copy \(w^{\left(y\right)}_{1}\) play?
\begin{enumerate}
\item[(a)] a copy of \(w^{\left(x\right)}\) itself: its gradient term is summed into the derivative
\item[(b)] on the chain: it multiplies the back-propagated signal on its way to a copy of \(w^{\left(x\right)}\)
\item[(c)] forward only: it is needed to compute activations, but on no chain
\item[(d)] unused: the derivative needs neither it nor anything computed from it
\end{enumerate}
\end{enumerate}
\subsection*{Answer key}
\begin{enumerate}
\item (a), (d). The gradient is the sum of the terms of the copies of \(w^{\left(x\right)}\): \(w^{\left(x\right)}_{1}\); the back-propagated signal is multiplied by the copies on the chain \(w^{\left(y\right)}_{1}\). The forward pass also needs \(w^{\left(a\right)}_{1}\), \(b^{\left(a\right)}_{1}\) and \(b^{\left(y\right)}_{1}\) to compute the activations the gradient uses. With zero initial states the gradients of \(w^{\left(a\right)}_{1}\) are exactly 0: these copies do not change C.
\item (a). On the chain: \(w^{\left(y\right)}_{1}\).
\item (b). \(w^{\left(y\right)}_{1}\) is on the chain of \(w^{\left(x\right)}_{1}\).
\end{enumerate}
\end{document}
"""


def test_the_quiz_templates_write_what_the_quiz_wrote_before():
    quiz = make_quiz(symrnn.network("rnn"), 1, "w_x", seed=0, role_items=1)
    assert quiz.markdown() == QUIZ_MD
    assert quiz.latex() == QUIZ_TEX
    assert quiz.render("markdown", "dollars") == QUIZ_MD.replace(r"\(", "$").replace(r"\)", "$")


def test_the_quiz_templates_only_lay_out_strings():
    """Every word and label comes from Python (QuizText); the templates add the layout."""
    quiz = QuizText("T_1", "S & s", (ItemText("Q?", (("(a)", "x"), ("(b)", "y")), ("(a)", "(b)"), "E."),
                                    ItemText("R?", (("(a)", "z"),), ("(a)",), "F.")))
    assert templating.render("quiz.md.j2", quiz=quiz) == (
        "# T_1\n\nS & s\n\n**1.** Q?\n\n- (a) x\n- (b) y\n\n**2.** R?\n\n- (a) z\n\n"
        "## Answer key\n\n**1.** (a), (b). E.\n\n**2.** (a). F.\n")
    assert templating.render("quiz.tex.j2", quiz=quiz) == (
        "\\documentclass{article}\n\\usepackage[utf8]{inputenc}\n\\usepackage{multicol}\n"
        "\\setlength{\\topskip}{16pt}\n\\setlength{\\emergencystretch}{3em}\n\\begin{document}\n\\section*{T_1}\nS & s\n\n"
        "\\begin{enumerate}\n\\item Q?\n\\begin{enumerate}\n\\item[(a)] x\n\\item[(b)] y\n\\end{enumerate}\n"
        "\\item R?\n\\begin{enumerate}\n\\item[(a)] z\n\\end{enumerate}\n\\end{enumerate}\n"
        "\\subsection*{Answer key}\n\\begin{enumerate}\n\\item (a), (b). E.\n\\item (a). F.\n"
        "\\end{enumerate}\n\\end{document}\n")


def test_written_labels_choices_and_joins_segments():
    """Labels (a), (b), ... and the answers' labels, the note of an item with several
    answers, and the segments joined by the format's writer (here: math in < >)."""
    quiz = make_quiz(symrnn.network("gru", variant="pytorch"), 2, "w_z", seed=0)
    written = quiz.written(lambda segments: "".join(f"<{t}>" if k == "math" else t for k, t in segments))
    assert written.title == "BPTT weight copies: gru_pytorch, T = 2, output last"
    first, chain = written.items[:2]
    assert first.question.endswith(">? (mark every one that applies)") and "mark" not in chain.question
    assert [label for label, _ in first.choices][:3] == ["(a)", "(b)", "(c)"]
    assert first.answer == tuple(first.choices[k][0] for k in quiz.items[0].answer)
    assert all(text.startswith("<") for _, text in first.choices)
    assert r"\section*{BPTT weight copies: gru\_pytorch, T = 2, output last}" in quiz.latex()


def test_many_choices_sit_in_columns_and_long_ones_in_one():
    """The notes' question lists every copy (29 for a GRU at T = 3 with its output layer):
    four columns of short names; the role items' sentences one column."""
    written = make_quiz(symrnn.network("gru"), 3, "w_z", seed=7).written(lambda segments: "")
    quiz = make_quiz(symrnn.network("gru"), 3, "w_z", seed=7)
    assert quiz.items[0].columns() == 4 and quiz.items[-1].columns() == 1
    assert written.items[0].columns == 4
    assert "\\begin{multicols}{4}" in quiz.latex()


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is installed by .ci/deps")
def test_sampled_cross_of_built_in_quizzes_has_no_overfull_box():
    """Every built-in cell at two points of T in {2, 3, 5, 20} x last/sequence x 1-2 layers
    (the points of tests/test_derivation.py's sample; the whole cross, 208 quizzes, was run by hand)."""
    from test_derivation import SAMPLED, compile_together, overfull_boxes

    from symrnn.copies import CopyAnalysis
    from symrnn.network import Network
    from symrnn.registry import get_cell

    documents = []
    for name, variant, steps, output, layers in SAMPLED:
        network = Network(get_cell(name, variant), layers=layers, output=output)
        documents.append(make_quiz(network, steps, CopyAnalysis(network, 1).params[0], seed=0).latex())
    assert overfull_boxes(compile_together(documents)) == []
