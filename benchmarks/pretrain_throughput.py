"""Pretraining throughput at the real shapes: rc10's stock trainer vs `domain_study`,
with each fast path on and off, for VisualBERT and ViLBERT.

Masked pretraining (masked_coco: 128 text tokens, 100 regions of 2048-d) on synthetic
data written in MMF's formats, or with --lmdb on a real feature store (captions stay
synthetic; sizes are read from the store). Every (model, variant) trains in its own
process: nothing is shared, and peak memory is that run's (CUDA: max allocated; CPU:
max RSS). Updates after --warmup are timed; --rounds interleave the variants; medians.

Variants (`fast` = the recommended domain_study setup; the `-x` rows turn one of its
paths off, the `+x` rows add an opt-in one):
  stock          rc10 base_trainer: anomaly detection on, dense MLM head, per-tensor
                 adam_w, fp32, attention as transformers/MMF build it
  plain          domain_study with every fast path off (fp32, explicit-softmax attention,
                 per-tensor adam_w, dense MLM head)
  fast           domain_study: bf16 autocast, foreach adam_w, sparse MLM head, and fused
                 attention on CUDA only (the trainer's default: slower on a CPU)
  fast-bf16, fast-foreach, fast-sparse
  fast-fused     (CUDA) / fast+fused (CPU): fast with the other attention path
  fast+float16   float16 region features from the reader to the device
  fast+compile   torch.compile (inductor) of the encoder; only with --compile

On CUDA each run also counts its FLOPs (torch.utils.flop_counter, one eager step:
executed FLOPs, so the sparse head counts what it computes; fast+compile takes
fast's) and prints TFLOP/s and MFU against --peak-tflops (default 989: dense bf16
of an H100 or H200 SXM).

    python benchmarks/pretrain_throughput.py --size base --models visual_bert --steps 2
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from synthetic_coco import CLASSES, feature_sizes, link_real_store, write_synthetic_data

SIZES = {
    "tiny": {
        "visual_bert": dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512),
        "vilbert": dict(
            hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512,
            v_hidden_size=128, v_num_hidden_layers=2, v_num_attention_heads=2, v_intermediate_size=512,
            bi_hidden_size=128, bi_num_attention_heads=2, bi_intermediate_size=512,
            v_biattention_id=[0, 1], t_biattention_id=[0, 1],
        ),
    },
    "base": {"visual_bert": {}, "vilbert": {}},  # the bundled configs are bert-base / ViLBERT-base
}
FAST = {"training.precision": "bf16", "optimizer.params.foreach": True, "training.sparse_mlm_head": True}
VARIANTS = {
    "stock": ("base_trainer", {"optimizer.params.foreach": False}),
    "plain": ("domain_study", {
        "training.precision": "fp32", "training.fused_attention": False,
        "optimizer.params.foreach": False, "training.sparse_mlm_head": False,
    }),
    "fast": ("domain_study", FAST),
    "fast-bf16": ("domain_study", {**FAST, "training.precision": "fp32"}),
    "fast-fused": ("domain_study", {**FAST, "training.fused_attention": False}),
    "fast+fused": ("domain_study", {**FAST, "training.fused_attention": True}),
    "fast-foreach": ("domain_study", {**FAST, "optimizer.params.foreach": False}),
    "fast-sparse": ("domain_study", {**FAST, "training.sparse_mlm_head": False}),
    "fast+float16": ("domain_study", {**FAST, "dataset_config.masked_coco.features_float16": True}),
    "fast+compile": ("domain_study", {**FAST, "training.compile": True}),
}
# ---------------------------------------------------------------- one run (child)
class _Done(Exception):
    """Raised after the last timed update: skips rc10's final evaluation and checkpoints."""


def model_options(model, size, sizes):
    options = {"bert_model_name": None, **SIZES[size][model]}
    if model == "visual_bert":
        options.update(special_visual_initialize=False, visual_embedding_dim=sizes["dim"])
    else:
        options.update(v_feature_size=sizes["dim"], v_target_size=sizes["cls_prob_classes"] or CLASSES)
    return options


