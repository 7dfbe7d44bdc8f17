"""Every workload, defined once: inputs, work counts, and one setup per implementation family.

A setup takes (implementation, inputs) and returns a zero-argument callable that does the work
once. Inputs are fresh float32 random numbers (never zeros), the same for every implementation
of a workload. Families: engine (the public API on any backend), xp (raw NumPy or CuPy),
torch (CPU or CUDA), keras (Keras 3 on JAX), pyopencl (hand-written kernels), clblast, tinygrad.
"""
from dataclasses import dataclass, field

import numpy as np

from benchmarks import handwritten
from benchmarks.peers import NotAvailable


@dataclass(frozen=True)
class Workload:
    name: str
    group: str
    make_inputs: object            # rng -> dict of host arrays
    setups: dict = field(repr=False)
    flops: float = None            # per call; GFLOP/s is reported when known
    bytes: float = None            # least memory traffic per call; GB/s when no flops
    quick: bool = False            # part of the --quick subset


def _normal(rng, *shape):
    return rng.standard_normal(shape, dtype=np.float32)


def _labels(rng, n, classes=10):
    return rng.integers(0, classes, size=n).astype(np.int32)


def _engine(impl, *names):
    """The engine attributes a workload needs, or NotAvailable naming the first missing one."""
    found = []
    for name in names:
        value = impl.engine
        for part in name.split("."):
            value = getattr(value, part, None)
            if value is None:
                raise NotAvailable(f"engine.{name} is not defined yet")
        found.append(value)
    return found


def _nchw(impl, host):
    """An array in NCHW layout (torch's and tinygrad's) from an NHWC host array."""
    return impl.array(np.ascontiguousarray(host.transpose(0, 3, 1, 2)))


def _oihw(impl, host):
    """A filter laid out (out, in, kh, kw), as torch and tinygrad take it, from HWIO."""
    return impl.array(np.ascontiguousarray(host.transpose(3, 2, 0, 1)))


# Matrix products -----------------------------------------------------------------------------

def _matmul_inputs(*shape_a_b):
    shape_a, shape_b = shape_a_b
    return lambda rng: {"a": _normal(rng, *shape_a), "b": _normal(rng, *shape_b)}


def _clblast_matmul(impl, d):
    a, b = impl.array(d["a"]), impl.array(d["b"])
    c = impl.array(np.empty((a.shape[0], b.shape[1]), np.float32))
    return lambda: impl.pyclblast.gemm(impl.queue, a.shape[0], b.shape[1], a.shape[1], a, b, c,
                                       a_ld=a.shape[1], b_ld=b.shape[1], c_ld=b.shape[1])


def _tinygrad_matmul(impl, d):
    a, b = impl.array(d["a"]), impl.array(d["b"])
    return lambda: (a @ b).realize()


_MATMUL_SETUPS = {
    "engine": lambda impl, d: _bind(_engine(impl, "matmul")[0], impl.array(d["a"]),
                                    impl.array(d["b"])),
    "xp": lambda impl, d: _bind(impl.xp.matmul, impl.array(d["a"]), impl.array(d["b"])),
    "torch": lambda impl, d: _bind(impl.torch.matmul, impl.array(d["a"]), impl.array(d["b"])),
}


def _bind(fn, *args):
    return lambda: fn(*args)


def matmul(n):
    return Workload(f"matmul {n}", "matmul", _matmul_inputs((n, n), (n, n)),
                    {**_MATMUL_SETUPS, "clblast": _clblast_matmul, "tinygrad": _tinygrad_matmul},
                    flops=2.0 * n ** 3, quick=n == 512)


def batched_matmul(batch=256, n=64):
    return Workload(f"batched matmul {batch}x{n}x{n}", "matmul",
                    _matmul_inputs((batch, n, n), (batch, n, n)),
                    {**_MATMUL_SETUPS, "tinygrad": _tinygrad_matmul}, flops=2.0 * batch * n ** 3)


# Convolutions and pooling --------------------------------------------------------------------

def _conv_inputs(batch, size, channels, kernel, out_channels, upstream=False):
    """x, w and, with `upstream`, dy: the gradient arriving at a 'same' convolution's output."""
    def make(rng):
        inputs = {"x": _normal(rng, batch, size, size, channels),
                  "w": _normal(rng, kernel, kernel, channels, out_channels) * 0.1}
        if upstream:
            inputs["dy"] = _normal(rng, batch, size, size, out_channels)
        return inputs
    return make


