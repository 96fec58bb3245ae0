"""Every built-in derivation snippet typesets with MathJax 3 without an error.

MathJax 3 is what Jupyter and most documentation sites use. The formulas of
each snippet (between ``\\(``/``\\)`` and ``\\[``/``\\]``, and with
``--math dollars`` between ``$``/``$$``) go to ``tests/mathjax/typeset.js``
under node, which uses the ``mathjax-full`` npm package (installed by
``.ci/deps`` into ``.ci/node``) with every TeX package except those that
turn errors into red text; an undefined macro or unbalanced brace is an
error there.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from symrnn.derivation import derivation

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / ".ci" / "node" / "node_modules"
pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_MODULES / "mathjax-full").is_dir(),
    reason="node and mathjax-full are installed by .ci/deps")

DOCUMENTS = [
    ("rnn", None, "last", 3, None), ("rnn", None, "sequence", 4, 2), ("lstm", None, "last", 3, None),
    ("lstm", None, "sequence", 3, None), ("gru", "notes", "last", 3, None), ("gru", "pytorch", "sequence", 2, None),
]
DELIMITERS = {"parens": r"\\\((.+?)\\\)|\\\[(.+?)\\\]", "dollars": r"(?<!\$)\$(?!\$)(.+?)\$|\$\$(.+?)\$\$"}


def formulas(text, math):
    """``{"tex", "display"}`` for every formula of a snippet."""
    return [{"tex": inline or display, "display": bool(display)}
            for inline, display in re.findall(DELIMITERS[math], text, flags=re.S)]


def typeset(found):
    done = subprocess.run(["node", str(ROOT / "tests" / "mathjax" / "typeset.js")], input=json.dumps(found),
                          capture_output=True, text=True, timeout=300, check=False,
                          env={"NODE_PATH": str(NODE_MODULES), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_typesetter_reports_errors():
    report = typeset([{"tex": r"\frac{a", "display": False}, {"tex": r"\nomacro x", "display": True},
                      {"tex": r"w^{\left(x\right)}_{t} \odot \bigl(a\bigr)", "display": True}])
    assert report["typeset"] == 3 and [e["tex"] for e in report["errors"]] == [r"\frac{a", r"\nomacro x"]


@pytest.mark.parametrize("math", ["parens", "dollars"])
@pytest.mark.parametrize("cell,variant,output,steps,truncate", DOCUMENTS)
def test_every_formula_of_a_builtin_snippet_typesets(cell, variant, output, steps, truncate, math):
    snippet = derivation(cell, steps, variant=variant, output=output, truncate=truncate).snippet(math=math)
    found = formulas(snippet, math)
    assert len(found) > 20
    report = typeset(found)
    assert report["typeset"] == len(found)
    assert report["errors"] == []
