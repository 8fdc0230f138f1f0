"""Training throughput: rc10's stock trainer vs `domain_study` vs a bare PyTorch loop.

Same VisualBERT pretraining config (masked_coco format, text 128 + 100 regions of
2048-d, synthetic data written in MMF's real formats), same process, interleaved
rounds. Each run's time is split three ways: its first update (loader start-up,
first allocations), the steady updates after it (the per-update cost the ratios
compare), and what follows the last update (MMF's end of a run: final validation,
checkpoints; a bare loop has none). The stock trainer runs with the compat layer
(it cannot run otherwise) and keeps its own behaviour: anomaly detection on,
full-vocabulary MLM head, max_updates + 1 updates.

    python benchmarks/trainer_throughput.py [--size tiny|base] [--updates 12] [--rounds 3]
    python benchmarks/trainer_throughput.py --size base --trainers domain_study 'bare loop'
"""
import argparse
import functools
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

import mmf_domainstudy

mmf_domainstudy.activate()  # compat shims, MMF, the plugin's registered components

from mmf_domainstudy.formats.imdb import write_imdb

from mmf_domainstudy.formats.lmdb_store import LMDBFeatureWriter
from mmf_domainstudy.trainers.in_process import build_loaded_trainer

SIZES = {
    "tiny": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512, batch_size=32),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, batch_size=8),
}
WORDS = "a man woman dog cat red blue table street ball plate sits stands holds near on under with the of".split()


def write_data(root, num_images, regions=100, dim=2048, seed=0):
    rng = np.random.RandomState(seed)
    base = os.path.join(root, "datasets", "coco", "defaults")
    samples, records = [], {}
    for i in range(num_images):
        name = f"COCO_train2014_{i:012d}"
        captions = [" ".join(rng.choice(WORDS, 60)) for _ in range(5)]  # long enough to fill 128 tokens
        samples.append({"image_id": i, "image_name": name, "feature_path": name + ".npy", "captions": captions})
        records[i] = {
            "features": rng.rand(regions, dim).astype(np.float32),
            "bbox": (rng.rand(regions, 4) * 100).astype(np.float32),
            "image_width": 640,
            "image_height": 480,
            "cls_prob": rng.dirichlet(np.ones(1601), regions).astype(np.float32),
        }
    for split, chosen in (("train", samples), ("val", samples[:4]), ("test", samples[:4])):
        write_imdb(os.path.join(base, "annotations", f"imdb_karpathy_{split}_by_image.npy"), chosen, "coco")
    with LMDBFeatureWriter(os.path.join(base, "features", "trainval2014.lmdb")) as writer:
        writer.write_batch(records)


def build(trainer_name, size, updates, save_dir):
    shape = SIZES[size]
    opts = [
        "model=visual_bert",
        "dataset=masked_coco",
        "run_type=train",
        f"env.save_dir={save_dir}",
        f"training.trainer={trainer_name}",
        f"training.max_updates={updates}",
        f"training.batch_size={shape['batch_size']}",
        "training.num_workers=0",
        "training.log_interval=1000",
        "training.checkpoint_interval=100000",
        "training.evaluation_interval=100000",
        "training.device=cpu",
        "training.seed=1",
        "training.progress_bar=False",
        "training.stdout_capture=False",
        "model_config.visual_bert.bert_model_name=None",
        "model_config.visual_bert.special_visual_initialize=False",
        "checkpoint.save_git_details=False",
    ] + [f"model_config.visual_bert.{k}={v}" for k, v in shape.items() if k != "batch_size"]
    optimizer = '{"optimizer": {"type": "adam_w", "params": {"lr": 5e-5, "eps": 1e-8, "weight_decay": 0.01}}}'
    return build_loaded_trainer(opts, optimizer), shape["batch_size"]


class Timing:
    """Where one measurement's time went: the first update (loader start-up, first
    allocations), the steady updates after it, and what follows the last update."""

    def __init__(self, started, update_stamps, finished, batch):
        self.first_update_s = update_stamps[0] - started
        self.steady_updates = len(update_stamps) - 1
        self.steady_s = update_stamps[-1] - update_stamps[0]
        self.end_of_run_s = finished - update_stamps[-1]
        self.batch = batch

    @property
    def per_update_samples_per_s(self):
        return self.steady_updates * self.batch / self.steady_s

    @property
    def whole_run_samples_per_s(self):
        total = self.first_update_s + self.steady_s + self.end_of_run_s
        return (self.steady_updates + 1) * self.batch / total


