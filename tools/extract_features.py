#!/usr/bin/env python
"""Extract grid-region image features into an MMF LMDB feature store.

Example:
    python tools/extract_features.py path/to/images --output data/features/my.lmdb

A rerun with the same output skips the images already stored, so an
interrupted extraction continues where it stopped.
"""
import argparse
import logging

from mmf_domainstudy.features import extract_from_source
from mmf_domainstudy.features.cli import add_extraction_arguments, extraction_options
from mmf_domainstudy.utils.cli_errors import bad_input_as_one_line


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "images",
        help="a folder of images, or a list file with one 'path' or 'id<TAB>path' per line",
    )
    parser.add_argument("--output", required=True, help="the .lmdb store to create or append to")
    add_extraction_arguments(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with bad_input_as_one_line():
        summary = extract_from_source(args.images, args.output, **extraction_options(args))
    print(summary)


if __name__ == "__main__":
    main()
