"""One helper every op test goes through: forward against a float64 NumPy reference, and
analytic gradients against central finite differences; and the peers the tests compare with
(real Keras, real TF.js in Node), skipping where they are not installed."""
import contextlib
import io
import json
import os
import pathlib
import shutil
import subprocess
import zipfile

import numpy as np
import pytest

import engine
from engine import registry

FIXTURES = pathlib.Path(__file__).parent / "fixtures"

# Float32 tolerances, in one place: elementwise ops are exact to a few ulps; reductions,
# matmul and convolution sum many terms, so their error grows with the summed length; GPU and
# OpenCL kernels may reorder sums and use fused multiply-adds.
TOLERANCES = {
    "elementwise": dict(rtol=2e-5, atol=2e-6),
    "transcendental": dict(rtol=1e-4, atol=1e-5),
    "reduction": dict(rtol=1e-4, atol=1e-5),
    "matmul": dict(rtol=2e-4, atol=2e-4),
    "conv": dict(rtol=5e-4, atol=5e-4),
    "exact": dict(rtol=0, atol=0),
}


def float64_supported(backend):
    return "float64" in getattr(engine.runtime.backend(backend), "dtypes", engine.dtypes.ALL)


def random_array(shape, seed=0, low=-1.0, high=1.0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, size=shape).astype(dtype)


def check_forward(engine_fn, reference_fn, arrays, family="elementwise", dtype="float32"):
    """engine_fn(*tensors) against reference_fn(*float64 arrays), compared in float32 tolerance."""
    tensors = [engine.tensor(a, dtype=dtype if np.asarray(a).dtype.kind == "f" else None)
               for a in arrays]
    got = engine_fn(*tensors)
    want = reference_fn(*[np.asarray(a, dtype=np.float64) if np.asarray(a).dtype.kind == "f"
                          else np.asarray(a) for a in arrays])
    outputs = got if isinstance(got, (tuple, list)) else [got]
    wants = want if isinstance(want, (tuple, list)) else [want]
    for out, ref in zip(outputs, wants):
        ref = np.asarray(ref)
        assert out.shape == ref.shape, f"shape {out.shape} != reference {ref.shape}"
        np.testing.assert_allclose(out.numpy().astype(np.float64) if ref.dtype.kind == "f"
                                   else out.numpy(), ref, **TOLERANCES[family])
    return got


def numerical_gradient(fn, arrays, index, eps=1e-3):
    """Central differences of sum(fn(*arrays) * weights) with respect to arrays[index]."""
    base = [np.array(a, dtype=np.float64, order="C") for a in arrays]  # C order: flat views
    target = base[index]
    grad = np.zeros_like(target)
    flat = target.reshape(-1)
    grad_flat = grad.reshape(-1)
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = fn(*base)
        flat[i] = original - eps
        minus = fn(*base)
        flat[i] = original
        grad_flat[i] = (plus - minus) / (2 * eps)
    return grad


