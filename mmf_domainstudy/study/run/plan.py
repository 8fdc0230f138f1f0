"""Expand a study spec into runs, each identified by a digest of what it computes.

A run's digest covers its config (content, with includes), overlays, overrides
and the digests of the runs it starts from; never where files live. Its folder
is ``<output_dir>/runs/<name>-<digest[:8]>``, so a changed input gets a new
folder and an unchanged one finds its finished results.
"""
import dataclasses
import fnmatch
import hashlib
import json
from pathlib import Path
from typing import Optional

from mmf_domainstudy.study.run.config_digest import config_digest
from mmf_domainstudy.utils.errors import ConfigError
from mmf_domainstudy.study.run.spec import SpecError, fill, format_fraction

STUDY_CONFIG = "study_config.yaml"


@dataclasses.dataclass(frozen=True)
class Run:
    name: str
    kind: str  # "pretrain" or "finetune"
    model: str
    dataset: str
    config: str  # as the spec names it
    overlays: tuple
    overrides: tuple  # what MMF gets after config/model/dataset, in order
    axes: dict  # model, source, pretrain_fraction, pretrain_seed, task, mode, fraction, seed
    depends_on: Optional["Run"]
    digest: str
    run_dir: Path


def final_checkpoint_path(run):
    """The weights rc10's Checkpoint.finalize writes: ``<save_dir>/<model>_final.pth``."""
    return run.run_dir / f"{run.model}_final.pth"


def pretrained_checkpoint_overrides(checkpoint):
    """How a finetuning run starts from its pretraining run.

    rc10 loads ``resume_file`` and, with ``resume_pretrained``, copies only the
    keys named by ``checkpoint.pretrained_state_mapping`` (set it in the
    finetune yaml; MMF ignores mappings given on the command line).
    """
    return [f"checkpoint.resume_file={checkpoint}", "checkpoint.resume_pretrained=True"]


def study_config_text(run):
    """The config a run is launched with: its base config, then the spec's overlays."""
    includes = [str(Path(path).resolve()) for path in (run.config,) + run.overlays]
    header = f"# Written by mmf_domainstudy.study for {run.name} ({run.digest}); do not edit.\n"
    return header + json.dumps({"includes": includes}, indent=2) + "\n"


def mmf_arguments(run, data_dir):
    """``mmf_run`` arguments for a run, without resume flags (added when it starts)."""
    arguments = [
        f"config={run.run_dir / STUDY_CONFIG}",
        f"model={run.model}",
        f"dataset={run.dataset}",
        f"env.save_dir={run.run_dir}",
    ]
    if data_dir is not None:
        arguments.append(f"env.data_dir={data_dir}")
    arguments.extend(run.overrides)
    if run.depends_on is not None:
        arguments.extend(pretrained_checkpoint_overrides(final_checkpoint_path(run.depends_on)))
    return arguments


def launch_command(command, gpus):
    """The spec's command, under torchrun when a run has several GPUs."""
    if gpus <= 1:
        return list(command)
    torchrun = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}"]
    return [command[0], *torchrun, *command[1:]]


def _config_digest(spec, path, key, cache):
    try:
        return config_digest(path, cache)
    except ConfigError as error:
        raise SpecError(f"{spec.path}: '{key}' -> {path}: {error}") from None


