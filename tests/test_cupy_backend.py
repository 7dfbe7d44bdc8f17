"""What is particular to the cupy backend: why it cannot start, device report, memory pool,
host transfers in a training step, DLPack with PyTorch, the TF32 switch, and its random stream.

The op conformance suite runs on cupy through the `backend` fixture; the tests here that need
a GPU skip with the backend's reason on machines without one.
"""
import pathlib
import re

import numpy as np
import pytest

import engine
from engine import runtime
from engine.backends import cupy_backend
from engine.kernels.cupy.random import stream_key
from engine.kernels.numpy.random import hash32

_ROW = next(row for row in engine.list_backends() if row["name"] == "cupy")
needs_gpu = pytest.mark.skipif(not _ROW["available"], reason=f"cupy: {_ROW['reason']}")


@pytest.fixture
def on_cupy():
    previous = runtime._state["current"]
    engine.set_backend("cupy")
    yield runtime.backend("cupy")
    runtime._state["current"] = previous


def test_unavailable_backend_says_why():
    if _ROW["available"]:
        pytest.skip("cupy is available here")
    assert _ROW["reason"].startswith(("cupy not installed: pip install engine[cuda12]",
                                      "cupy failed to import", "no CUDA driver/device: "))
    with pytest.raises(engine.BackendUnavailable, match="Backend 'cupy' is not available"):
        engine.set_backend("gpu")


def test_registered_with_aliases_and_priority():
    assert _ROW["aliases"] == ("cuda", "gpu") and _ROW["priority"] == 3
    assert runtime.canonical_name("CUDA") == "cupy"


def test_kernels_never_read_device_values_on_the_host():
    """No .get(), asnumpy, .item() or .tolist() in a cupy kernel: each would sync and copy."""
    folder = pathlib.Path(cupy_backend.__file__).parents[1] / "kernels" / "cupy"
    pattern = re.compile(r"\.get\(\)|asnumpy|\.item\(|\.tolist\(")
    offenders = [f"{path.name}:{number}" for path in sorted(folder.glob("*.py"))
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert not offenders, f"host reads in cupy kernels: {offenders}"


@pytest.mark.parametrize("seed", [0, 1, 42, 2 ** 32 + 7, 2 ** 40 - 3])
def test_stream_key_is_the_documented_hash_of_the_seed(seed):
    expected = hash32(np.array([(seed + 0x9E3779B9) % 2 ** 32], dtype=np.uint32))[0]
    assert stream_key(seed) == expected


@needs_gpu
def test_describe_names_the_gpu():
    text = runtime.backend("cupy").describe()
    assert "compute capability" in text and "GiB" in text


@needs_gpu
def test_dtypes_listed():
    assert runtime.backend("cupy").dtypes == engine.dtypes.ALL


@needs_gpu
def test_memory_report_follows_the_pool(on_cupy):
    before = engine.memory()["cupy"]
    held = engine.zeros((1024, 1024))
    after = engine.memory()["cupy"]
    assert after["pool_used_bytes"] >= before["pool_used_bytes"] + held.nbytes
    assert after["pool_total_bytes"] >= after["pool_used_bytes"]
    assert after["num_bytes"] >= held.nbytes


@needs_gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_random_streams_match_numpy(dtype):
    def draw(name):
        previous = runtime._state["current"]
        engine.set_backend(name)
        try:
            return [engine.random_uniform((5, 7), -2, 3, dtype=dtype, seed=11).numpy(),
                    engine.random_uniform((9,), 0, 10, dtype="int32", seed=5).numpy(),
                    engine.random_normal((64, 3), 1.0, 2.0, dtype=dtype, seed=3).numpy(),
                    engine.truncated_normal((4096,), 0.0, 1.0, dtype=dtype, seed=9).numpy()]
        finally:
            runtime._state["current"] = previous

    for got, want in zip(draw("cupy"), draw("numpy")):
        if want.dtype.kind == "i":
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == "float32" else 1e-12,
                                       atol=1e-6 if dtype == "float32" else 1e-12)