def build_trainer(spec):
    from mmf_domainstudy.trainers.in_process import build_loaded_trainer

    trainer_name, overrides = VARIANTS[spec["variant"]]
    model = spec["model"]
    opts = [
        f"model={model}", "dataset=masked_coco", "run_type=train", f"env.save_dir={spec['save_dir']}",
        f"training.trainer={trainer_name}", f"training.max_updates={spec['warmup'] + spec['steps']}",
        f"training.batch_size={spec['batch_size']}", f"training.num_workers={spec['workers']}",
        "training.log_interval=100000", "training.checkpoint_interval=100000", "training.evaluation_interval=100000",
        f"training.device={spec['device']}", "training.seed=1", "training.progress_bar=False",
        "training.stdout_capture=False", "checkpoint.save_git_details=False",
        f"dataset_config.masked_coco.use_image_feature_masks={model == 'vilbert'}",
    ]
    options = model_options(model, spec["size"], spec["sizes"])
    opts += [f"model_config.{model}.{key}={value}" for key, value in options.items()]
    opts += [f"{key}={value}" for key, value in overrides.items() if not key.startswith("optimizer.")]
    adam_w = {"lr": 5e-5, "eps": 1e-8, "weight_decay": 0.01, "foreach": overrides.get("optimizer.params.foreach", True)}
    override = json.dumps({"optimizer": {"type": "adam_w", "params": adam_w}})
    return build_loaded_trainer(opts, override)


def time_updates(trainer, warmup, steps, synchronize):
    """Train warmup + steps updates; returns (seconds of the timed ones, their losses)."""
    stamps, losses = [], []
    backward, extract = trainer._backward, trainer._extract_loss

    def timed_backward(loss):
        backward(loss)
        synchronize()
        stamps.append(time.perf_counter())
        if len(stamps) == warmup + steps:
            raise _Done

    def recorded_loss(report):
        loss = extract(report)
        losses.append(float(loss))
        return loss

    train_with_hooks(trainer, _backward=timed_backward, _extract_loss=recorded_loss)
    return stamps[-1] - stamps[warmup - 1], losses[warmup:]


def train_with_hooks(trainer, **methods):
    """``trainer.train()`` with some of its methods replaced until one raises _Done."""
    originals = {name: getattr(trainer, name) for name in methods}
    for name, method in methods.items():
        setattr(trainer, name, method)
    try:
        trainer.train()
    except _Done:
        pass
    finally:
        for name, method in originals.items():
            setattr(trainer, name, method)


def flops_per_sample(trainer):
    """Executed FLOPs of one eager forward + backward, per sample."""
    from torch.utils.flop_counter import FlopCounterMode

    raw = next(iter(trainer.train_loader))
    with FlopCounterMode(display=False) as counter:
        report = trainer._forward_pass(raw)
        trainer._extract_loss(report).backward()
    return counter.get_total_flops() / report.batch_size


def run_child(spec):
    import torch

    import mmf_domainstudy

    mmf_domainstudy.activate()  # compat shims, MMF, the plugin's registered components

    torch.set_num_threads(spec["threads"])
    cuda = spec["device"] == "cuda"
    synchronize = torch.cuda.synchronize if cuda else (lambda: None)
    trainer = build_trainer(spec)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    seconds, losses = time_updates(trainer, spec["warmup"], spec["steps"], synchronize)
    result = {
        "samples_per_s": spec["batch_size"] * spec["steps"] / seconds,
        "peak_gib": (torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10) / 2**30,
        "loss": statistics.mean(losses),
    }
    if cuda and spec["variant"] != "fast+compile":
        result["flops_per_sample"] = flops_per_sample(trainer)
    with open(spec["result_file"], "w") as handle:
        json.dump(result, handle)


# ---------------------------------------------------------------- orchestration (parent)
def run_variant(spec, log):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        spec = dict(spec, result_file=handle.name)
    command = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)]
    started = time.perf_counter()
    with open(log, "a") as output:
        status = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT).returncode
    if status != 0:
        print(f"  {spec['model']} {spec['variant']}: FAILED (exit {status}; see {log})", flush=True)
        return None
    with open(spec["result_file"]) as handle:
        result = json.load(handle)
    os.unlink(spec["result_file"])
    print(f"  {spec['model']:11s} {spec['variant']:13s} {result['samples_per_s']:8.2f} samples/s "
          f"({time.perf_counter() - started:.0f} s with start-up)", flush=True)
    return result


def _ratio(medians, variant, other):
    if other not in medians:
        return "-"
    return f"{medians[variant]['samples_per_s'] / medians[other]['samples_per_s']:.2f}"


