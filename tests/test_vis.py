"""engine.vis: numbers against NumPy / scikit-learn, figures returned and PNGs written."""
import subprocess
import sys

import numpy as np
import pytest

from engine import vis

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

RNG = np.random.default_rng(0)
TRUTH = RNG.integers(0, 4, size=200)
PREDICTED = np.where(RNG.uniform(size=200) < 0.7, TRUTH, RNG.integers(0, 4, size=200))


def _is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_importing_engine_does_not_import_matplotlib():
    code = "import sys, engine, engine.vis; print('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_confusion_matrix_and_per_class_accuracy_match_sklearn():
    sklearn = pytest.importorskip("sklearn.metrics")
    counts = vis.confusion_matrix(TRUTH, PREDICTED, num_classes=5)
    np.testing.assert_array_equal(counts, sklearn.confusion_matrix(TRUTH, PREDICTED,
                                                                   labels=range(5)))
    accuracy = vis.per_class_accuracy(TRUTH, PREDICTED, num_classes=5)
    for label in range(4):
        chosen = TRUTH == label
        assert accuracy[label] == pytest.approx(np.mean(PREDICTED[chosen] == label))
    assert np.isnan(accuracy[4])
    with pytest.raises(ValueError, match="labels must be in \\[0, 3\\)"):
        vis.confusion_matrix(TRUTH, PREDICTED, num_classes=3)


def test_plot_history_from_dict_and_history_object(tmp_path):
    logs = {"loss": [1.0, 0.5, 0.25], "val_loss": [1.1, 0.7, 0.5], "accuracy": [0.5, 0.7, 0.9]}
    figure = vis.plot_history(logs, save_path=tmp_path / "curves.png")
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    loss_axes = figure.axes[0]
    assert [line.get_label() for line in loss_axes.lines] == ["train", "validation"]
    np.testing.assert_array_equal(loss_axes.lines[1].get_ydata(), logs["val_loss"])
    assert _is_png(tmp_path / "curves.png")

    class Recorded:
        history = logs

    assert len(vis.plot_history(Recorded(), metrics=["accuracy"]).axes) == 1
    with pytest.raises(ValueError, match="no values for \\['auc'\\]"):
        vis.plot_history(logs, metrics=["auc"])


def test_plot_confusion_matrix_and_per_class_accuracy(tmp_path):
    figure = vis.plot_confusion_matrix(TRUTH, PREDICTED, class_names="abcd",
                                       save_path=tmp_path / "cm.png")
    assert isinstance(figure, Figure) and _is_png(tmp_path / "cm.png")
    cell_texts = [text.get_text() for text in figure.axes[0].texts]
    assert cell_texts[:4] == [str(v) for v in vis.confusion_matrix(TRUTH, PREDICTED)[0]]
    normalised = vis.plot_confusion_matrix(matrix=np.array([[3, 1], [0, 4]]), normalize=True)
    assert [t.get_text() for t in normalised.axes[0].texts] == ["0.75", "0.25", "0.00", "1.00"]
    bars = vis.plot_per_class_accuracy(TRUTH, PREDICTED, save_path=tmp_path / "pc.png")
    heights = [patch.get_height() for patch in bars.axes[0].patches]
    np.testing.assert_allclose(heights, vis.per_class_accuracy(TRUTH, PREDICTED))


class _Weight:
    def __init__(self, name, values):
        self.name, self._values = name, values
        self.size = values.size

    def numpy(self):
        return self._values


class _Layer:
    built = True

    def __init__(self, name, shapes):
        self.name = name
        self.weights = [_Weight(f"w{i}", RNG.normal(size=s)) for i, s in enumerate(shapes)]

    def count_params(self):
        return sum(w.size for w in self.weights)


class _Model:
    name = "toy"
    layers = [_Layer("dense", [(3, 4), (4,)]), _Layer("flatten", []), _Layer("out", [(4, 2)])]
    layer_output_shapes = [(None, 4), (None, 4), (None, 2)]


def test_weight_histograms_and_model_table(tmp_path):
    histograms = vis.plot_weight_histograms(_Model(), save_path=tmp_path / "w.png")
    assert [axes.get_title() for axes in histograms.axes] == [
        "dense/w0 (12)", "dense/w1 (4)", "out/w0 (8)"]
    assert len(vis.plot_weight_histograms(_Model.layers[0]).axes) == 2
    table = vis.plot_model(_Model(), save_path=tmp_path / "model.png")
    cells = table.axes[0].tables[0].get_celld()
    assert cells[(1, 0)].get_text().get_text() == "dense (_Layer)"
    assert cells[(1, 2)].get_text().get_text() == "16"
    assert cells[(4, 2)].get_text().get_text() == "24"
    assert _is_png(tmp_path / "w.png") and _is_png(tmp_path / "model.png")


def test_live_plot_rewrites_its_png_each_epoch(tmp_path):
    path = tmp_path / "live.png"
    live = vis.LivePlot(path)
    live.on_train_begin()
    live.on_epoch_end(0, {"loss": 1.0, "val_loss": 1.2})
    first = path.read_bytes()
    live.on_epoch_end(1, {"loss": 0.5, "val_loss": 0.9})
    assert _is_png(path) and path.read_bytes() != first
    assert live.logs == {"loss": [1.0, 0.5], "val_loss": [1.2, 0.9]}


def test_plots_of_a_real_model(backend, tmp_path):
    models = pytest.importorskip("engine.models")
    layers = pytest.importorskip("engine.layers")
    model = models.Sequential([layers.Input((5,)), layers.Dense(3), layers.Dense(2)])
    table = vis.plot_model(model, save_path=tmp_path / "m.png")
    assert table.axes[0].tables[0].get_celld()[(3, 2)].get_text().get_text() == "26"
    assert len(vis.plot_weight_histograms(model).axes) == 4