def _conv_forward_setups():
    def engine(impl, d):
        conv2d, = _engine(impl, "conv2d")
        return _bind(conv2d, impl.array(d["x"]), impl.array(d["w"]), 1, "same")

    def xp(impl, d):
        x, w = impl.array(d["x"]), impl.array(d["w"])
        kh, kw = d["w"].shape[:2]
        return lambda: handwritten.conv2d(impl.xp, handwritten.pad_same(impl.xp, x, kh, kw), w)

    def torch(impl, d):
        x, w = _nchw(impl, d["x"]), _oihw(impl, d["w"])
        return lambda: impl.torch.nn.functional.conv2d(x, w, padding="same")

    def tinygrad(impl, d):
        x, w = _nchw(impl, d["x"]), _oihw(impl, d["w"])
        pad = d["w"].shape[0] // 2
        return lambda: x.conv2d(w, padding=pad).realize()

    return {"engine": engine, "xp": xp, "torch": torch, "tinygrad": tinygrad}


def _conv_backward_setups():
    """The forward, then the input and filter gradients for a given upstream gradient dy, as
    torch's y.backward(dy): the convolution's own work. (A sum(y) loss around it would add a
    reduction of y and a y-sized gradient of ones, which torch passes on as a free broadcast
    view and the engine writes out: 0.4 ms of the engine's ~6 ms here.)"""
    def engine(impl, d):
        conv2d, gradient_tape = _engine(impl, "conv2d", "GradientTape")
        x, w, dy = (impl.array(d[key]) for key in ("x", "w", "dy"))

        def step():
            with gradient_tape() as tape:
                tape.watch(x)
                tape.watch(w)
                y = conv2d(x, w, 1, "same")
            return tape.gradient(y, [x, w], output_gradients=dy)
        return step

    def xp(impl, d):
        x, w, dy = (impl.array(d[key]) for key in ("x", "w", "dy"))
        return lambda: handwritten.conv2d_same_with_grads(impl.xp, x, w, dy)

    def torch(impl, d):
        x = _nchw(impl, d["x"]).requires_grad_()
        w = _oihw(impl, d["w"]).requires_grad_()
        dy = _nchw(impl, d["dy"])

        def step():
            x.grad = w.grad = None
            impl.torch.nn.functional.conv2d(x, w, padding="same").backward(dy)
        return step

    def tinygrad(impl, d):
        x, w, dy = _nchw(impl, d["x"]), _oihw(impl, d["w"]), _nchw(impl, d["dy"])
        pad = d["w"].shape[0] // 2
        return lambda: impl.tinygrad.Tensor.realize(
            *x.conv2d(w, padding=pad).gradient(x, w, gradient=dy))

    return {"engine": engine, "xp": xp, "torch": torch, "tinygrad": tinygrad}


def conv2d(kernel, channels=16, out_channels=32, batch=32, size=32, backward=False):
    flops = 2.0 * batch * size * size * out_channels * kernel * kernel * channels
    kind = "fwd+grads" if backward else "fwd"
    return Workload(f"conv2d {kernel}x{kernel} {channels}->{out_channels} {kind}",
                    "conv2d", _conv_inputs(batch, size, channels, kernel, out_channels, backward),
                    _conv_backward_setups() if backward else _conv_forward_setups(),
                    flops=flops * (3 if backward else 1), quick=kernel == 3)


def depthwise_conv2d(batch=32, size=32, channels=16, kernel=3):
    def engine(impl, d):
        depthwise, = _engine(impl, "depthwise_conv2d")
        return _bind(depthwise, impl.array(d["x"]), impl.array(d["w"]), 1, "same")

    def xp(impl, d):
        x, w = impl.array(d["x"]), impl.array(d["w"])
        return lambda: handwritten.depthwise_conv2d_same(impl.xp, x, w)

    def torch(impl, d):
        x = _nchw(impl, d["x"])
        w = impl.array(np.ascontiguousarray(d["w"].transpose(2, 3, 0, 1)))  # (C, 1, kh, kw)
        return lambda: impl.torch.nn.functional.conv2d(x, w, padding="same", groups=channels)

    return Workload(f"depthwise conv2d {kernel}x{kernel} x{channels}", "conv2d",
                    _conv_inputs(batch, size, channels, kernel, 1),
                    {"engine": engine, "xp": xp, "torch": torch},
                    flops=2.0 * batch * size * size * channels * kernel * kernel)


