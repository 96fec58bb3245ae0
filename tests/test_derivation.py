"""Derivations for lecture notes: exact, compiling, readable, deterministic."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sympy

from symrnn.cli import main
from symrnn.derivation import Derivation, compile_pdf, derivation, overfull_lines
from symrnn.errors import ConfigError, LatexError
from symrnn.network import Network
from symrnn.registry import CELLS, get_cell
from symrnn.verify import _with_reference_functions, check_derivation

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
        r"{w^{\left(a\right)}}^{\top} \cdot \delta u_{t+1} + {w^{\left(y\right)}}^{\top} \cdot \delta \hat{y}_{t}")
    assert rows[r"\delta u_{t}"] == r"\delta a_{t} \times \bigl(1 - a_{t}^{2}\bigr)"  # the notes' ×


def test_written_out_gradient_is_sympy_exact_for_the_rnn():
    d = derivation("rnn", 2, wrt=["w_x"])
    expanded = d.chains.expanded_gradient("w_x")
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
    assert d._repr_latex_() == markdown  # Jupyter shows the same derivation either way


@pytest.mark.parametrize("units", ["scalar", "vector"])
@pytest.mark.parametrize("cell,variant", BUILTIN)
def test_documents_compile_without_overfull_lines(cell, variant, units):
    network = Network(get_cell(cell, variant), output="sequence")
    d = Derivation(network, 4, wrt=[p.name for p in network.cell.parameters[:3]] + ["w_y"], units=units)
    pdf, log = compile_pdf(d.document())
    assert pdf.startswith(b"%PDF")
    assert overfull_lines(log) == []


@pytest.mark.skipif(shutil.which("pandoc") is None, reason="pandoc is installed by .ci/deps")
@pytest.mark.parametrize("cell,variant", BUILTIN)
def test_pandoc_keeps_every_formula(cell, variant):
    """The README's renderer table for pandoc: --math dollars with pandoc's default
    Markdown, --math parens with +tex_math_single_backslash; without it the \\( \\) math is lost."""
    d = derivation(cell, 3, variant=variant, output="sequence", wrt=["w_y"])
    parens, dollars = d.snippet("parens"), d.snippet("dollars")
    inline, display = parens.count(r"\("), parens.count(r"\[")
    assert inline > 10 and display > 3

    def spans(text, reader):
        html = subprocess.run(["pandoc", "-f", reader, "-t", "html", "--mathjax"], input=text, capture_output=True,
                              text=True, check=True, timeout=60).stdout
        return html.count('class="math inline"'), html.count('class="math display"'), html.count("<em>")

    assert spans(dollars, "markdown") == (inline, display, 0)
    assert spans(parens, "markdown+tex_math_single_backslash") == (inline, display, 0)
    assert spans(parens, "markdown")[0] == 0  # pandoc's default reads \( as an escaped (


def test_elementwise_products_times_by_default_odot_as_an_option(capsys):
    """The notes' × for elementwise products; ⊙ with product="odot" (--product odot), vector units only."""
    times, odot = (derivation("lstm", 2, units="vector", wrt=["w_f"], product=p) for p in ("times", "odot"))
    assert r"\odot" not in times.document()
    assert odot.document().count(r"\odot") == times.document().count(r"\times") > 10
    assert odot.snippet() == times.snippet().replace(r"\times", r"\odot")
    assert overfull_lines(compile_pdf(odot.document())[1]) == []
    with pytest.raises(ConfigError, match="needs vector units"):
        derivation("lstm", 2, product="odot")
    with pytest.raises(ConfigError, match="unknown product sign"):
        derivation("lstm", 2, units="vector", product="x")
    assert main(["latex", "rnn", "-T", "2", "--units", "vector", "--product", "odot"]) == 0
    assert capsys.readouterr().out == derivation("rnn", 2, units="vector", product="odot").snippet()


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
    with pytest.raises(ConfigError, match=r"T \(--steps\) must be an integer from 1 to 100"):
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
    from symrnn.registry import resolve_cell

    d = Derivation(Network(resolve_cell(str(path)), output="sequence"), 2, wrt=["b_pf", "b_po", "w_F"])
    assert max(check_derivation(d).values()) < EXACT
    assert overfull_lines(compile_pdf(d.document())[1]) == []


# --- issue 14: notes order, defined symbols, compact sections, closed form, line breaks ---------


