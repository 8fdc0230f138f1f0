"""Batched beam search over any next-token scorer, with a guarantee plain beam search lacks.

Plain beam search is not monotone in the beam size: the greedy prefix can be
pruned by ``k`` prefixes that score higher now and worse later, so beam ``k``
may return a caption that scores below greedy's. ``decode`` therefore also runs
beam 1 (greedy) and keeps the better of the two: widening the beam can only help.

A scorer is ``step(rows, prefixes) -> log_probs``: ``rows`` [N] says which batch
element each prefix [N, t] belongs to; ``log_probs`` [N, vocab] must be
normalised log-probabilities (each step can only lower a score, which makes
stopping as soon as a finished caption beats every open beam exact).
"""
from dataclasses import dataclass

import torch


@dataclass
class Hypothesis:
    tokens: list  # generated ids, without the start and end tokens
    score: float  # summed log-probability, end token included when it was emitted
    finished: bool  # False when cut at max_length without an end token


def _offer(best, index, hypothesis):
    if best[index] is None or hypothesis.score > best[index].score:
        best[index] = hypothesis


def _expand(element_scores, beam_ids, tokens, k, eos_id, best, index, prefixes):
    """Move top-k end-token candidates to ``best``; return the next beams (prefix, score)."""
    beams = []
    for rank, (score, beam, token) in enumerate(zip(element_scores, beam_ids, tokens)):
        if score == float("-inf"):
            break
        if token == eos_id:
            if rank < k:  # as in standard beam search, only a top-k end closes a beam
                _offer(best, index, Hypothesis(prefixes[beam][1:], score, True))
        elif len(beams) < k:
            beams.append((prefixes[beam] + [token], score))
    return beams


def beam_search(step, batch_size, bos_id, eos_id, beam_size=3, max_length=20):
    """Plain beam search: the best ``Hypothesis`` per batch element; beam 1 is greedy decoding."""
    if beam_size < 1 or max_length < 1:
        raise ValueError(f"beam_size ({beam_size}) and max_length ({max_length}) must be at least 1.")
    best = [None] * batch_size
    beams = [[([bos_id], 0.0)] for _ in range(batch_size)]
    open_elements = list(range(batch_size))
    for _ in range(max_length):
        if not open_elements:
            break
        rows = [index for index in open_elements for _ in beams[index]]
        prefixes = torch.tensor([prefix for index in open_elements for prefix, _ in beams[index]])
        log_probs = step(torch.tensor(rows), prefixes)
        vocab = log_probs.size(-1)
        offset, still_open = 0, []
        for index in open_elements:
            width = len(beams[index])
            own = log_probs[offset : offset + width]
            scores = torch.tensor([score for _, score in beams[index]], dtype=own.dtype)
            candidates = (scores.unsqueeze(1) + own).flatten()
            top_scores, top_ids = candidates.topk(min(2 * beam_size, candidates.numel()))
            element_prefixes = [prefix for prefix, _ in beams[index]]
            beams[index] = _expand(
                top_scores.tolist(), (top_ids // vocab).tolist(), (top_ids % vocab).tolist(),
                beam_size, eos_id, best, index, element_prefixes,
            )
            offset += width
            best_open = max((score for _, score in beams[index]), default=float("-inf"))
            if beams[index] and (best[index] is None or best[index].score < best_open):
                still_open.append(index)
        open_elements = still_open
    for index in open_elements:  # cut at max_length: the open beams compete as they are
        for prefix, score in beams[index]:
            _offer(best, index, Hypothesis(prefix[1:], score, False))
    return best


def decode(step, batch_size, bos_id, eos_id, beam_size=3, max_length=20):
    """Beam search that never returns a lower-scoring caption than greedy decoding (beam 1)."""
    found = beam_search(step, batch_size, bos_id, eos_id, beam_size, max_length)
    if beam_size == 1:
        return found
    greedy = beam_search(step, batch_size, bos_id, eos_id, 1, max_length)
    return [g if g.score > b.score else b for b, g in zip(found, greedy)]
