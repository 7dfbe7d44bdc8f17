"""Training state in TF.js Layers files, as LayersModel.save(..., {includeOptimizer: true})
writes it and tf.loadLayersModel reads it back:

- model.json's "trainingConfig": {"loss": "mean_squared_error", "metrics": [...] or {},
  "optimizer_config": {"class_name": "Adam", "config": {"learningRate": ..., "beta1": ...}}};
- the optimizer's weights after the model's, in the same manifest with "group": "optimizer", in
  the order of TF.js's Optimizer.getWeights: "iter" (int32 scalar), then one slot kind for every
  trainable weight, then the next kind (Adam: "<weight>/m"..., then "<weight>/v"...). TF.js
  reads them by position; a file from an optimizer that never stepped holds only "iter".

Keras 3's slots (this engine) and TF.js's hold the same state, except SGD's momentum: TF.js
keeps a = momentum a + g and steps w -= lr a, Keras m = momentum m - lr g and w += m, so
a = -m / lr. RMSprop's momentum slot is always in TF.js's files (zeros when momentum is 0).

Saving raises ValueError (save with include_optimizer=False) for what TF.js cannot hold:
AdamW and weight decay, gradient clipping, learning-rate schedules, AMSGrad, Adagrad with an
epsilon other than TF.js's 1e-7, SGD momentum at learning rate 0, Adamax (TF.js has no
getWeights for it: its own save throws too), losses TF.js does not have and loss weights.
Metrics without a TF.js name, and those of multi-output models, are left out.
TF.js's update rules differ from Keras's in three places, so the step after loading differs
slightly although the state is the same: Adam adds epsilon to sqrt(v / (1 - beta_2^t)) where
Keras adds it to sqrt(v); Adadelta divides by the previous step's E[g^2]; centered RMSprop
subtracts epsilon where Keras adds it.
"""
import numpy as np

from engine.io import weights
from engine.io.safety import ModelFileError
from engine.optimizers import SGD, Adadelta, Adagrad, Adam, Adamax, RMSprop

ITERATIONS = "iter"
OPTIMIZER_GROUP = "optimizer"
_TFJS_EPSILON = 1e-7  # the epsilon TF.js's Adagrad uses (its CPU backend's)
SAVE_WITHOUT = "save with include_optimizer=False (python -m engine.convert: --no-optimizer)"

# TF.js optimizer class -> (engine class, {TF.js config key: engine argument})
_FROM_TFJS = {
    "SGD": (SGD, {"learningRate": "learning_rate"}),
    "Momentum": (SGD, {"learningRate": "learning_rate", "momentum": "momentum",
                       "useNesterov": "nesterov"}),
    "Adam": (Adam, {"learningRate": "learning_rate", "beta1": "beta_1", "beta2": "beta_2",
                    "epsilon": "epsilon"}),
    "Adamax": (Adamax, {"learningRate": "learning_rate", "beta1": "beta_1", "beta2": "beta_2",
                        "epsilon": "epsilon"}),
    "RMSProp": (RMSprop, {"learningRate": "learning_rate", "decay": "rho",
                          "momentum": "momentum", "epsilon": "epsilon", "centered": "centered"}),
    "Adagrad": (Adagrad, {"learningRate": "learning_rate",
                          "initialAccumulatorValue": "initial_accumulator_value"}),
    "Adadelta": (Adadelta, {"learningRate": "learning_rate", "rho": "rho",
                            "epsilon": "epsilon"}),
}
# engine Loss class name -> TF.js loss name (as getTrainingConfig writes it)
_LOSSES = {"MeanSquaredError": "mean_squared_error", "MeanAbsoluteError": "mean_absolute_error",
           "BinaryCrossentropy": "binary_crossentropy",
           "CategoricalCrossentropy": "categorical_crossentropy",
           "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
           "KLDivergence": "kullback_leibler_divergence"}
# engine metric name -> TF.js metric name (those TF.js's compile accepts)
_METRICS = {"accuracy": "accuracy", "acc": "acc", "binary_accuracy": "binary_accuracy",
            "categorical_accuracy": "categorical_accuracy", "precision": "precision",
            "mse": "mse", "mean_squared_error": "mse", "mae": "mae", "mean_absolute_error": "mae"}


# ---------------------------------------------------------------------------- optimizers


