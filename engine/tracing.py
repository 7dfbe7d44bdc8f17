"""Traced steps: run a function once while recording every kernel it runs, then replay those
kernel calls on new inputs with no Python framework in between (tf.function's idea, taken at
the kernel level, so it works on every backend).

A small model's training step spends about as long in layers, tape and loss bookkeeping as in
its kernels (784-128-10 MLP: ~0.3 of 1.0 ms); a replay is a loop over (kernel, inputs, attrs).

What a replay repeats is what the recording saw, as in tf.function: shapes, dtypes and Python
decisions are fixed (callers key traces on the input signature). Values are not: inputs, the
variables' current values and fresh random seeds are read anew at every replay, and host
steps (an optimizer's step count and learning rate) and attributes given by attrs_from (its
bias-corrected rate) are recomputed. A recording that would not replay the same is dropped,
and the caller runs eagerly: the function read a computed value on the host (its Python could
branch on it), created a variable or applied an optimizer whose updates are not fused.
"""
import functools
import operator
import threading

from engine import trace_rewrites
from engine.trace_rewrites import out_slots

RECORDING = []  # the Recording in progress, if any; dispatch and Tensor check its truthiness
_ONE_RECORDING = threading.Lock()  # held while a step records (in any thread)
MAX_TRACES = 16  # signatures remembered per step function, the oldest forgotten first: shapes
                 # that cycle through more (every sequence length) run eagerly, unrecorded


def _recording_thread_only(hook):
    """A Recording hook that ignores calls from other threads (a data pipeline's prefetch
    thread runs kernels while a step records)."""
    @functools.wraps(hook)
    def on_recording_thread(self, *args):
        if threading.get_ident() == self.thread and not self.in_host_step:
            hook(self, *args)
    return on_recording_thread


class Recording:
    """Kernel calls of one eager run (on the recording thread), with where each of their
    inputs comes from."""

    def __init__(self, args, variables):
        self.thread = threading.get_ident()
        self.steps = []          # (function, input slots, attrs, output slot(s) or None); attrs
                                 # are None where the call differs at each replay (a fresh
                                 # seed, attrs_from) and for steps that run no kernel
        self.ops = []            # per step: its op, or None (a variable read or write, a host step)
        self.values = []         # per slot: a constant's native array, else None
        self.slot_of = {}        # id(native) -> slot
        self._variable_of = {id(v.native): v for v in variables}
        self._keep = [v.native for v in variables]  # every id above stays unique while recording
        self._seed_source = None  # (seed, function drawing the next one) of the last draw
        self._attrs_source = None  # the function giving the next kernel's attrs at replay
        self.in_host_step = False  # hooks ignore what a host step does
        self.broken = None       # why the recording cannot be replayed, if it cannot
        self.arg_slots = [self._new_slot(arg.native) for arg in args]

    def __enter__(self):
        if RECORDING:
            raise RuntimeError("a traced function cannot record inside another recording")
        RECORDING.append(self)
        return self

    def __exit__(self, *exc):
        RECORDING.remove(self)
        return False

    def _new_slot(self, native, constant=False):
        slot = len(self.values)
        self.values.append(native if constant else None)
        self.slot_of[id(native)] = slot
        self._keep.append(native)
        return slot

    def _input_slot(self, tensor):
        native = tensor.native
        slot = self.slot_of.get(id(native))
        if slot is not None:
            return slot
        from engine.tensor import Variable

        variable = tensor if isinstance(tensor, Variable) else self._variable_of.get(id(native))
        if variable is None:  # made outside any kernel: the same at every replay
            return self._new_slot(native, constant=True)
        slot = self._new_slot(native)
        self._append(None, _reader(variable), (), None, slot)
        return slot

    def _append(self, op, function, inputs, attrs, out):
        self.ops.append(op)
        self.steps.append((function, inputs, attrs, out))

    def _output_slots(self, outputs):
        if type(outputs) is tuple:
            return tuple(self._new_slot(output.native) for output in outputs)
        return self._new_slot(outputs.native)

    @_recording_thread_only
    def kernel_ran(self, op, kernel, inputs, attrs, outputs):
        slots = tuple(self._input_slot(tensor) for tensor in inputs)
        if self._attrs_source is not None:
            kernel, attrs = functools.partial(_with_attrs_of, kernel, self._attrs_source), None
            self._attrs_source = None
        self._append(op, kernel, slots, attrs, self._output_slots(outputs))

    @_recording_thread_only
    def source_kernel_ran(self, op, kernel, attrs, output):
        seed = attrs.get("seed")
        if seed is not None and self._seed_source and self._seed_source[0] == seed:
            kernel = _reseeded(kernel, attrs, self._seed_source[1])
            attrs = None
        self._seed_source = None
        self._append(op, kernel, (), attrs, self._output_slots(output))

    @_recording_thread_only
    def seed_drawn(self, seed, draw_next):
        self._seed_source = (seed, draw_next)

    @_recording_thread_only
    def attrs_from(self, attrs_of):
        self._attrs_source = attrs_of

    @_recording_thread_only
    def host_step_ran(self, function):
        self._append(None, function, (), None, None)

    @_recording_thread_only
    def assigned(self, variable, value):
        self._append(None, _writer(variable), (self._input_slot(value),), None, None)

    @_recording_thread_only
    def host_read(self, tensor):
        slot = self.slot_of.get(id(tensor.native))
        computed = slot is not None and self.values[slot] is None  # not a constant
        if computed or id(tensor.native) in self._variable_of:
            self.broken = "it reads a computed value on the host"

    @_recording_thread_only
    def variable_created(self):
        self.broken = "it creates a variable"

    @_recording_thread_only
    def optimizer_applied(self):
        self.broken = ("it applies an optimizer whose updates are not fused (its rates would be "
                       "frozen)")


