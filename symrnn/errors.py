"""The exception types symrnn raises for a user's mistakes.

Every message names what was wrong and what was expected; internal
invariants use ``assert`` instead.

Imports: nothing from symrnn.
"""

from typing import NamedTuple


class SymrnnError(Exception):
    """Base class of every error symrnn reports to a user."""


class Where(NamedTuple):
    """Where in a cell a :class:`CellError` is: the equation (its left side),
    the symbol at fault, and how it is used there ('use', 'prev', 'lhs',
    'matrix', 'elementwise' or 'declared'); None where not known. A cell
    file's parser turns it into a line and column."""

    equation: object = None
    symbol: object = None
    use: str | None = None


class CellError(SymrnnError):
    """A cell's equations are malformed (unknown name, cycle, bad shape use).
    ``where`` (a :class:`Where`) says where, as far as the check knows."""

    def __init__(self, message, where=None):
        super().__init__(message)
        self.where = where or Where()


class ConfigError(SymrnnError):
    """An unknown cell, variant, option or value was asked for."""


class InputError(SymrnnError, ValueError):
    """Arrays given to generated code have the wrong shape, length or values.

    Every generated module raises this very class where symrnn is installed
    (it imports it), so ``except symrnn.InputError`` catches the input errors
    of all of them; a module used where symrnn is not installed defines its
    own ``InputError(ValueError)``, and ``except ValueError`` catches both.
    """


class BuildCheckError(SymrnnError):
    """A committed generated file differs from what the generator writes now."""


class CellFileError(CellError):
    """A cell file is malformed. The message starts with ``file:line:column:``,
    says what was found and what was expected, and shows the line with a caret.
    """

    def __init__(self, reason, *, path="<text>", line=1, column=1, excerpt=""):
        self.reason, self.path, self.line, self.column = reason, path, line, column
        super().__init__(f"{path}:{line}:{column}: {reason}" + (f"\n{excerpt}" if excerpt else ""))


class LatexError(SymrnnError):
    """pdflatex could not compile a derivation; the message holds LaTeX's errors."""
