"""Attention-map drift and CKA of two checkpoints over a stream of batches.

The data side is pluggable: pass any iterable of batches (an MMF dataloader's sample
lists) and a builder that turns a checkpoint path into a model.
"""
import logging
from collections import defaultdict

import torch
from tqdm import tqdm

from .capture import AttentionCapture
from .cka import LinearCKAAccumulator
from .map_drift import AttentionDriftAccumulator

logger = logging.getLogger(__name__)


def call_model(model, batch):
    """Default forward: MMF models take the sample list as their only argument."""
    return model(batch)


def _check_same_inputs(name, stream_a, stream_b):
    for what in ("query_mask", "key_mask"):
        if not torch.equal(getattr(stream_a, what), getattr(stream_b, what)):
            raise ValueError(f"stream {name!r}: the two models saw different {what}s; feed both the same batch")


def _truncate(stream, keep):
    """Keep the first ``keep`` samples of a captured stream (to stop at exactly N)."""
    stream.probs = [probs[:keep] for probs in stream.probs]
    stream.hidden = [hidden[:keep] for hidden in stream.hidden]
    stream.query_mask, stream.key_mask = stream.query_mask[:keep], stream.key_mask[:keep]
    return stream


def measure_model_drift(batches, build_model, checkpoint_a, checkpoint_b, forward=call_model, max_samples=None):
    """Records of attention-map drift (attn_l1, attn_angle_deg) and linear CKA per
    stream, layer and head, plus the number of samples used.

    ``build_model(checkpoint)`` returns a ready model; ``forward(model, batch)`` runs
    it. Both models run in eval mode without gradients, so dropout noise is not
    mistaken for drift.
    """
    model_a, model_b = build_model(checkpoint_a).eval(), build_model(checkpoint_b).eval()
    drift = defaultdict(AttentionDriftAccumulator)
    cka = defaultdict(LinearCKAAccumulator)
    seen = 0
    with AttentionCapture(model_a, hidden_states=True) as capture_a, AttentionCapture(
        model_b, hidden_states=True
    ) as capture_b, torch.no_grad(), tqdm(total=max_samples, desc="attention drift", unit="sample") as progress:
        for batch in batches:
            capture_a.clear()
            capture_b.clear()
            forward(model_a, batch)
            forward(model_b, batch)
            streams_a, streams_b = capture_a.streams(), capture_b.streams()
            if not streams_a:
                raise ValueError("the forward captured no attention; does forward(model, batch) run the encoder?")
            size = next(iter(streams_a.values())).query_mask.shape[0]
            keep = size if max_samples is None else min(size, max_samples - seen)
            for name, stream_a in streams_a.items():
                stream_a, stream_b = _truncate(stream_a, keep), _truncate(streams_b[name], keep)
                _check_same_inputs(name, stream_a, stream_b)
                drift[name].update(stream_a.probs, stream_b.probs, stream_a.query_mask, stream_a.key_mask)
                if stream_a.hidden:
                    cka[name].update(stream_a.hidden, stream_b.hidden, stream_a.query_mask)
            seen += keep
            progress.update(keep)
            if max_samples is not None and seen >= max_samples:
                break
    if max_samples is not None and seen < max_samples:
        logger.warning("asked for %d samples, the batches held %d", max_samples, seen)
    records = [row for name, accumulator in drift.items() for row in accumulator.records(name)]
    records += [row for name, accumulator in cka.items() for row in accumulator.records(name)]
    return records, seen