def _reader(variable):
    return lambda: variable.native


def _writer(variable):
    def write(native):
        variable.native = native
    return write


def _reseeded(kernel, attrs, draw_seed):
    return lambda: kernel(**{**attrs, "seed": draw_seed()})


def _with_attrs_of(kernel, attrs_of, *natives):
    return kernel(*natives, **attrs_of())


def seed_drawn(seed, draw_next):
    """A random op's seed was just drawn; `draw_next()` draws the one a replay should use."""
    if RECORDING:
        RECORDING[0].seed_drawn(seed, draw_next)


def attrs_from(attrs_of):
    """The next kernel run takes its attributes from `attrs_of()` at each replay: values that
    Python computes anew every step (an optimizer's bias-corrected rate)."""
    if RECORDING:
        RECORDING[0].attrs_from(attrs_of)


def assigned(variable, value):
    """`variable` now holds `value`'s native array, set by hand rather than by assign."""
    if RECORDING:
        RECORDING[0].assigned(variable, value)


def host_step(function):
    """Run `function()`, and at each replay of a recording in progress: Python bookkeeping a
    replay must redo rather than freeze (an optimizer's step count and learning rate). What
    it runs is not recorded, and it may read values on the host."""
    recording = RECORDING[0] if RECORDING else None
    if recording is None or threading.get_ident() != recording.thread:
        return function()
    recording.host_step_ran(function)
    recording.in_host_step = True
    try:
        return function()
    finally:
        recording.in_host_step = False


