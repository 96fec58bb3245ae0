import functools

import pytest

import symrnn


@functools.cache
def cached_module(cell, variant=None, activation=None, layers=1, output="last", loss="squared"):
    """Generated modules are pure functions of their configuration: build each once."""
    net = symrnn.network(cell, variant=variant, activation=activation, layers=layers, output=output, loss=loss)
    return net, symrnn.load_module(net)


@pytest.fixture
def module_for():
    return cached_module
