"""Callbacks driven by scripted epoch logs (a stand-in model), and through a real fit()."""
import csv
import glob
import os
import struct

import numpy as np
import pytest

from engine import callbacks, optimizers
from tests.helpers import keras_or_skip


class ScriptedModel:
    """What callbacks use of a model: weights, optimizer, stop_training, save methods."""

    def __init__(self, optimizer=None):
        self.weights = [np.zeros(2)]
        self.optimizer = optimizer or optimizers.SGD(0.1)
        self.stop_training = False
        self.saved = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [w.copy() for w in weights]

    def save(self, path):
        self.saved.append(("save", path))

    def save_weights(self, path):
        self.saved.append(("save_weights", path))


def run_epochs(model, callback_objects, values, key="val_loss", extra=None):
    """Train-loop skeleton: epoch e sets weights to [e, e] and reports values[e]."""
    hooks = callbacks.CallbackList(callback_objects, model=model, add_history=True,
                                   epochs=len(values), steps=1)
    hooks.on_train_begin()
    for epoch, value in enumerate(values):
        hooks.on_epoch_begin(epoch)
        hooks.on_train_batch_begin(0)
        model.weights = [np.full(2, float(epoch))]
        hooks.on_train_batch_end(0, {"loss": value})
        logs = {"loss": value, key: value, **(extra or {})}
        hooks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    hooks.on_train_end()
    return model.history


def test_history_records_every_epoch():
    history = run_epochs(ScriptedModel(), [], [3.0, 2.0, 1.0])
    assert history.epoch == [0, 1, 2]
    assert history.history == {"loss": [3.0, 2.0, 1.0], "val_loss": [3.0, 2.0, 1.0]}


def test_early_stopping_patience_and_restore_best_weights():
    model = ScriptedModel()
    stopper = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    history = run_epochs(model, [stopper], [1.0, 0.8, 0.9, 0.85, 0.7])
    assert history.epoch == [0, 1, 2, 3]          # epochs 2 and 3 did not beat 0.8
    assert stopper.stopped_epoch == 3 and stopper.best_epoch == 1
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0])


def test_early_stopping_min_delta_mode_and_baseline():
    stopper = callbacks.EarlyStopping(monitor="val_accuracy", min_delta=0.05, patience=1)
    assert stopper.mode == "max"
    history = run_epochs(ScriptedModel(), [stopper], [0.5, 0.53, 0.6], key="val_accuracy")
    assert history.epoch == [0, 1]                # +0.03 is below min_delta
    values = [0.9, 0.8, 0.85, 0.9]
    history = run_epochs(ScriptedModel(), [callbacks.EarlyStopping(patience=2)], values)
    assert history.epoch == [0, 1, 2, 3]
    baseline = callbacks.EarlyStopping(patience=2, baseline=0.5)
    history = run_epochs(ScriptedModel(), [baseline], values)
    assert history.epoch == [0, 1, 2]             # never below the baseline: patience ran on


def _keras_callbacks():
    return keras_or_skip().callbacks


@pytest.mark.parametrize("values", [[1.0, 0.8, 0.9, 0.85, 0.7, 0.6], [1.0, 1.0, 0.99, 1.2],
                                    [0.5, 0.4, 0.3, 0.2]])
def test_early_stopping_matches_keras(values):
    keras_callbacks = _keras_callbacks()
    ours = callbacks.EarlyStopping(patience=1, min_delta=0.02, mode="min",
                                   restore_best_weights=True)
    theirs = keras_callbacks.EarlyStopping(patience=1, min_delta=0.02, mode="min",
                                           restore_best_weights=True)
    ours_model, theirs_model = ScriptedModel(), ScriptedModel()
    run_epochs(ours_model, [ours], values)
    theirs.set_model(theirs_model)
    theirs.on_train_begin()
    for epoch, value in enumerate(values):
        theirs_model.weights = [np.full(2, float(epoch))]
        theirs.on_epoch_end(epoch, {"val_loss": value})
        if theirs_model.stop_training:
            break
    theirs.on_train_end()
    assert (ours.stopped_epoch, ours.best_epoch) == (theirs.stopped_epoch, theirs.best_epoch)
    np.testing.assert_array_equal(ours_model.weights[0], theirs_model.weights[0])


def test_reduce_lr_on_plateau_changes_the_learning_rate():
    model = ScriptedModel(optimizers.Adam(learning_rate=1.0))
    reducer = callbacks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.2)
    rates = []
    spy = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: rates.append(logs["learning_rate"]))
    run_epochs(model, [reducer, spy], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    # logged before each epoch's decision: cut at the end of epoch 2 (two flat epochs); the
    # cooldown epoch 3 resets the count and counts itself (as Keras), so cuts at 4, 6 (to min_lr)
    assert rates == pytest.approx([1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2])
    run_epochs(model, [reducer], [1.0] * 8)
    assert model.optimizer.learning_rate == pytest.approx(0.2)   # never below min_lr


def test_learning_rate_scheduler_both_signatures():
    model = ScriptedModel(optimizers.SGD(0.1))
    history = run_epochs(model, [callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)],
                         [1.0, 1.0, 1.0])
    assert history.history["learning_rate"] == pytest.approx([0.05, 0.025, 0.0125])
    run_epochs(model, [callbacks.LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))],
               [1.0, 1.0])
    assert model.optimizer.learning_rate == pytest.approx(0.02)


