"""Where one pretraining update's time and FLOPs go, per variant of pretrain_throughput.py.

For each variant: one profiled update (after one untimed) on synthetic masked-COCO data at
the real shapes, the ops that took the most CPU time, the matrix multiplies' share and
rate, the forward FLOPs per part of the model, and the bound a variant cannot beat while
its matrix multiplies run as measured: the first variant's update time over this
variant's matmul time (every other op free).

    python benchmarks/pretrain_profile.py --model vilbert --size base --variants stock fast-bf16
"""
import argparse
import collections
import contextlib
import os
import sys
import tempfile
import time

from pretrain_throughput import SIZES, VARIANTS, _Done, build_trainer, train_with_hooks
from synthetic_coco import feature_sizes, write_synthetic_data

MATMULS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul")
# module-name prefix -> part of the model, first match wins (VisualBERT, ViLBERT)
PARTS = (
    ("encoder.c_layer", "co-attention layers"),
    ("encoder.v_layer", "visual stream layers"),
    ("encoder.layer", "text (VisualBERT: joint) layers"),
    ("embeddings", "embeddings"),
    ("cls", "pretraining heads"),
)


def part_of(module_name):
    return next((part for prefix, part in PARTS if prefix in module_name), None)


def forward_flops_by_part(trainer, raw):
    """Forward FLOPs of one batch per model part (the backward costs about twice each)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False, depth=None) as counter:
        trainer._forward_pass(raw)
    leaves = {name: sum(counts.values()) for name, counts in counter.get_flop_counts().items()}
    by_part = collections.Counter()
    for name, flops in leaves.items():
        part = part_of(name)
        if part and not any(other != name and other.startswith(name + ".") for other in leaves):  # leaves only
            by_part[part] += flops
    return counter.get_total_flops(), by_part


def profile_update(trainer):
    """Seconds and profiler events of the second update, run by ``trainer.train()`` itself
    (rc10's train() is what turns anomaly detection on); the first update warms up."""
    from torch.profiler import ProfilerActivity, profile

    profiler = profile(activities=[ProfilerActivity.CPU])
    forward, backward = trainer._forward_pass, trainer._backward
    seen = {}

    def profiled_forward(batch):
        if trainer.num_updates == 1:
            seen["batch"], seen["started"] = batch, time.perf_counter()
            profiler.__enter__()
        return forward(batch)

    def profiled_backward(loss):
        backward(loss)
        if "started" in seen:
            profiler.__exit__(None, None, None)
            seen["seconds"] = time.perf_counter() - seen["started"]
            raise _Done

    train_with_hooks(trainer, _forward_pass=profiled_forward, _backward=profiled_backward)
    return seen["seconds"], profiler.key_averages(), seen["batch"]


def report_variant(model, size, variant, root, baseline_seconds):
    spec = dict(size=size, device="cpu", batch_size=8, steps=1, warmup=1, workers=0, threads=2,
                sizes=feature_sizes(root), model=model, variant=variant, save_dir=os.path.join(root, f"save-{variant}"))
    with open(os.path.join(root, "mmf.log"), "a") as log, contextlib.redirect_stdout(log):  # MMF's log lines
        trainer = build_trainer(spec)
        seconds, events, raw = profile_update(trainer)
        total_flops, by_part = forward_flops_by_part(trainer, raw)
    self_time = {event.key: event.self_cpu_time_total / 1e6 for event in events}
    cpu_total = sum(self_time.values())
    matmul_s = sum(self_time.get(name, 0.0) for name in MATMULS)
    print(f"\n{model} {size}, {variant}: one update {seconds:.2f} s (batch 8, CPU, 2 threads)")
    print("  most CPU time:")
    for name, value in sorted(self_time.items(), key=lambda item: -item[1])[:10]:
        print(f"    {name:32s} {value:7.2f} s {100 * value / cpu_total:5.1f}%")
    step_flops = 3 * total_flops  # forward + backward (about twice the forward)
    print(f"  matrix multiplies {matmul_s:.2f} s ({100 * matmul_s / cpu_total:.0f}%), "
          f"~{step_flops / matmul_s / 1e9:.0f} GFLOP/s on ~{step_flops / 1e9:.0f} GFLOP per update")
    print(f"  forward FLOPs {total_flops / 1e9:.0f} G: " + ", ".join(
        f"{part} {100 * flops / total_flops:.0f}%" for part, flops in by_part.most_common()))
    baseline = baseline_seconds or seconds
    print(f"  bound at this matmul rate, every other op free: {baseline / matmul_s:.2f}x the first variant")
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["visual_bert", "vilbert"], default="vilbert")
    parser.add_argument("--size", choices=sorted(SIZES), default="base")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=["stock", "fast-bf16"],
                        help="the first is the baseline of the bound (default: stock, then fast without bf16)")
    args = parser.parse_args()
    import torch

    import mmf_domainstudy

    mmf_domainstudy.activate()  # compat shims, MMF, the plugin's registered components
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as root:
        write_synthetic_data(root, 8 * 3)
        os.environ["MMF_DATA_DIR"] = root
        baseline = None
        for variant in args.variants:
            seconds = report_variant(args.model, args.size, variant, root, baseline)
            baseline = baseline or seconds
    return 0


if __name__ == "__main__":
    sys.exit(main())
