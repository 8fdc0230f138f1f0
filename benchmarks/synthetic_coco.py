"""Masked-COCO data in MMF's real layout for the benchmarks: captions imdbs + an LMDB store.

Records have the real shapes (100 regions x 2048 dims, 1601-class cls_prob); a few
distinct records cycle, since contents do not matter for speed.
"""
import os

import numpy as np

WORDS = "a man woman dog cat red blue table street ball plate sits stands holds near on under with the of".split()
REGIONS, FEATURE_DIM, CLASSES = 100, 2048, 1601
DISTINCT_RECORDS = 8  # synthetic records cycle: contents do not matter for speed


def write_annotations(root, feature_paths, seed=0):
    from mmf_domainstudy.formats.imdb import write_imdb

    rng = np.random.RandomState(seed)
    base = os.path.join(root, "datasets", "coco", "defaults")
    samples = [
        {"image_id": i, "image_name": path[: -len(".npy")], "feature_path": path,
         "captions": [" ".join(rng.choice(WORDS, 60)) for _ in range(5)]}  # 60 words fill 128 tokens
        for i, path in enumerate(feature_paths)
    ]
    for split, chosen in (("train", samples), ("val", samples[:4]), ("test", samples[:4])):
        write_imdb(os.path.join(base, "annotations", f"imdb_karpathy_{split}_by_image.npy"), chosen, "coco")
    return os.path.join(base, "features", "trainval2014.lmdb")


def write_synthetic_data(root, num_images):
    from mmf_domainstudy.formats.lmdb_store import LMDBFeatureWriter

    rng = np.random.RandomState(0)
    pool = [
        {
            "features": rng.rand(REGIONS, FEATURE_DIM).astype(np.float32),
            "bbox": (rng.rand(REGIONS, 4) * 100).astype(np.float32),
            "image_width": 640,
            "image_height": 480,
            "cls_prob": rng.dirichlet(np.ones(CLASSES), REGIONS).astype(np.float32),
        }
        for _ in range(DISTINCT_RECORDS)
    ]
    store = write_annotations(root, [f"COCO_train2014_{i:012d}.npy" for i in range(num_images)])
    record_bytes = sum(array.nbytes for array in pool[0].values() if hasattr(array, "nbytes"))
    with LMDBFeatureWriter(store, map_size=2 * num_images * record_bytes + (64 << 20)) as writer:
        for start in range(0, num_images, 64):
            writer.write_batch({i: pool[i % DISTINCT_RECORDS] for i in range(start, min(start + 64, num_images))})


def link_real_store(root, lmdb_path, num_images):
    """Annotations over the real store's ids (cycled when it holds fewer); the store is linked in."""
    from mmf_domainstudy.formats.feature_store import FeatureStore

    keys = [key.decode() for key in FeatureStore(lmdb_path).keys()]
    store = write_annotations(root, [f"{keys[i % len(keys)]}.npy" for i in range(num_images)])
    os.makedirs(os.path.dirname(store), exist_ok=True)
    os.symlink(os.path.abspath(lmdb_path), store)


def feature_sizes(root):
    from mmf_domainstudy.trainers.feature_dims import store_sizes

    return store_sizes(os.path.join(root, "datasets", "coco", "defaults", "features", "trainval2014.lmdb"))
