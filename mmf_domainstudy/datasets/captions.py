"""Caption sources (COCO, CC, CC-small, CCG): an imdb by image with ``captions``.

Each access draws one of the image's captions as segment A. MMF's optional
second sentence is kept, with its keys and meaning, and made to work: with
``two_sentence`` a training sample gets a segment B, another caption of the
same image with probability ``two_sentence_probability`` (none when the image
has one caption), else a caption of a different image. Upstream's CC config
(``two_sentence_probability: -0.1``) always took the different image: that is
``two_sentence: true, two_sentence_probability: 0.0`` here, and off by default.
``false_caption`` replaces the caption by another image's with
``false_caption_probability``. rc10's version of these crashed (it reads a
``self.imdb`` that rc10 datasets no longer have).
"""
import random

from mmf_domainstudy.datasets.masked import MaskedPretrainingDataset
from mmf_domainstudy.datasets.options import boolean_option, check_probability

# Draws of a random sample before concluding the split has a single image.
MISMATCH_DRAWS = 100


class MaskedCaptionsDataset(MaskedPretrainingDataset):
    def __init__(self, config, dataset_type, index, dataset_name):
        super().__init__(config, dataset_type, index, dataset_name)
        self._two_sentence = boolean_option(config, "two_sentence", dataset_name)
        self._false_caption = boolean_option(config, "false_caption", dataset_name)
        self._same_image_probability = check_probability(config, "two_sentence_probability", dataset_name)
        self._false_caption_probability = check_probability(config, "false_caption_probability", dataset_name)

    def text_segments(self, sample_info):
        captions = self.sample_field(sample_info, "captions")
        chosen = random.randrange(len(captions))
        caption = captions[chosen]
        if self.dataset_type != "train":
            return caption, None, -1
        if self._two_sentence:
            if random.random() < self._same_image_probability:
                others = captions[:chosen] + captions[chosen + 1 :]
                return caption, random.choice(others) if others else None, True
            return caption, self._caption_of_another_image(sample_info), False
        if self._false_caption:
            if random.random() < self._false_caption_probability:
                return self._caption_of_another_image(sample_info), None, False
            return caption, None, True
        return caption, None, -1

    def _caption_of_another_image(self, sample_info):
        image_id = self.sample_field(sample_info, "image_id")
        for _ in range(MISMATCH_DRAWS):
            other = self.annotation_db[random.randrange(len(self.annotation_db))]
            if self.sample_field(other, "image_id") != image_id:
                return random.choice(self.sample_field(other, "captions"))
        raise ValueError(
            f"{self.dataset_name} {self.dataset_type}: no caption of another image in {MISMATCH_DRAWS} draws; "
            f"two_sentence/false_caption need a split with several images (or set "
            f"dataset_config.{self.dataset_name}.two_sentence=false and false_caption=false)"
        )
