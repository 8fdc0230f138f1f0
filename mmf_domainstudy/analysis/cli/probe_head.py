"""``domainstudy-probe-head`` (``tools/probe_head.py``): how much of the answer can any linear
classifier read from what a model's task head sees?

Use it on a frozen cell at the majority answer: a probe near majority says the frozen base's
output carries no linearly readable answer (a head recipe is unlikely to help); a probe well
above it says the head's training is what fails (learning rate, updates, the features'
conditioning).

Examples:
    domainstudy-probe-head --checkpoint RUN_FROZEN/visual_bert_final.pth --dataset easy_vqa
    domainstudy-probe-head --checkpoint RUN_PT/visual_bert_final.pth \\
        --config RUN_FT/study_config.yaml --data-dir save/demo_data --dataset easy_vqa --out probe.json

The model is the one the run config builds (MMF's build_model) with the checkpoint's weights;
a pretraining checkpoint gives the base, so pass --config of a finetuning run of the same
model. Its head's input (VisualBERT: the pooled output; ViLBERT: the fused pooled outputs)
is collected on --train-samples training and --val-samples validation samples, in eval mode,
and a multinomial logistic regression on standardized features is fitted full-batch
(300 Adam steps). Labels: the class id, or the top-scored answer of VQA-style soft scores, so
it is for single-answer tasks (VQA, VizWiz, SNLI-VE; not MM-IMDB's multi-label genres).
Prints the probe's and the majority answer's val accuracy; --out writes them as JSON.
"""
import argparse
import dataclasses
import json
import logging
import sys

from mmf_domainstudy.analysis.cli.run_options import add_run_options, data_dir_overrides
from mmf_domainstudy.utils.cli_errors import bad_input_as_one_line


def build_parser():
    parser = argparse.ArgumentParser(prog="domainstudy-probe-head", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, metavar="CKPT",
                        help="a finetuned model or a pretrained base (e.g. <run>/visual_bert_final.pth)")
    parser.add_argument("--dataset", required=True, metavar="NAME", help="MMF dataset of the task (e.g. easy_vqa)")
    parser.add_argument("--train-samples", type=int, default=2000, help="[default: %(default)s]")
    parser.add_argument("--val-samples", type=int, default=1000, help="[default: %(default)s]")
    add_run_options(parser, batch_size=64, config_help="finetuning run config that builds the data and the task "
                    "model: its config.yaml or the study's study_config.yaml [default: the config.yaml beside "
                    "--checkpoint]")
    parser.add_argument("--out", metavar="JSON", help="also write the result here")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if min(args.train_samples, args.val_samples, args.batch_size) < 1:
        parser.error("--train-samples, --val-samples and --batch-size must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with bad_input_as_one_line():
        from mmf_domainstudy.analysis.checkpoints import run_config_beside

        config = args.config or run_config_beside(args.checkpoint)
        if not config:
            parser.error(f"no config.yaml beside {args.checkpoint}; pass --config of a finetuning run")
        import mmf_domainstudy

        mmf_domainstudy.activate()  # the data and the model come from MMF
        from mmf_domainstudy.analysis.mmf_inputs import HeadProbeRequest, check_task_config, head_probe_report
        from mmf_domainstudy.utils.atomic import atomic_write_text

        check_task_config(config, args.dataset)
        probe = head_probe_report(HeadProbeRequest(
            checkpoint=args.checkpoint, config_path=config, dataset=args.dataset, train_samples=args.train_samples,
            val_samples=args.val_samples, batch_size=args.batch_size, seed=args.seed, device=args.device,
            overrides=data_dir_overrides(args),
        ))
        print(probe.summary())
        if args.out:
            document = {"checkpoint": args.checkpoint, "config": config, "dataset": args.dataset,
                        **dataclasses.asdict(probe)}
            atomic_write_text(args.out, json.dumps(document, indent=2) + "\n")
            print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
