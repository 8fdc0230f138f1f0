"""The ``domain_study`` trainer: rc10's BaseTrainer with what a 2020 trainer lacks.

Changed, and only this: exactly ``max_updates`` updates (rc10 runs one more);
anomaly detection off unless ``training.detect_anomaly``; CPU or CUDA from one
config; ``training.precision: fp32|bf16|fp16`` (autocast; a grad scaler for
fp16); DDP under torchrun on gloo (CPU) or NCCL (GPU); empty-mask batches
contribute zero loss instead of NaN; a tqdm bar and one clean log line per
interval (loss, lr, samples/s); ``metrics.json`` with the final evaluation;
fast paths (fused attention, compile, pinned batches, float16 features,
``find_unused_parameters`` where needed; trainers/fast_paths.py); a resume
continues the lr schedule and early stopping's patience where they were.
Everything else (datasets, metrics, checkpoints, early stopping) is MMF's.
"""
import contextlib
import json
import logging
import os
import time
import warnings

import torch
from mmf.common.registry import registry
from mmf.trainers import base_trainer
from mmf.trainers.base_trainer import BaseTrainer
from mmf.utils import build as mmf_build
from mmf.utils.distributed import is_master
from mmf.utils.general import get_batch_size
from mmf.utils.timer import Timer
from tqdm import tqdm

from mmf_domainstudy import compat
from mmf_domainstudy.compat.scoped import SWAPS_USED, swapped
from mmf_domainstudy.datasets.float16_features import float16_feature_reads
from mmf_domainstudy.models import build_model_with_freezing
from mmf_domainstudy.models.sparse_mlm import use_sparse_masked_lm_head
from mmf_domainstudy.trainers.checkpointing import SafeCheckpoint
from mmf_domainstudy.trainers.fast_paths import apply_model_fast_paths, emulated_precision_note, leaves_parameters_unused
from mmf_domainstudy.trainers.feature_dims import resolve_feature_dims
from mmf_domainstudy.trainers.losses import zero_empty_mask_losses
from mmf_domainstudy.trainers.resume import ResumableSampler, capture_rng_state, restore_rng_state, rng_preserved
from mmf_domainstudy.utils.atomic import atomic_write_text
from mmf_domainstudy.utils.config_values import parse_boolean

logger = logging.getLogger(__name__)

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _training_option(config, key, default):
    value = config.training.get(key, default)
    if value is None:
        return default
    if isinstance(default, bool):
        return parse_boolean(value, f"training.{key}")
    return value


