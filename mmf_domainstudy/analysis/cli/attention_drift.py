"""``domainstudy-attention-drift`` (``tools/attention_drift.py``): how far did self-attention drift
between two checkpoints of one model?

Examples (a pretrained base vs. the model finetuned from it):
    domainstudy-attention-drift --a save/pretrain_coco/visual_bert_final.pth \\
        --b save/vqa2_from_coco/visual_bert_final.pth --out output/drift/coco_to_vqa2
    domainstudy-attention-drift --a RUN_PT/visual_bert_final.pth --b RUN_FT/visual_bert_final.pth \\
        --dataset vqa2 --samples 500 --out output/drift/coco_to_vqa2

Writes to --out:
  parameter_drift.csv / .json   L1 (mean |Wa - Wb|) and angle (degrees) of every
                                query/key/value/output weight, per layer, whole and per head
  attention_drift.csv / .json   with --dataset: attention-map L1 and angle per layer and
                                head, and linear CKA of layer outputs, on --samples samples
  heatmaps/<measure>__<stream>.png   layer x head grids, one panel per projection
Streams follow MMF's module names: layer (VisualBERT; ViLBERT's text stream), v_layer
(ViLBERT visual), c_layer (ViLBERT co-attention). Head counts come from the checkpoints'
saved config (embedded, or the run's config.yaml beside the file), else MMF's defaults
(12 / 8 / 8); override with --heads. With --dataset they come from the run config.
--dataset builds the data through MMF (the run config with dataset=NAME, the registered
builder, MMF's data loader) and both models with MMF's build_model from the run config;
each checkpoint's weights are loaded into it (a pretraining checkpoint gives the base).
Checkpoints: MMF's {"model": ..., "config": ...}, a bare state dict, or a DDP save;
read tensors-only (weights_only=True).
"""
import argparse
import logging
import sys

from mmf_domainstudy.analysis.cli.run_options import add_run_options, data_dir_overrides
from mmf_domainstudy.utils.cli_errors import bad_input_as_one_line

STREAMS = ("layer", "v_layer", "c_layer")


def parse_heads(text):
    stream, _, count = text.partition("=")
    if stream not in STREAMS or not count.isdigit() or int(count) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected STREAM=N with STREAM in {STREAMS}, e.g. layer=12")
    return stream, int(count)


def build_parser():
    parser = argparse.ArgumentParser(prog="domainstudy-attention-drift", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--a", required=True, metavar="CKPT", help="reference checkpoint (e.g. the pretrained model)")
    parser.add_argument("--b", required=True, metavar="CKPT", help="compared checkpoint (e.g. after finetuning)")
    parser.add_argument("--out", default="output/attention_drift", help="output folder [default: %(default)s]")
    parser.add_argument("--heads", type=parse_heads, action="append", default=[], metavar="STREAM=N",
                        help="head count of a stream, repeatable (e.g. --heads v_layer=8)")
    parser.add_argument("--name-a", help="name of --a in titles [default: its folder/file]")
    parser.add_argument("--name-b", help="name of --b in titles [default: its folder/file]")
    parser.add_argument("--no-heatmaps", action="store_true", help="write only CSV and JSON (faster for sweeps)")
    parser.add_argument("--dataset", metavar="NAME", help="also attention-map drift and CKA on this MMF dataset "
                                                          "(e.g. vqa2, easy_vqa)")
    parser.add_argument("--samples", type=int, default=500, help="samples of --split to compare [default: %(default)s]")
    parser.add_argument("--split", default="val", choices=("train", "val", "test"), help="[default: %(default)s]")
    add_run_options(parser, batch_size=32, config_help="run config that builds the data and the model: an MMF "
                    "run's config.yaml or the study's study_config.yaml [default: the config.yaml beside --b]")
    return parser


def dataset_report(args, parser):
    """Parameter and attention-map drift on --dataset; the run config defaults to --b's."""
    from mmf_domainstudy.analysis.checkpoints import run_config_beside

    config = args.config or run_config_beside(args.b)
    if not config:
        parser.error(f"--dataset: no config.yaml beside {args.b}; pass --config <run dir>/config.yaml")
    if args.heads:
        parser.error("--heads: with --dataset the head counts come from the run config")
    if args.samples < 1 or args.batch_size < 1:
        parser.error("--samples and --batch-size must be at least 1")
    import mmf_domainstudy

    mmf_domainstudy.activate()  # the data and the models come from MMF
    from mmf_domainstudy.analysis.mmf_inputs import DatasetDriftRequest, dataset_drift_report

    return dataset_drift_report(DatasetDriftRequest(
        checkpoint_a=args.a, checkpoint_b=args.b, config_path=config, dataset=args.dataset, out_dir=args.out,
        samples=args.samples, split=args.split, batch_size=args.batch_size, seed=args.seed, device=args.device,
        overrides=data_dir_overrides(args), name_a=args.name_a,
        name_b=args.name_b, heatmaps=not args.no_heatmaps,
    ))


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with bad_input_as_one_line():
        if args.dataset:
            reports = dataset_report(args, parser)
        else:
            from mmf_domainstudy.analysis.report import parameter_drift_report

            reports = {"parameter": parameter_drift_report(
                args.a, args.b, args.out, dict(args.heads), args.name_a, args.name_b, heatmaps=not args.no_heatmaps
            )}
    for paths in reports.values():
        print(f"wrote {paths['csv']}, {paths['json']} and {len(paths['heatmaps'])} heatmaps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
