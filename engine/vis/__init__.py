"""Plots in the spirit of tfjs-vis: training curves (static or live), confusion matrices,
per-class accuracy, weight histograms and a model table. matplotlib is imported only when a
plot is drawn; every plot returns its Figure and takes an optional save_path."""
from engine.vis.classification import (confusion_matrix, per_class_accuracy,
                                       plot_confusion_matrix, plot_per_class_accuracy)
from engine.vis.history import LivePlot, plot_history
from engine.vis.model import plot_model, plot_weight_histograms

__all__ = ["plot_history", "LivePlot", "confusion_matrix", "per_class_accuracy",
           "plot_confusion_matrix", "plot_per_class_accuracy", "plot_weight_histograms",
           "plot_model"]
