"""``domainstudy-extract-features`` (``tools/extract_features.py``): extract grid-region image features into an MMF LMDB feature store.

Example:
    domainstudy-extract-features path/to/images --output data/features/my.lmdb

A rerun with the same output skips the images already stored, so an
interrupted extraction continues where it stopped.
"""
import argparse
import logging
import sys

from mmf_domainstudy.features.cli.extraction_options import add_extraction_arguments, extraction_options
from mmf_domainstudy.utils.cli_errors import bad_input_as_one_line


def build_parser():
    parser = argparse.ArgumentParser(prog="domainstudy-extract-features", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "images",
        help="a folder of images, or a list file with one 'path' or 'id<TAB>path' per line",
    )
    parser.add_argument("--output", required=True, help="the .lmdb store to create or append to")
    add_extraction_arguments(parser)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from mmf_domainstudy.features.extract import extract_from_source

    with bad_input_as_one_line():
        summary = extract_from_source(args.images, args.output, **extraction_options(args))
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
