"""CCG: a captioner trained on one caption dataset captions another dataset's images.

Registers ``region_captioner`` (model), ``caption_pairs`` (dataset builder) and
``caption_token_ce`` (loss) with MMF through ``mmf_domainstudy.registration``.
"""
from mmf_domainstudy.captioning.beam_search import Hypothesis, beam_search, decode
from mmf_domainstudy.captioning.easy_vqa import easy_vqa_caption, easy_vqa_caption_samples, halves
from mmf_domainstudy.captioning.generate import generate_caption_file, provenance_path
from mmf_domainstudy.captioning.loading import load_captioner
from mmf_domainstudy.captioning.metrics import caption_scores, cider_d, corpus_bleu
from mmf_domainstudy.captioning.quality import evaluate_captioner, score_caption_files
from mmf_domainstudy.captioning.training import train_captioner
