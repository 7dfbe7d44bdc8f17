"""Tape-based reverse-mode autodiff: GradientTape, grad and value_and_grad.

While a tape is active, every kernel run on a watched tensor is recorded as a Node. Going
backwards, each node's registered gradient (written with engine ops) turns the gradient of its
outputs into gradients of its inputs. Higher-order gradients are not taped.
"""
from engine import dtypes
from engine.registry import get_gradient

TAPES = []  # active tapes, innermost last; dispatch checks this list's truthiness


class Node:
    """One recorded kernel call."""

    __slots__ = ("op", "inputs", "outputs", "attrs", "needs")

    def __init__(self, op, inputs, outputs, attrs):
        self.op = op
        self.inputs = tuple(inputs)
        self.outputs = outputs if type(outputs) is tuple else (outputs,)
        self.attrs = attrs
        self.needs = ()


def record(op, inputs, outputs, attrs):
    for tape in TAPES:
        for tensor in inputs:
            if tape._is_watched(tensor):
                node = Node(op, inputs, outputs, attrs)
                tape._nodes.append(node)
                for output in node.outputs:
                    tape._watched[id(output)] = output
                break


def taped_producer(tensor):
    """The node an active tape recorded as producing `tensor`, or None (searched newest first:
    a tensor just computed is found at once)."""
    for tape in TAPES:
        for node in reversed(tape._nodes):
            if any(output is tensor for output in node.outputs):
                return node
    return None


class GradientTape:
    """Records ops for differentiation, as tf.GradientTape.

    Trainable Variables are watched automatically; other tensors with `watch`.
    """

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self._persistent = persistent
        self._watch_variables = watch_accessed_variables
        self._nodes = []
        self._watched = {}
        self._used = False

    def __enter__(self):
        TAPES.append(self)
        return self

    def __exit__(self, *exc):
        TAPES.remove(self)
        return False

    def watch(self, tensors):
        for tensor in _as_list(tensors):
            self._watched[id(tensor)] = tensor

    def _is_watched(self, tensor):
        if id(tensor) in self._watched:
            return True
        return self._watch_variables and tensor.trainable

    def gradient(self, target, sources, output_gradients=None):
        """Gradients of `target` with respect to `sources` (a tensor or a list of them)."""
        if self._used and not self._persistent:
            raise RuntimeError("A non-persistent GradientTape can compute gradients only once; "
                               "use GradientTape(persistent=True)")
        self._used = True
        from engine import ops

        grads = {id(target): output_gradients if output_gradients is not None
                 else ops.ones_like(target)}
        suspended = TAPES[:]
        TAPES.clear()  # gradient computations are not recorded
        try:
            for node in reversed(self._nodes):
                _backprop_node(node, grads, self._is_watched)
        finally:
            TAPES.extend(suspended)
        if not self._persistent:
            self._nodes = []
        results = [grads.get(id(s)) for s in _as_list(sources)]
        results = [g if g is not None else ops.zeros_like(s)
                   for g, s in zip(results, _as_list(sources))]
        return results if isinstance(sources, (list, tuple)) else results[0]


def _backprop_node(node, grads, is_watched):
    from engine import ops

    if len(node.outputs) == 1:
        dy = grads.get(id(node.outputs[0]))
        if dy is None:
            return
    else:
        dy = tuple(grads.get(id(o)) for o in node.outputs)  # None: no gradient reached it
        if all(g is None for g in dy):
            return
    node.needs = tuple(is_watched(t) and dtypes.is_floating(t.dtype) for t in node.inputs)
    if not any(node.needs):
        return
    input_grads = get_gradient(node.op)(dy, node)
    if not isinstance(input_grads, (tuple, list)):
        input_grads = (input_grads,)
    for tensor, grad, need in zip(node.inputs, input_grads, node.needs):
        if not need or grad is None:
            continue
        if grad.shape != tensor.shape:
            raise RuntimeError(f"Gradient of '{node.op}' has shape {grad.shape} for an input of "
                               f"shape {tensor.shape}")
        previous = grads.get(id(tensor))
        grads[id(tensor)] = grad if previous is None else ops.add(previous, grad)


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def value_and_grad(f, argnums=0, has_aux=False):
    """Return a function giving (f(*args), gradients of f with respect to args[argnums])."""

    def wrapped(*args, **kwargs):
        from engine import ops

        positions = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        args = list(args)
        for i in positions:
            args[i] = ops.convert_to_tensor(args[i])
        with GradientTape(watch_accessed_variables=False) as tape:
            tape.watch([args[i] for i in positions])
            out = f(*args, **kwargs)
        value, aux = out if has_aux else (out, None)
        grads = tape.gradient(value, [args[i] for i in positions])
        grads = grads[0] if isinstance(argnums, int) else tuple(grads)
        return ((value, aux), grads) if has_aux else (value, grads)

    return wrapped


def grad(f, argnums=0, has_aux=False):
    """Return a function giving the gradients of f with respect to args[argnums]."""
    with_value = value_and_grad(f, argnums, has_aux)

    def wrapped(*args, **kwargs):
        value, grads = with_value(*args, **kwargs)
        return (grads, value[1]) if has_aux else grads

    return wrapped
