"""Looking inside a model: a table of its layers and histograms of its weights."""
import numpy as np

from engine.vis._figure import finish, new_figure


def _layers(model_or_layer):
    return list(getattr(model_or_layer, "layers", None) or [model_or_layer])


def _weight_arrays(layer):
    weights = getattr(layer, "weights", [])
    return [(getattr(w, "name", f"weight {i}"), np.asarray(w.numpy()).reshape(-1))
            for i, w in enumerate(weights)]


def plot_weight_histograms(model_or_layer, bins=30, save_path=None):
    """One histogram per weight tensor (kernels, biases...) of a model's layers or a layer."""
    panels = [(f"{layer.name}/{name}", values) for layer in _layers(model_or_layer)
              for name, values in _weight_arrays(layer)]
    if not panels:
        raise ValueError("Error in plot_weight_histograms: no weights to plot (is the model "
                         "built?)")
    columns = min(len(panels), 3)
    rows = -(-len(panels) // columns)
    figure = new_figure(4.0 * columns, 2.8 * rows)
    for index, (title, values) in enumerate(panels):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.hist(values, bins=bins)
        axes.set_title(f"{title} ({values.size})", fontsize=9)
    return finish(figure, save_path)


def _output_shapes(model, layers):
    shapes = getattr(model, "layer_output_shapes", None)
    if shapes and len(shapes) == len(layers):
        return [str(shape) for shape in shapes]
    return [str(getattr(layer, "output_shape", "?")) for layer in layers]


def _count_params(layer):
    counter = getattr(layer, "count_params", None)
    if counter is not None and getattr(layer, "built", True):
        return int(counter())
    return int(sum(values.size for _, values in _weight_arrays(layer)))


def plot_model(model, save_path=None):
    """The model as a table: layer (type), output shape, parameter count, and the total."""
    layers = _layers(model)
    counts = [_count_params(layer) for layer in layers]
    rows = [[f"{layer.name} ({type(layer).__name__})", shape, f"{count:,}"]
            for layer, shape, count in zip(layers, _output_shapes(model, layers), counts)]
    rows.append(["Total", "", f"{sum(counts):,}"])
    figure = new_figure(7.5, 0.9 + 0.32 * len(rows))
    axes = figure.add_subplot(1, 1, 1)
    axes.axis("off")
    table = axes.table(cellText=rows, colLabels=["Layer (type)", "Output shape", "Param #"],
                       loc="upper center", cellLoc="left", colLoc="left",
                       colWidths=[0.5, 0.3, 0.2])
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    axes.set_title(f'Model: "{getattr(model, "name", type(model).__name__)}"')
    return finish(figure, save_path)
