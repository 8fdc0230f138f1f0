"""Attention drift, representation similarity and domain similarity for the study.

Models are reached through forward hooks and state-dict key names (architecture.py),
checkpoints through the zoo's reader, so nothing here needs MMF except mmf_inputs.py
(MMF's config, data loader and models for attention drift on a dataset) and the
commands under cli/. Import the modules you need: this package imports none of them,
so ``import mmf_domainstudy.analysis.statistics`` costs numpy and scipy, not torch.
"""
