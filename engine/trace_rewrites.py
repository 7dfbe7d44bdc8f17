"""Rewrites of a recorded trace that compute the same values with less work (the idea of TF's
grappler remapper, on kernel calls). A step is (kernel, input slots, attrs, output slot(s));
`ops` names each step's op (None for a variable read or write). Every rule keeps each step's
output slot, so what follows it is untouched; `kept` are the slots the trace returns.
"""


def rewrite(steps, ops, kernels, kept):
    """`steps` with every rule applied, in order."""
    steps, ops = list(steps), list(ops)
    for rule in (_relu_grad_before_max_pool_grad, _bias_sum_of_pooled_gradient):
        rule(steps, ops, kernels, kept)
    return steps


def out_slots(out):
    """A step's output slots as a tuple (a step has one, several or none)."""
    return () if out is None else (out,) if type(out) is int else out


def _producers_and_uses(steps):
    producer, uses = {}, {}
    for index, (_, inputs, _, out) in enumerate(steps):
        for slot in inputs:
            uses[slot] = uses.get(slot, 0) + 1
        for slot in out_slots(out):
            producer[slot] = index
    return producer, uses


def _relu_grad_before_max_pool_grad(steps, ops, kernels, kept):
    """ReluGrad(MaxPoolGrad(y, pooled, dy), y) -> MaxPoolGrad(y, pooled, ReluGrad(dy, pooled)):
    a window routes dy only to a cell equal to its maximum, which is > 0 exactly where the
    maximum is, so the mask can be taken on the pooled gradient (a quarter of the cells for
    2x2 windows). Every Conv-ReLU-MaxPool block's backward pass has this pair."""
    producer, uses = _producers_and_uses(steps)
    for index, (_, inputs, _, out) in enumerate(steps):
        if ops[index] != "ReluGrad":
            continue
        routed, relu_output = inputs
        pool = producer.get(routed)
        if pool is None or ops[pool] != "MaxPoolGrad" or uses[routed] > 1 or routed in kept:
            continue
        pool_input, pooled, pooled_dy = steps[pool][1]
        if pool_input != relu_output:
            continue
        pool_attrs = steps[pool][2]
        steps[pool] = (kernels["ReluGrad"], (pooled_dy, pooled), None, routed)
        steps[index] = (kernels["MaxPoolGrad"], (pool_input, pooled, routed), pool_attrs, out)
        ops[pool], ops[index] = "ReluGrad", "MaxPoolGrad"


def _bias_sum_of_pooled_gradient(steps, ops, kernels, kept):
    """Sum(MaxPoolGrad(x, pooled, dy)) over batch, rows and columns -> the same Sum of dy:
    each window hands its dy to exactly one cell, so the totals per channel are the same,
    summed over a quarter of the cells (a convolution's bias gradient below a 2x2 pool)."""
    producer, _ = _producers_and_uses(steps)
    for index, (function, inputs, attrs, out) in enumerate(steps):
        if ops[index] != "Sum" or attrs is None or not {0, 1, 2} <= set(attrs["axis"]):
            continue
        pool = producer.get(inputs[0])
        if pool is not None and ops[pool] == "MaxPoolGrad":
            steps[index] = (function, (steps[pool][1][2],), attrs, out)
