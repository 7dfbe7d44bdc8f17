"""RMSprop (optionally centered, with momentum), as keras.optimizers.RMSprop."""
import engine
from engine.optimizers.base import Optimizer


class RMSprop(Optimizer):
    """v = rho v + (1 - rho) g^2; step = lr g / sqrt(v [- mean_g^2] + eps);
    with momentum: m = momentum m + step, w -= m; else w -= step."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered

    def build_slots(self, variables):
        self.add_slots(variables, ("velocity",))
        if self.momentum > 0:
            self.add_slots(variables, ("momentum",))
        if self.centered:
            self.add_slots(variables, ("average_gradient",))

    @property
    def fused_updates(self):
        return not self.centered and self.momentum <= 0  # the default: one fused kernel

    def fused_attrs(self, learning_rate):
        return {"learning_rate": learning_rate, "rho": self.rho, "epsilon": self.epsilon}

    def update_step(self, gradient, variable, learning_rate):
        rho = self.rho
        velocity = self.slot(variable, "velocity")
        if self.fused_updates:
            self.apply_fused("ApplyRMSProp", variable, gradient, (velocity,))
            return
        # Centered and momentum variants keep composed ops (their extra slots would each
        # need another fused kernel).
        velocity.assign(velocity * rho + engine.square(gradient) * (1 - rho))
        denominator = velocity + self.epsilon
        if self.centered:
            average = self.slot(variable, "average_gradient")
            average.assign(average * rho + gradient * (1 - rho))
            denominator = velocity - engine.square(average) + self.epsilon
        increment = gradient * learning_rate / engine.sqrt(denominator)
        if self.momentum > 0:
            momentum = self.slot(variable, "momentum")
            variable.assign_sub(momentum.assign(momentum * self.momentum + increment))
        else:
            variable.assign_sub(increment)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}
