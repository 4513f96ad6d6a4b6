"""The triplet loss that FaceNet is trained with."""

from fr_utils._tf import tf


def triplet_loss(y_true, y_pred, alpha: float = 0.2) -> tf.Tensor:
    """Sum over the batch of ``max(||a - p||^2 - ||a - n||^2 + alpha, 0)``.

    Args:
        y_true: unused (Keras passes labels; triplets carry their own).
        y_pred: ``(anchor, positive, negative)``, each ``(m, 128)`` encodings;
            a stacked ``(3, m, 128)`` tensor works too.
        alpha: the margin: a negative must be at least ``alpha`` (in squared
            L2) further from the anchor than the positive before it stops
            contributing.

    Returns:
        A scalar tensor.
    """
    anchor, positive, negative = y_pred[0], y_pred[1], y_pred[2]
    pos_dist = tf.reduce_sum(tf.square(anchor - positive), axis=-1)
    neg_dist = tf.reduce_sum(tf.square(anchor - negative), axis=-1)
    return tf.reduce_sum(tf.maximum(pos_dist - neg_dist + alpha, 0.0))
