"""The README's main demo: the digits CNN reaches >= 97% on its held-out 20% on every backend."""
import importlib.util
import os

import numpy as np
import pytest

_DEMO = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "train_digits.py")


def _load_demo():
    spec = importlib.util.spec_from_file_location("train_digits", _DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_split_is_a_seeded_80_20_partition():
    demo = _load_demo()
    x, y = np.arange(100)[:, None], np.arange(100)
    (x_train, y_train), (x_test, y_test) = demo.split(x, y, seed=3)
    assert len(y_train) == 80 and len(y_test) == 20
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(100))
    assert demo.split(x, y, seed=3)[1][1].tolist() == y_test.tolist()


def test_demo_reaches_97_percent(backend, tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    result = _load_demo().train(seed=0, output=str(tmp_path), verbose=0)
    assert result["backend"] == backend
    assert result["accuracy"] >= 0.97, f"test accuracy {result['accuracy']:.4f} on {backend}"
    for name in ("training_curves.png", "confusion_matrix.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    if result["model_path"] is not None:
        assert os.path.exists(result["model_path"])


def test_text_example_learns_masked_reviews_and_exports_them(tmp_path):
    """examples/text_sentiment.py: padded reviews through Embedding(mask_zero=True) and a
    Bidirectional GRU; a short run already separates positive from negative reviews."""
    spec = importlib.util.spec_from_file_location(
        "text_sentiment", os.path.join(os.path.dirname(_DEMO), "text_sentiment.py"))
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    x, y = example.make_reviews(50, seed=1)
    assert x.shape == (50, example.MAX_LENGTH) and (x[:, 0] == 0).any()  # padded in front
    assert (x != 0).any(axis=1).all() and set(np.unique(y)) == {0.0, 1.0}
    result = example.train(epochs=4, samples=800, output=str(tmp_path), verbose=0)
    assert result["accuracy"] >= 0.9, f"test accuracy {result['accuracy']:.3f}"
    assert (tmp_path / "sentiment.keras").exists()
    assert (tmp_path / "web_model" / "model.json").exists()
