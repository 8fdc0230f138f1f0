#!/usr/bin/env python
"""Extract grid-region image features into an MMF LMDB feature store.

Example:
    python tools/extract_features.py path/to/images --output data/features/my.lmdb

A rerun with the same output skips the images already stored, so an
interrupted extraction continues where it stopped.
"""
import argparse
import logging

from mmf_domainstudy.features import DEFAULT_BACKBONE, extract_from_source
from mmf_domainstudy.utils.cli_errors import bad_input_as_one_line


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "images",
        help="a folder of images, or a list file with one 'path' or 'id<TAB>path' per line",
    )
    parser.add_argument("--output", required=True, help="the .lmdb store to create or append to")
    parser.add_argument(
        "--backbone",
        default=DEFAULT_BACKBONE,
        help=f"{DEFAULT_BACKBONE} (weights ship with pip), torchvision:<arch> or timm:<arch> "
        "(weights must already be in the local cache) [default: %(default)s]",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=320,
        help="square input size; 320 gives 10x10=100 regions with efficientnet-lite0 [default: "
        "%(default)s]",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=8,
        help="images per forward pass and per LMDB commit [default: %(default)s]",
    )
    parser.add_argument(
        "--no-cls-prob",
        action="store_true",
        help="skip per-region class distributions (only masked region modelling needs them; they are "
        "~40%% of the store)",
    )
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda [default: %(default)s]")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads; 1 ran 7x faster than 2 on a busy 2-core machine [default: torch's "
        "choice]",
    )
    return parser.parse_args()


def main():
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with bad_input_as_one_line():
        summary = extract_from_source(
            args.images,
            args.output,
            backbone=args.backbone,
            image_size=args.image_size,
            batch_size=args.batch_size,
            with_cls_prob=not args.no_cls_prob,
            device=args.device,
            threads=args.threads,
        )
    print(summary)


if __name__ == "__main__":
    main()
