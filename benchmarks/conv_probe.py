"""Probe: NumPy Conv2D forward + both gradients against PyTorch CPU on the issue's shape.

Batch 32, 32x32x16 -> 3x3x32, 'same' padding, float32. Prints best and median milliseconds
and their ratios. Run: python benchmarks/conv_probe.py [repeats]
"""
import statistics
import sys
import time

import numpy as np

from engine.kernels.numpy import conv

SHAPE, FILTER, GEOMETRY = (32, 32, 32, 16), (3, 3, 16, 32), dict(
    strides=(1, 1), padding=((1, 1), (1, 1)), dilations=(1, 1))


def numpy_step(x, w, dy):
    """The kernels Conv2D and its gradient run: Conv2D, then Conv2DBackprop (both gradients)."""
    conv.conv2d(x, w, **GEOMETRY)
    conv.conv2d_backprop(x, dy, w, **GEOMETRY)


def torch_step(x, w, dy):
    import torch

    y = torch.nn.functional.conv2d(x, w, padding=1)
    y.backward(dy)


def timed_ms(step, args, repeats):
    """Best and median milliseconds of `repeats` calls after one warm-up. Each library runs in
    its own block: PyTorch's OpenMP threads keep spinning after a call, which would slow NumPy
    down if the two were interleaved."""
    step(*args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step(*args)
        times.append(time.perf_counter() - start)
    return 1000 * min(times), 1000 * statistics.median(times)


def main(repeats=20):
    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE, dtype=np.float32)
    w = rng.standard_normal(FILTER, dtype=np.float32)
    dy = rng.standard_normal(SHAPE[:3] + (FILTER[3],), dtype=np.float32)
    tx = torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)
    tw = torch.tensor(w.transpose(3, 2, 0, 1).copy(), requires_grad=True)
    tdy = torch.tensor(dy.transpose(0, 3, 1, 2).copy())
    ours = timed_ms(numpy_step, (x, w, dy), repeats)
    theirs = timed_ms(torch_step, (tx, tw, tdy), repeats)
    for label, index in (("best", 0), ("median", 1)):
        print(f"{label}: numpy {ours[index]:.2f} ms, torch {theirs[index]:.2f} ms "
              f"({torch.get_num_threads()} threads), ratio {ours[index] / theirs[index]:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