def _rows(d, sections):
    """(lhs, line) of the sections' displays; a grid's (section 3) pairs as rows of their own."""
    return [(lhs or "", line) for i in sections for display in d.sections[i].displays
            for lhs, lines in (_pairs(display) if display.grid else display.rows) for line in lines]


def _pairs(grid):
    return [(lhs, [rhs]) for row in grid.rows for lhs, rhs in row]


def test_built_in_cells_in_the_notes_order_at_every_step():
    rnn = derivation("rnn", 3)
    rows = {lhs: line for lhs, line in _rows(rnn, [0, 1]) if lhs}
    assert rows["a_{t}"] == (r"\tanh\bigl(w^{\left(a\right)} \cdot a_{t-1} + w^{\left(x\right)} \cdot x_{t}"
                             r" + b^{\left(a\right)}\bigr)")
    assert rows["a_{3}"] == (r"\tanh\bigl(w^{\left(a\right)}_{3} \cdot a_{2} + w^{\left(x\right)}_{3} \cdot x_{3}"
                             r" + b^{\left(a\right)}_{3}\bigr)")
    lstm = {lhs: line for lhs, line in _rows(derivation("lstm", 2), [0]) if lhs}
    assert lstm[r"a^{\left(f\right)}_{t}"] == (
        r"\sigma\bigl(w^{\left(f\right)} \cdot x_{t} + w^{\left(F\right)} \cdot a^{\left(h\right)}_{t-1}"
        r" + b^{\left(f\right)}\bigr)")
    assert lstm[r"a^{\left(c\right)}_{t}"] == (
        r"a^{\left(f\right)}_{t} \times a^{\left(c\right)}_{t-1} + a^{\left(i\right)}_{t} \times a^{\left(g\right)}_{t}")
    gru = {lhs: line for lhs, line in _rows(derivation("gru", 2), [0]) if lhs}
    assert gru[r"a^{\left(h\right)}_{t}"] == (
        r"\bigl(1 - a^{\left(z\right)}_{t}\bigr) \times a^{\left(h\right)}_{t-1} + a^{\left(z\right)}_{t} \times "
        r"a^{\left(g\right)}_{t}")


def test_written_out_terms_keep_one_order_across_steps():
    d = derivation("rnn", 3, wrt=["w_a"])
    text = " ".join(line for _, line in _rows(d, [5])).replace("\x00", "")
    # every step's argument starts with its recurrent term, then the input term, then the bias
    for k in (2, 3):
        assert rf"\tanh\bigl(w^{{\left(a\right)}}_{{{k}}} \cdot" in text
        assert rf"w^{{\left(x\right)}}_{{{k}}} \cdot x_{{{k}}} + b^{{\left(a\right)}}_{{{k}}}\bigr)" in text


_HEAD = __import__("re").compile(r"(?<![\\A-Za-z])(\\hat\{y\}|\\mathbf\{s\}|[A-Za-z])(\^\{(?:[^{}]|\{[^{}]*\})*\})?")


def _heads(text):
    return {h + sup for h, sup in _HEAD.findall(text.replace(r"\left", "").replace(r"\right", ""))}


@pytest.mark.parametrize("cell,variant,output,layers", [
    ("rnn", None, "last", 1), ("lstm", None, "sequence", 1), ("gru", "notes", "last", 1),
    ("gru", "pytorch", "last", 1), ("lstm", None, "last", 2)])
def test_every_symbol_of_sections_3_to_6_is_introduced_in_sections_1_and_2(cell, variant, output, layers):
    d = derivation(cell, 2, variant=variant, output=output, layers=layers)
    import re
    math = re.compile(r"\\\((.*?)\\\)")
    introduced = set()
    for section in d.sections[:2]:
        introduced |= _heads(" ".join(math.findall(section.text)))
    introduced |= _heads(" ".join(lhs + " " + line for lhs, line in _rows(d, [0, 1])))
    used = _heads(" ".join(lhs + " " + line for lhs, line in _rows(d, range(2, len(d.sections)))))
    operators = {"d", "T", "t", "j", "k", "K"}  # \partial's d is not a letter here; t, j, k, T are steps
    assert used - introduced - operators == set(), sorted(used - introduced)
    assert "z_{" not in d.document() and r"z^{\left(f" not in d.document()


