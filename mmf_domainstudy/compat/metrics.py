"""MMF's metrics give the values rc10 gave with torch 1.5 and scikit-learn 0.23 (June 2020).

Three library changes moved values that rc10's ``mmf/modules/metrics.py`` computes; each
shim restores rc10's value only where the running library behaves the new way. Two more
shims concern rc10 itself: metric ``params`` in a config reach the metric (rc10's
docstring promises it, its code drops them), and a misspelled metric name is one clear
error before anything is written. ``tests/test_metrics_parity.py`` pins every metric.
"""
import collections.abc
import functools
import threading
import warnings

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from mmf_domainstudy.utils.errors import ConfigError

from .input_checks import _did_you_mean, check_after_build_config
from .registry import AFTER_MMF, shim

ONE_CLASS_MESSAGE = "Only one class present in y_true. ROC AUC score is not defined in that case."


def _torch_takes_first_of_tied_maxima():
    row = torch.zeros(1, 3)
    return row.argmax(1).item() == 0 or row.max(1)[1].item() == 0


def _dim_argument(args, kwargs):
    dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
    return dim if isinstance(dim, int) else None


def _last_of_tied_maxima(tensor, dim, keepdim):
    return tensor.size(dim) - 1 - tensor.flip(dim).argmax(dim, keepdim=keepdim)


class TorchOneFiveTies(TorchFunctionMode):
    """torch 1.5's pick among tied maxima: ``argmax(dim)`` the last one (pytorch#32343, changed in 1.7 by
    pytorch#42004), ``max(dim)`` the last one on CPU (its CUDA kernel took the first, as torch does now).
    Rows holding NaN are left as torch picks them now."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        is_argmax, is_max = func in (torch.argmax, torch.Tensor.argmax), func in (torch.max, torch.Tensor.max)
        dim = _dim_argument(args, kwargs) if is_argmax or is_max else None
        source = args[0] if args else kwargs.get("input")
        if dim is None or (is_max and source.device.type != "cpu"):
            return func(*args, **kwargs)
        keepdim = kwargs.get("keepdim", args[2] if len(args) > 2 else False)
        indices = _last_of_tied_maxima(source, dim, keepdim)
        if is_argmax:
            return indices
        return torch.return_types.max((func(*args, **kwargs).values, indices))


_IN_METRIC = threading.local()


def _with_torch_one_five_ties(calculate):
    @functools.wraps(calculate)
    def calculate_with_rc10_ties(self, *args, **kwargs):
        if getattr(_IN_METRIC, "active", False):  # called from a wrapped calculate: a second mode would flip back
            return calculate(self, *args, **kwargs)
        _IN_METRIC.active = True
        try:
            with TorchOneFiveTies():
                return calculate(self, *args, **kwargs)
        finally:
            _IN_METRIC.active = False

    return calculate_with_rc10_ties


def mmf_metric_classes():
    """rc10's own metric classes, as registered (not metrics a plugin or user added)."""
    from mmf.common.registry import registry

    return [cls for cls in registry.mapping["metric_name_mapping"].values() if cls.__module__ == "mmf.modules.metrics"]


@shim(
    "rc10_tie_breaking",
    AFTER_MMF,
    "torch >= 1.7 argmax (>= 1.6 max(dim) on CPU) picks the first of tied maxima, torch 1.5 the last: e.g. the "
    "class rc10's multilabel_macro_f1 reads from a multi-hot target",
    detect=_torch_takes_first_of_tied_maxima,
)
def break_ties_in_mmf_metrics_as_torch_1_5():
    for cls in mmf_metric_classes():
        if "calculate" in vars(cls):
            cls.calculate = _with_torch_one_five_ties(cls.calculate)


def _binary_targets(y_true, average):
    """The 0/1 target vector of each binary problem scikit-learn scores for ``average`` (none when it
    returns 0 before scoring: ``weighted`` without any positive)."""
    y_true = np.asarray(y_true)
    if y_true.ndim == 1:
        return [y_true]
    if average == "micro":
        return [y_true.ravel()]
    if average == "weighted" and not y_true.any():
        return []
    return list(y_true) if average == "samples" else list(y_true.T)


def _roc_auc_warns_on_one_class():
    from sklearn.metrics import roc_auc_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            roc_auc_score([1, 1], [0.3, 0.7])
        except ValueError:
            return False
    return True


