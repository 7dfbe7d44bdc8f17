"""compile / fit / evaluate / predict for models, Keras 3 style, with engine ops only.

A training step runs the model under a GradientTape, adds the regularization losses, and
hands (gradient, variable) pairs to the optimizer. Non-trainable state updates (BatchNorm's
moving statistics) are applied only after the step succeeded, so a failing step changes
nothing. Unless run_eagerly, each step (forward, loss, gradients, and the optimizer's update
when its updates are fused kernels; the forward alone in predict) is traced per input
signature and replayed (engine.tracing).
"""
import contextlib
import warnings

import numpy as np

import engine
from engine.layers.base import deferred_state_updates, structure_version
from engine.layers.keras_tensor import flatten, map_structure
from engine.models import data_adapter


class Trainer:
    """The training half of Model: needs `self(x, training=...)`, `trainable_weights`,
    `losses`, and `outputs`/`output_names` where the model knows them."""

    def __init__(self):
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self.run_eagerly = False
        self._step_traces = engine.tracing.Traces()

    # ------------------------------------------------------------------ compile

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        """Choose the optimizer, the loss per output (one, a list or a dict by output name),
        the weights of the output losses in the total and the metrics per output (Keras 3's
        argument order). As in Keras, `metrics` ignore sample_weight and class_weight;
        `weighted_metrics` use them. As Keras compiles its steps unless run_eagerly=True,
        fit and train_on_batch trace a step's forward pass, loss, gradients and (for Adam, SGD
        with momentum and RMSprop) update once per input signature and then replay its
        kernels (engine.tracing); run_eagerly=True runs all of
        every step in Python, for debugging a call(). steps_per_execution, jit_compile
        ("auto"/False) and auto_scale_loss are accepted for Keras code and change nothing
        (jit_compile=True warns that nothing is compiled)."""
        names = self._output_names()
        weights = _per_output(loss_weights, names, "loss_weights")
        if not all(w is None or isinstance(w, (int, float)) for w in weights):
            raise ValueError(f"`loss_weights` must be numbers (one per output, or a dict by "
                             f"output name), got {loss_weights!r}; Keras 3's compile takes "
                             f"loss_weights third: pass metrics as metrics=...")
        if not isinstance(steps_per_execution, int) or steps_per_execution < 1:
            raise ValueError(f"`steps_per_execution` must be a positive integer, got "
                             f"{steps_per_execution!r}")
        if jit_compile is True:
            warnings.warn("compile(jit_compile=True): this engine does not compile steps to "
                          "machine code (it traces and replays kernels either way); the model "
                          "trains the same without it", stacklevel=2)
        self.optimizer = engine.optimizers.get(optimizer)
        self.loss = loss
        self._losses = [None if item is None else engine.losses.get(item)
                        for item in _per_output(loss, names, "loss")]
        self._loss_weights = [1.0 if w is None else float(w) for w in weights]
        self._metrics, self._weighted_metrics = (
            [[engine.metrics.get(m, loss=output_loss) for m in (group or [])]
             for group, output_loss in zip(_metrics_per_output(chosen, names), self._losses)]
            for chosen in (metrics, weighted_metrics))
        self._loss_tracker = _LossTracker(name="loss")
        self._output_loss_trackers = ([_LossTracker(name=f"{name}_loss") for name in names]
                                      if len(names) > 1 else [])
        self._compile_metrics = _CompileMetrics(self)
        self.run_eagerly = run_eagerly
        self._step_traces = engine.tracing.Traces()
        self.compiled = True

    @property
    def metrics_names(self):
        return list(self._empty_logs())

    def _output_names(self):
        return list(getattr(self, "output_names", None) or ["output"])

    def _require_compiled(self, method):
        if not self.compiled:
            raise RuntimeError(f"You must call `compile()` before using the model "
                               f"(`{method}()`).")

    # ------------------------------------------------------------------ one batch

    def _compute_loss(self, y_true, y_pred, sample_weight):
        """(total loss tensor, [per-output loss tensors]) including regularization."""
        if len(y_true) != len(y_pred):
            raise ValueError(f"The model has {len(y_pred)} output(s) but {len(y_true)} target "
                             f"array(s) were given")
        per_output, total = [], None
        for loss, weight, target, prediction in zip(self._losses, self._loss_weights, y_true,
                                                    y_pred):
            if loss is None:
                continue
            value = loss(target, prediction, sample_weight=sample_weight)
            per_output.append(value)
            weighted = value if weight == 1.0 else value * weight
            total = weighted if total is None else total + weighted
        if total is None:
            raise ValueError("No loss to compute: pass `loss` to compile().")
        for penalty in self.losses:
            total = total + penalty
        return total, per_output

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One gradient step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("train_on_batch")
        data = self._batch_data(*self._prepare(x, y, sample_weight, class_weight))
        self.reset_metrics()
        logs = _float_logs(self.train_step(data))
        return logs if return_dict else _logs_to_result(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._require_compiled("test_on_batch")
        data = self._batch_data(*self._prepare(x, y, sample_weight, None))
        self.reset_metrics()
        logs = _float_logs(self.test_step(data))
        return logs if return_dict else _logs_to_result(logs)

    def predict_on_batch(self, x):
        outputs = self._predict_batch(self._inputs_list(x))
        return self._as_output_structure([o.numpy() for o in outputs])

    # ------------------------------------------------------------------ steps (Keras 3's API)

    def train_step(self, data):
        """One gradient step on `data` ((x, y) or (x, y, sample_weight), as Keras packs a
        batch); returns the logs. Override it, as in Keras, for a custom training step: with
        engine.GradientTape, self.compute_loss, self.optimizer.apply_gradients and
        self.metrics (or your own metrics), returning {name: value}."""
        x, y, sample_weight = _unpack(data)
        return self._train_step(self._inputs_list(x), self._targets_list(y), sample_weight)

    def test_step(self, data):
        """The loss and metrics of one batch in inference mode; returns the logs."""
        x, y, sample_weight = _unpack(data)
        return self._test_step(self._inputs_list(x), self._targets_list(y), sample_weight)

    def predict_step(self, data):
        """The model's outputs for one batch of inputs."""
        return self(data, training=False)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The total loss of a batch (compiled losses, weighted, plus regularization)."""
        targets = [engine.convert_to_tensor(t) for t in self._targets_list(y)]
        return self._compute_loss(targets, flatten(y_pred), sample_weight)[0]

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics with a batch; returns get_metrics_result()."""
        self._compile_metrics.update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def __setattr__(self, name, value):
        """Metrics set as public attributes (self.loss_tracker = Mean(...)) are tracked, as in
        Keras: they join self.metrics."""
        own = self.__dict__.setdefault("_own_metrics", {})
        if isinstance(value, engine.metrics.Metric) and not name.startswith("_"):
            own[name] = value
        else:
            own.pop(name, None)
        super().__setattr__(name, value)

    @property
    def metrics(self):
        """Keras's list: the loss tracker, the per-output loss trackers, the compiled metrics
        as one metric (its result is a dict; absent without metrics), then metrics the model
        holds as attributes."""
        own = list(self.__dict__.get("_own_metrics", {}).values())
        if not self.compiled:
            return own
        compiled = [self._compile_metrics] if any(self._metrics + self._weighted_metrics) else []
        return [self._loss_tracker, *self._output_loss_trackers, *compiled, *own]

    def get_metrics_result(self):
        """{name: value} of every metric in self.metrics (a dict result merged in)."""
        logs = {}
        for metric in self.metrics:
            result = metric.result()
            logs.update(result if isinstance(result, dict) else {metric.name: result})
        return logs

    def reset_metrics(self):
        for metric in self.metrics:
            metric.reset_state()

    def _train_step(self, x, y, sample_weight):
        y, sample_weight = _upload_targets(y, sample_weight)
        layout, (total, per_output, y_pred, gradients, state_values) = self._run_pass(
            True, x, y, sample_weight)
        self._apply_updates(gradients, layout.variables,
                            zip(layout.state_variables, state_values))
        return self._track(total, per_output, y, y_pred, sample_weight)

    def _apply_updates(self, gradients, variables, state_updates):
        """The optimizer's step, then the non-trainable state updates (BatchNormalization's)."""
        if variables:
            self.optimizer.apply_gradients(list(zip(gradients, variables)))
        for variable, value in state_updates:
            variable.assign(value)

    def _test_step(self, x, y, sample_weight):
        y, sample_weight = _upload_targets(y, sample_weight)
        _, (total, per_output, y_pred, _, _) = self._run_pass(False, x, y, sample_weight)
        return self._track(total, per_output, y, y_pred, sample_weight)

    def _run_pass(self, training, x, y, sample_weight):
        """_loss_pass on one batch, traced unless run_eagerly: its layout and its parts."""
        x = [engine.convert_to_tensor(array) for array in x]
        args = [*x, *y] + ([] if sample_weight is None else [sample_weight])
        weighted = sample_weight is not None
        key = (training, len(x), structure_version(), *map(id, self.trainable_weights))
        if training:  # its update may be in the trace
            key += (id(self.optimizer), self.optimizer.traceable)
        outputs, layout = self._step_runner()(
            lambda *a: self._loss_pass(training, len(x), weighted, *a), args, key, self.weights)
        return layout, layout.split(outputs)

    def _loss_pass(self, training, input_count, weighted, *args):
        """Forward pass and loss of one batch, and in training the gradients and state updates
        (args: the inputs, the targets, then the sample weights if `weighted`), applied here
        when the optimizer can be traced too."""
        x, y = list(args[:input_count]), list(args[input_count:len(args) - weighted])
        sample_weight = args[-1] if weighted else None
        with deferred_state_updates() as state_updates:
            with engine.GradientTape() if training else contextlib.nullcontext() as tape:
                y_pred = flatten(self(_unlist(x), training=training))
                total, per_output = self._compute_loss(y, y_pred, sample_weight)
            # Read after the call: a subclassed model's layers make their weights in it.
            variables = self.trainable_weights if training else []
            gradients = tape.gradient(total, variables) if variables else []
        if training and self.optimizer.traceable:
            self._apply_updates(gradients, variables, state_updates)
            gradients, variables, state_updates = [], [], []
        if not self._reads_predictions():  # a trace then skips what only they needed
            y_pred = []
        return _StepLayout.pack(total, per_output, y_pred, gradients, variables, state_updates)

    def _reads_predictions(self):
        """Whether a train or test step's predictions go anywhere: to compiled metrics, or to
        a compute_metrics of the model's own."""
        return (any(self._metrics + self._weighted_metrics)
                or type(self).compute_metrics is not Trainer.compute_metrics)

    def _predict_batch(self, x):
        """The outputs of predict_step on a batch of inputs (a list), as a flat list; traced
        unless run_eagerly or predict_step is the model's own."""
        if type(self).predict_step is not Trainer.predict_step:
            return flatten(self.predict_step(_unlist(x)))
        x = [engine.convert_to_tensor(array) for array in x]
        outputs, _ = self._step_runner()(
            lambda *a: (flatten(self.predict_step(_unlist(list(a)))), None), x,
            ("predict", structure_version()), self.weights)
        return outputs

    def _step_runner(self):
        return engine.tracing.run_eagerly if self.run_eagerly else self._step_traces.run

    def _track(self, total, per_output, y, y_pred, sample_weight):
        """The loss trackers (weighted by batch size) and compiled metrics, updated; logs."""
        size = len(y[0]) if y else 1
        self._loss_tracker.update_state(total, size)
        for tracker, value in zip(self._output_loss_trackers, per_output):
            tracker.update_state(value, size)
        return self.compute_metrics(None, y, y_pred, sample_weight)

    def _batch_data(self, x, y, sample_weight):
        """A batch as Keras hands it to train_step: (x, y) or (x, y, sample_weight), with one
        input or target as itself, several as a list; x alone when there are no targets."""
        x, y = _unlist(x), None if y is None else _unlist(y)
        if y is None:
            return x
        return (x, y) if sample_weight is None else (x, y, sample_weight)

    # ------------------------------------------------------------------ data

    def _inputs_list(self, x):
        return data_adapter.as_list(x, getattr(self, "input_names", None) or [], "inputs")

    def _targets_list(self, y):
        """Targets as a list in output order (one, a list, or a dict by output name)."""
        return data_adapter.as_list(y, self._output_names(), "outputs")

    def _custom_steps(self):
        """Whether the model brings its own train_step or test_step (then fit needs no y)."""
        return any(getattr(type(self), name) is not getattr(Trainer, name)
                   for name in ("train_step", "test_step"))

    def _prepare(self, x, y, sample_weight, class_weight):
        """Checked host data: x and y as lists in model order, sample weights resolved."""
        x = self._inputs_list(x)
        y = data_adapter.as_list(y, self._output_names(), "outputs")
        if y is None and not self._custom_steps():
            raise ValueError("Training and evaluation need targets `y`.")
        sample_weight = None if sample_weight is None else np.asarray(sample_weight, np.float32)
        data_adapter.check_cardinality(x, y, sample_weight)
        sample_weight = data_adapter.class_weights_to_sample_weights(y, class_weight,
                                                                     sample_weight)
        if y is not None:
            self._check_targets(x, y)
        return x, y, sample_weight

    def _check_targets(self, x, y):
        """Sparse cross-entropy labels within the number of classes, checked on the host.

        A tensor checked last time is not read again: tensors are immutable, and this one is
        held, so it cannot be another tensor at the same address (train_on_batch on a device
        batch would otherwise copy the labels to the host every step)."""
        shapes = self._known_output_shapes(x)
        checked = getattr(self, "_checked_targets", {})
        self._checked_targets = {}
        for loss, target, shape, name in zip(self._losses, y, shapes, self._output_names()):
            if isinstance(loss, engine.losses.SparseCategoricalCrossentropy) and shape:
                last, classes = checked.get(name, (None, None))
                if last is not target or classes != shape[-1]:
                    data_adapter.check_sparse_labels(np.asarray(target), shape[-1], name)
                if type(target) is engine.Tensor:  # not a Variable: its value can change
                    self._checked_targets[name] = (target, shape[-1])

    def _known_output_shapes(self, x):
        if not self.built:
            self.build_from_shape([(None,) + tuple(a.shape[1:]) for a in x]
                                  if len(x) > 1 else (None,) + tuple(x[0].shape[1:]))
        outputs = getattr(self, "outputs", None)
        return [t.shape for t in outputs] if outputs else [None] * len(self._losses)

    # ------------------------------------------------------------------ loops

    def fit(self, x=None, y=None, batch_size=32, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Train for `epochs` epochs on arrays or an engine.data.Dataset; returns History. The
        validation data is evaluated after every `validation_freq`-th epoch."""
        self._require_compiled("fit")
        if not isinstance(validation_freq, int) or validation_freq < 1:
            raise ValueError(f"`validation_freq` must be a positive integer, got "
                             f"{validation_freq!r}")
        verbose = 1 if verbose == "auto" else verbose
        batch_size = batch_size or 32
        if _is_dataset(x):
            if validation_split:
                raise ValueError("`validation_split` is only supported for array inputs; "
                                 "pass `validation_data` with a dataset.")
            epoch_batches, steps = self._dataset_batches(x, class_weight, steps_per_epoch)
        else:
            x, y, sample_weight = self._prepare(x, y, sample_weight, class_weight)
            if validation_split and validation_data is None:
                (x, y, sample_weight), validation_data = data_adapter.split_validation(
                    x, y, sample_weight, validation_split)
            epoch_batches, steps = self._array_batches(x, y, sample_weight, batch_size, shuffle,
                                                       steps_per_epoch)
        callback_list = engine.callbacks.CallbackList(
            callbacks, model=self, add_history=True, add_progbar=verbose, epochs=epochs,
            steps=steps)
        self.stop_training = False
        callback_list.on_train_begin()
        logs = {}
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            callback_list.on_epoch_begin(epoch)
            for step, (xb, yb, swb) in epoch_batches():
                callback_list.on_train_batch_begin(step)
                logs = _float_logs(self.train_step(self._batch_data(xb, yb, swb)))
                callback_list.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            epoch_logs = dict(logs)
            if validation_data is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._evaluate_loop(validation_data,
                                               validation_batch_size or batch_size,
                                               validation_steps)
                epoch_logs.update({f"val_{key}": value for key, value in val_logs.items()})
            callback_list.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        callback_list.on_train_end(logs)
        return self.history

    def _array_batches(self, x, y, sample_weight, batch_size, shuffle, steps_per_epoch):
        size = data_adapter.check_cardinality(x, y, sample_weight)
        sw = None if sample_weight is None else [sample_weight]

        def epoch_batches():
            for step, (xb, yb, swb) in data_adapter.array_batches(
                    [x, y, sw], size, batch_size, shuffle, steps_per_epoch):
                yield step, (xb, yb, swb[0] if swb else None)

        return epoch_batches, data_adapter.num_steps(size, batch_size, steps_per_epoch)

    def _dataset_batches(self, dataset, class_weight, steps_per_epoch):
        """Batches of a dataset, taken as host arrays where it offers them (so labels are
        checked on the host), up to `steps_per_epoch` per epoch."""
        def epoch_batches():
            for step, element in enumerate(_host_elements(dataset)):
                if steps_per_epoch is not None and step >= steps_per_epoch:
                    return
                x, y, sample_weight = data_adapter.unpack_dataset_element(element)
                yield step, self._prepare(x, y, sample_weight, class_weight)

        return epoch_batches, steps_per_epoch or _known_length(dataset)

    def evaluate(self, x=None, y=None, batch_size=32, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """Loss (and metrics) over the data in inference mode."""
        self._require_compiled("evaluate")
        verbose = 1 if verbose == "auto" else verbose
        data = x if _is_dataset(x) else (x, y, sample_weight)
        logs = self._evaluate_loop(data, batch_size or 32, steps, callbacks, verbose)
        return logs if return_dict else _logs_to_result(logs)

    def _evaluate_loop(self, data, batch_size, steps=None, callbacks=None, verbose=0):
        if _is_dataset(data):
            batches, total_steps = self._dataset_batches(data, None, steps)
        else:
            x, y, sample_weight = (tuple(data) + (None,))[:3]
            x, y, sample_weight = self._prepare(x, y, sample_weight, None)
            batches, total_steps = self._array_batches(x, y, sample_weight, batch_size, False,
                                                       steps)
        callback_list = engine.callbacks.CallbackList(
            callbacks, model=self, add_history=False, add_progbar=verbose, epochs=1,
            steps=total_steps)
        self.reset_metrics()
        logs = self._empty_logs()
        callback_list.on_test_begin()
        for step, (xb, yb, swb) in batches():
            callback_list.on_test_batch_begin(step)
            logs = _float_logs(self.test_step(self._batch_data(xb, yb, swb)))
            callback_list.on_test_batch_end(step, logs)
        callback_list.on_test_end(logs)
        return logs

    def _empty_logs(self):
        names = ["loss"]
        if len(self._losses) > 1:
            names += [f"{name}_loss" for name in self._output_names()]
        names += [name for name, _ in _named_metrics(self)]
        return {name: 0.0 for name in names}

    def predict(self, x, batch_size=32, verbose="auto", steps=None, callbacks=None):
        """Outputs in inference mode as NumPy arrays (a list for several outputs)."""
        batch_size = batch_size or 32
        if _is_dataset(x):
            batches = (data_adapter.unpack_dataset_element(element)[0]
                       for element in _host_elements(x))
            total_steps = steps or _known_length(x)
        else:
            inputs = self._inputs_list(x)
            size = data_adapter.check_cardinality(inputs)
            batches = (xb for _, (xb,) in data_adapter.array_batches(
                [inputs], size, batch_size, max_steps=steps))
            total_steps = data_adapter.num_steps(size, batch_size, steps)
        callback_list = engine.callbacks.CallbackList(
            callbacks, model=self, add_progbar=1 if verbose == "auto" else verbose, epochs=1,
            steps=total_steps)
        callback_list.on_predict_begin()
        results = []
        for step, xb in enumerate(batches):
            callback_list.on_predict_batch_begin(step)
            outputs = self._predict_batch(self._inputs_list(xb))
            results.append([np.asarray(o.numpy()) for o in outputs])
            callback_list.on_predict_batch_end(step, {"outputs": results[-1]})
        callback_list.on_predict_end()
        if not results:
            raise ValueError("Unexpected result of `predict`: no batches were processed.")
        merged = [np.concatenate(parts, axis=0) for parts in zip(*results)]
        return self._as_output_structure(merged)

    def _as_output_structure(self, arrays):
        """Outputs (in flatten order) as Keras returns them: a dict where the model's outputs
        are a dict, else one array or a list of them."""
        structure = getattr(self, "_outputs_structure", None)
        if isinstance(structure, dict):
            position = {id(tensor): i for i, tensor in enumerate(flatten(structure))}
            return map_structure(lambda tensor: arrays[position[id(tensor)]], structure)
        return arrays[0] if len(arrays) == 1 else arrays


class _LossTracker(engine.metrics.Mean):
    """A running mean of scalar losses in host floats, weighted by batch size when given
    (Keras's loss tracker: update_state(loss) from a custom train_step weighs each step 1)."""

    def update_state(self, values, sample_weight=None):
        weight = 1.0 if sample_weight is None else float(sample_weight)
        self.total += float(values.item() if hasattr(values, "item") else values) * weight
        self.count += weight


class _CompileMetrics(engine.metrics.Metric):
    """The compiled metrics of every output as one metric, as Keras's: update_state(y, y_pred,
    sample_weight) updates them all (weighted metrics with the weights), result() is
    {log name: value}."""

    def __init__(self, model):
        self.model = model
        super().__init__("compile_metrics")

    def reset_state(self):
        for _, metric in _named_metrics(self.model):
            metric.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = self.model._targets_list(y_true)
        y_pred = flatten(y_pred)
        for group, target, prediction in zip(self.model._metrics, y_true, y_pred):
            for metric in group:
                metric.update_state(target, prediction)
        for group, target, prediction in zip(self.model._weighted_metrics, y_true, y_pred):
            for metric in group:
                metric.update_state(target, prediction, sample_weight)

    def result(self):
        return {name: float(metric.result()) for name, metric in _named_metrics(self.model)}


def _named_metrics(model):
    """(log name, metric) pairs, metrics then weighted metrics, named as Keras 3 names them:
    multi-output models prefix the output name; a weighted metric whose name is taken becomes
    "weighted_<name>"; a name taken again gets "_1", "_2", ..."""
    outputs = model._output_names()
    counts, pairs = {}, []

    def add(name, metric):
        if name in counts:
            counts[name] += 1
            name = f"{name}_{counts[name] - 1}"
        else:
            counts[name] = 1
        pairs.append((name, metric))

    def prefixed(output, name):
        return f"{output}_{name}" if len(outputs) > 1 else name

    for output, group in zip(outputs, model._metrics):
        for metric in group:
            add(prefixed(output, metric.name), metric)
    for output, group in zip(outputs, model._weighted_metrics):
        for metric in group:
            name = prefixed(output, metric.name)
            add(name if name not in counts else prefixed(output, f"weighted_{metric.name}"),
                metric)
    return pairs


def _per_output(value, names, argument):
    """A compile argument given once, as a list, or as a dict by output name, per output."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"Unknown output name(s) {unknown} in `{argument}`; the model's "
                             f"outputs are {names}")
        return [value.get(name) for name in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(f"`{argument}` has {len(value)} entries but the model has "
                             f"{len(names)} outputs {names}")
        return list(value)
    return [value] * len(names)


def _metrics_per_output(metrics, names):
    if metrics is None:
        return [[] for _ in names]
    if isinstance(metrics, dict):
        groups = _per_output(metrics, names, "metrics")
        return [[] if g is None else (list(g) if isinstance(g, (list, tuple)) else [g])
                for g in groups]
    if len(names) > 1 and all(isinstance(g, (list, tuple)) for g in metrics):
        return _per_output(list(metrics), names, "metrics")
    if len(names) > 1:
        raise ValueError(f"For a model with {len(names)} outputs, pass `metrics` as a dict by "
                         f"output name or as a list of {len(names)} lists.")
    return [list(metrics)]


def _is_dataset(data):
    """An iterable of batches (engine.data.Dataset, a generator) rather than arrays."""
    return hasattr(data, "__iter__") and not isinstance(
        data, (np.ndarray, engine.Tensor, list, tuple, dict, str))


def _upload_targets(y, sample_weight):
    """Targets and sample weights as tensors, uploaded once per batch for loss and metrics."""
    y = [engine.convert_to_tensor(target) for target in y]
    return y, None if sample_weight is None else engine.convert_to_tensor(sample_weight)


def _host_elements(dataset):
    """An engine.data.Dataset's NumPy elements, or any other iterable's own."""
    as_numpy = getattr(dataset, "as_numpy_iterator", None)
    return as_numpy() if as_numpy is not None else iter(dataset)


def _known_length(dataset):
    """The number of batches if the dataset knows it and it is finite, else None."""
    cardinality = getattr(dataset, "cardinality", None)
    size = cardinality() if callable(cardinality) else None
    return size if isinstance(size, int) and size >= 0 else None


def _unlist(inputs):
    return inputs[0] if isinstance(inputs, list) and len(inputs) == 1 else inputs


class _StepLayout:
    """Where a traced step's flat output list keeps each part, and the variables it updates
    (the same at every replay of one trace)."""

    def __init__(self, sizes, masked, variables, state_variables):
        self.sizes = sizes          # counts of: total, per-output losses, outputs, gradients,
        self.masked = masked        # state values; then the outputs with a Keras mask
        self.variables = variables
        self.state_variables = state_variables

    @classmethod
    def pack(cls, total, per_output, y_pred, gradients, variables, state_updates):
        masked = [i for i, tensor in enumerate(y_pred)
                  if getattr(tensor, "_keras_mask", None) is not None]
        state_variables = [variable for variable, _ in state_updates]
        outputs = [total, *per_output, *y_pred, *gradients, *(v for _, v in state_updates),
                   *(y_pred[i]._keras_mask for i in masked)]
        sizes = (1, len(per_output), len(y_pred), len(gradients), len(state_variables))
        return outputs, cls(sizes, masked, variables, state_variables)

    def split(self, outputs):
        """(total, per-output losses, outputs with their masks, gradients, state values)."""
        parts, start = [], 0
        for size in self.sizes:
            parts.append(outputs[start:start + size])
            start += size
        y_pred = parts[2]
        for i, mask in zip(self.masked, outputs[start:]):
            y_pred[i]._keras_mask = mask
        return parts[0][0], *parts[1:]


def _logs_to_result(logs):
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _unpack(data):
    """(x, y, sample_weight) of a batch packed as Keras packs one: x, (x,), (x, y) or
    (x, y, sample_weight)."""
    if not isinstance(data, tuple):
        return data, None, None
    return (tuple(data) + (None, None))[:3]


def _float_logs(logs):
    """Logs as {name: float}; a train_step may return tensors, NumPy scalars and nested dicts
    (Keras flattens a metric's dict result into the logs)."""
    flat = {}
    for name, value in dict(logs).items():
        if isinstance(value, dict):
            flat.update(_float_logs(value))
        else:
            flat[name] = float(value.item() if hasattr(value, "item") else value)
    return flat
