"""Builders of the metric tests: hand-built COCO keypoint edge cases (imported by conftest and
the test modules)."""
from __future__ import annotations

import numpy as np

from robustpose_bench.datasets.meta import COCO_KEYPOINTS

K = 17


def person(image_id: int, box: tuple[float, float, float, float], rng: np.random.Generator,
           vis: float = 0.8, crowd: bool = False, ann_id: int | None = None,
           area: float | None = None) -> dict:
    """One GT annotation with random keypoints inside `box` (v=2 with probability `vis`)."""
    x, y, w, h = box
    kp = np.zeros((K, 3))
    if not crowd:
        lab = rng.random(K) < vis
        kp[lab, 0] = np.round(x + rng.random(lab.sum()) * w)
        kp[lab, 1] = np.round(y + rng.random(lab.sum()) * h)
        kp[lab, 2] = 2
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "bbox": [x, y, w, h],
            "area": float(w * h * 0.6 if area is None else area), "iscrowd": int(crowd),
            "num_keypoints": int((kp[:, 2] > 0).sum()), "keypoints": kp.ravel().tolist()}


def gt_dict(images: list[int], anns: list[dict]) -> dict:
    """A COCO keypoint dict; annotation ids are assigned in order where missing."""
    out = []
    for i, a in enumerate(anns):
        a = dict(a)
        if a.get("id") is None:
            a["id"] = i + 1
        out.append(a)
    return {"images": [{"id": i, "width": 640, "height": 480, "file_name": f"{i}.jpg"}
                       for i in images],
            "annotations": out,
            "categories": [{"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINTS),
                            "skeleton": []}]}


def near(ann: dict, rng: np.random.Generator, noise: float, score: float,
         zero_conf: bool = False) -> dict:
    """A result close to a GT annotation (unlabelled keypoints placed in its box)."""
    kp = np.asarray(ann["keypoints"], float).reshape(K, 3)
    x, y, w, h = ann["bbox"]
    fill = np.stack([x + rng.random(K) * w, y + rng.random(K) * h], 1)
    xy = np.where(kp[:, 2:3] > 0, kp[:, :2], fill) + rng.normal(0, noise, (K, 2))
    conf = np.zeros(K) if zero_conf else rng.random(K)
    return {"image_id": ann["image_id"], "category_id": 1,
            "keypoints": np.concatenate([xy, conf[:, None]], 1).ravel().tolist(), "score": score}


def random_result(image_id: int, rng: np.random.Generator, score: float) -> dict:
    x, y = rng.uniform(0, 500), rng.uniform(0, 300)
    xy = np.stack([x + rng.random(K) * 100, y + rng.random(K) * 150], 1)
    return {"image_id": image_id, "category_id": 1,
            "keypoints": np.concatenate([xy, rng.random((K, 1))], 1).ravel().tolist(),
            "score": score}


def _edge_cases() -> dict[str, tuple[dict, list[dict]]]:
    rng = np.random.default_rng(7)
    cases: dict[str, tuple[dict, list[dict]]] = {}

    # crowd region: results inside it are absorbed (ignored), one person beside it
    crowd = person(1, (100, 100, 300, 200), rng, crowd=True, area=40000)
    p1 = person(1, (420, 100, 80, 200), rng)
    p2 = person(1, (150, 120, 60, 150), rng)
    res = [near(p1, rng, 2, 0.9), near(p2, rng, 3, 0.8), near(p2, rng, 20, 0.7)]
    res += [random_result(1, rng, s) for s in (0.6, 0.5, 0.4)]
    res.append({**random_result(1, rng, 0.65), "keypoints": (np.array(
        [[150 + 5 * j, 150 + 5 * j, 1] for j in range(K)], float)).ravel().tolist()})
    cases["crowd"] = (gt_dict([1], [crowd, p1, p2]), res)

    # persons with no labelled keypoint (ignored; OKS from the doubled box)
    z1 = person(2, (50, 50, 100, 200), rng, vis=0.0)
    z2 = person(2, (300, 60, 90, 180), rng, vis=0.0)
    n1 = person(2, (200, 50, 80, 200), rng)
    res = [near(z1, rng, 5, 0.9), near(n1, rng, 2, 0.85), near(z2, rng, 1, 0.3),
           random_result(2, rng, 0.5)]
    cases["zero_keypoints"] = (gt_dict([2], [z1, z2, n1]), res)

    # tied scores inside and across images, and tied OKS candidates
    a = person(3, (100, 100, 100, 200), rng)
    b = person(3, (110, 105, 100, 200), rng)
    c = person(4, (300, 100, 80, 160), rng)
    res = [near(a, rng, 3, 0.5), near(b, rng, 3, 0.5), near(a, rng, 6, 0.5), near(c, rng, 2, 0.5),
           near(c, rng, 8, 0.5), random_result(3, rng, 0.5), random_result(4, rng, 0.7),
           near(b, rng, 4, 0.7)]
    dup_pose = dict(near(a, rng, 1, 0.5))
    dup_pose["keypoints"] = list(a["keypoints"])  # exactly on the GT: OKS 1 for a
    res.append(dup_pose)
    cases["tied_scores"] = (gt_dict([3, 4], [a, b, c]), res)

    # more than 20 people and more than 20 results in one image (maxDets = 20)
    crowd_people = [person(5, (20 * i % 600, 40 * (i // 30), 40, 100), rng) for i in range(26)]
    res = [near(p, rng, 2, float(s)) for p, s in zip(crowd_people, rng.random(26), strict=True)]
    res += [random_result(5, rng, float(s)) for s in rng.random(8)]
    res += [near(crowd_people[0], rng, 2, 0.99)]
    cases["many_people"] = (gt_dict([5], crowd_people), res)

    # an image without ground truth (its results are false positives), an empty image
    q = person(6, (100, 100, 120, 240), rng)
    res = [near(q, rng, 3, 0.6), random_result(7, rng, 0.95), random_result(7, rng, 0.2)]
    cases["image_without_gt"] = (gt_dict([6, 7, 8], [q]), res)

    # area ranges: small (ignored in M/L), medium, large persons; results of all sizes
    s_ = person(9, (10, 10, 20, 30), rng, area=400.0)
    m_ = person(9, (100, 100, 50, 100), rng, area=3000.0)
    l_ = person(9, (300, 50, 150, 300), rng, area=30000.0)
    res = [near(s_, rng, 1, 0.9), near(m_, rng, 3, 0.8), near(l_, rng, 5, 0.7),
           near(m_, rng, 15, 0.6), random_result(9, rng, 0.5)]
    cases["area_ranges"] = (gt_dict([9], [s_, m_, l_]), res)

    # xtcocotools-isms: a result with all-zero confidences, a GT id 0, a wrong num_keypoints
    r = person(10, (100, 100, 100, 200), rng, ann_id=0)
    t = person(10, (300, 100, 100, 200), rng)
    t["num_keypoints"] = 3
    res = [near(r, rng, 2, 0.9, zero_conf=True), near(t, rng, 2, 0.8), near(r, rng, 9, 0.3)]
    cases["backend_quirks"] = (gt_dict([10], [r, t]), res)

    # everything together but the backend quirks (compared with raw pycocotools too)
    images = sorted({im["id"] for g, _ in cases.values() for im in g["images"]})
    anns, allres = [], []
    for name, (g, rr) in cases.items():
        if name == "backend_quirks":
            continue
        anns += [dict(x, id=None) for x in g["annotations"]]
        allres += rr
    cases["combined"] = (gt_dict(images, anns), allres)
    return cases


EDGE_CASES = _edge_cases()