def summarize(model, runs, args, device_name):
    print(f"\n{model} {args.size} pretraining, {device_name}, batch {args.batch_size}, {args.warmup} warmup + "
          f"{args.steps} timed updates, median of {args.rounds} round(s)")
    header = f"  {'variant':13s} {'samples/s':>9s} {'x stock':>8s} {'x fast':>7s} {'peak GiB':>9s} {'loss':>7s}"
    cuda = args.device == "cuda"
    print(header + (f" {'TFLOP/s':>8s} {'MFU':>6s}" if cuda else ""))
    medians = {}
    for variant, results in runs.items():
        if results:
            medians[variant] = {key: statistics.median(r[key] for r in results) for key in results[0]}
    flops = {variant: m.get("flops_per_sample") for variant, m in medians.items()}
    if "fast+compile" in medians and flops.get("fast"):
        flops["fast+compile"] = flops["fast"]  # the same maths, compiled
    for variant, m in medians.items():
        line = (f"  {variant:13s} {m['samples_per_s']:9.2f} {_ratio(medians, variant, 'stock'):>8s} "
                f"{_ratio(medians, variant, 'fast'):>7s} {m['peak_gib']:9.2f} {m['loss']:7.3f}")
        if cuda and flops.get(variant):
            tflops = flops[variant] * m["samples_per_s"] / 1e12
            line += f" {tflops:8.1f} {100 * tflops / args.peak_tflops:5.1f}%"
        print(line)
    return {variant: dict(m, flops_per_sample=flops.get(variant)) for variant, m in medians.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="base")
    parser.add_argument("--models", nargs="+", choices=["visual_bert", "vilbert"], default=["visual_bert", "vilbert"])
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), help="default: all but fast+compile (see --compile) and the attention row equal to fast")
    parser.add_argument("--compile", action="store_true", help="also run fast+compile (inductor: minutes on a CPU)")
    parser.add_argument("--steps", type=int, default=None, help="timed updates (default: 2 on CPU, 10 on CUDA)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed updates first (default: 1 on CPU, 3 on CUDA)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 8 on CPU, 64 on CUDA")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: 0 on CPU, 8 on CUDA)")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (default 1)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads per run (default 2)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available")
    parser.add_argument("--lmdb", help="a real MMF feature store (LMDB) to read instead of synthetic features")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak for MFU (default 989: H100/H200 SXM)")
    parser.add_argument("--json", help="also write the medians here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return run_child(json.loads(args.child))

    import torch

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    cuda = args.device == "cuda"
    args.steps = args.steps or (10 if cuda else 2)
    args.warmup = args.warmup or (3 if cuda else 1)
    args.batch_size = args.batch_size or (64 if cuda else 8)
    args.workers = args.workers if args.workers is not None else (8 if cuda else 0)
    same_as_fast = "fast+fused" if cuda else "fast-fused"
    variants = args.variants or [v for v in VARIANTS if v not in ("fast+compile", same_as_fast)]
    variants += ["fast+compile"] if args.compile and not args.variants else []
    device_name = torch.cuda.get_device_name() if cuda else f"CPU, {args.threads} threads"
    num_images = args.batch_size * (args.warmup + args.steps + 1)  # one epoch covers every update
    summary = {}
    with tempfile.TemporaryDirectory() as root:
        if args.lmdb:
            link_real_store(root, args.lmdb, num_images)
        else:
            write_synthetic_data(root, num_images)
        os.environ["MMF_DATA_DIR"] = root
        sizes = feature_sizes(root)
        log = os.path.join(root, "runs.log")
        runs = {model: {variant: [] for variant in variants} for model in args.models}
        base = dict(size=args.size, device=args.device, batch_size=args.batch_size, steps=args.steps,
                    warmup=args.warmup, workers=args.workers, threads=args.threads, sizes=sizes)
        for round_index in range(args.rounds):
            print(f"round {round_index + 1}/{args.rounds}", flush=True)
            for model in args.models:
                for variant in variants:
                    save_dir = os.path.join(root, f"save-{model}-{variant}-{round_index}")
                    result = run_variant(dict(base, model=model, variant=variant, save_dir=save_dir), log)
                    if result:
                        runs[model][variant].append(result)
        for model in args.models:
            summary[model] = summarize(model, runs[model], args, device_name)
        failed = any(not results for model_runs in runs.values() for results in model_runs.values())
        if failed:
            with open(log) as handle:
                print("\n--- last lines of the failed runs' log ---\n" + handle.read()[-6000:])
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"device": device_name, "args": vars(args), "medians": summary}, handle, indent=2)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
