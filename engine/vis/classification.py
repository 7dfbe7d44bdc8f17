"""Classification results: confusion matrix and per-class accuracy, as numbers and figures."""
import numpy as np

from engine.vis._figure import finish, new_figure


def _labels(values):
    return np.asarray(values.numpy() if hasattr(values, "numpy") else values).reshape(-1)


def confusion_matrix(y_true, y_pred, num_classes=None):
    """counts[i, j] = number of samples of true class i predicted as class j (int64)."""
    truth, predicted = _labels(y_true).astype(np.int64), _labels(y_pred).astype(np.int64)
    if truth.shape != predicted.shape:
        raise ValueError(f"Error in confusion_matrix: {truth.size} labels but "
                         f"{predicted.size} predictions")
    if num_classes is None:
        num_classes = int(max(truth.max(initial=-1), predicted.max(initial=-1))) + 1
    if truth.size and (min(truth.min(), predicted.min()) < 0
                       or max(truth.max(), predicted.max()) >= num_classes):
        raise ValueError(f"Error in confusion_matrix: labels must be in [0, {num_classes})")
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (truth, predicted), 1)
    return counts


def per_class_accuracy(y_true, y_pred, num_classes=None):
    """For each class, the fraction of its samples predicted correctly (nan if it has none)."""
    counts = confusion_matrix(y_true, y_pred, num_classes)
    totals = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(counts) / totals, np.nan)


def plot_confusion_matrix(y_true=None, y_pred=None, num_classes=None, matrix=None,
                          class_names=None, normalize=False, save_path=None):
    """A heat map of the confusion matrix (from labels, or a given `matrix`), counts written
    in the cells; `normalize` divides each row by its total."""
    counts = confusion_matrix(y_true, y_pred, num_classes) if matrix is None else np.asarray(
        matrix)
    size = counts.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(size)]
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    figure = new_figure(1.0 + 0.45 * size + 1.5, 0.45 * size + 1.5)
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(shown, cmap="Blues")
    figure.colorbar(image, ax=axes)
    axes.set_xticks(range(size), names, rotation=45 if size > 10 else 0)
    axes.set_yticks(range(size), names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title("Confusion matrix" + (" (row-normalised)" if normalize else ""))
    threshold = shown.max() / 2 if shown.size else 0
    for i in range(size):
        for j in range(size):
            text = f"{shown[i, j]:.2f}" if normalize else str(int(shown[i, j]))
            axes.text(j, i, text, ha="center", va="center", fontsize=8,
                      color="white" if shown[i, j] > threshold else "black")
    return finish(figure, save_path)


def plot_per_class_accuracy(y_true, y_pred, num_classes=None, class_names=None,
                            save_path=None):
    """A bar per class: the fraction of its samples predicted correctly."""
    accuracy = per_class_accuracy(y_true, y_pred, num_classes)
    names = list(class_names) if class_names is not None else [str(i)
                                                               for i in range(len(accuracy))]
    figure = new_figure(1.5 + 0.5 * len(accuracy), 3.2)
    axes = figure.add_subplot(1, 1, 1)
    axes.bar(names, np.nan_to_num(accuracy))
    axes.set_ylim(0, 1)
    axes.set_ylabel("accuracy")
    axes.set_title("Per-class accuracy")
    return finish(figure, save_path)
