"""Reference captions for easy-vqa images ("a <color> <shape>"), read off their questions.

easy-vqa has no captions, but its questions and answers pin down each image's
one shape and its colour: "what color is the triangle?" -> blue names both,
"is there not a red shape?" -> no says it is red. The demo trains the CCG
captioner on these captions for some images and captions the others.
"""
import re
from collections import defaultdict

from mmf_domainstudy.formats.errors import DataFormatError
from mmf_domainstudy.formats.imdb import read_imdb, write_imdb

COLORS = ("red", "green", "blue", "black", "gray", "teal", "brown", "yellow")
SHAPES = ("circle", "rectangle", "triangle")
_WORD = re.compile(r"[a-z]+")


def _is_negated(words):
    return "not" in words or "no" in words


def facts_from_question(question, answer):
    """What one question and its answer establish: ``({kind: word present}, {words absent})``.

    kind is "color" or "shape".
    """
    words = _WORD.findall(question.lower())
    answer = answer.lower().strip()
    if answer in ("yes", "no"):
        if (answer == "yes") != _is_negated(words):  # the asked-about word is in the image
            return _named(words), set()
        return {}, set(_named(words).values())
    present = _named(words)  # "what color is the triangle?" names the shape
    if answer in COLORS:
        present["color"] = answer
    elif answer in SHAPES:
        present["shape"] = answer
    return present, set()


def _named(words):
    named = {}
    for word in words:
        if word in COLORS:
            named["color"] = word
        elif word in SHAPES:
            named["shape"] = word
    return named


def easy_vqa_caption(questions_and_answers, image=None):
    """"a <color> <shape>" from an image's ``(question, answer)`` pairs; None if they leave one open.

    A colour or shape is known when a question states it, or when questions
    rule out all the others.
    """
    present, absent = defaultdict(set), set()
    for question, answer in questions_and_answers:
        stated, ruled_out = facts_from_question(question, answer)
        for kind, word in stated.items():
            present[kind].add(word)
        absent |= ruled_out
    known = {}
    for kind, vocabulary in (("color", COLORS), ("shape", SHAPES)):
        candidates = present[kind] or {word for word in vocabulary if word not in absent}
        if present[kind] & absent or len(present[kind]) > 1:
            raise DataFormatError(
                f"easy-vqa image {image}: its questions disagree about its {kind} "
                f"(stated {sorted(present[kind])}, ruled out {sorted(absent)})."
            )
        if len(candidates) == 1:
            known[kind] = candidates.pop()
    if len(known) < 2:
        return None
    return f"a {known['color']} {known['shape']}"


def easy_vqa_caption_samples(vqa_samples):
    """By-image caption samples (image_id, image_name, feature_path, captions) from easy-vqa imdb samples.

    Images whose questions do not reveal both colour and shape are left out;
    returns ``(samples, number left out)``.
    """
    by_image = {}
    for sample in vqa_samples:
        entry = by_image.setdefault(sample["image_id"], {"sample": sample, "qa": []})
        entry["qa"].append((sample["question_str"], sample["answers"][0]))
    captioned, left_out = [], 0
    for image_id, entry in by_image.items():
        caption = easy_vqa_caption(entry["qa"], image=image_id)
        if caption is None:
            left_out += 1
            continue
        sample = entry["sample"]
        captioned.append({
            "image_id": image_id, "image_name": sample["image_name"], "feature_path": sample["feature_path"],
            "captions": [caption],
        })
    return captioned, left_out


def halves(samples):
    """Split by-image samples into two halves by image_id order: (first, second)."""
    ordered = sorted(samples, key=lambda s: s["image_id"])
    middle = (len(ordered) + 1) // 2
    return ordered[:middle], ordered[middle:]


def write_easy_vqa_captions(vqa_imdb, out, half="all"):
    """Write the caption imdb of an easy-vqa imdb's images (``half``: all, first or second); returns counts.

    ``undetermined`` counts the images of the whole source imdb whose questions leave colour or shape open.
    """
    _, vqa_samples = read_imdb(vqa_imdb)
    samples, left_out = easy_vqa_caption_samples(vqa_samples)
    if half != "all":
        samples = dict(zip(("first", "second"), halves(samples)))[half]
    write_imdb(out, samples, "easy_vqa_captions", source=f"captions derived from {vqa_imdb} ({half})")
    return {"images": len(samples), "undetermined": left_out}
