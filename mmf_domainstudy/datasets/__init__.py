"""The paper's pretraining sources and downstream tasks as MMF datasets.

Registered builders (``dataset=`` names): masked_coco, masked_vqa_p,
masked_conceptual_captions (CC-full), masked_cc_small, masked_ccg, and rc10's
vqa2, vizwiz, visual_entailment, mmimdb with a training ``fraction``. Options
and their defaults: ``options.py``; bundled yaml under ``configs/mmf/datasets``;
``data_check.py`` lists (and checks) every file a run reads; the commands are under ``cli/``.
"""
