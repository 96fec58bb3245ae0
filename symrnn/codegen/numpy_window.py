"""The NumPy text of a layer's window variant of backward
(``_layer_backward_window``): backward's set-up plus per-step buffers, the
plan's window step, and after the loop every parameter's term of each step.

Imports: names and the NumPy backward's and spelling helpers.
"""

from . import names
from .numpy_backward import arg_sequence, finish_lines
from .numpy_backward import setup_lines as backward_setup
from .numpy_text import cols


def setup_lines(plan):
    """Backward's set-up, then the per-step buffers of parameter terms and state adjoints."""
    lines = backward_setup(plan, with_size=True, window=True)
    lines += [f"{names.per_step_gradient(p)} = np.zeros((T, *{p.name}.shape), dtype=inputs.dtype)"
              for p in plan.backward.per_step_params]
    lines += [f"{names.state_adjoint_steps(s)} = np.empty((T, B, {plan.size(s)}), dtype=inputs.dtype)"
              for s in plan.states]
    return lines


def window_finish_lines(plan):
    """Backward's gradients, then ``steps``: each copy's term of every parameter."""
    return finish_lines(plan, window=True) + steps_lines(plan, "np.matmul", "np.zeros")


def steps_lines(plan, matmul, zeros):
    """``steps``: each copy's term of every parameter (a leading T axis), with
    the backend's ``matmul`` and ``zeros`` (the JAX window's: jnp's)."""
    lines = ["steps = {}"]
    assigned = set()
    for group in plan.groups:
        lines += group_step_lines(plan, group, assigned, matmul)
    per_step = set(plan.backward.per_step_params)
    for p in plan.backward.summed_params:
        value = names.per_step_gradient(p) if p in per_step else f"{zeros}((T, *{p.name}.shape), dtype=inputs.dtype)"
        lines.append(f'steps["{p.name}"] = {value}')
    return lines


def group_step_lines(plan, group, assigned, matmul="np.matmul"):
    """Each copy's term of the group's parameters: the products of
    backward's gradients kept apart per step (a leading T axis); ``matmul``
    the backend's (the JAX window's is jnp.matmul)."""
    adjoint, n = names.group_adjoint_steps(group), len(group.members)
    lines = [f"{adjoint} = d_slots[:, :, {cols(group.start, group.stop, plan.slot_sizes)}]"]
    weights = [m.weight.name for m in group.members]
    product = f"{matmul}({adjoint}.transpose(0, 2, 1), {arg_sequence(plan, group)})"
    if group.transposed:  # u = w^T·v: each step's term is v^T d, (in, out)
        product = f"{matmul}({arg_sequence(plan, group)}.transpose(0, 2, 1), {adjoint})"
    lines += split_assign_steps(weights, product, f"(T, {n}, {group.size}, -1)", assigned)
    biases = [m.bias.name for m in group.members if m.bias is not None]
    if biases and len(biases) == n:
        lines += split_assign_steps(biases, f"{adjoint}.sum(axis=1)", f"(T, {n}, {group.size})", assigned)
    else:
        for k, member in enumerate(group.members):
            if member.bias is not None:
                block = f"d_slots[:, :, {cols(group.start + k, group.start + k + 1, plan.slot_sizes)}]"
                lines += split_assign_steps([member.bias.name], f"{block}.sum(axis=1)", None, assigned)
    return lines


def split_assign_steps(param_names, value, shape, assigned):
    """``steps[...] = value``, with the member blocks on axis 1 (``value``
    reshaped to ``shape``); a parameter in several blocks gets their sum."""
    if len(param_names) == 1:
        op = "+=" if param_names[0] in assigned else "="
        assigned.add(param_names[0])
        return [f"steps[\"{param_names[0]}\"] {op} {value}"]
    lines = [f"step_blocks = ({value}).reshape{shape}"]
    for name in dict.fromkeys(param_names):
        terms = " + ".join(f"step_blocks[:, {k}]" for k, other in enumerate(param_names) if other == name)
        lines.append(f"steps[\"{name}\"] {'+=' if name in assigned else '='} {terms}")
        assigned.add(name)
    return lines
