"""Caption quality: corpus BLEU-4 and CIDEr-D, written here from their papers.

pycocoevalcap is not installable beside this stack, so both are implemented
directly. Captions are compared as lower-cased word tokens with punctuation
dropped (close to the coco-caption PTB tokenisation for plain English).

BLEU-4 (Papineni et al. 2002), corpus level: clipped n-gram precisions summed
over the corpus, n = 1..4, uniform geometric mean, brevity penalty against the
closest reference length (ties: the shorter); no smoothing, so a corpus without
a single matching 4-gram scores 0.

CIDEr-D (Vedantam et al. 2015): each caption is, per n = 1..4, a vector of
n-gram count x idf, where idf = log(#images / #images whose references hold the
n-gram); the hypothesis is compared with each reference by a cosine whose
numerator clips the hypothesis weight at the reference's (min(h, r) * r), times
a Gaussian length penalty exp(-(len_h - len_r)^2 / (2 sigma^2)), sigma = 6;
averaged over references and over n, times 10, then averaged over images. The
idf comes from the evaluated references themselves, so a single image scores 0.
"""
import math
import re
from collections import Counter

MAX_N = 4
CIDER_SIGMA = 6.0


def caption_words(text):
    """Lower-cased word tokens of a caption, punctuation dropped."""
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def ngram_counts(words, n):
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def _closest_reference_length(hypothesis_length, references):
    return min((abs(len(r) - hypothesis_length), len(r)) for r in references)[1]


def corpus_bleu(hypotheses, references, max_n=MAX_N):
    """Corpus BLEU-``max_n`` of word lists ``hypotheses`` against lists of word lists."""
    _check_aligned(hypotheses, references)
    matched, total = [0] * max_n, [0] * max_n
    hypothesis_length = reference_length = 0
    for hypothesis, refs in zip(hypotheses, references):
        hypothesis_length += len(hypothesis)
        reference_length += _closest_reference_length(len(hypothesis), refs)
        for n in range(1, max_n + 1):
            counts = ngram_counts(hypothesis, n)
            most_in_a_reference = Counter()
            for reference in refs:
                most_in_a_reference |= ngram_counts(reference, n)
            matched[n - 1] += sum(min(count, most_in_a_reference[gram]) for gram, count in counts.items())
            total[n - 1] += max(len(hypothesis) - n + 1, 0)
    if min(matched) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matched, total)) / max_n
    brevity = 1.0 if hypothesis_length > reference_length else math.exp(1 - reference_length / hypothesis_length)
    return brevity * math.exp(log_precision)


def _tfidf(words, document_frequency, log_images):
    """Per n: ({n-gram: count * idf}, vector norm), and the caption length."""
    vectors = []
    for n in range(1, MAX_N + 1):
        vector = {
            gram: count * (log_images - math.log(max(1, document_frequency[gram])))
            for gram, count in ngram_counts(words, n).items()
        }
        vectors.append((vector, math.sqrt(sum(value * value for value in vector.values()))))
    return vectors, len(words)


def _clipped_similarity(hypothesis, reference, sigma):
    (hyp_vectors, hyp_length), (ref_vectors, ref_length) = hypothesis, reference
    penalty = math.exp(-((hyp_length - ref_length) ** 2) / (2 * sigma**2))
    similarities = []
    for (hyp, hyp_norm), (ref, ref_norm) in zip(hyp_vectors, ref_vectors):
        dot = sum(min(value, ref.get(gram, 0.0)) * ref.get(gram, 0.0) for gram, value in hyp.items())
        cosine = dot / (hyp_norm * ref_norm) if hyp_norm and ref_norm else 0.0
        similarities.append(cosine * penalty)
    return similarities


def cider_d_per_image(hypotheses, references, sigma=CIDER_SIGMA):
    """CIDEr-D of each hypothesis (word list) against its references (lists of word lists)."""
    _check_aligned(hypotheses, references)
    document_frequency = Counter()
    for refs in references:
        document_frequency.update({gram for ref in refs for n in range(1, MAX_N + 1) for gram in ngram_counts(ref, n)})
    log_images = math.log(len(references))
    scores = []
    for hypothesis, refs in zip(hypotheses, references):
        hyp = _tfidf(hypothesis, document_frequency, log_images)
        per_n = [0.0] * MAX_N
        for reference in refs:
            similarities = _clipped_similarity(hyp, _tfidf(reference, document_frequency, log_images), sigma)
            per_n = [a + b for a, b in zip(per_n, similarities)]
        scores.append(10.0 * sum(per_n) / MAX_N / len(refs))
    return scores


def cider_d(hypotheses, references, sigma=CIDER_SIGMA):
    """Corpus CIDEr-D: the mean of the per-image scores."""
    scores = cider_d_per_image(hypotheses, references, sigma)
    return sum(scores) / len(scores)


def _check_aligned(hypotheses, references):
    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError(f"need one reference list per hypothesis, got {len(hypotheses)} and {len(references)}.")
    empty = next((i for i, refs in enumerate(references) if not refs), None)
    if empty is not None:
        raise ValueError(f"image {empty} has no reference caption.")


def caption_scores(hypotheses, references):
    """``{"bleu1".."bleu4", "cider_d", "num_images"}`` for caption strings vs lists of reference strings.

    BLEU-1..3 are reported beside BLEU-4 (as coco-caption does) because BLEU-4
    is 0 for captions shorter than four words.
    """
    hyp_words = [caption_words(h) for h in hypotheses]
    ref_words = [[caption_words(r) for r in refs] for refs in references]
    scores = {f"bleu{n}": corpus_bleu(hyp_words, ref_words, max_n=n) for n in range(1, MAX_N + 1)}
    return {**scores, "cider_d": cider_d(hyp_words, ref_words), "num_images": len(hypotheses)}
