"""fr_utils.evaluation.training: batches, semi-hard mining, the loss, the split, a short run."""

import numpy as np
import pytest

from tests.helpers.vectors import random_units


@pytest.fixture(scope="module")
def training(tf):
    """fr_utils.evaluation.training (imported here: it loads TensorFlow, never while collecting)."""
    from fr_utils.evaluation import training

    return training


def _brute_force_triplets(labels, emb):
    """The definition, pair by pair: closest negative beyond the positive, else the furthest."""
    d = ((emb[:, None] - emb[None]) ** 2).sum(-1)
    triplets = []
    for a in range(len(labels)):
        for p in range(len(labels)):
            if a == p or labels[a] != labels[p]:
                continue
            negatives = [n for n in range(len(labels)) if labels[n] != labels[a]]
            beyond = [n for n in negatives if d[a, n] > d[a, p]]
            n = (
                min(beyond, key=lambda k: d[a, k])
                if beyond
                else max(negatives, key=lambda k: d[a, k])
            )
            triplets.append((a, p, n))
    return triplets, d


def test_semi_hard_triplets_match_the_definition(tf, training):
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(5), 4)
    emb = random_units(rng, len(labels), d=8)
    expected, _ = _brute_force_triplets(labels, emb)
    a, p, n = (t.numpy() for t in training.semi_hard_triplets(labels, tf.constant(emb)))
    assert sorted(zip(a.tolist(), p.tolist(), n.tolist())) == sorted(expected)


def test_falls_back_to_the_furthest_negative_when_all_are_closer(tf, training):
    # Person 0's two photos are far apart; person 1's photos sit between them.
    emb = np.array([[1, 0], [-1, 0], [0.2, 1], [0.2, 0.9]], np.float32)
    labels = np.array([0, 0, 1, 1])
    a, p, n = (t.numpy() for t in training.semi_hard_triplets(labels, tf.constant(emb)))
    chosen = {(int(i), int(j)): int(k) for i, j, k in zip(a, p, n)}
    # d(0,1) = 4 is larger than d(0,2) = 1.64 and d(0,3) = 1.45: no semi-hard negative,
    # so the furthest negative (2) is used.
    assert chosen[(0, 1)] == 2
    # d(2,3) = 0.01: both negatives are beyond it (1.64 and 2.44): the closest, 0, is picked.
    assert chosen[(2, 3)] == 0


@pytest.mark.parametrize("alpha", [0.0, 0.2, 1.0])
def test_loss_is_the_mean_triplet_loss_over_mined_triplets(alpha, tf, training):
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(4), 3)
    emb = random_units(rng, len(labels), d=8)
    triplets, d = _brute_force_triplets(labels, emb)
    hinge = [max(d[a, p] - d[a, n] + alpha, 0.0) for a, p, n in triplets]
    loss, active = training.semi_hard_triplet_loss(labels, tf.constant(emb), alpha)
    assert float(loss) == pytest.approx(np.mean(hinge), rel=1e-5, abs=1e-6)
    assert float(active) == pytest.approx(np.mean(np.array(hinge) > 0))


def test_larger_margin_keeps_more_triplets_active(tf, training):
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(6), 4)
    emb = tf.constant(random_units(rng, len(labels), d=8))
    actives = [float(training.semi_hard_triplet_loss(labels, emb, a)[1]) for a in (0.0, 0.5, 4.0)]
    assert actives[0] <= actives[1] <= actives[2] == 1.0


def test_pk_batches_hold_p_people_with_k_photos(training):
    labels = np.repeat(np.arange(10), 5)
    labels = np.append(labels, 99)  # one photo only: can never be an anchor
    batches = list(training.pk_batches(labels, 4, 3, steps=20, seed=0))
    assert len(batches) == 20
    for rows in batches:
        people, counts = np.unique(labels[rows], return_counts=True)
        assert len(people) == 4 and set(counts) == {3} and 99 not in people
        assert len(set(rows.tolist())) == len(rows)
    again = list(training.pk_batches(labels, 4, 3, steps=20, seed=0))
    assert all((x == y).all() for x, y in zip(batches, again))


def test_pk_batches_refuse_data_without_pairs(training):
    with pytest.raises(ValueError, match="at least 2 people"):
        next(training.pk_batches(np.arange(5), 2, 2, steps=1))
    with pytest.raises(ValueError, match="photos_per_person=1"):
        next(training.pk_batches(np.repeat(np.arange(3), 2), 2, 1, steps=1))


@pytest.fixture(scope="module")
def model(tf):
    from fr_utils.model import faceRecoModel

    return faceRecoModel()  # random weights: its own copy, since training changes it


def test_split_model_reproduces_the_model_and_freezes_trunk_and_batch_norm(model, training):
    trunk, head = training.split_model(model, "inception_4e")
    x = np.random.default_rng(0).random((2, 3, 96, 96), dtype=np.float32)
    np.testing.assert_allclose(head(trunk(x)).numpy(), model(x).numpy(), atol=1e-5)
    assert not trunk.trainable_variables
    names = {v.path.split("/")[0] for v in head.trainable_variables}
    assert "dense_layer" in names and "inception_5a_3x3_conv2" in names
    assert not any("bn" in name for name in names)
    with pytest.raises(ValueError, match="inception_9z"):
        training.split_model(model, "inception_9z")


def test_train_head_lowers_the_loss_and_leaves_frozen_weights_alone(model, training):
    _trunk, head = training.split_model(model, "inception_4e")
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 4)
    features = rng.random((len(labels), 3, 3, 1024), dtype=np.float32)
    frozen = [w.numpy().copy() for w in head.weights if not w.trainable]
    dense_before = model.get_layer("dense_layer").kernel.numpy().copy()

    def loss_on_all():
        return float(training.semi_hard_triplet_loss(labels, head(features), 0.2)[0])

    before = loss_on_all()
    history = training.train_head(
        head,
        features,
        labels,
        steps=30,
        people_per_batch=6,
        photos_per_person=4,
        learning_rate=1e-3,
        progress=False,
        monitor=loss_on_all,
        monitor_every=10,
    )
    assert len(history["loss"]) == len(history["active"]) == 30
    assert [step for step, _ in history["monitor"]] == [0, 10, 20, 30]
    assert history["monitor"][0][1] == pytest.approx(before)
    assert loss_on_all() < 0.5 * before
    for old, w in zip(frozen, [w for w in head.weights if not w.trainable]):
        np.testing.assert_array_equal(old, w.numpy())
    assert not np.allclose(dense_before, model.get_layer("dense_layer").kernel.numpy())