def max_pool2d(batch=32, size=32, channels=16):
    def engine(impl, d):
        pool, = _engine(impl, "max_pool2d")
        return _bind(pool, impl.array(d["x"]), 2, 2, "valid")

    def xp(impl, d):
        x = impl.array(d["x"])
        return lambda: handwritten.max_pool_2x2(impl.xp, x)

    def torch(impl, d):
        x = _nchw(impl, d["x"])
        return lambda: impl.torch.nn.functional.max_pool2d(x, 2)

    elements = batch * size * size * channels
    return Workload("max pool 2x2", "pool",
                    lambda rng: {"x": _normal(rng, batch, size, size, channels)},
                    {"engine": engine, "xp": xp, "torch": torch}, bytes=4.0 * elements * 1.25)


# Memory-bound ops ----------------------------------------------------------------------------

def _raw_opencl_kernel(impl, name, arguments, body):
    """A one-work-item-per-element OpenCL kernel, built once (the raw PyOpenCL floor)."""
    import pyopencl as cl

    source = f"__kernel void {name}({arguments}) {{ int i = get_global_id(0); {body} }}"
    return getattr(cl.Program(impl.queue.context, source).build(), name)


def elementwise_chain(size=4 * 1024 * 1024, a=1.5, b=-0.25):
    def engine(impl, d):
        relu, = _engine(impl, "relu")
        x = impl.array(d["x"])
        return lambda: relu(x * a + b)

    def xp(impl, d):
        x = impl.array(d["x"])
        return lambda: impl.xp.maximum(x * a + b, 0)

    def torch(impl, d):
        x = impl.array(d["x"])
        return lambda: impl.torch.relu(x * a + b)

    def pyopencl(impl, d):
        kernel = _raw_opencl_kernel(impl, "relu_chain", "__global const float *x, __global "
                                    "float *y, float a, float b",
                                    "y[i] = fmax(x[i] * a + b, 0.0f);")
        x = impl.array(d["x"])
        y = impl.array(np.empty_like(d["x"]))
        return lambda: kernel(impl.queue, (size,), None, x.data, y.data, np.float32(a),
                              np.float32(b))

    return Workload("relu(x*a+b) 4M", "elementwise",
                    lambda rng: {"x": _normal(rng, size)},
                    {"engine": engine, "xp": xp, "torch": torch, "pyopencl": pyopencl},
                    bytes=8.0 * size, quick=True)


def reduce_sum(axis, n=1024):
    def engine(impl, d):
        total, = _engine(impl, "sum")
        return _bind(total, impl.array(d["x"]), axis)

    return Workload(f"sum axis {axis} {n}x{n}", "reduce",
                    lambda rng: {"x": _normal(rng, n, n)},
                    {"engine": engine,
                     "xp": lambda impl, d: _bind(impl.xp.sum, impl.array(d["x"]), axis),
                     "torch": lambda impl, d: _bind(impl.torch.sum, impl.array(d["x"]), axis)},
                    bytes=4.0 * n * (n + 1), quick=axis == 0)


def softmax(rows=1024, classes=1024):
    def engine(impl, d):
        function, = _engine(impl, "softmax")
        return _bind(function, impl.array(d["x"]))

    def xp(impl, d):
        x = impl.array(d["x"])

        def run():
            exp = impl.xp.exp(x - x.max(axis=-1, keepdims=True))
            return exp / exp.sum(axis=-1, keepdims=True)
        return run

    return Workload(f"softmax {rows}x{classes}", "softmax",
                    lambda rng: {"x": _normal(rng, rows, classes)},
                    {"engine": engine, "xp": xp,
                     "torch": lambda impl, d: _bind(impl.torch.softmax, impl.array(d["x"]), -1)},
                    bytes=8.0 * rows * classes)


def dispatch_overhead(size=8):
    def pyopencl(impl, d):
        kernel = _raw_opencl_kernel(impl, "add", "__global const float *a, __global const "
                                    "float *b, __global float *c", "c[i] = a[i] + b[i];")
        a, b = impl.array(d["a"]), impl.array(d["b"])
        c = impl.array(np.empty_like(d["a"]))
        return lambda: kernel(impl.queue, (size,), None, a.data, b.data, c.data)

    return Workload("dispatch: add of 8 floats", "dispatch",
                    lambda rng: {"a": _normal(rng, size), "b": _normal(rng, size)},
                    {"engine": lambda impl, d: _bind(_engine(impl, "add")[0],
                                                     impl.array(d["a"]), impl.array(d["b"])),
                     "xp": lambda impl, d: _bind(impl.xp.add, impl.array(d["a"]),
                                                 impl.array(d["b"])),
                     "torch": lambda impl, d: _bind(impl.torch.add, impl.array(d["a"]),
                                                    impl.array(d["b"])),
                     "pyopencl": pyopencl},
                    quick=True)