def test_csv_logger_writes_sorted_columns(tmp_path):
    path = tmp_path / "log.csv"
    run_epochs(ScriptedModel(), [callbacks.CSVLogger(path)], [0.5, 0.25], extra={"acc": 0.75})
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["epoch", "acc", "loss", "val_loss"], ["0", "0.75", "0.5", "0.5"],
                    ["1", "0.75", "0.25", "0.25"]]
    run_epochs(ScriptedModel(), [callbacks.CSVLogger(path, separator=";", append=True)], [0.125],
               extra={"acc": 0.75})
    with open(path) as handle:
        assert handle.read().splitlines()[-1] == "0;0.75;0.125;0.125"


def test_model_checkpoint_paths_and_best_only(tmp_path):
    model = ScriptedModel()
    pattern = str(tmp_path / "ckpt" / "model-{epoch:02d}-{val_loss:.2f}.keras")
    run_epochs(model, [callbacks.ModelCheckpoint(pattern)], [0.5, 0.75])
    assert model.saved == [("save", str(tmp_path / "ckpt" / "model-01-0.50.keras")),
                           ("save", str(tmp_path / "ckpt" / "model-02-0.75.keras"))]
    best = ScriptedModel()
    run_epochs(best, [callbacks.ModelCheckpoint(str(tmp_path / "{epoch}.weights.h5"),
                                                save_best_only=True, save_weights_only=True)],
               [0.5, 0.75, 0.25])
    assert [path for _, path in best.saved] == [str(tmp_path / "1.weights.h5"),
                                                str(tmp_path / "3.weights.h5")]
    assert {kind for kind, _ in best.saved} == {"save_weights"}


def test_lambda_callback_and_unknown_hook():
    seen = []
    hook = callbacks.LambdaCallback(on_train_begin=lambda logs: seen.append("begin"),
                                    on_batch_end=lambda batch, logs: seen.append(batch),
                                    on_train_end=lambda logs: seen.append("end"))
    run_epochs(ScriptedModel(), [hook], [1.0, 2.0])
    assert seen == ["begin", 0, 0, "end"]
    with pytest.raises(TypeError, match="unknown hook 'on_epoch_finish'"):
        callbacks.LambdaCallback(on_epoch_finish=print)


def _read_scalars(directory):
    """Decode TFRecord-framed Event protos (length, crc, data, crc) into {tag: [(step, v)]}."""
    from tensorboardX.proto import event_pb2

    scalars = {}
    for path in glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        data = open(path, "rb").read()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_tensorboard_writes_event_files(tmp_path):
    pytest.importorskip("tensorboardX")
    run_epochs(ScriptedModel(), [callbacks.TensorBoard(tmp_path, update_freq=1)], [0.5, 0.25])
    train = _read_scalars(tmp_path / "train")
    assert train["epoch_loss"] == [(0, 0.5), (1, 0.25)]
    assert train["batch_loss"] == [(1, 0.5), (2, 0.25)]
    assert _read_scalars(tmp_path / "validation")["epoch_loss"] == [(0, 0.5), (1, 0.25)]


def test_progress_lines_with_verbose_2(capsys):
    hooks = callbacks.CallbackList([], model=ScriptedModel(), add_progbar=2, epochs=2, steps=1)
    hooks.on_train_begin()
    hooks.on_epoch_begin(0)
    hooks.on_train_batch_end(0, {"loss": 0.5})
    hooks.on_epoch_end(0, {"loss": 0.5, "acc": 0.25})
    assert capsys.readouterr().out == "Epoch 1/2 - loss: 0.5000 - acc: 0.2500\n"


def test_early_stopping_inside_fit(backend):
    models = pytest.importorskip("engine.models")
    layers = pytest.importorskip("engine.layers")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    model = models.Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile(optimizer=optimizers.SGD(0.0), loss="mse")   # a flat loss: no improvement
    # shuffled batches change the epoch mean by rounding only: min_delta ignores that
    stopper = callbacks.EarlyStopping(monitor="loss", patience=2, min_delta=1e-3,
                                      restore_best_weights=True)
    history = model.fit(x, y, epochs=10, batch_size=16, verbose=0, callbacks=[stopper])
    assert history.epoch == [0, 1, 2]
    assert isinstance(history, callbacks.History) and model.stop_training


def test_terminate_on_nan_stops_at_the_first_invalid_loss(capsys):
    model = ScriptedModel()
    history = run_epochs(model, [callbacks.TerminateOnNaN()], [0.5, 0.4, np.inf, 0.3])
    assert history.epoch == [0, 1, 2] and model.stop_training
    assert "Batch 0: Invalid loss, terminating training" in capsys.readouterr().out
    model = ScriptedModel()
    assert run_epochs(model, [callbacks.TerminateOnNaN()], [0.5, np.nan, 0.3]).epoch == [0, 1]
