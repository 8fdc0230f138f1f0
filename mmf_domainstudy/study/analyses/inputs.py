"""What the study's analyses read: runs' composed configs and stamps of their input files.

A stamp (path, size, modification time) of every input is stored beside each result,
so rerunning an analysis recomputes only what changed and reuses the rest.
"""
import os
import tempfile
from pathlib import Path

from mmf_domainstudy.analysis.mmf_inputs import compose_run_config
from mmf_domainstudy.study.run.plan import STUDY_CONFIG, study_config_text

RUN_CONFIG = "config.yaml"  # what MMF writes into every save dir


def file_stamp(path):
    """Identity of a file's content for reuse checks; None when it does not exist."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return {"path": os.path.abspath(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def stamp_files(files):
    """``({name: stamp}, None)`` for ``{name: path}``, or ``(None, "missing <paths>")`` when any is absent."""
    stamps = {name: file_stamp(path) for name, path in files.items()}
    missing = [str(files[name]) for name, stamp in stamps.items() if stamp is None]
    return (None, f"missing {', '.join(missing)}") if missing else (stamps, None)


def planned_config(spec, run):
    """The MMF config a run is (or will be) launched with, composed without running it:
    its base config and the spec's overlays, then the run's overrides, as MMF merges them."""
    overrides = ([f"env.data_dir={spec.data_dir}"] if spec.data_dir else []) + list(run.overrides)
    with tempfile.TemporaryDirectory(prefix="study-config-") as folder:
        path = Path(folder) / STUDY_CONFIG
        path.write_text(study_config_text(run))
        return compose_run_config(str(path), run.dataset, overrides, model=run.model)


def as_list(value):
    """MMF accepts one path or a list of them wherever it reads files."""
    return [value] if isinstance(value, str) else list(value or [])


def _train_entries(block, dataset, kind):
    entries = as_list((block.get(kind) or {}).get("train"))
    if not entries:
        raise ValueError(f"the run config has no dataset_config.{dataset}.{kind}.train; set it to the {kind} "
                         f"of {dataset}'s training split")
    return entries


def train_inputs(config, dataset):
    """Absolute paths of a dataset's train annotations and feature stores in a composed config.

    Like MMF's feature readers, a features entry may join several stores with commas.
    """
    block = config.dataset_config[dataset]
    root = str(block.data_dir)
    annotations = [os.path.join(root, str(path)) for path in _train_entries(block, dataset, "annotations")]
    stores = [os.path.join(root, part) for entry in _train_entries(block, dataset, "features")
              for part in str(entry).split(",")]
    return {"annotations": annotations, "features": stores}
