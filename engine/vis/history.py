"""Training curves: plot_history and a LivePlot callback that redraws a PNG every epoch."""
from engine.callbacks import Callback
from engine.vis._figure import finish, new_figure


def _as_dict(history):
    return history.history if hasattr(history, "history") else dict(history)


def plot_history(history, metrics=None, save_path=None):
    """One panel per metric with its training and validation ("val_" prefix) curves.

    `history` is what fit() returns (a History) or its `.history` dict; `metrics` picks and
    orders the panels (default: every non-validation key).
    """
    logs = _as_dict(history)
    names = metrics or [key for key in logs if not key.startswith("val_")]
    missing = [name for name in names if name not in logs and f"val_{name}" not in logs]
    if missing:
        raise ValueError(f"Error in plot_history: no values for {missing}; the history has "
                         f"{sorted(logs)}")
    figure = new_figure(4.0 * max(len(names), 1), 3.2)
    for index, name in enumerate(names):
        axes = figure.add_subplot(1, max(len(names), 1), index + 1)
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            values = logs.get(key)
            if values:
                axes.plot(range(1, len(values) + 1), values, marker="o", markersize=3,
                          label=label)
        axes.set_title(name)
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
        axes.legend()
    return finish(figure, save_path)


class LivePlot(Callback):
    """Rewrites the training-curves PNG at `path` at the end of every epoch."""

    def __init__(self, path, metrics=None):
        super().__init__()
        self.path = path
        self.metrics = metrics
        self.logs = {}

    def on_train_begin(self, logs=None):
        self.logs = {}

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.logs.setdefault(key, []).append(float(value))
        plot_history(self.logs, self.metrics, save_path=self.path)
