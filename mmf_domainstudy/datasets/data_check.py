"""Every file a run's splits read, looked up where rc10 looks, checked before the run starts.

rc10 opens a split's files while it builds that split, so a missing one surfaces deep
in dataset loading (numpy's FileNotFoundError, "path specified for LMDB features
doesn't exists", "Vocab file ... doesn't exist"), one file per attempt. Here every
file of every split the ``run_type`` uses is listed with the config key naming it,
resolved as rc10 resolves it, where ``data_dir`` is ``dataset_config.<name>.data_dir``
(``${env.data_dir}/datasets`` in every bundled yaml):

- ``annotations.<split>[i]``, ``features.<split>[i]``, ``images.<split>[i]``:
  ``os.path.join(data_dir, part)`` for each comma-separated part
  (``MMFDataset._add_root_dir``), then MMF's ``get_absolute_path`` (as given, under
  ``env.user_dir``, under MMF's package); features and images only when
  ``use_features`` / ``use_images`` is set;
- ``processors.<name>.params...vocab_file``: ``os.path.join(mmf_root, data_dir,
  vocab_file)`` (``VocabDict``), for every split alike.
"""
import dataclasses
import os
from typing import Optional

from mmf.utils.general import get_absolute_path, get_mmf_root
from omegaconf import OmegaConf

from mmf_domainstudy.compat.data_files import splits_for_run_type
from mmf_domainstudy.formats.errors import DataFormatError
from mmf_domainstudy.utils.errors import ConfigError

ANNOTATIONS, FEATURES, IMAGES, VOCABULARY = "annotations", "features", "images", "vocabulary"
EVERY_SPLIT = "all"  # a processor's files are read by whichever split is built
DATASET_TITLES = {
    "vqa2": "VQA v2",
    "masked_vqa_p": "VQA-P",
    "masked_coco": "COCO captions",
    "masked_conceptual_captions": "Conceptual Captions",
    "masked_cc_small": "CC-small",
    "masked_ccg": "CCG generated captions",
    "vizwiz": "VizWiz",
    "visual_entailment": "SNLI-VE",
    "mmimdb": "MM-IMDB",
    "easy_vqa": "easy-vqa",
    "easy_vqa_entailment": "easy-vqa entailment",
    "caption_pairs": "captioning pairs",
}
ANNOTATION_FORMATS = {".npy": "imdb .npy", ".jsonl": "jsonl", ".json": "json"}
# Data the project's own tools write, by dataset; the rest is MMF's download or the user's.
PROJECT_TOOLS = {
    "easy_vqa": "tools/prepare_demo_data.py --data-dir <env.data_dir> writes it",
    "easy_vqa_entailment": "tools/prepare_demo_data.py --data-dir <env.data_dir> writes it",
    "masked_ccg": "tools/generate_captions.py writes CCG's captions",
}
EXTRACT_FEATURES = "tools/extract_features.py IMAGES --output STORE.lmdb extracts a feature store from images"


@dataclasses.dataclass(frozen=True)
class DataFile:
    dataset: str
    split: str  # train, val, test, or EVERY_SPLIT
    key: str  # the config key that names it, usable as a command-line override
    path: str  # where rc10 opens it
    kind: str  # ANNOTATIONS, FEATURES, IMAGES or VOCABULARY
    present: bool
    size: Optional[int]  # bytes; None when missing or a folder of files

    @property
    def what(self):
        return describe([self])


class MissingDataFiles(DataFormatError):
    """Files a run (or a study's runs) needs are missing; ``files`` lists them."""

    def __init__(self, message, files):
        super().__init__(message)
        self.files = files


def dataset_names(config):
    """The run's datasets as rc10's MultiDatasetLoader reads ``datasets``."""
    names = config.get("datasets") or "vqa2"
    names = names.split(",") if isinstance(names, str) else list(names)
    return [name.strip() for name in names if name.strip() in config.dataset_config]


def run_data_files(config):
    """Every file the splits of ``config.run_type`` read, dataset by dataset, split by split."""
    splits = splits_for_run_type(config.get("run_type", "train"))
    files = []
    for name in dataset_names(config):
        dataset_config = config.dataset_config[name]
        for split in splits:
            files.extend(split_files(name, dataset_config, split))
        files.extend(vocabulary_files(name, dataset_config))
    return files


