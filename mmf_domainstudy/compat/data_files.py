"""A run builds and checks only the data splits its ``run_type`` uses.

rc10's DatasetLoader builds train, val and test for every run, so a train_val run
dies on a test file it never reads (researchers often have only train/val: the
test features alone are tens of GB), and a missing file surfaces as a raw
traceback deep in dataset loading. A split is used exactly where rc10's trainer
uses it: train when ``run_type`` contains "train"; val for "train" (it validates
while training) or "val"; test for "inference", "test" or "predict"
(``BaseTrainer.inference``). The loaders of the other splits stay empty.
"""
from unittest import mock

from mmf_domainstudy.utils.errors import ConfigError

from .registry import AFTER_MMF, shim

# Registered before input_checks (see compat/__init__.py), so the data check runs before
# the writable_save_dir check creates env.save_dir.

SPLITS = ("train", "val", "test")


def splits_for_run_type(run_type):
    """The splits rc10's trainer reads for ``run_type``, in MMF's order."""
    run_type = str(run_type)
    used = {
        "train": "train" in run_type,
        "val": "train" in run_type or "val" in run_type,
        "test": any(word in run_type for word in ("inference", "test", "predict")),
    }
    splits = tuple(split for split in SPLITS if used[split])
    if not splits:
        raise ConfigError(
            f"run_type={run_type!r} uses no data split; it must contain train, val, test, inference or predict, "
            "e.g. run_type=train_val"
        )
    return splits


def _unbuilt_split_class():
    from mmf.datasets.multi_dataset_loader import MultiDatasetLoader

    class UnbuiltSplit(MultiDatasetLoader):
        """A split the run_type does not use: length 0, nothing loaded; iterating it says why."""

        def __init__(self, dataset_type, run_type):
            super().__init__(dataset_type)
            self._run_type = run_type

        def load(self, config):
            pass

        def __iter__(self):
            raise ConfigError(
                f"the {self.dataset_type} split was not built: run_type={self._run_type} does not use it. "
                f"Set a run_type that reads {self.dataset_type} (test: one containing inference, test or predict)"
            )

    return UnbuiltSplit


@shim(
    "run_type_splits",
    AFTER_MMF,
    "rc10 builds train, val and test for every run, so a train_val run fails on a test file it never reads",
    detect=lambda: True,
)
def build_only_the_splits_a_run_uses():
    import functools

    from mmf.common import dataset_loader

    UnbuiltSplit = _unbuilt_split_class()
    MultiDatasetLoader = dataset_loader.MultiDatasetLoader
    rc10_load_datasets = dataset_loader.DatasetLoader.load_datasets

    @functools.wraps(rc10_load_datasets)
    def load_datasets(self):
        run_type = self.config.get("run_type", "train")
        used = splits_for_run_type(run_type)

        def split_loader(dataset_type):
            if dataset_type in used:
                return MultiDatasetLoader(dataset_type)
            return UnbuiltSplit(dataset_type, run_type)

        with mock.patch.object(dataset_loader, "MultiDatasetLoader", split_loader):
            rc10_load_datasets(self)  # unchanged, with loaders of the unused splits left empty

    dataset_loader.DatasetLoader.load_datasets = load_datasets


@shim(
    "missing_data_files",
    AFTER_MMF,
    "rc10 meets a missing annotation, feature store or vocabulary deep in dataset loading, one per attempt; "
    "every file of the run's splits is checked before anything is written",
    detect=lambda: True,
)
def check_data_files_before_the_run():
    from mmf_domainstudy.datasets.data_check import check_data_files

    from .input_checks import check_after_build_config

    check_after_build_config(check_data_files)
