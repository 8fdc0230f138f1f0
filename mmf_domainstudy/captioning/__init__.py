"""CCG: a captioner trained on one caption dataset captions another dataset's images.

Registers ``region_captioner`` (model), ``caption_pairs`` (dataset builder) and
``caption_token_ce`` (loss) with MMF through ``mmf_domainstudy.registration``;
``cli.py`` is ``domainstudy-generate-captions``.
"""
