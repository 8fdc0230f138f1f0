"""The model's region-feature sizes, taken from the feature store instead of typed by hand.

A model config may say ``visual_embedding_dim: auto`` (VisualBERT) or
``v_feature_size: auto`` / ``v_target_size: auto`` (ViLBERT); they are read from
the training store's ``feature_info.json`` (or its first record). Numbers given
explicitly are checked against the store, so a 1280-d EfficientNet store never
meets a 2048-d model halfway through the first batch.
"""
import os

from omegaconf import open_dict

from mmf_domainstudy.formats.errors import DataFormatError

from mmf_domainstudy.formats.feature_store import FeatureStore, read_feature_info

# model name -> {model config key: what of the store it must equal}
FEATURE_KEYS = {
    "visual_bert": {"visual_embedding_dim": "dim"},
    "vilbert": {"v_feature_size": "dim", "v_target_size": "cls_prob_classes"},
}


def training_feature_store(config):
    """Path of the first training dataset's first feature store, or None if it has none."""
    for dataset in str(config.datasets).split(","):
        dataset_config = config.dataset_config.get(dataset.strip())
        if dataset_config is None or not dataset_config.get("use_features", False):
            continue
        stores = dataset_config.get("features", {}).get("train", [])
        if isinstance(stores, str):
            stores = [stores]
        if stores:
            return dataset.strip(), os.path.join(dataset_config.data_dir, str(stores[0]).split(",")[0])
    return None, None


def store_sizes(store_path):
    """``{"dim": ..., "cls_prob_classes": ...}`` of a store (info file first, else one record)."""
    info = read_feature_info(store_path) or {}
    if "dim" in info:
        return {"dim": int(info["dim"]), "cls_prob_classes": int(info.get("cls_prob_classes") or 0) or None}
    store = FeatureStore(store_path)
    record = store[store.keys()[0]]
    cls_prob = record.get("cls_prob")
    return {"dim": int(record["features"].shape[-1]), "cls_prob_classes": None if cls_prob is None else int(cls_prob.shape[-1])}


def resolve_feature_dims(config):
    """Fill ``auto`` sizes in ``config.model_config[config.model]`` and check explicit ones."""
    keys = FEATURE_KEYS.get(config.model)
    model_config = config.model_config.get(config.model)
    if not keys or model_config is None:
        return
    dataset, store_path = training_feature_store(config)
    if store_path is None or not os.path.exists(store_path):
        if any(str(model_config.get(key)) == "auto" for key in keys):
            raise DataFormatError(
                f"model_config.{config.model} asks for feature sizes 'auto' but dataset {dataset} has no "
                f"readable training feature store ({store_path}); set the sizes explicitly or fix the path"
            )
        return
    sizes = store_sizes(store_path)
    with open_dict(model_config):
        for key, source in keys.items():
            actual, configured = sizes[source], model_config.get(key)
            if actual is None:
                continue
            if str(configured) == "auto":
                model_config[key] = actual
            elif configured is not None and int(configured) != actual:
                raise DataFormatError(
                    f"model_config.{config.model}.{key}={configured} but the features in {store_path} have "
                    f"{actual} ({source}); set model_config.{config.model}.{key}={actual} (or auto)"
                )
