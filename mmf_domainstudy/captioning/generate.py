"""Caption every image of a feature store: CCG's generated-caption annotation files.

The output is an MMF by-image caption imdb (``image_id``, ``image_name``,
``feature_path``, ``captions``) that caption datasets such as ``masked_ccg``
read with the same feature store, plus ``<name>.provenance.json`` beside it.
Captions are appended to ``<out>.partial.jsonl`` batch by batch, so an
interrupted run resumes where it stopped; the imdb is written atomically at the end.
"""
import datetime
import json
import os

import torch
from omegaconf import OmegaConf
from tqdm import tqdm

from mmf_domainstudy.captioning.loading import load_captioner
from mmf_domainstudy.formats.errors import DataFormatError
from mmf_domainstudy.formats.feature_store import FeatureStore, feature_path_for_sample, read_feature_dim
from mmf_domainstudy.formats.imdb import read_imdb, write_imdb
from mmf_domainstudy.utils.atomic import atomic_write_text

DATASET_NAME = "ccg"


def provenance_path(out):
    return os.path.splitext(os.fspath(out))[0] + ".provenance.json"


def partial_path(out):
    return os.fspath(out) + ".partial.jsonl"


def image_fields(store, key):
    """The imdb fields naming stored image ``key`` so that MMF's LMDB reader finds it again."""
    name = key.decode()
    fields = {"image_id": int(name) if name.isdigit() else name, "image_name": name, "feature_path": name + ".npy"}
    if store.key_for_feature_path(fields["feature_path"]) != key:
        raise DataFormatError(
            f"feature store {store.path}: image {name!r} cannot be named unambiguously (MMF would read "
            f"{store.key_for_feature_path(fields['feature_path'])!r} for {fields['feature_path']}); rename it in the store."
        )
    return fields


def selected_images(store, only_images=None):
    """``[(key, imdb fields)]``: every stored image, or the images annotation file ``only_images`` names.

    Images taken from ``only_images`` keep its image_id, image_name and feature_path.
    """
    if only_images is None:
        return [(key, image_fields(store, key)) for key in store.keys()]
    _, samples = read_imdb(only_images)
    selected = {}
    for sample in samples:
        feature_path = feature_path_for_sample(sample)
        key = store.key_for_feature_path(feature_path)
        name = sample.get("image_name", key.decode())
        selected.setdefault(key, {"image_id": sample["image_id"], "image_name": name, "feature_path": feature_path})
    return list(selected.items())


def region_batch(store, keys, max_regions):
    """Zero-padded features [B, R, D] and region counts [B] of ``keys`` (at most ``max_regions`` each)."""
    arrays = [store[key]["features"][:max_regions] for key in keys]
    if any(len(a) == 0 for a in arrays):
        raise DataFormatError(f"feature store {store.path}: an image among {keys[:5]} has no regions.")
    counts = torch.tensor([len(a) for a in arrays])
    features = torch.zeros(len(arrays), int(counts.max()), arrays[0].shape[1])
    for row, array in enumerate(arrays):
        features[row, : len(array)] = torch.from_numpy(array)
    return features, counts


def caption_images(captioner, store, keys, beam_size=3, max_length=20, batch_size=32, progress=True):
    """Yield ``(key, caption, log-probability)`` per image, in batches of ``batch_size``."""
    device = next(captioner.model.parameters()).device
    with tqdm(total=len(keys), desc="captioning", unit="img", disable=not progress) as bar:
        for start in range(0, len(keys), batch_size):
            batch = keys[start : start + batch_size]
            features, counts = region_batch(store, batch, captioner.max_regions)
            found = captioner.model.generate(features.to(device), counts.to(device), beam_size, max_length)
            for key, hypothesis in zip(batch, found):
                yield key, captioner.model.caption_text(hypothesis.tokens), hypothesis.score
            bar.update(len(batch))


def check_feature_dim(captioner, store_path):
    dim, expected = read_feature_dim(store_path), int(captioner.model.config.image_feature_dim)
    if dim != expected:
        raise DataFormatError(
            f"feature store {store_path} holds {dim}-d features but the captioner was trained on {expected}-d ones; "
            "caption a store extracted with the captioner's backbone."
        )


