"""GPU benchmarks of the cupy backend against PyTorch CUDA, measured in the same run.

`python -m benchmarks.gpu_bench [--out report.md] [--repeats N]` prints a markdown table.
Every figure is the median of repeated timings after warm-up, each timing stopped after a
CUDA synchronize; first calls (NVRTC compiles) are reported apart. TF32 is off on both sides.
"speed vs peer" is peer time / engine time: 1.0 is parity, above 1 the engine is faster.
"""
import argparse
import statistics
import time
import traceback

import numpy as np

import engine
from engine import runtime

GEMM_N = 4096
CONV = dict(batch=64, size=56, channels=64, out_channels=64, kernel=3)
BANDWIDTH_ELEMENTS = 64 * 2 ** 20
CNN = dict(batch=64, size=28, filters=8, classes=10)


def median_ms(fn, sync, repeats, warmup=2):
    """Median wall time of fn() in ms, synchronizing the device before each clock read."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def first_call_ms(fn, sync):
    start = time.perf_counter()
    fn()
    sync()
    return (time.perf_counter() - start) * 1e3


class Torch:
    """PyTorch on its CUDA device, TF32 off."""

    def __init__(self):
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("torch has no CUDA device")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        self.torch = torch
        self.device = "cuda"

    def sync(self):
        self.torch.cuda.synchronize()

    def tensor(self, host, grad=False):
        tensor = self.torch.from_numpy(np.ascontiguousarray(host)).to(self.device)
        return tensor.requires_grad_(grad)


def _engine_sync():
    runtime.backend("cupy").synchronize()


def bench_gemm(peer, repeats, rng):
    n = GEMM_N
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    ea, eb = engine.tensor(a), engine.tensor(b)
    ta, tb = peer.tensor(a), peer.tensor(b)
    ours = median_ms(lambda: engine.matmul(ea, eb), _engine_sync, repeats)
    theirs = median_ms(lambda: peer.torch.matmul(ta, tb), peer.sync, repeats)
    tflops = 2 * n ** 3 / ours / 1e9
    return [(f"float32 GEMM {n}^3 (TF32 off)", ours, theirs, f"{tflops:.1f} TFLOP/s")]


def bench_conv(peer, repeats, rng):
    c = CONV
    x = rng.standard_normal((c["batch"], c["size"], c["size"], c["channels"]), dtype=np.float32)
    w = rng.standard_normal((c["kernel"], c["kernel"], c["channels"], c["out_channels"]),
                            dtype=np.float32) * 0.05
    dy = rng.standard_normal((c["batch"], c["size"], c["size"], c["out_channels"]),
                             dtype=np.float32)
    ex, ew, edy = engine.tensor(x), engine.tensor(w), engine.tensor(dy)

    def ours_forward():
        return engine.conv2d(ex, ew, padding="same")

    def ours_step():
        with engine.GradientTape() as tape:
            tape.watch([ex, ew])
            y = engine.conv2d(ex, ew, padding="same")
        return tape.gradient(y, [ex, ew], output_gradients=edy)

    cold = first_call_ms(ours_step, _engine_sync)
    tx = peer.tensor(x.transpose(0, 3, 1, 2), grad=True)
    tw = peer.tensor(w.transpose(3, 2, 0, 1), grad=True)
    tdy = peer.tensor(dy.transpose(0, 3, 1, 2))
    conv = peer.torch.nn.functional.conv2d

    def theirs_step():
        y = conv(tx, tw, padding=1)
        return peer.torch.autograd.grad(y, (tx, tw), tdy)

    flops = 2 * c["batch"] * c["size"] ** 2 * c["kernel"] ** 2 * c["channels"] * c["out_channels"]
    shape = f"{c['batch']}x{c['size']}x{c['size']}x{c['channels']} -> 3x3x{c['out_channels']}"
    forward = (f"conv2d fwd {shape} same", median_ms(ours_forward, _engine_sync, repeats),
               median_ms(lambda: conv(tx, tw, padding=1), peer.sync, repeats),
               f"{flops / 1e9:.0f} GFLOP")
    step = (f"conv2d fwd+bwd {shape} same", median_ms(ours_step, _engine_sync, repeats),
            median_ms(theirs_step, peer.sync, repeats), f"first call {cold:.0f} ms")
    return [forward, step]


def bench_bandwidth(peer, repeats, rng):
    import cupy

    count = BANDWIDTH_ELEMENTS
    host = [rng.standard_normal(count, dtype=np.float32) for _ in range(3)]
    ex, ea, eb = (engine.tensor(v) for v in host)
    source, target = ex.native, cupy.empty_like(ex.native)
    copy_ms = median_ms(lambda: cupy.copyto(target, source), _engine_sync, repeats)
    copy_gbs = 2 * source.nbytes / copy_ms / 1e6
    ours = median_ms(lambda: engine.relu(ex * ea + eb), _engine_sync, repeats)
    tx, ta, tb = (peer.tensor(v) for v in host)
    theirs = median_ms(lambda: peer.torch.relu(tx * ta + tb), peer.sync, repeats)
    least_bytes = 4 * source.nbytes  # three inputs read once, one output written once
    return [(f"relu(x*a+b), {count // 2 ** 20}M floats", ours, theirs,
             f"{least_bytes / ours / 1e6:.0f} GB/s effective; device copy {copy_gbs:.0f} GB/s "
             f"({copy_ms:.2f} ms)")]


def bench_cnn(peer, repeats, rng):
    c = CNN
    x = rng.standard_normal((c["batch"], c["size"], c["size"], 1), dtype=np.float32)
    labels = rng.integers(0, c["classes"], size=c["batch"]).astype(np.int32)
    flat = ((c["size"] - 2) // 2) ** 2 * c["filters"]
    w1 = rng.standard_normal((3, 3, 1, c["filters"]), dtype=np.float32) * 0.3
    w2 = rng.standard_normal((flat, c["classes"]), dtype=np.float32) * 0.05
    from engine.optimizers import Adam

    ex, elabels = engine.tensor(x), engine.tensor(labels)
    variables = [engine.Variable(w1), engine.Variable(np.zeros(c["filters"], np.float32)),
                 engine.Variable(w2), engine.Variable(np.zeros(c["classes"], np.float32))]
    optimizer = Adam(1e-3)

    def loss_fn(k, kb, d, db):
        hidden = engine.max_pool2d(engine.relu(engine.conv2d(ex, k) + kb), 2)
        logits = engine.matmul(engine.reshape(hidden, (c["batch"], flat)), d) + db
        return engine.mean(engine.sparse_softmax_cross_entropy(elabels, logits))

    step_grads = engine.value_and_grad(loss_fn, argnums=(0, 1, 2, 3))

    def ours():
        _, grads = step_grads(*variables)
        optimizer.apply_gradients(zip(grads, variables))

    torch = peer.torch
    model = torch.nn.Sequential(torch.nn.Conv2d(1, c["filters"], 3), torch.nn.ReLU(),
                                torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                                torch.nn.Linear(flat, c["classes"])).to(peer.device)
    torch_opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tx = peer.tensor(x.transpose(0, 3, 1, 2))
    tlabels = peer.tensor(labels.astype(np.int64))

    def theirs():
        torch_opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(tx), tlabels).backward()
        torch_opt.step()

    return [(f"CNN train step (conv 8 3x3, relu, maxpool 2, dense 10, Adam, batch "
             f"{c['batch']} of 28x28x1)", median_ms(ours, _engine_sync, repeats),
             median_ms(theirs, peer.sync, repeats), "PyTorch eager")]


def bench_cnn_model(peer, repeats, rng):
    """The same CNN as a Keras-style Sequential through train_on_batch (fused conv+bias+relu,
    fused Adam), as a user would train it; train_on_batch returns the loss as a float, so
    each step ends with one device read."""
    c = CNN
    x = rng.standard_normal((c["batch"], c["size"], c["size"], 1), dtype=np.float32)
    labels = rng.integers(0, c["classes"], size=c["batch"]).astype(np.int32)
    layers = engine.layers
    model = engine.Sequential([layers.Input((c["size"], c["size"], 1)),
                               layers.Conv2D(c["filters"], 3, activation="relu"),
                               layers.MaxPooling2D(2), layers.Flatten(),
                               layers.Dense(c["classes"], activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    ex, elabels = engine.tensor(x), engine.tensor(labels)
    flat = ((c["size"] - 2) // 2) ** 2 * c["filters"]
    torch = peer.torch
    net = torch.nn.Sequential(torch.nn.Conv2d(1, c["filters"], 3), torch.nn.ReLU(),
                              torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                              torch.nn.Linear(flat, c["classes"])).to(peer.device)
    torch_opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    tx, tlabels = peer.tensor(x.transpose(0, 3, 1, 2)), peer.tensor(labels.astype(np.int64))

    def theirs():
        torch_opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(tx), tlabels)
        loss.backward()
        torch_opt.step()
        return loss.item()  # the float train_on_batch returns

    return [("CNN train step, Sequential.train_on_batch (same CNN)",
             median_ms(lambda: model.train_on_batch(ex, elabels), _engine_sync, repeats),
             median_ms(theirs, peer.sync, repeats), "PyTorch eager, loss.item() each step")]


def bench_dispatch(peer, repeats, rng, calls=1000):
    """Per-op cost of a tiny add, `calls` in a row then one synchronize: launch overhead."""
    host = [rng.standard_normal(8, dtype=np.float32) for _ in range(2)]
    ea, eb = (engine.tensor(v) for v in host)
    ta, tb = (peer.tensor(v) for v in host)

    def ours():
        for _ in range(calls):
            engine.add(ea, eb)

    def theirs():
        for _ in range(calls):
            peer.torch.add(ta, tb)

    def raw():
        for _ in range(calls):
            ea.native + eb.native  # the array library's own add (CuPy on the GPU)

    library = type(ea.native).__module__.split(".")[0]
    raw_us = median_ms(raw, _engine_sync, repeats) * 1e3 / calls
    return [("dispatch: add of 8 floats, per op (us, not ms)",
             median_ms(ours, _engine_sync, repeats) * 1e3 / calls,
             median_ms(theirs, peer.sync, repeats) * 1e3 / calls,
             f"raw {library} add {raw_us:.1f} us")]


BENCHMARKS = (bench_gemm, bench_conv, bench_bandwidth, bench_cnn, bench_cnn_model,
              bench_dispatch)


def run(repeats):
    rng = np.random.default_rng(0)
    lines = ["| workload | engine cupy ms | torch CUDA ms | speed vs peer | note |",
             "|---|---|---|---|---|"]
    try:
        engine.set_backend("cupy")
        peer = Torch()
    except Exception as error:  # no GPU, or no CUDA PyTorch: nothing to measure or compare
        return "\n".join(lines + [f"| all | - | - | - | cannot run: {error} |"])
    for bench in BENCHMARKS:
        try:
            for name, ours, theirs, note in bench(peer, repeats, rng):
                lines.append(f"| {name} | {ours:.3f} | {theirs:.3f} | {theirs / ours:.2f}x "
                             f"| {note} |")
        except Exception as error:
            traceback.print_exc()
            lines.append(f"| {bench.__name__} | failed | - | - | {type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args()
    table = run(args.repeats)
    print(table)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(table + "\n")


if __name__ == "__main__":
    main()
