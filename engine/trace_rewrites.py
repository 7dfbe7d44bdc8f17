"""Rewrites of a recorded trace that compute the same values with less work (the idea of TF's
grappler remapper, on kernel calls). A step is (kernel, input slots, attrs, output slot(s));
`ops` names each step's op (None for a variable read or write). Every rule keeps each step's
output slot, so what follows it is untouched; `kept` are the slots the trace returns.
"""


def rewrite(steps, ops, kernels, kept, values):
    """`steps` with every rule applied, in order, then without the calls nothing reads.
    `values` holds each slot's constant (or None); a rule that adds a value adds its slot."""
    steps, ops = list(steps), list(ops)
    for rule in (_relu_grad_before_max_pool_grad, _bias_sum_of_pooled_gradient,
                 _relu_after_max_pool, _fold_constants):
        rule(steps, ops, kernels, kept, values)
    _drop_unread(steps, ops, kept)
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


def _relu_grad_before_max_pool_grad(steps, ops, kernels, kept, values):
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


def _bias_sum_of_pooled_gradient(steps, ops, kernels, kept, values):
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


def _relu_after_max_pool(steps, ops, kernels, kept, values):
    """FusedConv2D(relu) -> MaxPool becomes FusedConv2D(linear) -> MaxPool -> Relu: the largest
    rectified cell is the rectified maximum, so the ReLU runs on the pooled cells (a quarter
    of them for 2x2 windows). See _rectify_after_pool for where it applies."""
    index = 0
    while index < len(steps):
        if ops[index] == "MaxPool" and _rectify_after_pool(steps, ops, kernels, kept, values,
                                                           index):
            index += 1  # past the Relu put after the pool
        index += 1


def _rectify_after_pool(steps, ops, kernels, kept, values, pool):
    """Rewrites around the MaxPool step `pool` where its input is a FusedConv2D(relu) output
    that only the pool and MaxPoolGrads read, and each MaxPoolGrad's gradient is masked by
    ReluGrad with the pooled output (what _relu_grad_before_max_pool_grad leaves). Those
    MaxPoolGrads then take the unrectified maximum: where the mask passes a gradient, the
    maximum is > 0 and the same cells equal it; where it does not, no cell gets one. (A
    non-finite gradient, NaN after the mask, may land on another cell of its window.)"""
    producer, uses = _producers_and_uses(steps)
    (rectified,), pooled = steps[pool][1], steps[pool][3]
    conv = producer.get(rectified)
    if conv is None or ops[conv] != "FusedConv2D" or rectified in kept:
        return False
    conv_attrs = steps[conv][2] or {}
    if conv_attrs.get("activation") != "relu":
        return False
    grads = [i for i, step in enumerate(steps)
             if ops[i] == "MaxPoolGrad" and step[1][0] == rectified]
    if uses[rectified] != 1 + len(grads):
        return False
    for i in grads:
        _, grad_pooled, dy = steps[i][1]
        mask = producer.get(dy)
        if grad_pooled != pooled or mask is None or ops[mask] != "ReluGrad" or (
                steps[mask][1][1] != pooled):
            return False
    maximum = len(values)
    values.append(None)
    function, inputs, _, out = steps[conv]
    steps[conv] = (function, inputs, {**conv_attrs, "activation": "linear"}, out)
    function, inputs, pool_attrs, _ = steps[pool]
    steps[pool] = (function, inputs, pool_attrs, maximum)
    steps.insert(pool + 1, (kernels["Relu"], (maximum,), {}, pooled))
    ops.insert(pool + 1, "Relu")
    for i in (i + (i > pool) for i in grads):
        function, (x, _, dy), grad_attrs, out = steps[i]
        steps[i] = (function, (x, maximum, dy), grad_attrs, out)
    return True


def _fold_constants(steps, ops, kernels, kept, values):
    """Runs now, once, the kernel calls whose inputs are all constants (a training step's loss
    gradient seed: ones filled, divided by the batch size and broadcast), their results kept
    as constants. Calls that differ at each replay (attrs None: a fresh seed, attrs_from) and
    the trace's own outputs (a caller may keep those) still run. Folded values no step reads
    are not kept."""
    folded, index = set(), 0
    while index < len(steps):
        function, inputs, attrs, out = steps[index]
        if (ops[index] is not None and attrs is not None and type(out) is int
                and out not in kept and all(values[slot] is not None for slot in inputs)):
            values[out] = function(*(values[slot] for slot in inputs), **attrs)
            folded.add(out)
            del steps[index], ops[index]
        else:
            index += 1
    for slot in folded.difference(*(step[1] for step in steps)):
        values[slot] = None


def _drop_unread(steps, ops, kept):
    """Drops the kernel calls whose outputs nothing reads (a model's softmax output when the
    loss takes the logits and no metric reads the output). Variable reads and writes, host
    steps and source kernels (a random op draws its seed) stay."""
    needed = set(kept)
    for index in reversed(range(len(steps))):
        _, inputs, _, out = steps[index]
        if ops[index] is not None and inputs and needed.isdisjoint(out_slots(out)):
            del steps[index], ops[index]
        else:
            needed.update(inputs)
