"""Adam and its relatives (AdamW, Adamax), with Keras 3's update formulas and slot names."""
import math

import engine
from engine.optimizers.base import Optimizer


class Adam(Optimizer):
    """m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
    w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)  (AMSGrad: v -> running max)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad

    def build_slots(self, variables):
        self.add_slots(variables, ("momentum", "velocity"))
        if self.amsgrad:
            self.add_slots(variables, ("velocity_hat",))

    @property
    def fused_updates(self):
        return not self.amsgrad

    def fused_attrs(self, learning_rate):
        return {"alpha": self._alpha(learning_rate), "beta_1": self.beta_1,
                "beta_2": self.beta_2, "epsilon": self.epsilon}

    def _alpha(self, learning_rate):
        """lr sqrt(1 - b2^t) / (1 - b1^t): the step's bias-corrected rate."""
        step = self.local_step
        return learning_rate * math.sqrt(1 - self.beta_2 ** step) / (1 - self.beta_1 ** step)

    def update_step(self, gradient, variable, learning_rate):
        m = self.slot(variable, "momentum")
        v = self.slot(variable, "velocity")
        if self.fused_updates:
            self.apply_fused("ApplyAdam", variable, gradient, (m, v))
            return
        # AMSGrad keeps composed ops: its running maximum would need a fourth slot in the
        # fused kernel for a rarely used option.
        alpha = self._alpha(learning_rate)
        m.assign_add((gradient - m) * (1 - self.beta_1))
        v.assign_add((engine.square(gradient) - v) * (1 - self.beta_2))
        v_hat = self.slot(variable, "velocity_hat")
        v_hat.assign(engine.maximum(v_hat, v))
        variable.assign_sub((m * alpha) / (engine.sqrt(v_hat) + self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay: w -= w * weight_decay * lr before each Adam step."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, **kwargs):
        if weight_decay is None:
            raise ValueError("Error in AdamW: weight_decay must be a float, got None")
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)


class Adamax(Optimizer):
    """Adam with the infinity norm: u = max(b2 u, |g|); w -= lr m / ((1 - b1^t)(u + eps))."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def build_slots(self, variables):
        self.add_slots(variables, ("momentum", "norm"))

    def update_step(self, gradient, variable, learning_rate):
        step = self.local_step
        m = self.slot(variable, "momentum")
        u = self.slot(variable, "norm")
        m.assign_add((gradient - m) * (1 - self.beta_1))
        u.assign(engine.maximum(u * self.beta_2, engine.abs(gradient)))
        variable.assign_sub((m * learning_rate) / ((u + self.epsilon) * (1 - self.beta_1 ** step)))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