@shim(
    "roc_auc_one_class_raises",
    AFTER_MMF,
    "scikit-learn >= 1.6 returns NaN (with a warning) for ROC AUC on targets of one class; 0.23 raised, "
    "as rc10's roc_auc docstring says",
    detect=_roc_auc_warns_on_one_class,
)
def raise_on_one_class_roc_auc():
    from mmf.modules import metrics
    from sklearn.metrics import roc_auc_score

    def roc_auc_score_as_sklearn_0_23(y_true, y_score, average="macro", **kwargs):
        if any(len(np.unique(target)) < 2 for target in _binary_targets(y_true, average)):
            raise ValueError(
                f"{ONE_CLASS_MESSAGE} (rc10's roc_auc: every class needs positive and negative samples in "
                "the evaluated split; use it on the full val split, or use another metric)"
            )
        return roc_auc_score(y_true, y_score, average=average, **kwargs)

    metrics.roc_auc_score = roc_auc_score_as_sklearn_0_23


def _average_precision_is_zero_without_positives():
    from sklearn.metrics import average_precision_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return not np.isnan(average_precision_score([0, 0], [0.3, 0.7]))


@shim(
    "average_precision_without_positives_is_nan",
    AFTER_MMF,
    "scikit-learn >= 1.1 scores AP 0 for a class without positive samples (recall set to 1); 0.23 gave NaN, "
    "so rc10's macro AP was NaN, not lowered",
    detect=_average_precision_is_zero_without_positives,
)
def average_precision_nan_without_positives():
    from mmf.modules import metrics
    from sklearn.metrics import average_precision_score

    def average_precision_score_as_sklearn_0_23(y_true, y_score, average="macro", **kwargs):
        value = average_precision_score(y_true, y_score, average=average, **kwargs)
        if average == "weighted":  # both versions give a class without positives weight 0
            return value
        without_positives = np.array([not np.any(target) for target in _binary_targets(y_true, average)])
        if average is None:
            return np.where(without_positives, np.nan, value)
        return float("nan") if without_positives.any() else value

    metrics.average_precision_score = average_precision_score_as_sklearn_0_23


def _plain(params):
    from omegaconf import DictConfig, OmegaConf

    return OmegaConf.to_container(params, resolve=True) if isinstance(params, DictConfig) else dict(params)


def _metrics_drop_params():
    from mmf.modules.metrics import Metrics
    from omegaconf import OmegaConf

    entry = OmegaConf.create({"type": "f1", "params": {"average": "micro"}})
    return Metrics([entry]).metrics["f1"]._sk_kwargs != {"average": "micro"}


@shim(
    "metric_params",
    AFTER_MMF,
    "rc10's Metrics reads a metric's params after replacing the entry by its type name, so a config's "
    "params (which its docstring documents) never reach the metric",
    detect=_metrics_drop_params,
)
def pass_params_to_metrics():
    from mmf.common.registry import registry
    from mmf.modules.metrics import Metrics

    init_metrics = Metrics._init_metrics

    def _init_metrics(self, metric_list):
        metrics = init_metrics(self, metric_list)
        for entry in metric_list:
            if isinstance(entry, collections.abc.Mapping) and entry.get("params"):
                metrics[entry["type"]] = registry.get_metric_class(entry["type"])(**_plain(entry["params"]))
        return metrics

    Metrics._init_metrics = _init_metrics


def check_metric_names(metric_list):
    """ConfigError for an ``evaluation.metrics`` entry that names no registered metric."""
    from mmf.common.registry import registry

    registered = sorted(registry.mapping["metric_name_mapping"])
    for index, entry in enumerate(metric_list or []):
        name = entry.get("type") if isinstance(entry, collections.abc.Mapping) else entry
        if name is None:
            raise ConfigError(f"evaluation.metrics[{index}] has no type; write it as '- type: <metric name>'")
        if name not in registered:
            raise ConfigError(
                f"evaluation.metrics names {name!r}, which is not a registered metric"
                f"{_did_you_mean(name, registered)}; use one of: {', '.join(registered)}"
            )


@shim(
    "clear_metric_name_errors",
    AFTER_MMF,
    "rc10 meets a misspelled metric name with a traceback, after its logger has written into env.save_dir",
    detect=lambda: True,
)
def check_metric_names_before_logging():
    check_after_build_config(lambda config: check_metric_names(config.evaluation.get("metrics", [])))