def split_files(name, dataset_config, split):
    """The annotation files of ``split`` and, per annotation file, its feature stores or image folders."""
    annotations = _listed(dataset_config, ANNOTATIONS, split)
    paired = [kind for kind, flag in ((FEATURES, "use_features"), (IMAGES, "use_images")) if dataset_config.get(flag, False)]
    files = []
    for index, entry in enumerate(annotations):
        key = f"{ANNOTATIONS}.{split}{_index_suffix(index, len(annotations))}"
        files.append(_data_file(name, split, key, get_absolute_path(_under_data_dir(dataset_config.data_dir, entry)),
                                ANNOTATIONS))
        for kind in paired:
            paired_entry = _paired_entry(dataset_config, kind, split, index)
            if paired_entry is None:
                continue  # rc10 fails on the config itself here ("No features present", IndexError)
            key, entry_of_kind = paired_entry
            for part in _under_data_dir(dataset_config.data_dir, entry_of_kind).split(","):
                files.append(_data_file(name, split, key, get_absolute_path(part), kind))
    return files


def vocabulary_files(name, dataset_config):
    """Each processor's ``vocab_file``, at any depth of its params."""
    files = []
    for processor, processor_config in (dataset_config.get("processors") or {}).items():
        params = processor_config.get("params") if processor_config else None
        for dotted, vocab_file in _vocab_files(params, f"processors.{processor}.params"):
            path = vocab_file
            if not os.path.isabs(vocab_file):
                path = os.path.abspath(os.path.join(get_mmf_root(), dataset_config.data_dir, vocab_file))
            files.append(_data_file(name, EVERY_SPLIT, dotted, path, VOCABULARY))
    return files


def _vocab_files(node, prefix):
    if not OmegaConf.is_config(node) or not OmegaConf.is_dict(node):
        return
    for key, value in node.items():
        if key == "vocab_file" and isinstance(value, str):
            yield f"{prefix}.{key}", value
        else:
            yield from _vocab_files(value, f"{prefix}.{key}")


def _listed(dataset_config, kind, split):
    """``<kind>.<split>`` as a list: rc10 takes a string or a list of strings."""
    value = (dataset_config.get(kind) or {}).get(split) or []
    return [value] if isinstance(value, str) else [str(entry) for entry in value]


def _paired_entry(dataset_config, kind, split, index):
    """``(key, entry)`` of ``<kind>.<split>`` that rc10 pairs with annotation file ``index`` (a string
    serves every file, a list entry ``index``), or None where rc10 has none."""
    value = (dataset_config.get(kind) or {}).get(split) or []
    if isinstance(value, str):
        return f"{kind}.{split}", value
    if index >= len(value):
        return None
    return f"{kind}.{split}{_index_suffix(index, len(value))}", str(value[index])


def _index_suffix(index, count):
    """``[index]`` in a key only where the list has several files: a one-file list is set as a string."""
    return f"[{index}]" if count > 1 else ""


def _under_data_dir(data_dir, entry):
    """rc10's ``MMFDataset._add_root_dir``: each comma-separated part joined to ``data_dir``."""
    return ",".join(os.path.join(data_dir, part) for part in entry.split(","))


def _data_file(name, split, key, path, kind):
    path = os.path.abspath(path)
    present, size = _presence(path, kind)
    return DataFile(name, split, f"dataset_config.{name}.{key}", path, kind, present, size)


def _presence(path, kind):
    """``(present, size in bytes or None)``; an LMDB store is a file or a folder holding data.mdb."""
    if kind == FEATURES and path.endswith(".lmdb"):
        data = os.path.join(path, "data.mdb") if os.path.isdir(path) else path
        return (True, os.path.getsize(data)) if os.path.isfile(data) else (False, None)
    if kind in (FEATURES, IMAGES):
        return os.path.isdir(path), None
    return (True, os.path.getsize(path)) if os.path.isfile(path) else (False, None)


def describe(files):
    """What a file is, e.g. "VQA v2 test annotations (imdb .npy)", for the entries of one path."""
    first = files[0]
    title = DATASET_TITLES.get(first.dataset, first.dataset)
    if first.kind == VOCABULARY:
        processor = first.key.split(".processors.")[1].split(".")[0]
        return f"{title} {processor.replace('_processor', '')} vocabulary"
    splits = "+".join(dict.fromkeys(f.split for f in files))
    if first.kind == ANNOTATIONS:
        file_format = ANNOTATION_FORMATS.get(os.path.splitext(first.path)[1], "unknown format")
        return f"{title} {splits} annotations ({file_format})"
    if first.kind == FEATURES:
        return f"{title} {splits} region features ({'LMDB store' if first.path.endswith('.lmdb') else 'folder of .npy'})"
    return f"{title} {splits} images (folder)"


def format_size(size):
    if size is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024


