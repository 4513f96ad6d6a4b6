"""triplet_loss: the course's check value, a hand-computed case, and its gradient."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def triplet_loss(tf):
    """fr_utils.loss.triplet_loss (imported here: it loads TensorFlow, never while collecting)."""
    from fr_utils.loss import triplet_loss

    return triplet_loss


def test_course_check_value(tf, triplet_loss):
    """The course's 528.143, from its three seeded draws (TF 2: inside a tf.function)."""
    tf.random.set_seed(1)

    @tf.function
    def draws():
        return (
            tf.random.normal([3, 128], mean=6, stddev=0.1, seed=1),
            tf.random.normal([3, 128], mean=1, stddev=1, seed=1),
            tf.random.normal([3, 128], mean=3, stddev=4, seed=1),
        )

    loss = triplet_loss(None, draws())
    assert float(loss) == pytest.approx(528.143, abs=0.01)


def test_hand_computed(tf, triplet_loss):
    anchor = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]], np.float32)
    positive = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    negative = np.array([[0.0, 2.0], [0.5, 0.0], [1.0, 1.1]], np.float32)
    # per triplet max(|a-p|^2 - |a-n|^2 + alpha, 0):
    #   max(1 - 4 + .2, 0) + max(1 - .25 + .2, 0) + max(0 - .01 + .2, 0)
    expected = 0.0 + 0.95 + 0.19
    loss = triplet_loss(None, (anchor, positive, negative))
    assert float(loss) == pytest.approx(expected, abs=1e-6)
    stacked = tf.stack([anchor, positive, negative])
    assert float(triplet_loss(None, stacked)) == pytest.approx(expected, abs=1e-6)
    # a wider margin: max(1-4+1,0) + (1-.25+1) + (0-.01+1)
    assert float(triplet_loss(None, (anchor, positive, negative), alpha=1.0)) == pytest.approx(
        0.0 + 1.75 + 0.99, abs=1e-6
    )


def test_gradient_pulls_the_positive_in_and_pushes_the_negative_out(tf, triplet_loss):
    """d loss / d anchor = 2 (n - p) for a triplet inside the margin, 0 for one outside it."""
    anchor = tf.Variable([[0.0, 0.0], [0.0, 0.0]])
    positive = tf.constant([[1.0, 0.0], [0.1, 0.0]])
    negative = tf.constant([[0.0, 0.5], [0.0, 3.0]])  # first: inside the margin; second: not
    with tf.GradientTape() as tape:
        loss = triplet_loss(None, (anchor, positive, negative))
    grad = tape.gradient(loss, anchor).numpy()
    np.testing.assert_allclose(grad[0], 2 * (negative[0] - positive[0]).numpy(), atol=1e-6)
    np.testing.assert_allclose(grad[1], [0.0, 0.0], atol=1e-6)
    anchor.assign_sub(0.1 * grad)  # one gradient step lowers the loss
    assert float(triplet_loss(None, (anchor, positive, negative))) < float(loss)