@pytest.mark.parametrize("cell,variant", BUILTIN)
@pytest.mark.parametrize("output", ["last", "sequence"])
def test_no_display_line_holds_only_a_parenthesis_or_a_lone_factor(cell, variant, output):
    from symrnn.latex import MIN_LINE_WIDTH, estimate_width
    d = derivation(cell, 3, variant=variant, output=output)
    short = [(lhs, lines) for section in d.sections for display in section.displays
             for lhs, lines in _rows_of(display) if len(lines) > 1
             and any(estimate_width(line) < MIN_LINE_WIDTH for line in lines)]
    assert short == []


def test_local_derivatives_are_one_compact_block_per_equation():
    d = derivation("lstm", 3)
    rows = d.sections[2].displays[0].rows
    assert len(rows) <= 15 and [len(row) for row in rows].count(1) == 0
    gru = " ".join(f"{lhs} = {line}" for lhs, line in _rows(derivation("gru", 2), [2]))
    assert r"\delta" not in gru  # local derivatives hold no adjoint of an inlined intermediate
    assert (r"\partial u^{\left(g\right)}_{t} / \partial a^{\left(h\right)}_{t-1} = w^{\left(G\right)} \cdot "
            r"a^{\left(r\right)}_{t}") in gru


def test_closed_form_with_sums_and_products():
    d = derivation("rnn", 3, output="sequence")
    rows = _rows(d, [4])
    assert rows[0] == (r"\dfrac{\partial C}{\partial w^{\left(x\right)}}",
                       r"\sum_{k=1}^{T} \delta a_{k} \, \dfrac{\partial a_{k}}{\partial w^{\left(x\right)}_{k}}")
    assert rows[1][0] == "" and rows[1][1].startswith(r"\dfrac{\partial C}{\partial w^{\left(x\right)}_{1}} + ")
    assert rows[2][1].startswith(r"\sum_{t=k}^{T} \dfrac{\partial C_{t}}{\partial a_{t}} \, \prod_{j=k+1}^{t}")


def _pages(pdf_bytes, tmp_path):
    path = tmp_path / "d.pdf"
    path.write_bytes(pdf_bytes)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[1] for line in info.splitlines() if line.startswith("Pages:")))


def test_lstm_every_step_output_at_twenty_steps_fits_four_pages(tmp_path):
    d = derivation("lstm", 20, output="sequence")
    pdf, log = compile_pdf(d.document())
    assert overfull_lines(log) == []
    assert _pages(pdf, tmp_path) <= 4
    assert _pages(compile_pdf(derivation("lstm", 3).document())[0], tmp_path) <= 4  # was 5


def _truncated_reference(d, param, K, functions):
    """Σ_t Σ_{k=t-K+1}^{t} ∂C_t/∂θ_k by SymPy diff of each step's nested cost."""
    unrolled = d.unrolled
    terms = unrolled.cost.args if unrolled.cost.is_Add else (unrolled.cost,)
    total = 0
    for t in unrolled.output_steps():
        cost_t = unrolled.expand(next(term for term in terms if sympy.Symbol(f"y_{t}") in term.free_symbols))
        cost_t = _with_reference_functions(cost_t, functions)
        for k in range(max(1, t - K + 1), t + 1):
            total += sympy.diff(cost_t, sympy.Symbol(f"{param}_{k}"))
    return total


@pytest.mark.parametrize("cell,output,steps,K,wrt,layers", [
    ("rnn", "sequence", 4, 2, "w_x", 1), ("rnn", "last", 4, 2, "w_a", 1), ("lstm", "sequence", 3, 2, "w_F", 1),
    ("gru", "last", 3, 1, "w_z", 1),
    # stacks of cells that read x[t-1]: the layer below's output at t-K, read at t-K+1, is outside the window
    ("qrnn", "last", 3, 1, "w_z_l1", 2), ("qrnn", "sequence", 3, 2, "w_f_l1", 2),
    ("qrnn", "sequence", 3, 1, "w_o_l1", 3)])
