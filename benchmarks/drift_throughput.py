#!/usr/bin/env python
"""Attention-map drift accumulation: throughput and peak memory against sample count.

Baseline, measured in the same invocation: "store then compute", i.e. keep every
batch's attention maps and compute the drift once at the end (what one writes first).
The streaming AttentionDriftAccumulator should match its speed while its memory stays
flat in N. Each (size, method, N) runs in a forked process whose peak-RSS mark is reset
before the timed loop, so the peak is its own. Inputs are synthetic softmax maps with
padded rows, cycled from a small pool.

    python benchmarks/drift_throughput.py                 # tiny and bert-base sizes
    python benchmarks/drift_throughput.py --sizes tiny --samples 64 256 1024
"""
import argparse
import multiprocessing
import time

import torch

from mmf_domainstudy.analysis.map_drift import AttentionDriftAccumulator

SIZES = {
    # layers, heads, tokens, batch
    "tiny": (2, 2, 16, 16),
    "bert-base": (12, 12, 128, 8),
}
DEFAULT_SAMPLES = {"tiny": (256, 1024, 4096), "bert-base": (8, 16, 32)}  # baseline at 32: ~1.3 GB
POOL_BATCHES = 2


def _memory_kib(field):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss():
    """Linux: writing 5 to clear_refs resets VmHWM to the current RSS."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _pool(size, seed=0):
    layers, heads, tokens, batch = SIZES[size]
    generator = torch.Generator().manual_seed(seed)
    pool = []
    for _ in range(POOL_BATCHES):
        def maps():
            return [torch.randn(batch, heads, tokens, tokens, generator=generator).softmax(-1) for _ in range(layers)]

        lengths = torch.randint(tokens // 2, tokens + 1, (batch,), generator=generator)
        mask = torch.arange(tokens)[None, :] < lengths[:, None]
        pool.append((maps(), maps(), mask))
    return pool


def _streaming(pool, batches):
    accumulator = AttentionDriftAccumulator()
    for index in range(batches):
        maps_a, maps_b, mask = pool[index % len(pool)]
        accumulator.update(maps_a, maps_b, mask)
    return accumulator.result()


def _store_then_compute(pool, batches):
    stored = []
    for index in range(batches):
        maps_a, maps_b, mask = pool[index % len(pool)]
        stored.append(([m.clone() for m in maps_a], [m.clone() for m in maps_b], mask.clone()))
    layers = len(stored[0][0])
    accumulator = AttentionDriftAccumulator()
    accumulator.update(
        [torch.cat([entry[0][layer] for entry in stored]) for layer in range(layers)],
        [torch.cat([entry[1][layer] for entry in stored]) for layer in range(layers)],
        torch.cat([entry[2] for entry in stored]),
    )
    return accumulator.result()


METHODS = {"streaming": _streaming, "store-then-compute": _store_then_compute}


def _measure(size, method, samples, results):
    torch.set_num_threads(1)
    pool = _pool(size)
    batch = SIZES[size][3]
    METHODS[method](pool, 1)  # warm-up: first-call allocations
    _reset_peak_rss()
    before = _memory_kib("VmRSS")
    start = time.perf_counter()
    result = METHODS[method](pool, samples // batch)
    elapsed = time.perf_counter() - start
    assert result["samples"] == samples
    results.put((samples / elapsed, (_memory_kib("VmHWM") - before) / 1024))


def measure(size, method, samples):
    """(samples per second, peak RSS growth in MiB) from a forked process."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    process = context.Process(target=_measure, args=(size, method, samples, results))
    process.start()
    value = results.get()
    process.join()
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=list(SIZES), help="attention sizes to run")
    parser.add_argument("--samples", nargs="+", type=int, help="sample counts N [default: per size, see DEFAULT_SAMPLES]")
    args = parser.parse_args(argv)
    print("one thread per process; peak = growth of peak RSS over the run, in MiB")
    for size in args.sizes:
        layers, heads, tokens, batch = SIZES[size]
        print(f"\n{size}: {layers} layers x {heads} heads x {tokens}x{tokens} tokens, batch {batch}")
        print(f"{'N':>6} {'method':>20} {'samples/s':>10} {'peak MiB':>9}")
        for samples in args.samples or DEFAULT_SAMPLES[size]:
            samples = max(batch, samples - samples % batch)
            rows = {method: measure(size, method, samples) for method in METHODS}
            for method, (rate, peak) in rows.items():
                print(f"{samples:>6} {method:>20} {rate:>10.1f} {peak:>9.1f}")
            (stream_rate, stream_peak), (base_rate, base_peak) = rows["streaming"], rows["store-then-compute"]
            print(f"{'':>6} {'ratio':>20} {stream_rate / base_rate:>9.2f}x {base_peak / max(stream_peak, 0.1):>8.1f}x"
                  "  (streaming speed / baseline; baseline memory / streaming)")


if __name__ == "__main__":
    main()
