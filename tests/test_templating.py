"""One Jinja environment for every template; HTML templates escape, the others do not."""

import ast
import re
from pathlib import Path

import jinja2

from symrnn import templating

PACKAGE = Path(templating.__file__).resolve().parent


def test_only_templating_makes_a_jinja_environment():
    makers = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "Environment":
                makers.append(path.name)
    assert makers == ["templating.py"]


def test_every_template_loads_and_only_html_escapes():
    environment = templating.environment()
    assert environment is templating.environment()
    names = sorted(p.name for p in templating.template_dir().glob("*.j2"))
    assert "module.py.j2" in names and "explorer.html.j2" in names
    for name in names:
        template = environment.get_template(name)
        assert environment.autoescape(name) == name.endswith(".html.j2"), template.name
    assert environment.from_string("{{ v }}").render(v="<a & b>") == "<a & b>"


def _imports(name):
    """(template, macro) pairs that template ``name`` imports with {% from ... import ... %}."""
    environment = templating.environment()
    tree = environment.parse(environment.loader.get_source(environment, name)[0])
    return {(node.template.value, macro if isinstance(macro, str) else macro[0])
            for node in tree.find_all(jinja2.nodes.FromImport) for macro in node.names}


def test_both_derivation_templates_lay_out_displays_with_the_shared_macro():
    for name in ("derivation.md.j2", "derivation.tex.j2"):
        assert ("macros.j2", "aligned") in _imports(name), name
        source = (templating.template_dir() / name).read_text(encoding="utf-8")
        assert "display.rows" not in source, f"{name} writes a display's rows itself"


def test_aligned_macro_writes_rows_continuations_and_packed_rows():
    from symrnn.derivation import Display

    aligned = templating.environment().get_template("macros.j2").module.aligned
    display = Display(rows=[("a_{t}", ["x +", "y"]), (None, [r"p \qquad q", "r"]), ("C", ["z"])])
    assert str(aligned("align*", display)) == (
        "\\begin{align*}\n"
        "a_{t} &= x + \\\\\n"
        " &\\quad y \\\\\n"
        "&p \\qquad q \\\\\n"
        "&r \\\\\n"
        "C &= z\n"
        "\\end{align*}")
    assert str(aligned("aligned", Display(rows=[("C", ["z"])]))) == "\\begin{aligned}\nC &= z\n\\end{aligned}"


def test_snippet_and_document_share_every_display():
    """The Markdown snippet and the LaTeX document differ around their displays, not inside."""
    from symrnn.derivation import derivation

    made = derivation("rnn", 2, wrt=["w_x", "w_a"])
    snippet = re.findall(r"\\begin\{aligned\}\n(.*?)\\end\{aligned\}", made.snippet(), re.DOTALL)
    document = re.findall(r"\\begin\{align\*\}\n(.*?)\\end\{align\*\}", made.document(), re.DOTALL)
    assert len(snippet) > 5 and snippet == document


def test_aligned_macro_writes_a_grid_as_column_pairs():
    from symrnn.derivation import Grid

    aligned = templating.environment().get_template("macros.j2").module.aligned
    grid = Grid(rows=[(("a", "1"), ("b", "2")), (("c", "3"),)])
    assert str(aligned("align*", grid)) == (
        "\\begin{align*}\na &= 1 &\\qquad b &= 2 \\\\\nc &= 3\n\\end{align*}")