def tfjs_optimizer(optimizer):
    """(TF.js class name, TF.js config, slot plan) for an engine optimizer. The plan lists
    TF.js's slot kinds in file order as (engine slot name or None, TF.js suffix, factor): the
    TF.js value is the engine value times factor; None is a slot only TF.js keeps."""
    kind = type(optimizer).__name__
    if type(optimizer) not in (SGD, Adam, RMSprop, Adagrad, Adadelta):
        raise ValueError(f"Cannot save {kind}'s state for TF.js (the TF.js optimizers that "
                         f"save state are SGD, Momentum, Adam, RMSProp, Adagrad and Adadelta); "
                         f"{SAVE_WITHOUT}")
    unsupported = [f"{option}={getattr(optimizer, option)}" for option in (
        "weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "amsgrad")
        if getattr(optimizer, option, None)]
    if optimizer.uses_schedule:
        unsupported.append("a learning-rate schedule")
    if isinstance(optimizer, Adagrad) and optimizer.epsilon != _TFJS_EPSILON:
        unsupported.append(f"epsilon={optimizer.epsilon} (TF.js's Adagrad uses 1e-7)")
    if unsupported:
        raise ValueError(f"Cannot save {kind} with {', '.join(unsupported)} for TF.js (its "
                         f"optimizers have no such option); {SAVE_WITHOUT}")
    rate = optimizer.learning_rate
    if isinstance(optimizer, SGD) and optimizer.momentum == 0:
        return "SGD", {"learningRate": rate}, []
    if isinstance(optimizer, SGD):
        if rate == 0:
            raise ValueError("Cannot save SGD with momentum for TF.js at learning rate 0: "
                             "TF.js's momentum slot is Keras's divided by -learning_rate; "
                             + SAVE_WITHOUT)
        return ("Momentum", {"learningRate": rate, "momentum": optimizer.momentum,
                             "useNesterov": optimizer.nesterov}, [("momentum", "momentum",
                                                                   -1.0 / rate)])
    if isinstance(optimizer, Adam):
        return ("Adam", {"learningRate": rate, "beta1": optimizer.beta_1,
                         "beta2": optimizer.beta_2, "epsilon": optimizer.epsilon},
                [("momentum", "m", 1.0), ("velocity", "v", 1.0)])
    if isinstance(optimizer, RMSprop):
        plan = [("velocity", "rms", 1.0),
                ("momentum" if optimizer.momentum > 0 else None, "momentum", 1.0)]
        if optimizer.centered:
            plan.append(("average_gradient", "mg", 1.0))
        return ("RMSProp", {"learningRate": rate, "decay": optimizer.rho,
                            "momentum": optimizer.momentum, "epsilon": optimizer.epsilon,
                            "centered": optimizer.centered}, plan)
    if isinstance(optimizer, Adagrad):
        return ("Adagrad", {"learningRate": rate,
                            "initialAccumulatorValue": optimizer.initial_accumulator_value},
                [("accumulator", "accumulator", 1.0)])
    return ("Adadelta", {"learningRate": rate, "rho": optimizer.rho,
                         "epsilon": optimizer.epsilon},
            [("accumulated_grad", "accum_grad", 1.0),
             ("accumulated_delta_var", "accum_var", 1.0)])


def _trainable(model):
    """[(TF.js variable name, variable)] for the trainable weights, in training order."""
    names = {id(variable): name for name, variable in weights.named_weights(model)}
    return [(names[id(variable)], variable) for variable in model.trainable_weights]


def optimizer_weights(model):
    """[(name, array)] of the optimizer state in TF.js's getWeights order and meaning."""
    _, _, plan = tfjs_optimizer(model.optimizer)
    weights.optimizer_variables(model)  # creates the slots of an optimizer that never stepped
    optimizer, trainable = model.optimizer, _trainable(model)
    result = [(ITERATIONS, np.array(int(optimizer.iterations.item()), np.int32))]
    for slot, suffix, factor in plan:
        for name, variable in trainable:
            value = (np.zeros(variable.shape, np.float32) if slot is None else
                     weights.to_numpy(optimizer.slot(variable, slot)).astype(np.float64) * factor)
            result.append((f"{name}/{suffix}", value))
    return result


def restore_optimizer(model, state, source):
    """Put TF.js optimizer weights [(name, array)] into the compiled model's optimizer; the
    layout is checked in full before anything changes."""
    optimizer, trainable = model.optimizer, _trainable(model)
    try:
        _, _, plan = tfjs_optimizer(optimizer)
    except ValueError as error:
        if len(state) > 1:
            raise ModelFileError(source, f"optimizer weights for {type(optimizer).__name__} "
                                         f"cannot be restored ({error})") from None
        plan = []
    if not state or state[0][0] != ITERATIONS or np.size(state[0][1]) != 1:
        raise ModelFileError(source, f"the optimizer weights must start with the scalar "
                                     f"'{ITERATIONS}', found "
                                     f"{state[0][0] if state else 'none'!r}")
    slots = state[1:]
    expected = len(plan) * len(trainable)
    if slots and len(slots) != expected:
        raise ModelFileError(source, f"{len(slots)} optimizer slot weights for "
                                     f"{len(trainable)} trainable weights; TF.js's "
                                     f"{type(optimizer).__name__} keeps {expected}")
    weights.optimizer_variables(model)
    pairs = [(optimizer.iterations, np.reshape(state[0][1], ()).astype(np.int32))]
    for index, (name, value) in enumerate(slots):
        slot, suffix, factor = plan[index // len(trainable)]
        variable_name, variable = trainable[index % len(trainable)]
        if not name.endswith(f"/{suffix}"):
            raise ModelFileError(source, f"optimizer weight {index + 1} is '{name}' but TF.js "
                                         f"puts the '{suffix}' slot of '{variable_name}' there")
        if slot is not None:
            pairs.append((optimizer.slot(variable, slot), np.asarray(value, np.float64) / factor))
    weights.assign(pairs, source)


# ---------------------------------------------------------------------------- trainingConfig


def training_config(model):
    """TF.js's trainingConfig of a compiled model (None if it is not compiled)."""
    if not getattr(model, "compiled", False) or model.optimizer is None:
        return None
    class_name, config, _ = tfjs_optimizer(model.optimizer)
    if any(weight != 1.0 for weight in model._loss_weights):
        raise ValueError("Cannot save loss_weights for TF.js (its loadLayersModel refuses "
                         "them); " + SAVE_WITHOUT)
    losses = [_tfjs_loss(loss) for loss in model._losses]
    metrics = ([_METRICS[m.name.lower()] for m in model._metrics[0]
                if m.name.lower() in _METRICS] if len(model._metrics) == 1 else {})
    return {"loss": losses[0] if len(losses) == 1 else losses, "metrics": metrics,
            "optimizer_config": {"class_name": class_name, "config": config}}


def _tfjs_loss(loss):
    name = _LOSSES.get(type(loss).__name__)
    options = None if name is None else {**loss.get_config(), "name": None}
    if name is None or options != {**type(loss)().get_config(), "name": None}:
        raise ValueError(f"Cannot save the loss {getattr(loss, 'name', loss)!r} for TF.js: "
                         f"TF.js has only {', '.join(sorted(_LOSSES.values()))} (with default "
                         f"options); {SAVE_WITHOUT}")
    return name


def compile_from_training_config(model, config, source):
    """model.compile(...) from a TF.js trainingConfig, as TF.js's loadTrainingConfig does."""
    optimizer_config = config.get("optimizer_config") if isinstance(config, dict) else None
    if not isinstance(optimizer_config, dict) or not isinstance(
            optimizer_config.get("config", {}), dict):
        raise ModelFileError(source, "'trainingConfig' has no 'optimizer_config' object")
    for key in ("weighted_metrics", "loss_weights", "sample_weight_mode"):
        if config.get(key) is not None:
            raise ModelFileError(source, f"trainingConfig's '{key}' is not supported (TF.js "
                                         f"cannot load it either)")
    class_name = optimizer_config.get("class_name")
    if class_name not in _FROM_TFJS:
        raise ModelFileError(source, f"unknown TF.js optimizer {class_name!r} (expected one "
                                     f"of {', '.join(sorted(_FROM_TFJS))})")
    cls, keys = _FROM_TFJS[class_name]
    tfjs_config = optimizer_config.get("config", {})
    if class_name == "Adamax" and tfjs_config.get("decay"):
        raise ModelFileError(source, f"TF.js Adamax with decay={tfjs_config['decay']} has no "
                                     f"engine equivalent")
    arguments = {keys[key]: value for key, value in tfjs_config.items() if key in keys}
    metrics = config.get("metrics") or None
    try:
        model.compile(optimizer=cls(**arguments), loss=config.get("loss"), metrics=metrics)
    except (TypeError, ValueError) as error:
        raise ModelFileError(source, f"cannot compile from trainingConfig ({error})") from None