def format_table(files):
    """The check as a table: dataset, split, kind, file, present/missing, size."""
    rows = [("dataset", "split", "kind", "file", "status", "size")]
    rows += [(f.dataset, f.split, f.kind, f.path, "present" if f.present else "MISSING", format_size(f.size)) for f in files]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] for row in rows)


def run_context(configs, missing):
    """What decided the paths of ``missing``, over the configs of the runs lacking them."""
    reads = dict.fromkeys(f"run_type={c.get('run_type', 'train')} reads "
                          f"{', '.join(splits_for_run_type(c.get('run_type', 'train')))}" for c in configs)
    datasets = {f.dataset for f in missing}
    data_dirs = dict.fromkeys(f"dataset_config.{name}.data_dir={c.dataset_config[name].data_dir}"
                              for c in configs for name in dataset_names(c) if name in datasets)
    env_data_dirs = dict.fromkeys(str(c.env.data_dir) for c in configs)
    return (f"{'; '.join(reads)}; relative entries are under {', '.join(data_dirs)} "
            f"(env.data_dir={', '.join(env_data_dirs)})")


def missing_files_message(missing, context, needed_by=None):
    """One paragraph: each missing file (what, key, path), then how to get it or which key moves it.

    ``needed_by`` maps a path to the runs that need it, when a study's runs are checked together.
    """
    paths = {}
    for data_file in missing:
        paths.setdefault(data_file.path, []).append(data_file)
    items = []
    for number, (path, files) in enumerate(paths.items(), start=1):
        keys = ", ".join(dict.fromkeys(f.key for f in files))
        runs = ""
        if needed_by:
            names = needed_by[path]
            runs = f" (needed by {len(names)} run(s): {', '.join(names[:3])}{', ...' if len(names) > 3 else ''})"
        items.append(f"[{number}] {describe(files)}: {keys} -> {path}{runs}")
    return f"{len(paths)} data file(s) missing ({context}): {'; '.join(items)}. To fix: {_fixes(missing)}"


def _fixes(missing):
    first = missing[0]
    sources = ["MMF's download of a dataset unpacks into <data_dir>/<name>/<variant>/"]
    sources += [f"{name}: {PROJECT_TOOLS[name]}" for name in dict.fromkeys(f.dataset for f in missing)
                if name in PROJECT_TOOLS]
    if any(f.kind == FEATURES for f in missing):
        sources.append(EXTRACT_FEATURES)
    fixes = [
        f"put each file at its path ({'; '.join(sources)})",
        f"point its key at the file, e.g. {override_example(first)} (in the config or on the command line)",
        "set env.data_dir (or $MMF_DATA_DIR) to the folder that holds datasets/",
    ]
    text = ", or ".join(fixes)
    if any(f.split == "test" for f in missing):
        text += "; a run that need not evaluate test can leave it out of run_type (e.g. run_type=train_val)"
    return text


def override_example(data_file):
    """A command-line override that moves ``data_file``. rc10 silently ignores ``key[i]=value`` on a list
    of strings, so a file of a several-file list is moved by giving the whole list."""
    name = f"/path/to/{os.path.basename(data_file.path)}"
    key, indexed, _ = data_file.key.partition("[")
    if not indexed:
        return f"{key}={name}"
    return f"{key}=\"['/path/to/file0', ..., '{name}']\" (the whole list)"


def raise_for_missing(files, config):
    """Raise MissingDataFiles naming every file of ``files`` that is missing, all in one message."""
    missing = [f for f in files if not f.present]
    if missing:
        raise MissingDataFiles(missing_files_message(missing, run_context([config], missing)), missing)


def check_data_files(config):
    """Every file of ``config``'s run, or MissingDataFiles listing all those missing (ConfigError naming
    ``env.data_dir`` when that folder is what is wrong)."""
    files = run_data_files(config)
    for missing in (f for f in files if not f.present):
        check_data_dir(config.env.data_dir, missing.path)
    raise_for_missing(files, config)
    return files


def check_data_dir(data_dir, missing_path):
    """A missing file under ``env.data_dir`` because the data dir itself is wrong is that key's fault."""
    if not data_dir or not os.path.abspath(missing_path).startswith(os.path.abspath(data_dir) + os.sep):
        return
    if os.path.isdir(os.path.join(data_dir, "datasets")):
        return
    state = "has no datasets folder" if os.path.isdir(data_dir) else "does not exist"
    raise ConfigError(
        f"env.data_dir={data_dir} {state} (reading {missing_path}); set env.data_dir (or $MMF_DATA_DIR) "
        "to MMF's data root, the folder that holds datasets/<name>/<variant>/annotations"
    )
