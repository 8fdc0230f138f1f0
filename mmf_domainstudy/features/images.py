"""Which images to extract: a folder of images, or a list file of paths."""
import logging
import os

from mmf_domainstudy.formats.errors import DataFormatError

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def is_image_file(path):
    return path.lower().endswith(IMAGE_EXTENSIONS)


def images_in_folder(folder):
    """``({image_id: path}, skipped_non_images)``; the id is the file name without extension."""
    names = sorted(name for name in os.listdir(folder) if os.path.isfile(os.path.join(folder, name)))
    images = {}
    for name in filter(is_image_file, names):
        image_id = os.path.splitext(name)[0]
        if image_id in images:
            raise DataFormatError(
                f"{folder} holds two images with id {image_id!r} ({os.path.basename(images[image_id])}, {name}); "
                "rename one: the id (file name without extension) keys the feature store."
            )
        images[image_id] = os.path.join(folder, name)
    return images, len(names) - len(images)


def images_in_list_file(list_file):
    """``({image_id: path}, skipped_non_images)`` from lines ``path`` or ``image_id<TAB>path``.

    Relative paths are relative to the list file's folder.
    """
    base = os.path.dirname(os.path.abspath(list_file))
    images, skipped = {}, 0
    with open(list_file, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            image_id, _, path = line.rpartition("\t")
            path = os.path.join(base, path.strip())
            image_id = image_id.strip() or os.path.splitext(os.path.basename(path))[0]
            if not is_image_file(path):
                skipped += 1
                continue
            if image_id in images:
                raise DataFormatError(f"{list_file}:{line_number}: image id {image_id!r} is listed twice.")
            images[image_id] = path
    return images, skipped


def find_images(source):
    """Images of a folder or list file; an empty or missing source is an error, not a no-op."""
    source = os.fspath(source)
    if os.path.isdir(source):
        images, skipped = images_in_folder(source)
    elif os.path.isfile(source):
        images, skipped = images_in_list_file(source)
    else:
        raise DataFormatError(f"image source {source} does not exist; pass a folder of images or a list file.")
    if not images:
        raise DataFormatError(
            f"no image files in {source} ({skipped} other files skipped); expected files ending in "
            f"{', '.join(IMAGE_EXTENSIONS)}."
        )
    if skipped:
        logger.info("Skipping %d non-image entries of %s", skipped, source)
    return images, skipped
