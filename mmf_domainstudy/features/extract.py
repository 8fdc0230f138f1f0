"""Images -> an MMF LMDB feature store of grid-region features, resumably."""
import contextlib
import dataclasses
import logging
import os

import numpy as np
import torch
from tqdm import tqdm

from mmf_domainstudy.features import DEFAULT_BACKBONE
from mmf_domainstudy.features.backbones import load_backbone
from mmf_domainstudy.features.images import find_images
from mmf_domainstudy.formats.errors import DataFormatError
from mmf_domainstudy.formats.feature_store import read_feature_info, write_feature_info
from mmf_domainstudy.formats.lmdb_store import LMDBFeatureWriter, lmdb_data_file

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class ExtractionSummary:
    store_path: str
    extracted: int = 0
    already_stored: int = 0
    skipped_non_images: int = 0
    failed: int = 0
    regions: int = 0
    dim: int = 0
    store_mb: float = 0.0

    def __str__(self):
        return (
            f"{self.store_path}: {self.extracted} images extracted, {self.already_stored} already stored, "
            f"{self.skipped_non_images} non-image files skipped, {self.failed} failed; "
            f"{self.regions} regions x {self.dim} dims written; store is {self.store_mb:.1f} MB"
        )


def grid_boxes(width, height, rows, cols):
    """``[rows*cols, 4]`` x1, y1, x2, y2 of each grid cell in the original image's pixels."""
    xs = np.linspace(0, width, cols + 1, dtype=np.float32)
    ys = np.linspace(0, height, rows + 1, dtype=np.float32)
    x1, y1 = np.meshgrid(xs[:-1], ys[:-1])
    x2, y2 = np.meshgrid(xs[1:], ys[1:])
    return np.stack([x1, y1, x2, y2], axis=-1).reshape(-1, 4)


def records_for_batch(backbone, images, with_cls_prob):
    """``{image_id: record}`` for a list of ``(image_id, PIL image)``."""
    maps = backbone.grid_features(torch.stack([backbone.to_input(image) for _, image in images]))
    _, _, rows, cols = maps.shape
    regions = maps.flatten(2).transpose(1, 2)  # [B, rows*cols, D], row-major cells
    cls_prob = backbone.region_class_probs(regions).cpu().numpy() if with_cls_prob else None
    regions = regions.cpu().numpy()
    records = {}
    for index, (image_id, image) in enumerate(images):
        record = {
            "features": regions[index],
            "bbox": grid_boxes(image.width, image.height, rows, cols),
            "image_width": image.width,
            "image_height": image.height,
            "num_boxes": rows * cols,
        }
        if cls_prob is not None:
            record["cls_prob"] = cls_prob[index]
        records[image_id] = record
    return records


def _load_rgb(path):
    """The image as RGB, or None (logged) if it cannot be decoded."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        logger.warning("Cannot read image %s (%s); skipping it", path, err)
        return None


def _check_same_recipe(store_path, recipe):
    """Refuse to append features of another backbone/size to an existing store; True if it has info."""
    existing = read_feature_info(store_path)
    if existing is None:
        return False
    clashes = {key: (existing.get(key), value) for key, value in recipe.items() if existing.get(key) != value}
    if clashes:
        raise DataFormatError(
            f"feature store {store_path} was extracted with a different recipe {clashes} (stored, requested); "
            "use another output path, or delete the store to re-extract it."
        )
    return True


def _write_info(store_path, recipe, record, model, with_cls_prob):
    info = {"dim": record["features"].shape[1], "regions": record["num_boxes"]}
    info["cls_prob_classes"] = model.num_classes if with_cls_prob else 0
    write_feature_info(store_path, {**recipe, **info})


def extract_features(
    images,
    store_path,
    backbone=DEFAULT_BACKBONE,
    image_size=320,
    batch_size=8,
    with_cls_prob=True,
    device="cpu",
    threads=None,
    skipped_non_images=0,
):
    """Extract ``{image_id: path}`` into ``store_path``; ids already stored are skipped.

    Each batch is one LMDB transaction, so an interrupted run loses at most the
    batch in flight and a rerun continues. ``threads`` sets torch's CPU threads
    for the run only (on a busy shared machine 1 thread ran 7x faster than 2).
    Returns an ``ExtractionSummary``.
    """
    with torch_threads(threads):
        return _extract(images, os.fspath(store_path), backbone, image_size, batch_size, with_cls_prob, device,
                        skipped_non_images)


@contextlib.contextmanager
def torch_threads(threads):
    """Temporarily run torch's CPU ops on ``threads`` threads (None: leave as is)."""
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _extract(images, store_path, backbone, image_size, batch_size, with_cls_prob, device, skipped_non_images):
    recipe = {"backbone": backbone, "image_size": image_size, "with_cls_prob": with_cls_prob}
    has_info = _check_same_recipe(store_path, recipe)
    summary = ExtractionSummary(store_path=store_path, skipped_non_images=skipped_non_images)
    with LMDBFeatureWriter(store_path) as writer:
        todo = [(image_id, path) for image_id, path in images.items() if image_id not in writer]
        summary.already_stored = len(images) - len(todo)
        model = load_backbone(backbone, image_size=image_size, device=device) if todo else None
        progress = tqdm(total=len(todo), desc="extracting features", unit="img")
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            loaded = [(image_id, _load_rgb(path)) for image_id, path in chunk]
            loaded = [(image_id, image) for image_id, image in loaded if image is not None]
            summary.failed += len(chunk) - len(loaded)
            if loaded:
                records = records_for_batch(model, loaded, with_cls_prob)
                writer.write_batch(records)
                summary.extracted += len(records)
                summary.regions += sum(record["num_boxes"] for record in records.values())
                if not has_info:
                    _write_info(store_path, recipe, next(iter(records.values())), model, with_cls_prob)
                    has_info = True
            progress.update(len(chunk))
        progress.close()
    summary.dim = (read_feature_info(store_path) or {}).get("dim", 0)
    summary.store_mb = os.path.getsize(lmdb_data_file(store_path)) / 2**20
    logger.info("Feature extraction done: %s", summary)
    return summary


def extract_from_source(source, store_path, **options):
    """``extract_features`` over a folder or list file (see ``find_images``)."""
    images, skipped = find_images(source)
    return extract_features(images, store_path, skipped_non_images=skipped, **options)