def test_truncated_chains_equal_sympy_diff_of_the_truncated_cost(cell, output, steps, K, wrt, layers):
    import mpmath

    from symrnn.network import MASK
    from symrnn.verify import _definition_evaluator, _evaluate_chain, _reference_functions
    mpmath.mp.dps = 30
    d = derivation(cell, steps, output=output, wrt=[wrt], truncate=K, layers=layers)
    functions, modules = _reference_functions()
    reference = _truncated_reference(d, wrt, K, functions).xreplace({MASK: 1})
    rng = __import__("numpy").random.default_rng(3)
    # every copy: a chain may read one the cost does not (qrnn's w^(O)[2]_2 with one output, at T)
    symbols = sorted(d.unrolled.nested_cost().free_symbols | set(d.unrolled.copy_of), key=lambda s: s.name)
    point = {s: mpmath.mpf(float(v)) for s, v in zip(symbols, rng.uniform(-1, 1, len(symbols)))}
    point[MASK] = mpmath.mpf(1)
    expected = sympy.lambdify(symbols, reference, modules)(*[point[s] for s in symbols])
    evaluate = _definition_evaluator(d.unrolled, point, modules)
    chains = [d.chain(wrt, k) for k in range(1, steps + 1)]
    value = sum(_evaluate_chain(d, c, evaluate) for c in chains if c is not None)
    assert abs(value - expected) < EXACT
    whole = derivation(cell, steps, output=output, wrt=[wrt], layers=layers)
    full = sum(_evaluate_chain(whole, whole.chain(wrt, k), evaluate) for k in range(1, steps + 1))
    assert abs(full - expected) > 1e-6  # the window does remove terms
    assert "K = " in d.snippet() and len(d.sections) == 5


def test_cli_truncate_and_dollar_delimiters(capsys):
    assert main(["latex", "rnn", "-T", "4", "--truncate", "2", "--math", "dollars"]) == 0
    out = capsys.readouterr().out
    assert r"\right|_{K = 2}" in out and "$$" in out and r"\(" not in out
    assert derivation("rnn", 2)._repr_latex_() == derivation("rnn", 2)._repr_markdown_()


# --- issue 25: what an instructor sees --------------------------------------------------

# Every built-in cell crossed with T in {2, 3, 5, 20}, last and sequence, 1-2 layers is 208
# documents (about 95 s on 2 cores, run by hand for issue 25: no overfull box); the test takes
# each cell at two points of that cross, chosen so that together they cover all 16 of its points.
CROSS = [(T, output, layers) for T in (2, 3, 5, 20) for output in ("last", "sequence") for layers in (1, 2)]
ALL_CELLS = [(name, variant) for name, variants in CELLS.items() for variant in variants]
SAMPLED = [(name, variant, *CROSS[(2 * i + j) % len(CROSS)]) for i, (name, variant) in enumerate(ALL_CELLS)
           for j in (0, 1)]


def compile_together(documents):
    """The log of one pdflatex run of every document's body under the first one's preamble
    (the same preamble for all): one run instead of one per document, the same boxes."""
    preamble, _, _ = documents[0].partition("\\begin{document}")
    bodies = [d.partition("\\begin{document}")[2].partition("\\end{document}")[0] for d in documents]
    return compile_pdf(preamble + "\\begin{document}\n" + "\n\\clearpage\n".join(bodies) + "\\end{document}\n")[1]


def overfull_boxes(log):
    return [line for line in log.splitlines() if line.startswith("Overfull")]


def test_sampled_cross_of_built_in_derivations_has_no_overfull_box():
    assert {point[2:] for point in SAMPLED} == set(CROSS)
    documents = [derivation(name, T, variant=variant, output=output, layers=layers).document()
                 for name, variant, T, output, layers in SAMPLED]
    assert overfull_boxes(compile_together(documents)) == []


def _rows_of(display):
    return [] if display.grid else display.rows


def test_section_5_continues_dC_dtheta_with_the_sum_of_its_copies():
    """= ∂C/∂w_1 + ∂C/∂w_2 + ∂C/∂w_3 continues ∂C/∂θ, before δs_k is defined: under the
    δs_k row it would read as if the adjoint were the sum of the copies' gradients."""
    for d in (derivation("rnn", 3, wrt=["w_x", "w_a"]), derivation("lstm", 2, output="sequence")):
        for display, param in zip(d.sections[4].displays, d.wrt):
            (lhs, _), (continued, lines), (adjoint, _) = display.rows[:3]
            copies = [rf"\partial w^{{\left({param[2:]}\right)}}_{{{k}}}" for k in range(1, d.steps + 1)]
            assert lhs == rf"\dfrac{{\partial C}}{{\partial w^{{\left({param[2:]}\right)}}}}"
            assert continued == "" and all(c in " ".join(lines) for c in copies)
            assert adjoint.startswith(r"\delta ")
            for (above, _), (below, text) in zip(display.rows, display.rows[1:]):
                assert not (above.startswith(r"\delta") and below == "" and copies[0] in " ".join(text))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "mgu", "sru"])
