"""Networks: stacked layers of one cell, an output layer and a cost.

Layer l reads layer l-1's exposed state at the same step (layer 1 reads x).
The output layer o_t = g_o(w^(y) a_t + b^(y)) runs either once per item at
its own last step t_i (``output="last"``) or at every step
(``output="sequence"``). The cost C is summed over items and outputs:
squared error 1/2 (o - y)^2, or softmax cross-entropy -y·log softmax(z).
With ``output="states"`` there is no output layer: the outputs are the top
layer's exposed state at every step (zero past each item's length), so a
generated module is a recurrent layer like ``nn.LSTM``; its cost is the
squared error on those states.

Imports: cells, the step graph's node types, naming and the rule table.
"""

from dataclasses import dataclass

import sympy

from . import limits, naming
from .cells import Cell
from .errors import ConfigError
from .graph import Affine, Compute, Total
from .limits import layers_problem
from .rules import log_softmax, sigmoid

# The modes with an output layer (derivations, copies, pictures, the explorer
# take these), and every mode a network and its generated modules accept.
OUTPUT_MODES = ("last", "sequence")
STATES = "states"
NETWORK_OUTPUTS = OUTPUT_MODES + (STATES,)
LOSSES = ("squared", "xent")
OUTPUT_ACTIVATIONS = ("identity", "sigmoid", "softmax")
MAX_LAYERS = limits.MAX_LAYERS  # one place for every limit: symrnn.limits

# Symbols of the output layer and cost. Their names have an underscore or are
# reserved (naming.RESERVED), so they never clash with a cell's vectors.
TOP, Z, O, LOG_PROB, OUT, TARGET, MASK, COST = sympy.symbols("top y_pre y_hat y_logp y_out y mask C")


@dataclass(frozen=True)
class Network:
    cell: Cell
    layers: int = 1
    output: str = "last"
    loss: str = "squared"
    out_activation: str | None = None

    def __post_init__(self):
        if not isinstance(self.cell, Cell):
            raise ConfigError(f"cell must be a symrnn Cell, got {self.cell!r}")
        if layers_problem(self.layers):
            raise ConfigError(layers_problem(self.layers))
        _check_choice("output", self.output, NETWORK_OUTPUTS)
        _check_choice("loss", self.loss, LOSSES)
        if self.out_activation is None:
            object.__setattr__(self, "out_activation", "softmax" if self.loss == "xent" else "identity")
        _check_choice("output activation", self.out_activation, OUTPUT_ACTIVATIONS)
        if self.loss == "xent" and self.out_activation != "softmax":
            raise ConfigError("the cross-entropy cost needs the softmax output activation")
        if self.output == STATES and (self.loss, self.out_activation) != ("squared", "identity"):
            raise ConfigError("output 'states' has no output layer: its cost is the squared error on the "
                              "states (loss squared, no output activation)")

    @property
    def masked(self):
        """Whether outputs past an item's length exist and must be masked."""
        return self.output in ("sequence", STATES)

    @property
    def has_output_layer(self):
        """Whether an output layer (w_y, b_y) reads the top layer's state."""
        return self.output != STATES

    def layer_params(self, layer):
        """(cell name, network name) of each cell parameter in ``layer``."""
        return [(p.name, naming.layer_name(p.name, layer, self.layers)) for p in self.cell.parameters]

    def initial_states(self, layer):
        return [naming.layer_name(naming.initial_state_name(s.name), layer, self.layers)
                for s in self.cell.states]

    @property
    def input_letter(self):
        """The size letter of layer 1's input x: D, or the letter a cell
        declares for it (``size x H``: the input used elementwise)."""
        return self.cell.sizes[self.cell.input.name]

    @property
    def output_letter(self):
        """The size letter of each layer's output (H unless the cell declares another)."""
        return self.cell.sizes[self.cell.output_state.name]

    def param_shapes(self):
        """Every parameter's name and shape in size letters (the cell's
        :attr:`Param.shape`): D input, H hidden, K output. A layer above the
        first reads the output of the one below, so its input's letter is
        the output's."""
        shapes = {}
        for layer in range(1, self.layers + 1):
            rename = {self.input_letter: self.output_letter} if layer > 1 else {}
            for param, (_, name) in zip(self.cell.parameters, self.layer_params(layer)):
                shapes[name] = tuple(rename.get(letter, letter) for letter in param.shape)
        if self.has_output_layer:
            shapes[naming.OUTPUT_WEIGHT] = ("K", self.output_letter)
            shapes[naming.OUTPUT_BIAS] = ("K",)
        return shapes

    @property
    def module_name(self):
        parts = [self.cell.name, f"l{self.layers}", self.output, self.loss]
        if self.out_activation not in ("identity", "softmax"):
            parts.insert(3, self.out_activation)
        return "_".join(parts)


def _check_choice(what, value, choices):
    if value not in choices:
        raise ConfigError(f"unknown {what} {value!r}; expected one of {list(choices)}")


def head_nodes(network):
    """Output layer and cost as nodes. Returns (nodes, outputs symbol, cost)."""
    if not network.has_output_layer:  # the states themselves, masked past each length
        return [Compute(OUT, MASK * TOP)], OUT, Total(COST, MASK * (TOP - TARGET) ** 2 / 2)
    w_y, b_y = sympy.symbols(f"{naming.OUTPUT_WEIGHT} {naming.OUTPUT_BIAS}")
    nodes = [Affine(Z, w_y, TOP, b_y)]
    activation = network.out_activation
    if activation == "identity":
        o = Z
    elif activation == "sigmoid":
        nodes.append(Compute(O, sigmoid(Z)))
        o = O
    else:
        nodes += [Compute(LOG_PROB, log_softmax(Z)), Compute(O, sympy.exp(LOG_PROB))]
        o = O
    weight = MASK if network.masked else 1
    if network.masked:
        nodes.append(Compute(OUT, MASK * o))
        outputs = OUT
    else:
        outputs = o
    if network.loss == "squared":
        cost = Total(COST, weight * (o - TARGET) ** 2 / 2)
    else:
        cost = Total(COST, -weight * TARGET * LOG_PROB)
    return nodes, outputs, cost
