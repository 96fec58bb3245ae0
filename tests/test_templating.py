"""One Jinja environment for every template; HTML templates escape, the others do not."""

import ast
from pathlib import Path

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