def test_section_1_names_only_what_the_document_has(cell):
    """No 'second table'; the δ[e] example is an adjoint section 4 defines (LSTM: δ[tanh(a^(c)_t)],
    GRU: δ[a^(r)_t × a^(h)_{t-1}]), and without one the sentence is left out."""
    d = derivation(cell, 2)
    text = d.sections[0].text
    assert "table" not in text and r"\delta[\tanh(a_{t})]" not in text
    defined = [lhs for display in d.sections[3].displays for lhs, lines in display.rows if lhs]
    defined += [lines[0].removesuffix(" =") for display in d.sections[3].displays for lhs, lines in display.rows
                if lhs is None]
    example = d.expression_adjoint_example()
    if example is None:
        assert r"\delta[e]" not in text and r"\delta\bigl[" not in "".join(defined)
    else:
        assert rf"such as \({example}\)" in text and example in defined
    assert (example is None) == (cell == "rnn")


def test_local_derivatives_sit_in_aligned_columns():
    """Section 3 is a grid: each row a list of (∂out/∂in, derivative) pairs, the
    template's column pairs, so every column's = signs line up."""
    for d in (derivation("rnn", 2), derivation("lstm", 2), derivation("gru", 2, layers=2)):
        grid = d.sections[2].displays[0]
        assert grid.grid and max(len(row) for row in grid.rows) >= 2
        body = d.document().split("3. Local derivatives")[1].split("\\end{align*}")[0]
        rows = [line for line in body.splitlines() if line.startswith(r"\partial")]
        assert len(rows) == len(grid.rows)
        assert [row.count("&=") for row in rows] == [len(row) for row in grid.rows]


def test_a_long_local_derivative_is_broken_on_lines_of_its_own():
    """A cell whose function's argument has no pre-activation (antisymmetric's tanh inside
    h[t-1] + 0.01 * tanh(...)) has local derivatives wider than a column: rows broken to fit."""
    d = derivation("antisymmetric", 2)
    assert [display.grid for display in d.sections[2].displays] == [False]
    assert all(lhs is None for lhs, _ in d.sections[2].displays[0].rows)


def test_macros_write_each_name_once_and_render_the_same(tmp_path):
    """--macros: \\w{x}, \\bias{a}, \\act{h}, \\pre{f} (\\wl{x}{2}, ... in a stack) defined once
    in the preamble; expanding them gives the document without macros, and both PDFs hold the same text."""
    from symrnn.derivation import expand_macros

    for d in (derivation("lstm", 2), derivation("gru", 2, layers=2, wrt=["w_z_l1", "w_z_l2"])):
        plain, short = d.document(), d.document(macros=True)
        assert r"\left(" not in short.split("\\begin{document}")[1]
        definitions = [line for line in short.splitlines() if line.startswith(r"\newcommand")]
        assert definitions and len(short) < 0.8 * len(plain)
        assert expand_macros("".join(line for line in short.splitlines(keepends=True)
                                     if line.rstrip("\n") not in definitions)) == plain
        text = []
        for name, document in (("plain", plain), ("short", short)):
            (tmp_path / f"{name}.pdf").write_bytes(compile_pdf(document)[0])
            text.append(subprocess.run(["pdftotext", f"{name}.pdf", "-"], cwd=tmp_path, capture_output=True,
                                       check=True).stdout)
        assert text[0] == text[1]
        snippet = d.snippet(macros=True)
        assert snippet.startswith(r"\(\newcommand{\w}") and expand_macros(snippet.split("\n\n", 1)[1]) == d.snippet()


def test_cli_macros_and_pdf_needs_a_document(tmp_path, capsys):
    assert main(["latex", "rnn", "-T", "2", "--macros", "-o", str(tmp_path / "r.tex"), "--pdf"]) == 0
    assert r"\newcommand{\w}[1]" in (tmp_path / "r.tex").read_text() and (tmp_path / "r.pdf").exists()
    capsys.readouterr()
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path / "..")
        before = sorted(Path().iterdir())
        assert main(["latex", "rnn", "-T", "2", "--pdf"]) == 2  # was: a PDF silently written here
        assert sorted(Path().iterdir()) == before
    finally:
        os.chdir(cwd)
    assert "--pdf compiles the document: give it -o FILE.tex" in capsys.readouterr().err
