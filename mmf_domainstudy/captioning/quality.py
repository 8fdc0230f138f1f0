"""How good are a captioner's captions: BLEU-4 and CIDEr-D against reference captions."""
import json
import os

from mmf_domainstudy.captioning.generate import caption_images
from mmf_domainstudy.captioning.loading import load_captioner
from mmf_domainstudy.captioning.metrics import caption_scores
from mmf_domainstudy.formats.errors import DataFormatError
from mmf_domainstudy.formats.feature_store import FeatureStore, feature_path_for_sample
from mmf_domainstudy.formats.imdb import read_imdb
from mmf_domainstudy.utils.atomic import atomic_write_text

NUM_EXAMPLES = 5


def reference_captions(path):
    """``{image_id: [captions]}`` of a by-image caption imdb, and its samples."""
    _, samples = read_imdb(path)
    references = {}
    for index, sample in enumerate(samples):
        captions = sample.get("captions")
        if not isinstance(captions, (list, tuple)) or not captions:
            raise DataFormatError(f"{path}: sample {index} has no 'captions' list; pass a by-image caption file.")
        references.setdefault(sample["image_id"], []).extend(captions)
    return references, samples


def write_json(path, content):
    atomic_write_text(path, json.dumps(content, indent=2) + "\n")


def evaluate_captioner(captioner_dir, annotations, features, beam_size=3, max_length=20, batch_size=32, out=None,
                       device="cpu", progress=True):
    """Caption the images of ``annotations`` and score them against its captions; optionally write JSON."""
    captioner = load_captioner(captioner_dir, device)
    references, samples = reference_captions(annotations)
    store = FeatureStore(features)
    key_of = {}
    for sample in samples:
        key_of.setdefault(sample["image_id"], store.key_for_feature_path(feature_path_for_sample(sample)))
    image_ids = list(key_of)
    generated = {key: caption for key, caption, _ in caption_images(
        captioner, store, [key_of[i] for i in image_ids], beam_size, max_length, batch_size, progress)}
    hypotheses = [generated[key_of[i]] for i in image_ids]
    result = {
        **caption_scores(hypotheses, [references[i] for i in image_ids]),
        "annotations": os.path.abspath(annotations),
        "features": os.path.abspath(features),
        "captioner_checkpoint": os.path.abspath(captioner.checkpoint),
        "captioner_sha256": captioner.checkpoint_sha256,
        "beam_size": beam_size,
        "max_length": max_length,
        "examples": [
            {"image_id": i, "generated": generated[key_of[i]], "references": references[i]}
            for i in image_ids[:NUM_EXAMPLES]
        ],
    }
    if out is not None:
        write_json(out, result)
    return result


def score_caption_files(generated, references, out=None):
    """Score a generated caption file against a reference caption file, on the images both hold."""
    hypotheses, _ = reference_captions(generated)
    refs, _ = reference_captions(references)
    shared = [image_id for image_id in hypotheses if image_id in refs]
    if not shared:
        raise DataFormatError(f"{generated} and {references} share no image_id; compare files about the same images.")
    result = {
        **caption_scores([hypotheses[i][0] for i in shared], [refs[i] for i in shared]),
        "generated": os.path.abspath(generated),
        "references": os.path.abspath(references),
        "images_without_reference": len(hypotheses) - len(shared),
    }
    if out is not None:
        write_json(out, result)
    return result
