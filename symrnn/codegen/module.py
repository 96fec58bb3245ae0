"""The generated module as a whole: its header, docstring, the lines that
differ between output modes, and :func:`render`, which plans the layer and
the output layer once (:mod:`symrnn.codegen.planner`, :mod:`symrnn.codegen.head`),
has the NumPy emitter spell them, and fills ``templates/module.py.j2``;
:func:`write_module` and :func:`load_module` write or import the result.

Imports: naming, errors, the derived network, the network and its graph's
Affine, printing's text printers, the templating environment, the planners
and the NumPy emitter.
"""

import importlib.abc
import importlib.util

from .. import naming
from ..derived import derive_network
from ..errors import ConfigError
from ..files import do_not_edit
from ..graph import Affine
from ..network import Network, head_nodes
from ..printing import TextPrinter, text_equation
from ..templating import environment
from . import jax_emitter, jax_head, torch_emitter, torch_head, triton_emitter
from .head import plan_head
from .numpy_emitter import emit_layer, layer_helpers
from .numpy_head import emit_head, head_helpers
from .numpy_text import python_tuple
from .planner import plan_layer

BACKENDS = ("numpy", "torch", "jax")


def module_summary(network):
    """The first line of a module's docstring."""
    layers = f"{network.layers} layer{'s' if network.layers > 1 else ''}"
    outputs = {"last": "one output per item, at its last step", "sequence": "an output at every step",
               "states": "no output layer (the outputs are the states)"}[network.output]
    cost = {"squared": "squared-error", "xent": "softmax cross-entropy"}[network.loss]
    return f"{network.cell.description}: {layers}, {outputs}, {cost} cost."


def network_equations(network):
    """Plain-text equations of the whole network for the module docstring."""
    cell_lines = network.cell.equations_text(as_written=True)  # as the cell file and the LaTeX write them
    nodes, _, cost = head_nodes(network)
    head_lines = []
    for node in nodes:
        if isinstance(node, Affine):
            head_lines.append(f"{node.out} = {node.weight}·{node.arg} + {node.bias}")
        else:
            head_lines.append(text_equation(node.out, node.expr))
    head_lines.append(f"C = sum over outputs and items of {TextPrinter().doprint(cost.expr)}")
    return cell_lines, head_lines


def output_mode_code(network):
    """The lines that differ between one output per item and one per step."""
    if network.output == "last":
        return {
            "outputs_doc": "(B, K): one output per item, at its last step t_i",
            "output_dims": ("B", "K"),
            "rows_lines": ["rows, mask = top[lengths - 1, np.arange(B)], None"],
            "outputs_value": "outputs",
            "d_top_lines": [
                "lengths = cache[\"lengths\"]",
                f"d_seq = np.zeros((T, B, sizes[\"{network.output_letter}\"]), d_top.dtype)",
                "d_seq[lengths - 1, np.arange(B)] = d_top",
            ],
            # row b is item b's output, at its step lengths[b]
            "group_lines": [
                "lengths = cache[\"lengths\"]",
                "group = np.zeros((T, B), dtype)",
                "group[lengths - 1, np.arange(B)] = 1",
            ],
        }
    return {
        "outputs_doc": "(T, B, K): one output per step, zero past each item's length",
        "output_dims": ("T", "B", "K"),
        "rows_lines": [
            "rows = top.reshape(T * B, -1)",
            "# No item shorter than x: no row is padded, and the output layer multiplies by no mask.",
            "padded = lengths.min() < T",
            "mask = (np.arange(T)[:, None] < lengths[None, :]).reshape(T * B, 1).astype(dtype) if padded else None",
        ],
        "outputs_value": "outputs.reshape(T, B, -1)",
        "d_top_lines": ["d_seq = d_top.reshape(T, B, -1)"],
        # row t * B + b is step t's output of item b
        "group_lines": ["group = np.repeat(np.eye(T, dtype=dtype), B, axis=1)"],
    } | ({} if network.has_output_layer else {
        "outputs_doc": "(T, B, H): the last layer's states, zero past each item's length",
        "output_dims": ("T", "B", network.output_letter),
    })


def network_tables(network):
    """The module's tables of names: parameters and their shapes, each
    layer's names for the cell's parameters and states, initial states."""
    layers = range(1, network.layers + 1)
    cell = network.cell
    return {
        "params": {name: python_tuple(shape) for name, shape in network.param_shapes().items()},
        "cell_params": python_tuple(p.name for p in cell.parameters),
        "layer_params": [python_tuple(full for _, full in network.layer_params(layer)) for layer in layers],
        "initial_states": [python_tuple(network.initial_states(layer)) for layer in layers],
        "cell_states": python_tuple(s.name for s in cell.states),
        "layer_states": [python_tuple(naming.layer_name(s.name, layer, network.layers) for s in cell.states)
                         for layer in layers],
        "initial_state_names": [name for layer in layers for name in network.initial_states(layer)],
        **size_tables(network),
    }


def size_tables(network):
    """The size letters beyond D, H and K (init_params takes them by letter),
    every letter the parameters use, and each initial state's letter where
    one differs from H (else None)."""
    used = dict.fromkeys(letter for shape in network.param_shapes().values() for letter in shape)
    further = [letter for letter in used if letter not in ("D", "H", "K")]
    letters = {name: cell_letter for layer in range(1, network.layers + 1)
               for name, cell_letter in zip(network.initial_states(layer),
                                            (network.cell.sizes[s.name] for s in network.cell.states))}
    return {
        "further_sizes": further,
        "further_set": "{" + ", ".join(f'"{letter}"' for letter in further) + "}",
        "size_letters": python_tuple(["D", "H", "K", *further]),
        "state_sizes": "{" + ", ".join(f'"{n}": "{v}"' for n, v in letters.items()) + "}"
        if set(letters.values()) != {"H"} else None,
        "state_letters": "{" + ", ".join(f'"{n}": "{v}"' for n, v in letters.items()) + "}",
        "state_shapes_doc": "(B, H)" if set(letters.values()) == {"H"}
        else "(B, its size: " + ", ".join(f"{n} {v}" for n, v in letters.items()) + ")",
    }