class Trace:
    """A replayable recording: its steps, where its inputs go and where its outputs come from."""

    def __init__(self, recording, outputs, backend):
        self.output_slots = [recording.slot_of[id(tensor.native)] for tensor in outputs]
        steps = trace_rewrites.rewrite(recording.steps, recording.ops, backend.kernels,
                                       set(self.output_slots), recording.values)
        self.steps = _with_releases(steps, set(self.output_slots))
        self._program = [_prepared(*step) for step in self.steps]
        self.initial_values = recording.values
        self.arg_slots = recording.arg_slots
        self.backend = backend

    def replay(self, args):
        """The outputs, as Tensors, of the recorded function applied to `args` (Tensors)."""
        values = self.initial_values[:]
        for slot, arg in zip(self.arg_slots, args):
            values[slot] = arg.native
        for function, inputs_of, arity, out, release in self._program:
            if arity == 1:
                result = function(inputs_of(values))
            elif arity:
                result = function(*inputs_of(values))
            else:
                result = function()
            if type(out) is int:
                values[out] = result
            elif out is not None:
                for slot, native in zip(out, result):
                    values[slot] = native
            for slot in release:
                values[slot] = None
        from engine.tensor import wrap

        return [wrap(values[slot], self.backend) for slot in self.output_slots]


def _prepared(function, inputs, attrs, out, release):
    """A step as replay's loop runs it: attrs bound, inputs fetched by one itemgetter call
    (0.5 -> 0.3 us of loop per step; a Bidirectional LSTM's 764-step trace replays 6%
    faster)."""
    if attrs:
        function = functools.partial(function, **attrs)
    inputs_of = operator.itemgetter(*inputs) if inputs else None
    return function, inputs_of, len(inputs), out, release


def _with_releases(steps, kept):
    """Steps with, for each, the slots it is the last to use or that nobody uses: dropped after
    it, as eager code drops its temporaries, so a replay holds no more memory than a run."""
    last_use = {}
    for index, (_, inputs, _, out) in enumerate(steps):
        for slot in (*inputs, *out_slots(out)):
            last_use[slot] = index
    release = [[] for _ in steps]
    for slot, index in last_use.items():
        if slot not in kept:
            release[index].append(slot)
    return [(*step, tuple(slots)) for step, slots in zip(steps, release)]


class Traces:
    """Traces of one step function, one per input signature.

    The first call with a signature runs eagerly (it may build layers), the second records,
    later ones replay. A signature whose recording cannot be replayed stays eager; `eager`
    says why."""

    def __init__(self):
        self._traces = {}  # signature -> (Trace, static), or None: seen once, or eager
        self.eager = {}    # signature -> why its recording cannot be replayed

    def __len__(self):
        """The number of replayable traces."""
        return sum(1 for entry in self._traces.values() if entry)

    def run(self, function, args, key, variables):
        """(outputs, static) of `function(*args)`, which returns a list of Tensors and a
        value fixed by the trace. `key` is what else the trace depends on; `variables` are
        those the function may read (their values are read anew at every replay)."""
        signature = (key, *((arg._backend, arg.native.shape, arg.native.dtype) for arg in args))
        entry = self._traces.get(signature, False)
        if entry:
            trace, static = entry
            return trace.replay(args), static
        if entry is False:
            self._remember(signature)
        if entry is False or signature in self.eager or not args:
            return function(*args)
        if not _ONE_RECORDING.acquire(blocking=False):  # recording elsewhere: record later
            return function(*args)
        try:
            with Recording(args, variables) as recording:
                outputs, static = function(*args)
        finally:
            _ONE_RECORDING.release()
        if recording.broken is None and not all(
                id(tensor.native) in recording.slot_of for tensor in outputs):
            recording.broken = "an output was made outside any kernel"
        if recording.broken is None:
            self._traces[signature] = (Trace(recording, outputs, args[0]._backend), static)
        else:
            self.eager[signature] = recording.broken
        return outputs, static

    def _remember(self, signature):
        """Note a first sighting, forgetting the oldest signature beyond MAX_TRACES."""
        self._traces[signature] = None
        if len(self._traces) > MAX_TRACES:
            oldest = next(iter(self._traces))
            del self._traces[oldest]
            self.eager.pop(oldest, None)


def run_eagerly(function, args, key, variables):
    """Traces.run's signature, without tracing."""
    return function(*args)
