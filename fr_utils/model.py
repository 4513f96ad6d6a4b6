"""The FaceNet model: OpenFace's nn4.small2, as built in the deeplearning.ai course.

``faceRecoModel`` returns a ``keras.Model`` that maps a batch of faces shaped
``(N, 3, 96, 96)`` (channels-first RGB in [0, 1], see :mod:`fr_utils.preprocess`)
to ``(N, 128)`` embeddings of unit L2 norm.

Why a ``Permute`` right after the input: the public interface stays the course's
channels-first ``(3, 96, 96)``, but TensorFlow's CPU ``Conv2D`` only implements
channels-first when oneDNN is on (``TF_ENABLE_ONEDNN_OPTS=0`` makes it fail).
Computing channels-last inside runs everywhere and leaves the weights unchanged,
because branches are concatenated on the channel axis in the same order.

Batch normalisation epsilons follow the course: ``bn1`` keeps the Keras default
1e-3, every other BN layer uses 1e-5. Layer names equal the weight names
(``conv1``, ``bn1``, ..., ``inception_5b_1x1_bn``, ``dense_layer``) so that
:func:`fr_utils.weights.load_weights_from_FaceNet` maps tensors by name.
"""

from pathlib import Path

from fr_utils._tf import keras
from fr_utils.weights import load_weights_from_FaceNet

layers = keras.layers

EMBEDDING_SIZE = 128
INPUT_SHAPE = (3, 96, 96)
_BN_EPSILON = 1e-5  # every BN but bn1, which keeps the Keras default (1e-3)


def _conv_bn(x, name, filters, kernel, strides=1, bn_name=None, epsilon=_BN_EPSILON):
    """Conv2D -> BatchNormalization -> ReLU, with layer names matching the weight files."""
    x = layers.Conv2D(filters, kernel, strides=strides, name=name)(x)
    x = layers.BatchNormalization(axis=-1, epsilon=epsilon, name=bn_name)(x)
    return layers.Activation("relu")(x)


def _branch(x, block, branch, reduce, out=None, kernel=3, strides=1, padding=None):
    """One inception branch: a 1x1 reduction, then optionally pad and a kxk conv.

    Names follow the course's ``conv2d_bn``: a one-conv branch has
    ``<block>_<branch>_conv`` / ``_bn``; a two-conv branch ``_conv1``/``_bn1``
    and ``_conv2``/``_bn2``. ``padding`` is applied after the first conv.
    """
    prefix = f"inception_{block}_{branch}"
    suffix = "" if out is None else "1"
    x = _conv_bn(x, f"{prefix}_conv{suffix}", reduce, 1, bn_name=f"{prefix}_bn{suffix}")
    if padding is not None:
        x = layers.ZeroPadding2D(padding)(x)
    if out is not None:
        x = _conv_bn(x, f"{prefix}_conv2", out, kernel, strides, bn_name=f"{prefix}_bn2")
    return x


def _max_pool(x):
    return layers.MaxPooling2D(pool_size=3, strides=2)(x)


def _avg_pool(x):
    return layers.AveragePooling2D(pool_size=3, strides=3)(x)


def _concat(block, branches):
    return layers.Concatenate(axis=-1, name=f"inception_{block}")(branches)


def _stem(x):
    x = layers.ZeroPadding2D(3)(x)
    x = _conv_bn(x, "conv1", 64, 7, strides=2, bn_name="bn1", epsilon=1e-3)
    x = layers.ZeroPadding2D(1)(x)
    x = _max_pool(x)
    x = _conv_bn(x, "conv2", 64, 1, bn_name="bn2")
    x = layers.ZeroPadding2D(1)(x)
    x = _conv_bn(x, "conv3", 192, 3, bn_name="bn3")
    x = layers.ZeroPadding2D(1)(x)
    return _max_pool(x)  # 12x12x192


def _inception_3a(x):
    return _concat(
        "3a",
        [
            _branch(x, "3a", "3x3", 96, 128, kernel=3, padding=1),
            _branch(x, "3a", "5x5", 16, 32, kernel=5, padding=2),
            _branch(_max_pool(x), "3a", "pool", 32, padding=((3, 4), (3, 4))),
            _branch(x, "3a", "1x1", 64),
        ],
    )  # 12x12x256


