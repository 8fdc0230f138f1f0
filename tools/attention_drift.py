#!/usr/bin/env python
"""How far did self-attention drift between two checkpoints of one model?

Example (pretrained base vs. the model finetuned from it):
    python tools/attention_drift.py --a save/pretrain_coco/best.ckpt \\
        --b save/vqa2_from_coco/best.ckpt --out output/drift/coco_to_vqa2

Writes to --out:
  parameter_drift.csv / .json   L1 (mean |Wa - Wb|) and angle (degrees) of every
                                query/key/value/output weight, per layer, whole and per head
  heatmaps/<measure>__<stream>.png   layer x head grids, one panel per projection
Streams follow MMF's module names: layer (VisualBERT; ViLBERT's text stream), v_layer
(ViLBERT visual), c_layer (ViLBERT co-attention). Head counts come from the checkpoints'
saved config, else MMF's defaults (12 / 8 / 8); override with --heads.
Checkpoints: MMF's {"model": ..., "config": ...}, a bare state dict, or a DDP save;
read tensors-only (weights_only=True).
"""
import argparse
import logging
import sys

from mmf_domainstudy.analysis.report import parameter_drift_report

STREAMS = ("layer", "v_layer", "c_layer")


def parse_heads(text):
    stream, _, count = text.partition("=")
    if stream not in STREAMS or not count.isdigit() or int(count) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected STREAM=N with STREAM in {STREAMS}, e.g. layer=12")
    return stream, int(count)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", required=True, metavar="CKPT", help="reference checkpoint (e.g. the pretrained model)")
    parser.add_argument("--b", required=True, metavar="CKPT", help="compared checkpoint (e.g. after finetuning)")
    parser.add_argument("--out", default="output/attention_drift", help="output folder [default: %(default)s]")
    parser.add_argument("--heads", type=parse_heads, action="append", default=[], metavar="STREAM=N",
                        help="head count of a stream, repeatable (e.g. --heads v_layer=8)")
    parser.add_argument("--name-a", help="name of --a in titles [default: its folder/file]")
    parser.add_argument("--name-b", help="name of --b in titles [default: its folder/file]")
    parser.add_argument("--no-heatmaps", action="store_true", help="write only CSV and JSON (faster for sweeps)")
    parser.add_argument("--dataset", help="attention-map drift and CKA on this dataset's batches (not wired to a "
                                          "data loader yet: see analysis.report.attention_drift_report)")
    parser.add_argument("--samples", type=int, help="samples for attention-map drift (with --dataset)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dataset or args.samples:
        parser.error(
            "--dataset/--samples: attention-map drift is available from Python as "
            "mmf_domainstudy.analysis.attention_drift_report(batches, build_model, ...); this CLI does not "
            "build MMF data loaders yet. Drop --dataset to get parameter drift."
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        paths = parameter_drift_report(
            args.a, args.b, args.out, dict(args.heads), args.name_a, args.name_b, heatmaps=not args.no_heatmaps
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {paths['csv']}, {paths['json']} and {len(paths['heatmaps'])} heatmaps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