def _small_cnn_loss(x, labels, filters, weights):
    hidden = engine.relu(engine.conv2d(x, filters, padding="same"))
    pooled = engine.max_pool2d(hidden, 2, 2)
    flat = engine.reshape(pooled, (x.shape[0], -1))
    return engine.mean(engine.sparse_softmax_cross_entropy(labels, engine.matmul(flat, weights)))


@needs_gpu
def test_cnn_step_moves_nothing_but_the_loss(on_cupy):
    rng = np.random.default_rng(0)
    x = engine.tensor(rng.normal(size=(8, 12, 12, 3)).astype(np.float32))
    labels = engine.tensor(rng.integers(0, 10, size=8).astype(np.int32))
    filters = engine.tensor(rng.normal(size=(3, 3, 3, 4)).astype(np.float32) * 0.3)
    weights = engine.tensor(rng.normal(size=(6 * 6 * 4, 10)).astype(np.float32) * 0.1)
    step = engine.value_and_grad(_small_cnn_loss, argnums=(2, 3))
    step(x, labels, filters, weights)  # warm-up: compiles kernels, caches scalar constants
    backend = runtime.backend("cupy")
    backend.transfers.update(host_to_device=0, device_to_host=0)
    loss, grads = step(x, labels, filters, weights)
    assert backend.transfers == {"host_to_device": 0, "device_to_host": 0}
    assert np.isfinite(loss.item())
    assert backend.transfers == {"host_to_device": 0, "device_to_host": 1}
    assert [g.shape for g in grads] == [filters.shape, weights.shape]


@needs_gpu
def test_dlpack_round_trip_with_torch_cuda(on_cupy):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here")
    source = torch.arange(12, dtype=torch.float32, device="cuda").reshape(3, 4)
    imported = engine.from_dlpack(source, backend="cupy")
    assert imported.backend == "cupy"
    np.testing.assert_array_equal(imported.numpy(), source.cpu().numpy())
    exported = torch.from_dlpack(imported * 2)
    assert exported.device.type == "cuda"
    np.testing.assert_array_equal(exported.cpu().numpy(), source.cpu().numpy() * 2)


@needs_gpu
def test_tf32_is_off_by_default_and_switchable(on_cupy):
    from cupy._core import _routines_linalg as linalg

    assert linalg.get_compute_type(np.float32) != linalg.COMPUTE_TYPE_TF32
    rng = np.random.default_rng(1)
    a, b = (rng.uniform(-1, 1, size=(512, 512)) for _ in range(2))
    got = engine.matmul(engine.tensor(a, dtype="float32"), engine.tensor(b, dtype="float32"))
    exact = a.astype(np.float32).astype(np.float64) @ b.astype(np.float32).astype(np.float64)
    # Full float32 errs about 1e-6 relative here; TF32's 10-bit mantissa about 1e-3.
    assert np.max(np.abs(got.numpy() - exact)) / np.max(np.abs(exact)) < 1e-5
    cupy_backend.set_tf32(True)
    try:
        assert linalg.get_compute_type(np.float32) == linalg.COMPUTE_TYPE_TF32
    finally:
        cupy_backend.set_tf32(False)
    assert linalg.get_compute_type(np.float32) != linalg.COMPUTE_TYPE_TF32


@needs_gpu
@pytest.mark.parametrize("dtype", ["float16", "float32", "int32", "int64", "bool"])
def test_segment_sum_of_every_dtype(on_cupy, dtype):
    """The atomic segment sum widens float16, adds int64 through uint64 bits, ORs bools."""
    rng = np.random.default_rng(2)
    data = rng.integers(-2 ** 40 if dtype == "int64" else -3, 4, size=(7, 3)).astype(dtype)
    ids = np.array([0, 2, -1, 2, 5, 0, 1], dtype=np.int32)
    got = engine.dispatch.run_kernel("UnsortedSegmentSum",
                                     (engine.tensor(data, dtype=dtype), engine.tensor(ids)),
                                     num_segments=4).numpy()
    want = np.stack([data[ids == s].sum(axis=0, dtype=np.float64 if dtype == "float16" else None)
                     for s in range(4)]).astype(dtype)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, want)
