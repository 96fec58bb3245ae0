"""The derived network: the engine runs once per network, and every consumer reads that one result."""

import symrnn
from symrnn import codegen, derived
from symrnn.copies import CopyAnalysis
from symrnn.derivation import Derivation
from symrnn.derived import derive_network


def count_engine_runs(monkeypatch):
    """Count the engine's reverse passes over the network's own graphs."""
    runs = []
    engine = derived.reverse

    def counting(nodes, seeds, constants=(), sizes=None):
        runs.append(tuple(nodes))
        return engine(nodes, seeds, constants, sizes)

    monkeypatch.setattr(derived, "reverse", counting)
    return runs


def test_every_consumer_shares_one_derivation(monkeypatch):
    runs = count_engine_runs(monkeypatch)
    network = symrnn.network("lstm", output="sequence", layers=2)
    codegen.render(network)
    Derivation(network, 2)
    CopyAnalysis(network, 3).table("w_f")
    # the cell's step, the output layer from C, the output layer from d_out: three passes, once each
    assert len(runs) == 3
    the_derived = derive_network(network)
    assert derive_network(network) is the_derived
    assert runs[0] == the_derived.graph.nodes


def test_a_derived_network_is_taken_as_it_is(monkeypatch):
    the_derived = derive_network(symrnn.network("gru"))
    runs = count_engine_runs(monkeypatch)
    codegen.render(the_derived.network)
    assert derive_network(the_derived) is the_derived
    assert runs == []


def test_the_output_layer_is_reversed_from_the_cost_and_from_the_outputs():
    the_derived = derive_network(symrnn.network("rnn", output="sequence"))
    assert set(the_derived.from_cost.params) == {"w_y", "b_y"}
    assert set(the_derived.from_outputs.params) == {"w_y", "b_y"}
    # targets and the length mask are data: no adjoint flows into them
    assert {s.name for s in the_derived.from_cost.inputs} == {"top"}
