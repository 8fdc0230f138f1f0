"""A visually out-of-domain pretraining source: full-frame textures with captions.

easy-vqa shows one flat shape on a white canvas; these images are stripes,
checkerboards and noise filling the frame, in colour pairs, so both the pixels
and the words ("vertical stripes of purple and orange") are unlike the task's.
"""
import os

import numpy as np
from PIL import Image

TEXTURE_COLORS = {
    "purple": (128, 0, 128), "orange": (255, 140, 0), "pink": (255, 105, 180), "white": (245, 245, 245),
    "navy": (0, 0, 90), "olive": (110, 110, 0), "cyan": (0, 200, 200), "maroon": (120, 0, 0),
}
PATTERNS = ("vertical stripes", "horizontal stripes", "checkerboard", "speckled noise")


def texture_image(pattern, first, second, size, rng):
    a, b = np.array(TEXTURE_COLORS[first]), np.array(TEXTURE_COLORS[second])
    period = int(rng.integers(4, 16))
    ys, xs = np.mgrid[0:size, 0:size]
    if pattern == "vertical stripes":
        mask = (xs // period) % 2 == 0
    elif pattern == "horizontal stripes":
        mask = (ys // period) % 2 == 0
    elif pattern == "checkerboard":
        mask = ((xs // period) + (ys // period)) % 2 == 0
    else:
        mask = rng.random((size, size)) < 0.5
    pixels = np.where(mask[..., None], a, b).astype(np.uint8)
    return Image.fromarray(pixels)


def write_textures(image_dir, count, size=160, seed=0):
    """Write ``count`` PNGs; returns ``{image_id: (path, caption)}`` (deterministic by seed)."""
    rng = np.random.default_rng(seed)
    os.makedirs(image_dir, exist_ok=True)
    names = sorted(TEXTURE_COLORS)
    images = {}
    for image_id in range(count):
        pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
        first, second = rng.choice(names, size=2, replace=False)
        path = os.path.join(image_dir, f"texture_{image_id:05d}.png")
        texture_image(pattern, first, second, size, rng).save(path)  # cheap: regenerated on reruns
        images[image_id] = (path, f"{pattern} of {first} and {second}")
    return images
