#!/usr/bin/env python
"""Training throughput with the base frozen (``freeze_base``) versus full finetuning.

Both models are built and trained through MMF's APIs (build_model, build_optimizer,
the model's own loss) on the same synthetic VQA-shaped batches. Rounds alternate
frozen and full (and which goes first) so machine load hits both alike. A frozen base
needs no backward pass and no optimizer step for its weights, so frozen should be the
faster one; the printed ratio is frozen samples/s over full samples/s.

Usage: PYTHONPATH=. python benchmarks/frozen_vs_full.py [--model vilbert] [--rounds 4]
"""
import argparse
import os
import tempfile
import time

import numpy as np
import torch
from omegaconf import OmegaConf

import mmf_domainstudy

mmf_domainstudy.activate()  # compat shims, MMF, the plugin's registered components

from mmf.common.registry import registry
from mmf.common.sample import Sample, SampleList
from mmf.utils.build import build_optimizer
from mmf.utils.configuration import load_yaml
from mmf_domainstudy.models import build_model_with_freezing

MODEL_CONFIGS = os.path.join(os.path.dirname(mmf_domainstudy.__file__), "configs", "mmf", "models")
# Small enough for a shared 2-core CPU, big enough that the base dominates the step.
SHAPE = {
    "bert_model_name": None,
    "special_visual_initialize": False,
    "hidden_size": 256,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "intermediate_size": 1024,
    "visual_embedding_dim": 512,
    "num_labels": 100,
}
VILBERT_SHAPE = {
    "v_feature_size": 512,
    "v_target_size": 1601,
    "v_hidden_size": 256,
    "v_num_hidden_layers": 2,
    "v_num_attention_heads": 4,
    "v_intermediate_size": 512,
    "bi_hidden_size": 256,
    "bi_num_attention_heads": 4,
    "bi_intermediate_size": 512,
    "v_biattention_id": [0, 1],
    "t_biattention_id": [2, 3],
}
TOKENS, REGIONS = 32, 36


def model_config(arch, freeze_base):
    config = load_yaml(os.path.join(MODEL_CONFIGS, arch, "classification.yaml")).model_config[arch]
    config = OmegaConf.merge(config, SHAPE, VILBERT_SHAPE if arch == "vilbert" else {})
    config.freeze_base = freeze_base
    config.losses = [{"type": "cross_entropy"}]
    config.model = arch
    return config


def make_batch(rng, batch_size):
    """One collated batch with the fields MMF's VQA-style datasets produce."""
    samples = []
    for _ in range(batch_size):
        corners = rng.uniform(0, 100, size=(REGIONS, 2, 2))
        info = {
            "max_features": torch.tensor(REGIONS),
            "bbox": np.concatenate([corners.min(1), corners.max(1)], axis=1).astype(np.float32),
            "image_width": 100,
            "image_height": 100,
            "cls_prob": rng.dirichlet(np.ones(VILBERT_SHAPE["v_target_size"]), size=REGIONS).astype(np.float32),
        }
        samples.append(
            Sample(
                {
                    "input_ids": torch.tensor(rng.integers(1, 30522, size=TOKENS)),
                    "input_mask": torch.ones(TOKENS, dtype=torch.long),
                    "segment_ids": torch.zeros(TOKENS, dtype=torch.long),
                    "image_feature_0": torch.tensor(
                        rng.random((REGIONS, SHAPE["visual_embedding_dim"])), dtype=torch.float
                    ),
                    "image_info_0": info,
                    "targets": torch.tensor(int(rng.integers(SHAPE["num_labels"]))),
                }
            )
        )
    collated = SampleList(samples)
    collated.dataset_name, collated.dataset_type = "vqa2", "train"
    return collated


def build_trainee(arch, freeze_base):
    torch.manual_seed(0)
    model = build_model_with_freezing(model_config(arch, freeze_base))
    optimizer_config = OmegaConf.create(
        {
            "model": arch,
            "model_config": {arch: model.config},
            "optimizer": {"type": "adam_w", "params": {"lr": 5e-5, "eps": 1e-8, "weight_decay": 0.01}},
        }
    )
    model.train()
    return model, build_optimizer(model, optimizer_config)


def train_seconds(model, optimizer, batches):
    start = time.perf_counter()
    for batch in batches:
        losses = model(batch)["losses"]
        optimizer.zero_grad(set_to_none=True)
        sum(loss.mean() for loss in losses.values()).backward()
        optimizer.step()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("visual_bert", "vilbert"), default="visual_bert")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved frozen/full rounds [default: %(default)s]")
    parser.add_argument("--steps", type=int, default=5, help="updates per mode per round [default: %(default)s]")
    parser.add_argument("--batch-size", type=int, default=16, help="[default: %(default)s]")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads [default: %(default)s]")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as cache_dir:
        global_config = {"evaluation": {"predict": False}, "env": {"cache_dir": cache_dir}}
        registry.register("config", OmegaConf.create(global_config))  # what model building reads
        trainees = {mode: build_trainee(args.model, mode == "frozen") for mode in ("frozen", "full")}
    rng = np.random.default_rng(0)
    batches = [make_batch(rng, args.batch_size) for _ in range(args.steps)]
    for model, optimizer in trainees.values():
        train_seconds(model, optimizer, batches[:1])  # warm-up: allocator, optimizer state
    seconds = {mode: 0.0 for mode in trainees}
    for round_index in range(args.rounds):
        order = ("frozen", "full") if round_index % 2 == 0 else ("full", "frozen")
        for mode in order:
            seconds[mode] += train_seconds(*trainees[mode], batches)
    samples = args.rounds * args.steps * args.batch_size
    rate = {mode: samples / seconds[mode] for mode in trainees}
    trainable = {
        mode: sum(p.numel() for p in model.parameters() if p.requires_grad) for mode, (model, _) in trainees.items()
    }
    print(
        f"{args.model}: {args.rounds} rounds x {args.steps} updates x batch {args.batch_size}, "
        f"{args.threads} thread(s)"
    )
    for mode in trainees:
        print(f"  {mode:6s} {rate[mode]:8.1f} samples/s  ({trainable[mode]:,} trainable parameters)")
    print(f"  ratio frozen/full: {rate['frozen'] / rate['full']:.2f}x")


if __name__ == "__main__":
    main()
