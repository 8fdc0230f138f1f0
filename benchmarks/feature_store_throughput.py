#!/usr/bin/env python
"""Random-record read throughput of an LMDB feature store: our reader vs MMF's.

Builds a temporary store of real-sized records (100 regions x 2048 dims, plus
1601-class cls_prob unless --no-cls-prob), then reads the same random id
sequence through each reader: one warm-up pass each, then interleaved timed
passes (median shown), so load from other processes hits all readers alike.
Prints samples/s, MB/s and the ratio to stock MMF rc10's LMDBFeatureReader:

- mmf-stock:   rc10's LMDBFeatureReader._load as shipped (plain pickle.loads)
- mmf-patched: the same class with this project's compat shim (shared handle,
               restricted unpickler) -- what training runs here use
- ours:        mmf_domainstudy.formats.FeatureStore[image_id]
- ours-fp16:   the same, returning float16 features

Example: python benchmarks/feature_store_throughput.py --images 64 --reads 400
"""
import argparse
import importlib.util
import os
import statistics
import tempfile
import time

import numpy as np

import mmf_domainstudy  # noqa: F401  (makes MMF importable; installs the compat shims)
from mmf.datasets.databases.readers import feature_readers
from mmf_domainstudy.formats import FeatureStore, LMDBFeatureWriter
from mmf_domainstudy.formats.lmdb_store import lmdb_data_file, open_lmdb_readonly, read_keys, release_lmdb_readonly


def stock_mmf_reader_class():
    """rc10's LMDBFeatureReader from MMF's own file, untouched by the compat shims."""
    spec = importlib.util.spec_from_file_location("stock_feature_readers", feature_readers.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.LMDBFeatureReader


def build_store(path, images, dim, regions, classes):
    rng = np.random.default_rng(0)
    with LMDBFeatureWriter(path) as writer:
        for start in range(0, images, 16):
            batch = {}
            for image_id in range(start, min(start + 16, images)):
                record = {
                    "features": rng.random((regions, dim), dtype=np.float32),
                    "bbox": rng.random((regions, 4), dtype=np.float32) * 600,
                    "image_width": 640,
                    "image_height": 480,
                }
                if classes:
                    record["cls_prob"] = rng.dirichlet(np.ones(classes), size=regions).astype(np.float32)
                batch[image_id] = record
            writer.write_batch(batch)
    return os.path.getsize(lmdb_data_file(path)) / images  # bytes per record, about


def time_pass(read, ids):
    start = time.perf_counter()
    for image_id in ids:
        read(image_id)
    return time.perf_counter() - start


def mmf_reader(reader_class, path):
    """An rc10 reader on this process's shared handle (py-lmdb allows one per store)."""
    reader = reader_class(100, path)
    reader.env = open_lmdb_readonly(path)
    with reader.env.begin(buffers=True) as txn:
        reader.image_ids = read_keys(txn, path)
    reader.image_id_indices = {image_id: index for index, image_id in enumerate(reader.image_ids)}
    # MMF hands the reader "<store>/<name>.npy"; _load returns the raw record dict.
    return lambda image_id: reader._load(os.path.join(path, f"{image_id}.npy"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--images",
        type=int,
        default=64,
        help="records in the temporary store [default: %(default)s]",
    )
    parser.add_argument(
        "--reads",
        type=int,
        default=400,
        help="random reads per timed pass [default: %(default)s]",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="timed passes per reader, interleaved; the median is shown [default: %(default)s]",
    )
    parser.add_argument("--dim", type=int, default=2048, help="feature width [default: %(default)s]")
    parser.add_argument("--regions", type=int, default=100, help="regions per image [default: %(default)s]")
    parser.add_argument("--no-cls-prob", action="store_true", help="store no 1601-class cls_prob")
    parser.add_argument("--dir", default=None, help="where to build the store [default: a temp dir]")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = os.path.join(tmp, "bench.lmdb")
        record_bytes = build_store(path, args.images, args.dim, args.regions, 0 if args.no_cls_prob else 1601)
        ids = np.random.default_rng(1).integers(0, args.images, size=args.reads).tolist()
        print(f"store: {args.images} records of ~{record_bytes / 2**20:.2f} MB; {args.reads} random reads x {args.repeats}")

        readers = {
            "mmf-stock": mmf_reader(stock_mmf_reader_class(), path),
            "mmf-patched": mmf_reader(feature_readers.LMDBFeatureReader, path),
            "ours": FeatureStore(path).__getitem__,
            "ours-fp16": FeatureStore(path, float16=True).__getitem__,
        }
        for read in readers.values():  # warm the page cache and every code path
            time_pass(read, ids)
        # Interleaved passes, so load from other processes hits every reader alike.
        timings = {name: [] for name in readers}
        for _ in range(args.repeats):
            for name, read in readers.items():
                timings[name].append(time_pass(read, ids))
        results = {name: statistics.median(values) for name, values in timings.items()}
        release_lmdb_readonly(path)

    baseline = results["mmf-stock"]
    print(f"{'reader':<12} {'samples/s':>10} {'MB/s':>9} {'vs mmf-stock':>13}")
    for name, seconds in results.items():
        rate = args.reads / seconds
        print(f"{name:<12} {rate:>10.0f} {rate * record_bytes / 2**20:>9.0f} {baseline / seconds:>12.2f}x")


if __name__ == "__main__":
    main()
