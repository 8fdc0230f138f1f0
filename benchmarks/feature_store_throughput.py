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

Then the whole path a pretraining run takes: the masked_coco train split built by
MMF's builder from the bundled config (tokenizer, masked-token processor, region
masking, features), read by a DataLoader with --workers workers and MMF's batch
collator, on a store of the same records in MMF's COCO layout:

- mmf-stock:   rc10's own MaskedCOCODataset class
- ours:        the project's masked caption dataset (what masked_coco runs use here)
- ours-fp16:   the same with dataset_config.masked_coco.features_float16=true
- *-fast-tok:  with the Rust tokenizer (masked_token_processor's tokenizer_config.params.use_fast)

Measured on the 2-core CPU machine (see the README's Benchmarks): 2 workers deliver fewer
samples/s than --workers 0 does in the main process (~390 vs ~790, fast tokenizer): each
1.4 MB sample crosses from a worker to the trainer through fresh shared memory, and the page
faults of that copy (sys time) cost more than the sample's ~1.2 ms of Python work.

Example: python benchmarks/feature_store_throughput.py --images 64 --reads 400 --workers 2
"""
import argparse
import importlib.util
import os
import statistics
import tempfile
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

import mmf_domainstudy

mmf_domainstudy.activate()  # compat shims, MMF, the plugin's registered components

from mmf.common.batch_collator import BatchCollator
from mmf.common.registry import registry
from mmf.datasets.builders.coco.masked_dataset import MaskedCOCODataset
from mmf.datasets.databases.readers import feature_readers
from mmf.utils.configuration import load_yaml
from omegaconf import OmegaConf
from mmf_domainstudy.formats.feature_store import FeatureStore
from mmf_domainstudy.formats.lmdb_store import LMDBFeatureWriter
from mmf_domainstudy.formats.lmdb_store import lmdb_data_file, open_lmdb_readonly, read_keys, release_lmdb_readonly
from synthetic_coco import write_synthetic_data


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


FAST_TOKENIZER = {"processors": {"masked_token_processor": {"params": {"tokenizer_config": {"params": {"use_fast": True}}}}}}
DATA_PATH_VARIANTS = {  # name: (dataset class or None for the registered one, dataset_config overrides)
    "mmf-stock": (MaskedCOCODataset, {}),
    "ours": (None, {}),
    "ours-fp16": (None, {"features_float16": True}),
    "ours-fast-tok": (None, FAST_TOKENIZER),
    "ours-fp16-fast-tok": (None, {"features_float16": True, **FAST_TOKENIZER}),
}


def masked_coco_loader(root, dataset_class, workers, batch_size, overrides):
    """masked_coco's train split as a pretraining run loads it, served by ``dataset_class``."""
    builder = registry.get_builder_class("masked_coco")()
    if dataset_class is not None:
        builder.set_dataset_class(dataset_class)
    config = load_yaml(builder.config_path()).dataset_config.masked_coco
    config.data_dir = os.path.join(root, "datasets")
    config.use_image_feature_masks = True  # ViLBERT's masked regions: the full per-sample work
    config = OmegaConf.merge(config, overrides)
    for processor in config.processors:  # MMF keeps processors per dataset name: build fresh ones
        registry.unregister(f"masked_coco_{processor}")
    dataset = builder.load_dataset(config, "train")
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers, drop_last=True,
                      collate_fn=BatchCollator("masked_coco", "train"), persistent_workers=workers > 0)


def time_epoch(loader):
    start, samples = time.perf_counter(), 0
    for batch in loader:
        samples += batch["input_ids"].shape[0]
    return time.perf_counter() - start, samples


def data_path_section(args, tmp):
    """Samples/s of the whole masked dataset path, stock rc10 class vs ours, epochs interleaved."""
    write_synthetic_data(tmp, args.dataset_images)
    store = os.path.join(tmp, "datasets", "coco", "defaults", "features", "trainval2014.lmdb")
    record_bytes = os.path.getsize(lmdb_data_file(store)) / args.dataset_images
    print(f"\nmasked_coco train split: {args.dataset_images} images (~{record_bytes / 2**20:.2f} MB each), "
          f"batch {args.batch_size}, {args.workers} DataLoader workers, median of {args.epochs} epochs")
    torch.set_num_threads(1)  # the workers do the work, one thread each as in training
    loaders = {
        name: masked_coco_loader(tmp, dataset_class, args.workers, args.batch_size, overrides)
        for name, (dataset_class, overrides) in DATA_PATH_VARIANTS.items()
    }
    for loader in loaders.values():  # worker start-up and page cache, untimed
        time_epoch(loader)
    timings = {name: [] for name in loaders}
    for _ in range(args.epochs):
        for name, loader in loaders.items():
            timings[name].append(time_epoch(loader))
    del loaders  # stops the persistent workers
    release_lmdb_readonly(store)
    rates = {name: runs[0][1] / statistics.median(seconds for seconds, _ in runs) for name, runs in timings.items()}
    print_rates("dataset", rates, record_bytes)


def print_rates(what, rates, record_bytes):
    baseline, width = rates["mmf-stock"], max(map(len, [what, *rates]))
    print(f"{what:<{width}} {'samples/s':>10} {'MB/s':>9} {'vs mmf-stock':>13}")
    for name, rate in rates.items():
        print(f"{name:<{width}} {rate:>10.0f} {rate * record_bytes / 2**20:>9.0f} {rate / baseline:>12.2f}x")


def reader_section(args, tmp):
    """Random single-record reads, the four readers interleaved."""
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
    release_lmdb_readonly(path)
    print_rates("reader", {name: args.reads / statistics.median(values) for name, values in timings.items()},
                record_bytes)


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
    parser.add_argument("--dir", default=None, help="where to build the stores [default: a temp dir]")
    parser.add_argument(
        "--dataset-images",
        type=int,
        default=256,
        help="images of the masked_coco store for the data-path section (0 skips it) [default: %(default)s]",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="data-path batch size [default: %(default)s]")
    parser.add_argument("--workers", type=int, default=2, help="data-path DataLoader workers [default: %(default)s]")
    parser.add_argument("--epochs", type=int, default=3, help="timed data-path epochs [default: %(default)s]")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        reader_section(args, tmp)
        if args.dataset_images:
            data_path_section(args, tmp)


if __name__ == "__main__":
    main()
