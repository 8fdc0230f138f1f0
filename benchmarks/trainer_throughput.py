"""Training throughput: rc10's stock trainer vs `domain_study` vs a bare PyTorch loop.

Same VisualBERT pretraining config (masked_coco format, text 128 + 100 regions of
2048-d, synthetic data written in MMF's real formats), same process, interleaved
rounds; prints samples/s per round and the median ratios. The stock trainer runs
with the compat layer (it cannot run otherwise) and keeps its own behaviour:
anomaly detection on, full-vocabulary MLM head, max_updates + 1 updates.

    python benchmarks/trainer_throughput.py [--size tiny|base] [--updates 6] [--rounds 3]
"""
import argparse
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


def time_trainer(trainer_name, size, updates, save_dir):
    trainer, batch = build(trainer_name, size, updates, save_dir)
    started = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - started
    done = trainer.num_updates
    return done * batch / elapsed


def time_bare_loop(size, updates, save_dir):
    """The domain_study trainer's model, optimizer and loader, driven by a plain loop."""
    trainer, batch = build("domain_study", size, updates, save_dir)
    model, optimizer, loader = trainer.model, trainer.optimizer, trainer.dataset_loader
    model.train()
    started = time.perf_counter()
    done = 0
    while done < updates:
        for raw in trainer.train_loader:
            output = model(loader.prepare_batch(raw))
            loss = sum(value.mean() for value in output["losses"].values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done += 1
            if done == updates:
                break
    return done * batch / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--updates", type=int, default=6, help="updates per measurement (default 6)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as root:
        write_data(root, num_images=SIZES[args.size]["batch_size"] * 2)
        os.environ["MMF_DATA_DIR"] = root
        results = {"stock base_trainer": [], "domain_study": [], "bare loop": []}
        for round_index in range(args.rounds):
            save = os.path.join(root, f"save{round_index}")
            results["stock base_trainer"].append(time_trainer("base_trainer", args.size, args.updates, save + "a"))
            results["domain_study"].append(time_trainer("domain_study", args.size, args.updates, save + "b"))
            results["bare loop"].append(time_bare_loop(args.size, args.updates, save + "c"))
            print(f"round {round_index + 1}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in results.items()), flush=True)
    median = {k: statistics.median(v) for k, v in results.items()}
    print(f"\nVisualBERT {args.size} pretraining, CPU fp32, {args.threads} threads, samples/s (median of {args.rounds}):")
    for name, value in median.items():
        print(f"  {name:20s} {value:8.2f}")
    print(f"  domain_study / stock      = {median['domain_study'] / median['stock base_trainer']:.2f}x (target >= 2x)")
    print(f"  domain_study / bare loop  = {median['domain_study'] / median['bare loop']:.2f}x (target >= 0.90)")


if __name__ == "__main__":
    sys.exit(main())
