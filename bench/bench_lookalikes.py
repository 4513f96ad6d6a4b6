"""Who sets an encoder's threshold: the closest pairs of different people in LFW.

    FACENET_SHARED=../shared FACENET_WEIGHTS=../shared/weights-aligned/nn4.small2.v1.h5 \\
        python bench/bench_lookalikes.py [--encoder dlib-resnet] [--cache DIR]

On the 2,195 people of LFW View 2 folds 6-10 (6,311 photos, encoded as
``bench/bench_open_set.py`` encodes them, through the same cache), every pair of photos of
two different people is an impostor pair. Prints how many of them are closer than the
greeter's threshold for ``--gallery`` enrolled photos at FPIR 1 % (from the shipped impostor
curve), how many pairs of people they come from, the people most often in them, and the
closest pairs; then the same-person distances' median. The threshold is an average over
LFW's mix of people: whoever is in these pairs is where strangers are greeted by mistake.
"""

import argparse
import collections
import logging
import os
import sys
from pathlib import Path

import numpy as np

from fr_utils._files import default_cache_dir
from fr_utils.encoding import make_encoder
from fr_utils.evaluation import lfw
from fr_utils.evaluation import open_set as osi
from fr_utils.evaluation.open_set_report import encode_people
from fr_utils.open_set import find_curve


def main(argv=None) -> int:
    shared = Path(os.environ.get("FACENET_SHARED", "../shared"))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lfw", type=Path, default=shared / "data" / "lfw", help="the LFW folder")
    p.add_argument("--cache", type=Path, default=None, help="encoding cache ($FACENET_CACHE)")
    p.add_argument("--weights", type=Path, default=None, help="FaceNet weights ($FACENET_WEIGHTS)")
    p.add_argument("--encoder", default="dlib-resnet", choices=("dlib-resnet", "facenet"))
    p.add_argument("--gallery", type=int, default=200, help="enrolled photos the threshold is for")
    p.add_argument("--most", type=int, default=25, help="people and pairs listed")
    args = p.parse_args(argv)
    logging.getLogger("fr_utils.photos").setLevel(logging.ERROR)  # LFW's centre-box fallback
    cache = args.cache or default_cache_dir()
    encoder = make_encoder(args.weights, "tensorflow", None, True, cache, kind=args.encoder)
    population, _ = encode_people(lfw.unseen_people(args.lfw), encoder, True, cache, False)
    threshold = find_curve(encoder.model_id).threshold_for(args.gallery, osi.TARGETS[0])
    owner = np.repeat(np.arange(population.n_people), population.counts)
    distances = osi.pairwise_distances(population.embeddings, population.embeddings)
    upper = np.triu(np.ones(distances.shape, bool), 1)
    impostor = upper & (owner[:, None] != owner[None, :])
    close_i, close_j = np.nonzero(impostor & (distances < threshold))
    names = population.names
    people_pairs = collections.Counter(
        tuple(sorted((names[owner[i]], names[owner[j]]))) for i, j in zip(close_i, close_j)
    )
    people = collections.Counter(name for pair in people_pairs for name in pair)
    print(f"{args.encoder} ({encoder.model_id}): {population.describe()}")
    print(
        f"impostor photo pairs: {int(impostor.sum()):,}; closer than the threshold for "
        f"{args.gallery} photos at FPIR 1 % ({threshold:.3f}): {len(close_i):,}, from "
        f"{len(people_pairs):,} pairs of people"
    )
    print(f"\nthe {args.most} people most often in them (pairs of people):")
    for name, count in people.most_common(args.most):
        print(f"  {count:3d}  {name}")
    order = np.argsort(distances[close_i, close_j])[: args.most]
    print(f"\nthe {len(order)} closest impostor pairs:")
    for k in order:
        i, j = close_i[k], close_j[k]
        print(f"  {distances[i, j]:.3f}  {Path(population.paths[i]).name}  "
              f"{Path(population.paths[j]).name}")  # fmt: skip
    genuine = distances[upper & (owner[:, None] == owner[None, :])]
    print(f"\nsame-person photo pairs: {genuine.size:,}, median distance {np.median(genuine):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