# Training steps ------------------------------------------------------------------------------

def _engine_train_step(impl, d, layers_of):
    """A compiled engine Sequential (Adam, sparse categorical cross-entropy) stepping on d."""
    sequential, layers = _engine(impl, "Sequential", "layers")
    model = sequential(layers_of(layers))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = impl.array(d["x"]), impl.array(d["y"])
    return lambda: model.train_on_batch(x, y)


def _keras_train_step(impl, d, layers_of):
    """_engine_train_step's model built from keras.layers (the engine's layers take the same
    arguments), with the engine's Adam defaults, stepping on arrays already on JAX's device."""
    keras = impl.keras
    model = keras.Sequential([keras.Input(d["x"].shape[1:]), *layers_of(keras.layers)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7),
                  loss="sparse_categorical_crossentropy")
    x, y = impl.array(d["x"]), impl.array(d["y"])
    return lambda: model.train_on_batch(x, y)


def _torch_train_step(impl, d, modules, x):
    model = modules.to(impl.device)
    optimizer = impl.torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = impl.torch.nn.CrossEntropyLoss()
    y = impl.array(d["y"].astype(np.int64))

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss
    return step


def _train_step_setups(layers_of):
    """The engine and Keras setups of one model, given as layers_of(layers module)."""
    return {"engine": lambda impl, d: _engine_train_step(impl, d, layers_of),
            "keras": lambda impl, d: _keras_train_step(impl, d, layers_of)}


def _xp_train_step(impl, d, step, shapes):
    rng = np.random.default_rng(1)
    params = [impl.array(_normal(rng, *shape) * 0.1) for shape in shapes]
    optimizer = handwritten.Adam(impl.xp, params)
    x, y = impl.array(d["x"]), impl.array(d["y"])
    return lambda: step(impl.xp, params, optimizer, x, y)


def cnn_train_step(batch=64):
    def layers_of(L):
        return [L.Conv2D(8, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(),
                L.Dense(10, activation="softmax")]

    def torch(impl, d):
        nn = impl.torch.nn
        modules = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                nn.Linear(8 * 13 * 13, 10))
        return _torch_train_step(impl, d, modules, _nchw(impl, d["x"]))

    def xp(impl, d):
        return _xp_train_step(impl, d, handwritten.cnn_train_step,
                              [(3, 3, 1, 8), (8,), (8 * 13 * 13, 10), (10,)])

    return Workload(f"CNN train step, batch {batch}", "train",
                    lambda rng: {"x": rng.random((batch, 28, 28, 1), dtype=np.float32),
                                 "y": _labels(rng, batch)},
                    {**_train_step_setups(layers_of), "xp": xp, "torch": torch}, quick=True)


def mlp_train_step(batch=128):
    def layers_of(L):
        return [L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")]

    def torch(impl, d):
        nn = impl.torch.nn
        modules = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
        return _torch_train_step(impl, d, modules, impl.array(d["x"]))

    def xp(impl, d):
        return _xp_train_step(impl, d, handwritten.mlp_train_step,
                              [(784, 128), (128,), (128, 10), (10,)])

    return Workload(f"MLP train step, batch {batch}", "train",
                    lambda rng: {"x": rng.random((batch, 784), dtype=np.float32),
                                 "y": _labels(rng, batch)},
                    {**_train_step_setups(layers_of), "xp": xp, "torch": torch},
                    flops=2.0 * batch * (2 * 784 * 128 + 3 * 128 * 10))  # no input gradient


WORKLOADS = [
    *(matmul(n) for n in (256, 512, 1024, 2048)),
    batched_matmul(),
    conv2d(3), conv2d(3, backward=True), conv2d(1), conv2d(1, backward=True),
    depthwise_conv2d(),
    max_pool2d(),
    elementwise_chain(),
    reduce_sum(0), reduce_sum(1),
    softmax(),
    dispatch_overhead(),
    cnn_train_step(),
    mlp_train_step(),
]


def select(names=None, quick=False):
    """Workloads whose name or group contains one of `names` (all when None), or the quick set."""
    chosen = [w for w in WORKLOADS if not quick or w.quick]
    if names:
        chosen = [w for w in chosen if any(n.lower() in (w.name + " " + w.group).lower()
                                           for n in names)]
    return chosen