def _inception_3b(x):
    return _concat(
        "3b",
        [
            _branch(x, "3b", "3x3", 96, 128, kernel=3, padding=1),
            _branch(x, "3b", "5x5", 32, 64, kernel=5, padding=2),
            _branch(_avg_pool(x), "3b", "pool", 64, padding=4),
            _branch(x, "3b", "1x1", 64),
        ],
    )  # 12x12x320


def _inception_3c(x):
    pool = layers.ZeroPadding2D(((0, 1), (0, 1)))(_max_pool(x))
    return _concat(
        "3c",
        [
            _branch(x, "3c", "3x3", 128, 256, kernel=3, strides=2, padding=1),
            _branch(x, "3c", "5x5", 32, 64, kernel=5, strides=2, padding=2),
            pool,
        ],
    )  # 6x6x640


def _inception_4a(x):
    return _concat(
        "4a",
        [
            _branch(x, "4a", "3x3", 96, 192, kernel=3, padding=1),
            _branch(x, "4a", "5x5", 32, 64, kernel=5, padding=2),
            _branch(_avg_pool(x), "4a", "pool", 128, padding=2),
            _branch(x, "4a", "1x1", 256),
        ],
    )  # 6x6x640


def _inception_4e(x):
    pool = layers.ZeroPadding2D(((0, 1), (0, 1)))(_max_pool(x))
    return _concat(
        "4e",
        [
            _branch(x, "4e", "3x3", 160, 256, kernel=3, strides=2, padding=1),
            _branch(x, "4e", "5x5", 64, 128, kernel=5, strides=2, padding=2),
            pool,
        ],
    )  # 3x3x1024


def _inception_5a(x):
    return _concat(
        "5a",
        [
            _branch(x, "5a", "3x3", 96, 384, kernel=3, padding=1),
            _branch(_avg_pool(x), "5a", "pool", 96, padding=1),
            _branch(x, "5a", "1x1", 256),
        ],
    )  # 3x3x736


def _inception_5b(x):
    return _concat(
        "5b",
        [
            _branch(x, "5b", "3x3", 96, 384, kernel=3, padding=1),
            _branch(_max_pool(x), "5b", "pool", 96, padding=1),
            _branch(x, "5b", "1x1", 256),
        ],
    )  # 3x3x736


def faceRecoModel(input_shape: tuple[int, int, int] = INPUT_SHAPE) -> keras.Model:
    """Build the FaceNet (nn4.small2) model with random weights.

    Args:
        input_shape: the input shape, channels-first. Only ``(3, 96, 96)`` is
            supported: the pooling arithmetic and the dense layer fix the size.

    Returns:
        A ``keras.Model`` named ``FaceRecoModel`` with 3,743,280 parameters,
        mapping ``(N, 3, 96, 96)`` float RGB in [0, 1] to ``(N, 128)`` unit-norm
        embeddings. Load weights with ``load_weights_from_FaceNet(model)``.
    """
    if tuple(input_shape) != INPUT_SHAPE:
        raise ValueError(
            f"faceRecoModel only supports input_shape={INPUT_SHAPE} (channels-first RGB). "
            f"Received: input_shape={input_shape}"
        )

    inputs = keras.Input(shape=INPUT_SHAPE, name="input")
    x = layers.Permute((2, 3, 1), name="to_channels_last")(inputs)
    x = _stem(x)
    for block in (
        _inception_3a,
        _inception_3b,
        _inception_3c,
        _inception_4a,
        _inception_4e,
        _inception_5a,
        _inception_5b,
    ):
        x = block(x)
    x = layers.AveragePooling2D(pool_size=3, strides=1)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(EMBEDDING_SIZE, name="dense_layer")(x)
    outputs = layers.UnitNormalization(axis=-1, name="l2_normalize")(x)
    return keras.Model(inputs, outputs, name="FaceRecoModel")


def load_model(weights: str | Path | None = None) -> tuple[keras.Model, Path]:
    """Build :func:`faceRecoModel` and load the pretrained weights into it.

    Args:
        weights: a CSV folder or HDF5 file; ``None`` means ``$FACENET_WEIGHTS``,
            then ``./weights`` (see :func:`fr_utils.weights.resolve_weights`).

    Returns:
        ``(model, path)``: the ready model and the weights path it was loaded from.
    """
    model = faceRecoModel()
    path = load_weights_from_FaceNet(model, weights)
    return model, path