def time_trainer(trainer_name, size, updates, save_dir):
    """``trainer.train()`` as MMF runs it, with a time stamp after every update."""
    trainer, batch = build(trainer_name, size, updates, save_dir)
    stamps, backward = [], trainer._backward

    def stamped_backward(loss):
        backward(loss)
        stamps.append(time.perf_counter())

    trainer._backward = stamped_backward
    started = time.perf_counter()
    trainer.train()
    return Timing(started, stamps, time.perf_counter(), batch)


def time_bare_loop(size, updates, save_dir):
    """The domain_study trainer's model, optimizer and loader, driven by a plain loop."""
    trainer, batch = build("domain_study", size, updates, save_dir)
    model, optimizer, loader = trainer.model, trainer.optimizer, trainer.dataset_loader
    model.train()
    stamps = []
    started = time.perf_counter()
    while len(stamps) < updates:
        for raw in trainer.train_loader:
            output = model(loader.prepare_batch(raw))
            loss = sum(value.mean() for value in output["losses"].values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            stamps.append(time.perf_counter())
            if len(stamps) == updates:
                break
    return Timing(started, stamps, time.perf_counter(), batch)


MEASURE = {
    "stock base_trainer": functools.partial(time_trainer, "base_trainer"),
    "domain_study": functools.partial(time_trainer, "domain_study"),
    "bare loop": time_bare_loop,
}


def median_of(timings, attribute):
    return statistics.median(getattr(timing, attribute) for timing in timings)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--updates", type=int, default=12, help="updates per measurement (default 12; the first is not steady)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--trainers", nargs="+", choices=list(MEASURE), default=list(MEASURE),
                        help="what to measure (default all; the stock trainer is slowest: leave it out at base size to save time)")
    args = parser.parse_args()
    if args.updates < 2:
        parser.error("--updates must be at least 2: the first update is timed apart from the steady ones")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as root:
        write_data(root, num_images=SIZES[args.size]["batch_size"] * 2)
        os.environ["MMF_DATA_DIR"] = root
        results = {name: [] for name in args.trainers}
        for round_index in range(args.rounds):
            order = args.trainers[round_index % len(args.trainers):] + args.trainers[:round_index % len(args.trainers)]
            for name in order:  # each round starts with another one: no trainer always runs first
                save = os.path.join(root, f"save{round_index}-{name.replace(' ', '_')}")
                results[name].append(MEASURE[name](args.size, args.updates, save))
            print(f"round {round_index + 1} (steady samples/s): "
                  + ", ".join(f"{k} {v[-1].per_update_samples_per_s:.2f}" for k, v in results.items()), flush=True)
    print(f"\nVisualBERT {args.size} pretraining, CPU fp32, {args.threads} threads, {args.updates} updates per run, "
          f"median of {args.rounds} rounds (ratios: median of the rounds' ratios):")
    print(f"  {'':20s} {'steady samples/s':>16s} {'whole run':>10s} {'first update s':>15s} {'after last update s':>20s}")
    for name, timings in results.items():
        print(f"  {name:20s} {median_of(timings, 'per_update_samples_per_s'):16.2f} "
              f"{median_of(timings, 'whole_run_samples_per_s'):10.2f} {median_of(timings, 'first_update_s'):15.2f} "
              f"{median_of(timings, 'end_of_run_s'):20.2f}")

    def ratio(name, other, attribute):
        """Median of the per-round ratios: the two ran minutes apart, under the same load."""
        return statistics.median(getattr(a, attribute) / getattr(b, attribute) for a, b in zip(results[name], results[other]))

    for other, target in (("stock base_trainer", "target >= 2x"), ("bare loop", "target >= 0.90")):
        if "domain_study" in results and other in results:
            print(f"  domain_study / {other:18s} per update = {ratio('domain_study', other, 'per_update_samples_per_s'):.2f}x "
                  f"({target}), whole run {ratio('domain_study', other, 'whole_run_samples_per_s'):.2f}x")
    print("  'after last update' is MMF's end of a run, which a bare loop skips: the final validation, early "
          "stopping's checkpoint (model_N.ckpt, best.ckpt, current.ckpt), restoring best.ckpt, <model>_final.pth.")


if __name__ == "__main__":
    sys.exit(main())
