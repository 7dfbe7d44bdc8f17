"""Hand-written array code (NumPy, or CuPy through the same calls): the raw-library peers for
convolutions, pooling and the two training steps. Images NHWC, filters HWIO, stride 1."""


def pad_same(xp, x, kh, kw):
    """Zero-pad H and W so a stride-1 (kh, kw) window keeps the size ('same')."""
    top, left = (kh - 1) // 2, (kw - 1) // 2
    return xp.pad(x, ((0, 0), (top, kh - 1 - top), (left, kw - 1 - left), (0, 0)))


def im2col(xp, x, kh, kw):
    """Patches of a padded NHWC `x` as rows: (N*Ho*Wo, kh*kw*C)."""
    n, hp, wp, c = x.shape
    ho, wo = hp - kh + 1, wp - kw + 1
    cols = xp.empty((n, ho, wo, kh, kw, c), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, :, i, j, :] = x[:, i:i + ho, j:j + wo, :]
    return cols.reshape(n * ho * wo, kh * kw * c)


def col2im(xp, cols, padded_shape, kh, kw):
    """The adjoint of im2col: add each patch row back onto a padded image."""
    n, hp, wp, c = padded_shape
    ho, wo = hp - kh + 1, wp - kw + 1
    cols = cols.reshape(n, ho, wo, kh, kw, c)
    image = xp.zeros(padded_shape, dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            image[:, i:i + ho, j:j + wo, :] += cols[:, :, :, i, j, :]
    return image


def conv2d(xp, padded, w):
    """Valid stride-1 convolution of an already padded image by im2col + one GEMM."""
    kh, kw, c, o = w.shape
    n, hp, wp, _ = padded.shape
    out = im2col(xp, padded, kh, kw) @ w.reshape(kh * kw * c, o)
    return out.reshape(n, hp - kh + 1, wp - kw + 1, o)


def conv2d_same_with_grads(xp, x, w, dy):
    """Forward 'same' conv, then the input and filter gradients for the upstream gradient dy
    (N, H, W, O): (y, dx, dw)."""
    kh, kw, c, o = w.shape
    padded = pad_same(xp, x, kh, kw)
    cols = im2col(xp, padded, kh, kw)
    w2 = w.reshape(kh * kw * c, o)
    y = cols @ w2
    dy = dy.reshape(y.shape)
    dw = (cols.T @ dy).reshape(w.shape)
    dpadded = col2im(xp, dy @ w2.T, padded.shape, kh, kw)
    top, left = (kh - 1) // 2, (kw - 1) // 2
    dx = dpadded[:, top:top + x.shape[1], left:left + x.shape[2], :]
    return y, dx, dw


def depthwise_conv2d_same(xp, x, w):
    """Depthwise 'same' conv with channel multiplier 1: w is (kh, kw, C, 1)."""
    kh, kw = w.shape[:2]
    padded = pad_same(xp, x, kh, kw)
    h, wd = x.shape[1:3]
    out = xp.zeros_like(x)
    for i in range(kh):
        for j in range(kw):
            out += padded[:, i:i + h, j:j + wd, :] * w[i, j, :, 0]
    return out


def max_pool_2x2(xp, x):
    """2x2 max pooling, stride 2, for even H and W."""
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


class Adam:
    """Adam (Keras defaults: lr 0.001, beta 0.9/0.999, epsilon 1e-7), updating in place."""

    def __init__(self, xp, params, lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.xp, self.params = xp, params
        self.lr, self.beta_1, self.beta_2, self.epsilon = lr, beta_1, beta_2, epsilon
        self.m = [xp.zeros_like(p) for p in params]
        self.v = [xp.zeros_like(p) for p in params]
        self.step = 0

    def apply(self, grads):
        self.step += 1
        scale = self.lr * (1 - self.beta_2 ** self.step) ** 0.5 / (1 - self.beta_1 ** self.step)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= self.beta_1
            m += (1 - self.beta_1) * g
            v *= self.beta_2
            v += (1 - self.beta_2) * g * g
            p -= scale * m / (self.xp.sqrt(v) + self.epsilon)


def softmax_cross_entropy_grad(xp, logits, labels):
    """Mean sparse cross-entropy of softmax(logits) and its gradient w.r.t. the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = xp.exp(shifted)
    probs = exp / exp.sum(axis=1, keepdims=True)
    rows = xp.arange(len(labels))
    loss = -xp.log(probs[rows, labels]).mean()
    probs[rows, labels] -= 1
    return loss, probs / len(labels)


def cnn_train_step(xp, params, optimizer, x, labels):
    """Conv2D(8, 3x3, relu, valid) -> MaxPool 2 -> Dense(10) -> softmax CE, then Adam."""
    w1, b1, w2, b2 = params
    kh, kw, c, o = w1.shape
    n = x.shape[0]
    cols = im2col(xp, x, kh, kw)
    z1 = cols @ w1.reshape(kh * kw * c, o) + b1
    a1 = xp.maximum(z1, 0).reshape(n, x.shape[1] - kh + 1, x.shape[2] - kw + 1, o)
    pooled = max_pool_2x2(xp, a1)
    flat = pooled.reshape(n, -1)
    loss, dlogits = softmax_cross_entropy_grad(xp, flat @ w2 + b2, labels)
    dw2, db2 = flat.T @ dlogits, dlogits.sum(axis=0)
    dpooled = (dlogits @ w2.T).reshape(pooled.shape)
    windows = a1.reshape(n, a1.shape[1] // 2, 2, a1.shape[2] // 2, 2, o)
    winners = windows == pooled[:, :, None, :, None, :]
    da1 = (winners * dpooled[:, :, None, :, None, :]).reshape(-1, o)
    dz1 = da1 * (z1 > 0)
    dw1, db1 = (cols.T @ dz1).reshape(w1.shape), dz1.sum(axis=0)
    optimizer.apply([dw1, db1, dw2, db2])
    return loss


def mlp_train_step(xp, params, optimizer, x, labels):
    """Dense(128, relu) -> Dense(10) -> softmax CE, then Adam."""
    w1, b1, w2, b2 = params
    z1 = x @ w1 + b1
    h = xp.maximum(z1, 0)
    loss, dlogits = softmax_cross_entropy_grad(xp, h @ w2 + b2, labels)
    dz1 = (dlogits @ w2.T) * (z1 > 0)
    optimizer.apply([x.T @ dz1, dz1.sum(axis=0), h.T @ dlogits, dlogits.sum(axis=0)])
    return loss
