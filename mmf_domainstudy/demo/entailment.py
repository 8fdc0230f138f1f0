"""A second downstream task on easy-vqa's images, in SNLI-VE's exact format.

Each image with a known colour and shape gets four hypotheses, half true:
"the shape is red" / "the shape is blue", "there is a circle" / "there is a
triangle". MMF's visual-entailment dataset reads the jsonl unchanged.
"""
from collections import defaultdict

import numpy as np

from mmf_domainstudy.captioning.easy_vqa import COLORS, SHAPES, easy_vqa_caption


def image_attributes(vqa_samples):
    """``{image_id: (sample, color, shape)}`` for images whose questions reveal both."""
    questions = defaultdict(list)
    first_sample = {}
    for sample in vqa_samples:
        questions[sample["image_id"]].append((sample["question_str"], sample["answers"][0]))
        first_sample.setdefault(sample["image_id"], sample)
    attributes = {}
    for image_id, pairs in questions.items():
        caption = easy_vqa_caption(pairs, image=image_id)
        if caption is not None:
            _, color, shape = caption.split()
            attributes[image_id] = (first_sample[image_id], color, shape)
    return attributes


def entailment_records(vqa_samples, seed=0):
    """SNLI-VE records (Flikr30kID, sentence2, gold_label) for the images of ``vqa_samples``."""
    rng = np.random.default_rng(seed)
    records = []
    for image_id, (sample, color, shape) in sorted(image_attributes(vqa_samples).items()):
        other_color = rng.choice([c for c in COLORS if c != color])
        other_shape = rng.choice([s for s in SHAPES if s != shape])
        for sentence, label in (
            (f"the shape is {color}", "entailment"),
            (f"the shape is {other_color}", "contradiction"),
            (f"there is a {shape}", "entailment"),
            (f"there is a {other_shape}", "contradiction"),
        ):
            records.append({
                "Flikr30kID": sample["image_name"] + ".png",
                "sentence2": sentence,
                "gold_label": label,
                "image_id": image_id,
            })
    return records
