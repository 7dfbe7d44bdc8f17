"""Stochastic gradient descent with optional (Nesterov) momentum, as keras.optimizers.SGD."""
from engine.optimizers.base import Optimizer


class SGD(Optimizer):
    """m = momentum * m - lr * g;  w += m  (Nesterov: w += momentum * m - lr * g)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"Error in SGD: momentum must be in [0, 1], got {momentum}")
        self.momentum = momentum
        self.nesterov = nesterov

    def build_slots(self, variables):
        if self.momentum != 0:
            self.add_slots(variables, ("momentum",))

    @property
    def fused_updates(self):
        return self.momentum != 0

    def fused_attrs(self, learning_rate):
        return {"learning_rate": learning_rate, "momentum": self.momentum,
                "nesterov": self.nesterov}

    def update_step(self, gradient, variable, learning_rate):
        if not self.fused_updates:
            variable.assign_sub(gradient * learning_rate)
            return
        self.apply_fused("ApplyMomentum", variable, gradient, (self.slot(variable, "momentum"),))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