def _make_run(spec, cache, name, kind, config, config_key, overrides, axes, dataset, depends_on):
    identity = {
        "kind": kind,
        "model": axes["model"],
        "dataset": dataset,
        "config": [config, _config_digest(spec, config, config_key, cache)],
        "overlays": [[o, _config_digest(spec, o, "overlays", cache)] for o in spec.overlays],
        "overrides": list(overrides),
        "depends_on": depends_on.digest if depends_on else None,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return Run(
        name=name,
        kind=kind,
        model=axes["model"],
        dataset=dataset,
        config=config,
        overlays=spec.overlays,
        overrides=tuple(overrides),
        axes=axes,
        depends_on=depends_on,
        digest=digest,
        run_dir=spec.output_dir / "runs" / f"{name}-{digest[:8]}",
    )


def _pretrain_run(spec, cache, model, source, fraction, seed):
    fields = dict(model=model, source=source.name, dataset=source.dataset, fraction=format_fraction(fraction),
                  seed=seed)
    overrides = [fill(o, **fields) for o in spec.overrides + source.overrides]
    if spec.pretrain.fraction_override:
        overrides.append(fill(spec.pretrain.fraction_override, **fields))
    overrides.append(f"training.seed={seed}")
    config_key = f"pretrain.sources.{source.name}.config" if source.config else "pretrain.config"
    config = fill(source.config or spec.pretrain.config, model=model, source=source.name)
    axes = dict(model=model, source=source.name, pretrain_fraction=fraction, pretrain_seed=seed, task=None,
                mode=None, fraction=None, seed=seed)
    name = f"pt-{model}-{source.name}-p{format_fraction(fraction)}-s{seed}"
    return _make_run(spec, cache, name, "pretrain", config, config_key, overrides, axes, source.dataset, None)


def _finetune_run(spec, cache, model, source, pretrain, task, mode, fraction, seed):
    fields = dict(model=model, source=source.name, task=task.name, dataset=task.dataset, mode=mode,
                  fraction=format_fraction(fraction), seed=seed)
    overrides = [fill(o, **fields) for o in spec.overrides + task.overrides + spec.finetune.modes[mode]]
    if spec.finetune.fraction_override:
        overrides.append(fill(spec.finetune.fraction_override, **fields))
    overrides.append(f"training.seed={seed}")
    config_key = f"finetune.tasks.{task.name}.config" if task.config else "finetune.config"
    config = fill(task.config or spec.finetune.config, model=model, task=task.name)
    pretrain_fraction = pretrain.axes["pretrain_fraction"] if pretrain else None
    pretrain_seed = pretrain.axes["pretrain_seed"] if pretrain else None
    axes = dict(model=model, source=source.name, pretrain_fraction=pretrain_fraction, pretrain_seed=pretrain_seed,
                task=task.name, mode=mode, fraction=fraction, seed=seed)
    upstream = source.name if pretrain is None else pretrain.name[len(f"pt-{model}-"):]
    name = f"ft-{model}-{upstream}-{task.name}-{mode}-d{format_fraction(fraction)}-s{seed}"
    return _make_run(spec, cache, name, "finetune", config, config_key, overrides, axes, task.dataset, pretrain)


def expand_study(spec):
    """Every run of the grid: pretraining runs first, each once, then the finetuning runs.

    A finetuning run exists per (pretraining run it starts from, finetuning seed): with
    several pretraining seeds a table cell holds every such pair.
    """
    cache = {}
    pretrains, finetunes = [], []
    for model in spec.models:
        upstreams = []
        for source in spec.pretrain.sources.values():
            if source.is_baseline:
                upstreams.append((source, None))
                continue
            for fraction in spec.pretrain.fractions:
                for pretrain_seed in spec.pretrain.seeds:
                    run = _pretrain_run(spec, cache, model, source, fraction, pretrain_seed)
                    pretrains.append(run)
                    upstreams.append((source, run))
        for source, pretrain in upstreams:
            for task in spec.finetune.tasks.values():
                for mode in spec.finetune.modes:
                    for fraction in spec.finetune.fractions_of(source.name, task.name, mode):
                        for seed in spec.finetune.seeds:
                            finetunes.append(
                                _finetune_run(spec, cache, model, source, pretrain, task, mode, fraction, seed)
                            )
    runs = pretrains + finetunes
    _reject_duplicates(spec, runs)
    return runs


def _reject_duplicates(spec, runs):
    seen = {}
    for run in runs:
        twin = seen.setdefault(run.digest, run)
        if twin is not run:
            raise SpecError(
                f"{spec.path}: runs {twin.name} and {run.name} are the same experiment (same config and overrides). "
                "Give them different configs or overrides, or remove one from the grid."
            )


def select_runs(runs, pattern):
    """Runs whose name matches the glob ``pattern``, plus the runs they start from."""
    chosen = {run.name for run in runs if fnmatch.fnmatchcase(run.name, pattern)}
    chosen |= {run.depends_on.name for run in runs if run.name in chosen and run.depends_on}
    return [run for run in runs if run.name in chosen]
