"""The layout of the package: the data flow runs one way, and no class or function outgrows a reader.

Modules are ordered as the data flows (cell equations -> step graph -> derivatives -> renderers ->
verification -> commands); a module may import only modules of earlier layers, so there is no import
cycle. Every module's docstring says what it may import.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "symrnn"
MAX_CLASS_LINES = 300
MAX_FUNCTION_LINES = 60

# The layers, first to last; within a layer no module imports another.
LAYERS = [
    {"errors", "limits", "plot_svg", "templating"},
    {"naming", "files", "rules"},
    {"graph", "printing", "signs"},
    {"budgets"},
    {"cells"},
    {"cellfile"},
    {"registry", "network"},
    {"derive"},
    {"derived", "interop", "jax_interop"},
    {"codegen"},
    {"placement"},
    {"unroll"},
    {"chain", "notation"},
    {"latex"},
    {"derivation", "copies"},
    {"pictures", "verify"},
    {"quiz", "flow", "copy_differences", "nn", "flax_module", "bidirectional"},
    {"explorer"},
    {"build"},
    {"cli"},
    {"__init__", "__main__"},
]
LAYER_OF = {module: k for k, layer in enumerate(LAYERS) for module in layer}


def modules():
    """(top-level module name, path) of every Python file of the package; a
    subpackage's files count as the subpackage."""
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        yield (relative.parts[0].removesuffix(".py")), path


def imported(path):
    """The top-level symrnn modules a file imports, at any depth of the file
    (an import inside a function is an import too)."""
    inside = path.parent != PACKAGE
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            parts = (node.module or "").split(".") if node.module else []
            if node.level == 1 and inside:
                continue  # within the subpackage
            if parts:
                found.add(parts[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found.update(n.split(".")[1] for n in names if n and n.startswith("symrnn."))
    return found


def test_every_module_has_a_layer():
    assert {name for name, _ in modules()} <= set(LAYER_OF), "add the new module to LAYERS"


@pytest.mark.parametrize("name, path", list(modules()), ids=lambda v: str(v))
def test_modules_import_only_earlier_layers(name, path):
    later = sorted(m for m in imported(path) - {name} if LAYER_OF.get(m, -1) >= LAYER_OF[name])
    assert not later, f"{path.name} imports {later}, not in an earlier layer than {name}"


@pytest.mark.parametrize("name, path", list(modules()), ids=lambda v: str(v))
def test_module_docstrings_say_what_they_may_import(name, path):
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert "import" in docstring.lower(), f"{path}: the docstring should say what the module may import"


def test_no_class_or_function_outgrows_a_reader():
    too_long = []
    for _, path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            limit = {ast.ClassDef: MAX_CLASS_LINES, ast.FunctionDef: MAX_FUNCTION_LINES}.get(type(node))
            if limit and node.end_lineno - node.lineno + 1 > limit:
                too_long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} "
                                f"({node.end_lineno - node.lineno + 1} lines > {limit})")
    assert not too_long