def torch_mode_code(network):
    """The torch module's lines that differ between output modes: the
    outputs from the last layer's states, and that adjoint from d(outputs)."""
    if network.output == "last":
        return {
            "doc": "(B, K), one output per item, at its last step t_i",
            "outputs": ["rows = top[lengths - 1, torch.arange(B, device=top.device)]",
                        "outputs, head_cache = _head_forward(params, rows, None)",
                        'return outputs, {"head": head_cache, "lengths": lengths, "T": T}'],
            "d_top": ['d_rows, grads = _head_backward(params, cache["head"], d_outputs)',
                      'lengths, (B, H) = cache["lengths"], d_rows.shape',
                      'd_top = d_rows.new_zeros((cache["T"], B, H))',
                      "d_top[lengths - 1, torch.arange(B, device=d_rows.device)] = d_rows",
                      "return d_top, grads"],
        }
    doc = "(T, B, K), one output per step" if network.output == "sequence" else "(T, B, H), the states"
    return {
        "doc": doc,
        "outputs": ["mask = (torch.arange(T, device=top.device)[:, None] < lengths[None, :]).reshape(T * B, 1)",
                    "outputs, head_cache = _head_forward(params, top.reshape(T * B, -1), mask.to(top.dtype))",
                    'return outputs.reshape(T, B, -1), {"head": head_cache, "T": T}'],
        "d_top": ['d_rows, grads = _head_backward(params, cache["head"], d_outputs.reshape(-1, d_outputs.shape[-1]))',
                  'return d_rows.reshape(cache["T"], -1, d_rows.shape[-1]), grads'],
    }


def render(network, command=None, backend="numpy"):
    """The source text of the module for ``network`` in ``backend`` (numpy,
    torch or jax, :data:`BACKENDS`); its header names ``command`` (``symrnn
    build``, a ``symrnn generate`` line) as the way to regenerate it."""
    if not isinstance(network, Network):
        raise ConfigError(f"expected a symrnn Network, got {network!r}")
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; expected one of {list(BACKENDS)}")
    derived = derive_network(network)
    layer, head = plan_layer(derived), plan_head(derived)
    cell_lines, head_lines = network_equations(network)
    common = {  # what every backend's template lays out alike
        **network_tables(network),
        "header": f"# {do_not_edit(command)}",
        "network": network,
        "cell_lines": cell_lines,
        "head_lines": head_lines,
        "summary": module_summary(network),
    }
    if backend == "jax":
        return environment().get_template("jax_module.py.j2").render(
            **common, layer=jax_emitter.emit_layer(layer), head=jax_head.emit_head(head))
    if backend == "torch":
        return environment().get_template("torch_module.py.j2").render(
            **common,
            network_spec=network_spec(network),
            layer=torch_emitter.emit_layer(layer),
            fused=triton_emitter.emit_layer(layer),
            head=torch_head.emit_head(head),
            mode=torch_mode_code(network),
        )
    return environment().get_template("module.py.j2").render(
        **common,
        **output_mode_code(network),
        layer=emit_layer(layer),
        head=emit_head(head),
        helpers=sorted(layer_helpers(layer) | head_helpers(head)),
    )


def network_spec(network):
    """What makes ``network`` again: its cell's file text (printed from the
    parsed cell, so only the cell language's characters: no quote, no
    backslash) and its options, for a torch module to pickle by."""
    from ..cellfile import format_cell

    text = format_cell(network.cell)
    assert '"' not in text and "\\" not in text, "a cell file's text has no quotes or backslashes"
    return {"cell": text, "layers": network.layers, "output": network.output, "loss": network.loss,
            "out_activation": network.out_activation}


_UNPICKLED = {}  # spec -> the torch module made again, once per process


def unpickled_network(spec):
    """An empty ``Network`` of the torch module that ``spec`` (:func:`network_spec`)
    makes, generated again (once per process): how a module made in memory
    (``load_module``) is unpickled; pickle then restores its state."""
    from ..cellfile import parse_cell

    key = tuple(sorted(spec.items()))
    if key not in _UNPICKLED:
        options = {name: value for name, value in spec.items() if name != "cell"}
        _UNPICKLED[key] = load_module(Network(parse_cell(spec["cell"]), **options), backend="torch")
    network_class = _UNPICKLED[key].Network
    return network_class.__new__(network_class)


def write_module(network, path, command=None, backend="numpy"):
    """Write ``network``'s module to ``path`` atomically (:mod:`symrnn.files`);
    its header names ``command`` as the way to regenerate it (see :func:`render`)."""
    from ..files import check_output_path, write_atomic

    path = check_output_path(path)  # a bad path fails before the derivation
    return write_atomic(path, render(network, command, backend))


class _GeneratedSource(importlib.abc.SourceLoader):
    """Imports a module from generated source text held in memory."""

    def __init__(self, source, filename):
        self.source, self.filename = source, filename

    def get_data(self, path):
        return self.source.encode("utf-8")

    def get_filename(self, fullname):
        return self.filename


def load_module(network, name=None, backend="numpy"):
    """Render ``network`` and import the result as a module object."""
    suffix = "" if backend == "numpy" else f"_{backend}"
    name = name or f"symrnn_generated_{network.module_name}{suffix}"
    loader = _GeneratedSource(render(network, backend=backend), f"<symrnn {network.module_name}{suffix}>.py")
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module