def _read_partial(path, settings):
    """Captions already written by an interrupted run with the same ``settings``."""
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    try:
        header = json.loads(lines[0]) if lines else None
    except json.JSONDecodeError:
        header = None  # stopped while writing the header: nothing was captioned yet
    if header is None:
        return {}
    if header.get("settings") != settings:
        raise DataFormatError(
            f"{path} was started with other settings ({header.get('settings')}); delete it to start over "
            "or rerun with the same captioner, store and decoding options to resume."
        )
    done = {}
    for number, line in enumerate(lines[1:], start=2):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):  # the line being written when the run stopped
                break
            raise DataFormatError(f"{path}: line {number} is not JSON; delete the file to start over.") from None
        done[entry["key"]] = entry
    return done


def _append(handle, entries):
    handle.write("".join(json.dumps(entry) + "\n" for entry in entries))
    handle.flush()
    os.fsync(handle.fileno())


def _source_captions(run_config):
    dataset = run_config.dataset_config.caption_pairs
    return {
        split: {"annotations": list(dataset.annotations[split]), "features": list(dataset.features[split])}
        for split in ("train", "val")
    }


def generate_caption_file(
    captioner_dir, features, out, only_images=None, beam_size=3, max_length=20, batch_size=32, device="cpu",
    progress=True,
):
    """Caption the images of store ``features`` (all, or those ``only_images`` names) into imdb ``out``."""
    captioner = load_captioner(captioner_dir, device)
    check_feature_dim(captioner, features)
    store = FeatureStore(features)
    images = selected_images(store, only_images)
    keys = [key for key, _ in images]
    settings = {
        "captioner_sha256": captioner.checkpoint_sha256,
        "features": os.path.abspath(features),
        "only_images": os.path.abspath(only_images) if only_images else None,
        "beam_size": beam_size,
        "max_length": max_length,
    }
    partial = partial_path(out)
    done = _read_partial(partial, settings)
    todo = [key for key in keys if key.decode() not in done]
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(partial, "a", encoding="utf-8") as handle:
        if not done:
            handle.truncate(0)
            _append(handle, [{"settings": settings}])
        batch = []
        for key, caption, score in caption_images(captioner, store, todo, beam_size, max_length, batch_size, progress):
            batch.append({"key": key.decode(), "caption": caption, "log_prob": score})
            if len(batch) == batch_size:
                _append(handle, batch)
                done.update((entry["key"], entry) for entry in batch)
                batch = []
        _append(handle, batch)
        done.update((entry["key"], entry) for entry in batch)
    samples = [{**fields, "captions": [done[key.decode()]["caption"]]} for key, fields in images]
    write_imdb(out, samples, DATASET_NAME, captioner=captioner.checkpoint, captioner_sha256=captioner.checkpoint_sha256)
    provenance = _provenance(captioner, settings, batch_size, [done[key.decode()] for key in keys], out)
    atomic_write_text(provenance_path(out), json.dumps(provenance, indent=2) + "\n")
    os.unlink(partial)
    return provenance


def _provenance(captioner, settings, batch_size, entries, out):
    from mmf_domainstudy import __version__

    return {
        "annotations": os.path.abspath(out),
        "num_images": len(entries),
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "package_version": __version__,
        "captioner": {
            "run_dir": os.path.dirname(os.path.abspath(captioner.checkpoint)),
            "checkpoint": os.path.abspath(captioner.checkpoint),
            "sha256": captioner.checkpoint_sha256,
            "model_config": OmegaConf.to_container(captioner.model.config, resolve=True),
        },
        "source_captions": _source_captions(captioner.run_config),
        "target_features": settings["features"],
        "only_images": settings["only_images"],
        "decoding": {
            "method": "beam search, best of beam and greedy, sum of log-probabilities, no length penalty",
            "beam_size": settings["beam_size"],
            "max_length": settings["max_length"],
            "batch_size": batch_size,
            "min_length": 1,
        },
        "mean_log_prob": sum(entry["log_prob"] for entry in entries) / len(entries),
    }