@registry.register_trainer("domain_study")
class DomainStudyTrainer(BaseTrainer):
    def load(self):
        self.final_metrics = {}
        self.model_patches = []
        super().load()
        self._log_patches_in_force()

    def _log_patches_in_force(self):
        """What the plugin changed in MMF for this run, in three lines at the top of the run's log."""
        self.writer.write(f"Compat shims in force: {', '.join(compat.applied_shims())} "
                          "(reasons: mmf_domainstudy.compat.describe_shims())")
        swaps = ", ".join(f"{target} -> {replacement}" for target, replacement in SWAPS_USED.items())
        self.writer.write(f"Scoped swaps while loading: {swaps}")
        self.writer.write(f"Model patches: {'; '.join(self.model_patches)}")

    def load_datasets(self):
        with _seeded_shuffling(int(self.config.training.seed)), float16_feature_reads():
            super().load_datasets()

    def load_model_and_optimizer(self):
        resolve_feature_dims(self.config)
        with swapped(base_trainer, "build_model", build_model_with_freezing):
            super().load_model_and_optimizer()
        model = getattr(self.model, "module", self.model)
        if _training_option(self.config, "sparse_mlm_head", True) and use_sparse_masked_lm_head(model):
            self.model_patches.append("masked-LM head scores labelled positions only (training.sparse_mlm_head)")
        fused = _training_option(self.config, "fused_attention", self.device.type == "cuda")
        self.model_patches.append(apply_model_fast_paths(model, fused, self.config.training.get("compile")))

    def load_extras(self):
        with swapped(base_trainer, "Checkpoint", SafeCheckpoint):
            super().load_extras()
        self._continue_lr_schedule()

    def _continue_lr_schedule(self):
        """rc10 builds the scheduler after loading a checkpoint, at the schedule's start, so
        the first update after a resume ran at its first lr (0 under warmup). After update k
        rc10 has called ``step(k - 1)``; a resumed run continues from there."""
        if self.lr_scheduler is None or self.num_updates == 0:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's notices on step(epoch) before optimizer.step()
            self.lr_scheduler.step(self.num_updates - 1)

    def _set_device(self):
        self.local_rank = int(os.environ.get("LOCAL_RANK", self.config.device_id))
        self.distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        wants_cuda = "cuda" in str(self.config.training.device)
        if wants_cuda and torch.cuda.is_available():
            self.device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
        registry.register("global_device", self.local_rank if self.device.type == "cuda" else "cpu")
        registry.register("current_device", self.device)
        self.precision = str(_training_option(self.config, "precision", "fp32"))
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"training.precision={self.precision!r} is not one of {sorted(PRECISIONS)}; "
                "set training.precision=fp32 (default), bf16 or fp16"
            )
        self.autocast_dtype = PRECISIONS[self.precision]
        note = emulated_precision_note(self.device, self.precision)
        if note:
            logger.warning(note)
        self.config.training.pin_memory = _training_option(self.config, "pin_memory", self.device.type == "cuda")
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    def parallelize_model(self):
        registry.register("data_parallel", False)
        registry.register("distributed", self.distributed)
        if self.distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.model,
                device_ids=device_ids,
                find_unused_parameters=_training_option(
                    self.config, "find_unused_parameters", leaves_parameters_unused(self.model)
                ),
            )

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def _forward_pass(self, batch):
        with self._autocast():
            report = super()._forward_pass(batch)
        if "losses" in report:  # in evaluation too: a val batch may have no masked region either
            report.losses = zero_empty_mask_losses(report.losses, report)
        return report

    def _extract_loss(self, report):
        loss = sum(value.mean() for value in report.losses.values())
        if torch.isnan(loss).any():
            raise FloatingPointError(
                f"loss is NaN at update {self.num_updates + 1} ({ {k: float(v.mean()) for k, v in report.losses.items()} }); "
                "lower optimizer.params.lr, try training.precision=fp32, or set training.detect_anomaly=True to locate it"
            )
        return loss

    def _backward(self, loss):
        self.optimizer.zero_grad(set_to_none=True)
        if loss.requires_grad:
            self.scaler.scale(loss).backward()
            if self.should_clip_gradients:
                self.scaler.unscale_(self.optimizer)
                from mmf.utils.general import clip_gradients

                clip_gradients(self.model, self.num_updates, self.tb_writer, self.config)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self._run_scheduler()
        self.num_updates += 1

    def train(self):
        if "train" not in self.run_type:
            self.inference()
            return
        torch.autograd.set_detect_anomaly(_training_option(self.config, "detect_anomaly", False))
        if self.max_epochs is not None:
            self.max_updates = self._updates_in_epochs(self.max_epochs)
        self.model.train()
        self.writer.write(f"Starting training: {self.max_updates} updates, precision {self.precision}, device {self.device}")
        self._progress = tqdm(
            total=self.max_updates,
            initial=self.num_updates,
            desc="train",
            unit="upd",
            disable=not is_master() or not _training_option(self.config, "progress_bar", True),
            dynamic_ncols=True,
        )
        self.train_timer = Timer()
        self.snapshot_timer = Timer()
        self._samples_since_log = 0
        self._log_started = time.perf_counter()
        skip_batches = self._restore_resume_state()
        should_break = False
        while self.num_updates < self.max_updates and not should_break:
            if skip_batches == 0:
                self.current_epoch += 1
            registry.register("current_epoch", self.current_epoch)
            self._start_epoch(skip_batches)
            self.epoch_batches, skip_batches = skip_batches, 0
            with rng_preserved():
                batches = iter(self.train_loader)
            for batch in batches:
                self.current_iteration += 1
                self.epoch_batches += 1
                report = self._forward_pass(batch)
                self._backward(self._extract_loss(report))
                self._samples_since_log += report.batch_size
                self._progress.update(1)
                should_break = self._logistics(report) or self.num_updates >= self.max_updates
                if should_break:
                    break
        self._progress.close()
        self.finalize()

    def _updates_in_epochs(self, epochs):
        """rc10 with ``training.max_epochs`` set ignores max_updates and trains that many whole
        epochs: here, the same number of updates (one per batch of this process's loader)."""
        loaders = getattr(self.train_loader, "loaders", None) or [self.train_loader]
        batches = len(loaders[0]) if len(loaders) == 1 else len(self.train_loader)
        self.writer.write(f"training.max_epochs={epochs}: {epochs} x {batches} batches = {epochs * batches} updates")
        return int(epochs * batches)

    def _start_epoch(self, skip_batches):
        """rc10 reseeds samplers only under DDP; ours are seeded in every mode and can skip."""
        per_process_batch = get_batch_size()
        for sampler in getattr(self.train_loader, "samplers", []):
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(self.current_epoch)
            if skip_batches and isinstance(sampler, ResumableSampler):
                sampler.skip_next_iteration(skip_batches * per_process_batch)

    def resume_state(self):
        """Saved with every training checkpoint (see SafeCheckpoint)."""
        return {
            "rng": getattr(self, "_training_rng", None) or capture_rng_state(),
            "epoch_batches": getattr(self, "epoch_batches", 0),
            "grad_scaler": self.scaler.state_dict(),
        }

    def _restore_resume_state(self):
        """Restore RNGs and return how many batches of the current epoch are already done."""
        state = self.checkpoint.resumed_trainer_state
        if not state or self.num_updates == 0:
            return 0
        restore_rng_state(state["rng"])
        self.scaler.load_state_dict(state["grad_scaler"])
        self.writer.write(
            f"Resuming exactly at update {self.num_updates}: epoch {self.current_epoch}, "
            f"{state['epoch_batches']} batches of it done, RNG states restored"
        )
        return int(state["epoch_batches"])

    def _logistics(self, report):
        registry.register("current_iteration", self.current_iteration)
        registry.register("num_updates", self.num_updates)
        if self.num_updates % self.log_interval == 0:
            self._log_training(report)
        self._try_snapshot()
        return self._try_full_validation()

    def _log_training(self, report):
        elapsed = max(time.perf_counter() - self._log_started, 1e-9)
        self._update_meter(report, self.meter)
        losses = {name: float(value.mean()) for name, value in report.losses.items()}
        total = sum(losses.values())
        lr = self.optimizer.param_groups[0]["lr"]
        samples_per_s = self._samples_since_log * max(1, _world_size()) / elapsed
        line = f"update {self.num_updates}/{self.max_updates} loss {total:.4f} lr {lr:.3g} samples/s {samples_per_s:.1f}"
        self._progress.set_postfix(loss=f"{total:.3f}", sps=f"{samples_per_s:.1f}")
        self.writer.write(line)
        if self.tb_writer is not None:
            self.tb_writer.add_scalars(dict(self.meter.get_scalar_dict(), lr=lr, samples_per_s=samples_per_s), self.num_updates)
        self._samples_since_log = 0
        self._log_started = time.perf_counter()

    def _try_full_validation(self, force=False):
        if self.num_updates % self.evaluation_interval != 0 and not force:
            return False
        if self.val_loader is None or getattr(self.val_dataset, "_total_length", 1) == 0:
            return False
        with rng_preserved() as training_rng:  # evaluating must not change what training draws next
            self._training_rng = training_rng  # early stopping saves checkpoints mid-evaluation
            try:
                return super()._try_full_validation(force=force)
            finally:
                self._training_rng = None

    def finalize(self):
        super().finalize()
        self._write_final_metrics()

    def _inference_run(self, dataset_type):
        if self.config.evaluation.predict:
            return super()._inference_run(dataset_type)
        self.writer.write(f"Starting inference on {dataset_type} set")
        report, meter = self.evaluate(getattr(self, f"{dataset_type}_loader"), use_tqdm=True)
        self.final_metrics[dataset_type] = {name: m.global_avg for name, m in meter.meters.items()}
        self._summarize_report(meter)

    def _split_sizes(self):
        """Samples per split this run loaded (a study's report compares its sources' sizes)."""
        sizes = {}
        for split in ("train", "val", "test"):
            dataset = getattr(self, f"{split}_dataset", None)
            if dataset is not None and getattr(dataset, "_total_length", None) is not None:
                sizes[split] = int(dataset._total_length)
        return sizes

    def _write_final_metrics(self):
        if not is_master():
            return
        payload = dict(self.final_metrics, updates=self.num_updates, samples=self._split_sizes())
        path = os.path.join(self.checkpoint.ckpt_foldername, "metrics.json")
        atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True))
        self.writer.write(f"Final metrics written to {path}")


def _seeded_shuffling(seed):
    """Shuffle training data with a (seed, epoch)-determined permutation in every mode.

    rc10 shuffles with the global RNG on one process and with a DistributedSampler
    (seed 0) under DDP. One seeded sampler for both makes N processes see exactly
    the batches one process sees, and makes the data order reproducible on resume.
    """
    original = mmf_build._add_extra_args_for_dataloader

    def add_extra_args(dataset_instance, other_args=None):
        args = original(dataset_instance, other_args)
        sampler = args.get("sampler")
        if args.pop("shuffle", False) or getattr(sampler, "shuffle", False):
            args["sampler"] = ResumableSampler(
                dataset_instance, num_replicas=_world_size(), rank=_rank(), shuffle=True, seed=seed
            )
        return args

    return swapped(mmf_build, "_add_extra_args_for_dataloader", add_extra_args)


def _rank():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return 0


def _world_size():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1