def check_gradients(engine_fn, arrays, backend, argnums=None, rtol=None, atol=None, seed=1):
    """Gradients of a random projection of engine_fn's output, analytic vs finite differences.

    In float64 where the backend supports it (tight tolerances), else float32 (looser).
    """
    use64 = float64_supported(backend)
    dtype = "float64" if use64 else "float32"
    eps = 1e-6 if use64 else 1e-2
    rtol = rtol if rtol is not None else (1e-5 if use64 else 5e-2)
    atol = atol if atol is not None else (1e-6 if use64 else 5e-3)
    argnums = tuple(range(len(arrays))) if argnums is None else tuple(argnums)
    out_shape = engine_fn(*[engine.tensor(a, dtype=dtype) for a in arrays]).shape
    weights = np.random.default_rng(seed).uniform(0.5, 1.5, size=out_shape)

    def scalar_loss(*tensors):
        return engine.sum(engine_fn(*tensors) * engine.tensor(weights, dtype=dtype))

    grads = engine.grad(scalar_loss, argnums=argnums)(
        *[engine.tensor(a, dtype=dtype) for a in arrays])

    def numeric_loss(*host_arrays):
        tensors = [engine.tensor(a, dtype=dtype) for a in host_arrays]
        return float(np.sum(engine_fn(*tensors).numpy().astype(np.float64) * weights))

    for position, index in enumerate(argnums):
        expected = numerical_gradient(numeric_loss, arrays, index, eps)
        np.testing.assert_allclose(grads[position].numpy(), expected, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {index}")


@contextlib.contextmanager
def kernel_calls():
    """The names of the kernels run inside the block, in order (every backend's are spied)."""
    calls = []
    saved = {backend: dict(kernels) for backend, kernels in registry._KERNELS_BY_BACKEND.items()}

    def spy(op, kernel):
        def run(*args, **kwargs):
            calls.append(op)
            return kernel(*args, **kwargs)
        return run

    for backend, kernels in saved.items():
        registry.kernels_for(backend).update({op: spy(op, k) for op, k in kernels.items()})
    try:
        yield calls
    finally:
        for backend, kernels in saved.items():
            registry.kernels_for(backend).update(kernels)


@contextlib.contextmanager
def no_kernel_runs():
    """Fail if any kernel runs inside the block: bad input must be rejected before dispatch."""
    with kernel_calls() as calls:
        try:
            yield calls
        finally:  # the expected error passes through here
            assert not calls, f"kernels ran before the error: {calls}"


# ---------------------------------------------------------------------------- peers


def keras_or_skip():
    """Keras on its JAX backend (test-only peers); the test skips where either is missing."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    pytest.importorskip("jax")
    return keras


def keras_twins(build, seed=None):
    """(keras, Keras's model, ours), both from `build(lib)` (lib: keras or engine); ours takes
    Keras's weights, first drawn uniformly from [-0.5, 0.5] with `seed` when one is given."""
    keras = keras_or_skip()
    keras.backend.clear_session()
    theirs = build(keras)
    engine.layers.clear_session()
    ours = build(engine)
    if seed is not None:
        rng = np.random.default_rng(seed)
        theirs.set_weights([rng.uniform(-0.5, 0.5, w.shape) for w in theirs.get_weights()])
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    return keras, theirs, ours


def sgd_steps_like_keras(keras, theirs, ours, x, y, learning_rate, steps=2):
    """`steps` SGD steps (mse) on both twins; returns ours' weights before them. Each weight
    must then equal Keras's (what a test checks beyond that is its own)."""
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    ours.compile(optimizer=engine.optimizers.SGD(learning_rate), loss="mse")
    before = ours.get_weights()
    for _ in range(steps):
        theirs.train_on_batch(x, y)
        ours.train_on_batch(x, y)
    for got, want in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-4, atol=1e-5)
    return before


def node_with_tfjs():
    """The node binary, with @tensorflow/tfjs installed in tests/fixtures; else the test
    skips."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: TF.js cross-check skipped")
    if not (FIXTURES / "node_modules" / "@tensorflow" / "tfjs").is_dir():
        pytest.skip("@tensorflow/tfjs is not installed in tests/fixtures/node_modules "
                    "(run `npm ci` there): TF.js cross-check skipped")
    return node


def saved_by_tfjs(folder, build_model_js, batch_shape):
    """Real TF.js builds a model (JavaScript statements returning it), gives it seeded random
    weights and saves it as folder/model.json; returns (x, TF.js's predictions for x), x a
    seeded random batch of `batch_shape`."""
    node = node_with_tfjs()
    script = pathlib.Path(folder) / "build_model.js"
    script.write_text(build_model_js)
    result = subprocess.run(
        [node, str(FIXTURES / "save_tfjs_model.js"), str(folder), str(script),
         json.dumps(list(batch_shape))], capture_output=True, text=True, timeout=120,
        env={**os.environ, "NODE_PATH": str(FIXTURES / "node_modules")})
    assert result.returncode == 0, result.stderr[-2000:]
    saved = json.loads(result.stdout)
    return np.array(saved["x"], np.float32), np.array(saved["y"])


def predicted_by_tfjs(models):
    """{name: (saved model folder, input batch)} -> {name: TF.js's predictions, flattened}:
    real TF.js loads each folder's model.json and predicts on its batch."""
    node = node_with_tfjs()
    root = {pathlib.Path(folder).parent for folder, _ in models.values()}
    assert len(root) == 1, "the model folders must sit in one folder"
    for folder, x in models.values():
        (pathlib.Path(folder) / "input.json").write_text(json.dumps(
            {"input_shape": list(np.shape(x)), "input": np.ravel(x).tolist()}))
    result = subprocess.run([node, str(FIXTURES / "check_tfjs_models.js"), str(root.pop())],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return {name: np.array(values) for name, values in json.loads(result.stdout).items()}


def h5_listing(data):
    """[(path, a dataset's shape or a group's name attribute)] of an HDF5 file's bytes,
    sorted: what a weights file holds where (h5py is imported here, for the io tests only)."""
    import h5py

    entries = []
    with h5py.File(io.BytesIO(data), "r") as store:
        store.visititems(lambda path, item: entries.append(
            (path, item.shape if isinstance(item, h5py.Dataset) else item.attrs.get("name"))))
    return sorted(entries)


def keras_file_listing(path):
    """h5_listing of the weights inside a .keras file."""
    with zipfile.ZipFile(path) as archive:
        return h5_listing(archive.read("model.weights.h5"))
