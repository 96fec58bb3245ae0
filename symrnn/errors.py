"""The exception types symrnn raises for a user's mistakes.

Every message names what was wrong and what was expected; internal
invariants use ``assert`` instead.
"""


class SymrnnError(Exception):
    """Base class of every error symrnn reports to a user."""


class CellError(SymrnnError):
    """A cell's equations are malformed (unknown name, cycle, bad shape use)."""


class ConfigError(SymrnnError):
    """An unknown cell, variant, option or value was asked for."""


class InputError(SymrnnError):
    """Arrays given to generated code have the wrong shape, length or values."""


class BuildCheckError(SymrnnError):
    """A committed generated file differs from what the generator writes now."""
