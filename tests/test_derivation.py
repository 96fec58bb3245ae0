"""Derivations for lecture notes: exact, compiling, readable, deterministic."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sympy

from symrnn.cells import get_cell
from symrnn.cli import main
from symrnn.derivation import Derivation, compile_pdf, derivation, overfull_lines
from symrnn.errors import ConfigError, LatexError
from symrnn.network import Network
from symrnn.verify import check_derivation

GENERATED = Path(__file__).resolve().parent.parent / "generated"
BUILTIN = [("rnn", None), ("lstm", None), ("gru", "notes"), ("gru", "pytorch")]
EXACT = 1e-25  # 30-digit evaluation; the forms agree to ~1e-32


def chain_text(d, param, copy):
    return d.tex(d.chain(param, copy)).replace("\x00", "")


# --- exactness: the rendered gradient equals SymPy's diff of the nested cost ------------


@pytest.mark.parametrize("output", ["last", "sequence"])
@pytest.mark.parametrize("steps", [1, 2, 3])
@pytest.mark.parametrize("cell,variant", BUILTIN)
def test_rendered_gradient_equals_sympy_diff_of_the_nested_cost(cell, variant, steps, output):
    d = derivation(cell, steps, variant=variant, output=output)
    differences = check_derivation(d, seed=steps)
    assert set(differences) == {(d.wrt[0], "recurrence"), (d.wrt[0], "chain")}
    assert max(differences.values()) < EXACT, differences


@pytest.mark.parametrize("cell,variant,output,wrt", [
    ("rnn", None, "last", ["w_a", "b_y"]), ("rnn", None, "sequence", ["w_a", "b_y"]),
    ("lstm", None, "last", ["w_F", "b_y"]), ("gru", "notes", "last", ["w_Z"])])
def test_rendered_gradient_is_exact_at_four_steps(cell, variant, output, wrt):
    # the reference, SymPy's naive diff of the nested cost, takes ~30 s here for a gated cell at T = 4
    # and more than ten minutes for the PyTorch-form GRU (see benchmarks/bench_derivation.py)
    d = derivation(cell, 4, variant=variant, output=output, wrt=wrt)
    assert max(check_derivation(d, seed=4).values()) < EXACT


def test_stacked_layers_and_output_layer_parameters_are_exact():
    d = derivation("lstm", 2, layers=2, output="sequence", wrt=["w_f_l1", "w_F_l2", "w_y", "b_g_l2"])
    differences = check_derivation(d, seed=7)
    assert len(differences) == 8
    assert max(differences.values()) < EXACT


def test_vector_units_recurrence_form_is_exact():
    d = derivation("gru", 2, variant="notes", units="vector", wrt=["w_Z", "w_g"])
    differences = check_derivation(d)
    assert {form for _, form in differences} == {"recurrence"}
    assert max(differences.values()) < EXACT


# --- what the sections say -----------------------------------------------------------


def test_sections_in_order():
    d = derivation("rnn", 3)
    assert [s.title for s in d.sections] == [
        "The cell", "The network unrolled for T = 3 steps", "Local derivatives", "BPTT recurrences",
        "The gradient for T = 3", "Written out in inputs and weights"]
    assert [s.title for s in derivation("rnn", 4).sections][-1] == "The gradient for T = 4"


def test_chain_of_the_first_copy_is_the_textbook_product():
    d = derivation("rnn", 3)
    assert chain_text(d, "w_x", 1) == (
        r"\dfrac{\partial C_{3}}{\partial a_{3}} \, \dfrac{\partial a_{3}}{\partial a_{2}} \, "
        r"\dfrac{\partial a_{2}}{\partial a_{1}} \, \dfrac{\partial a_{1}}{\partial w^{\left(x\right)}_{1}}")


def test_sequence_output_nests_each_steps_cost():
    d = derivation("rnn", 2, output="sequence")
    assert chain_text(d, "w_x", 1) == (
        r"\bigl(\dfrac{\partial C_{1}}{\partial a_{1}} + \dfrac{\partial C_{2}}{\partial a_{2}} \, "
        r"\dfrac{\partial a_{2}}{\partial a_{1}}\bigr) \, \dfrac{\partial a_{1}}{\partial w^{\left(x\right)}_{1}}")


def test_lstm_chains_run_through_both_states():
    d = derivation("lstm", 2)
    assert r"\dfrac{\partial \mathbf{s}_{2}}{\partial \mathbf{s}_{1}}" in chain_text(d, "w_f", 1)
    rows = [lhs for display in d.sections[3].displays for lhs, _ in display.rows]
    assert r"\dfrac{\partial a^{\left(h\right)}_{t}}{\partial a^{\left(c\right)}_{t-1}}" in rows


def test_recurrence_section_has_the_notes_adjoints():
    d = derivation("rnn", 2, units="vector")
    rows = {lhs: " ".join(lines) for display in d.sections[3].displays for lhs, lines in display.rows}
    assert rows[r"\delta a_{t}"].replace("\x00", "") == (
        r"{w^{\left(a\right)}}^{\top} \cdot \delta z_{t+1} + {w^{\left(y\right)}}^{\top} \cdot \delta \hat{y}_{t}")
    assert rows[r"\delta z_{t}"] == r"\delta a_{t} \odot \bigl(1 - a_{t}^{2}\bigr)"


def test_written_out_gradient_is_sympy_exact_for_the_rnn():
    d = derivation("rnn", 2, wrt=["w_x"])
    expanded = d.expanded_gradient("w_x")
    unrolled = d.unrolled
    assert expanded.free_symbols <= set(unrolled.inputs) | set(unrolled.initial.values()) | {
        sympy.Symbol(n) for n in ("y_2", "w_x_1", "w_x_2", "w_a_1", "w_a_2", "b_a_1", "b_a_2", "w_y_2", "b_y_2")}
    cost = unrolled.nested_cost()
    reference = sum(sympy.diff(cost, c) for c in unrolled.copies("w_x"))
    assert sympy.simplify((expanded - reference).rewrite(sympy.exp)) == 0


def test_large_written_out_gradients_are_omitted_with_their_size():
    text = derivation("lstm", 3).sections[5].text
    assert "Omitted for" in text and "terms and symbols" in text


def test_chain_size_grows_quadratically():
    def atoms(steps):
        d = derivation("lstm", steps, output="sequence")
        return sum(1 for k in range(1, steps + 1) for _ in sympy.preorder_traversal(d.chain("w_f", k)))

    small, large = atoms(8), atoms(16)
    assert 3.0 < large / small < 4.5  # doubling T about quadruples the size: quadratic, not exponential


# --- the two forms, notebooks, compiling -------------------------------------------------


def test_snippet_uses_the_notes_delimiters_and_markdown_uses_dollars():
    d = derivation("gru", 2, variant="notes")
    snippet, markdown = d.snippet(), d._repr_markdown_()
    assert r"\[" in snippet and r"\(" in snippet and "$$" not in snippet
    assert "$$" in markdown and r"\(" not in markdown and r"\[" not in markdown
    assert "### 5. The gradient for T = 2" in markdown
    assert d._repr_latex_().startswith(r"$$\begin{aligned}")


@pytest.mark.parametrize("units", ["scalar", "vector"])
@pytest.mark.parametrize("cell,variant", BUILTIN)
def test_documents_compile_without_overfull_lines(cell, variant, units):
    network = Network(get_cell(cell, variant), output="sequence")
    d = Derivation(network, 4, wrt=[p.name for p in network.cell.parameters[:3]] + ["w_y"], units=units)
    pdf, log = compile_pdf(d.document())
    assert pdf.startswith(b"%PDF")
    assert overfull_lines(log) == []


def test_stacked_document_compiles_without_overfull_lines():
    d = derivation("lstm", 3, layers=2, output="sequence", wrt=["w_F_l1", "w_f_l2"])
    assert overfull_lines(compile_pdf(d.document())[1]) == []


@pytest.mark.parametrize("path", sorted(GENERATED.glob("*.tex")), ids=lambda p: p.name)
def test_generated_documents_compile_without_errors_or_overfull_lines(path):
    pdf, log = compile_pdf(path.read_text(encoding="utf-8"))
    assert overfull_lines(log) == []
    assert pdf == path.with_suffix(".pdf").read_bytes()  # and the committed PDF is this one


def test_generated_has_the_three_cells_documents():
    names = {p.name for p in GENERATED.glob("derivation_*")}
    for cell in ("rnn", "lstm", "gru"):
        assert {f"derivation_{cell}_l1_last_T3.tex", f"derivation_{cell}_l1_last_T3.pdf"} <= names


def test_latex_errors_are_reported_readably():
    with pytest.raises(LatexError, match=r"Undefined control sequence.*l\.3"):
        compile_pdf("\\documentclass{article}\n\\begin{document}\n\\nosuchmacro\n\\end{document}\n")


def test_output_is_identical_across_hash_seeds():
    script = "from symrnn.derivation import derivation; print(derivation('lstm', 2, wrt=['w_f', 'w_F']).document())"
    outputs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("0", "1", "4242")}
    assert len(outputs) == 1


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [0, -1, 201, 2.5, "3", True])
def test_bad_steps(steps):
    with pytest.raises(ConfigError, match="number of steps"):
        derivation("rnn", steps)


def test_unknown_parameter_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown parameter 'w_q'.*w_x, w_a, b_a, w_y, b_y"):
        derivation("rnn", 2, wrt=["w_q"])


def test_unknown_units_and_other_costs_are_refused():
    with pytest.raises(ConfigError, match="units"):
        derivation("rnn", 2, units="matrix")
    with pytest.raises(ConfigError, match="squared cost"):
        Derivation(Network(get_cell("rnn"), loss="xent"), 2)


# --- command line ------------------------------------------------------------------------


def test_cli_prints_the_snippet(capsys):
    assert main(["latex", "rnn", "--steps", "2", "--wrt", "w_x", "w_a"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## BPTT for rnn, T = 2")
    assert r"\dfrac{\partial C}{\partial w^{\left(a\right)}}" in out


def test_cli_writes_document_and_pdf(tmp_path, capsys):
    target = tmp_path / "notes.tex"
    assert main(["latex", "gru", "--variant", "pytorch", "-T", "2", "-o", str(target), "--pdf"]) == 0
    assert target.read_text().startswith("% Generated by symrnn")
    assert target.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
    assert "wrote" in capsys.readouterr().out


def test_cli_reports_bad_parameters(capsys):
    assert main(["latex", "lstm", "-T", "2", "--wrt", "w_x"]) == 2
    assert "unknown parameter 'w_x'" in capsys.readouterr().err


PEEPHOLE = (Path(__file__).resolve().parent / "cells" / "peephole.cell").read_text(encoding="utf-8")


def test_a_users_cell_file_is_derived_exactly_and_compiles(tmp_path, capsys):
    path = tmp_path / "peephole.cell"
    path.write_text(PEEPHOLE)
    assert main(["latex", str(path), "-T", "2", "--wrt", "b_pf", "b_po", "-o", str(tmp_path / "p.tex")]) == 0
    assert r"b^{\left(pf\right)}_{1}" in (tmp_path / "p.tex").read_text()
    from symrnn.cells import resolve_cell

    d = Derivation(Network(resolve_cell(str(path)), output="sequence"), 2, wrt=["b_pf", "b_po", "w_F"])
    assert max(check_derivation(d).values()) < EXACT
    assert overfull_lines(compile_pdf(d.document())[1]) == []
