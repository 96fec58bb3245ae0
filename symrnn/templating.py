"""The one Jinja environment of every template symrnn fills (NumPy modules,
derivations, quizzes, the explorer page), and where the templates are.

Templates only lay out text that Python has decided. The settings are
SymForce's: undefined names are errors, block tags leave no blank lines, and
a file's last newline is kept. HTML templates (``*.html.j2``) escape what they
insert; the others (Python, Markdown, LaTeX) insert text as it is. What
several templates lay out alike is a macro of ``macros.j2`` (the aligned
displays of both derivation templates), imported with
``{% from "macros.j2" import ... %}``; every template sits at the top of
``templates/``, which ships as the package ``symrnn.templates``.

Imports: nothing from symrnn.
"""

from functools import cache
from pathlib import Path

import jinja2


def template_dir():
    """``templates/`` of a source checkout, or its copy inside an installed package."""
    here = Path(__file__).resolve().parent
    installed = here / "templates"
    return installed if installed.is_dir() else here.parent / "templates"


def _is_html(name):
    return name is not None and name.endswith(".html.j2")


@cache
def environment():
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=_is_html,
    )


def render(name, **values):
    """Template ``name`` filled with ``values``."""
    return environment().get_template(name).render(**values)
