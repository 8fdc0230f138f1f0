"""``domainstudy-make-subset`` (``tools/make_subset.py``): write a seeded subset of an MMF annotation file (imdb .npy or .jsonl).

The subset is exactly the one the plugin's builders keep for the same
fraction/count and seed (``source_fraction``/``source_num_samples`` and
``subset_seed`` in mmf_domainstudy/datasets/subsets.py), so a subset used on the
fly can be shipped as a file, e.g. CC-small from CC-full:

  domainstudy-make-subset $MMF_DATA_DIR/datasets/cc/defaults/annotations/train_all.npy \\
      $MMF_DATA_DIR/datasets/cc/defaults/annotations/train_small.npy --fraction 0.1 --seed 0

then ``dataset=masked_conceptual_captions`` with that file as its train annotations
sees the same samples as ``dataset=masked_cc_small``. Subsets of one file with one
seed are nested: the 10 % file is inside the 50 % file.
"""
import argparse
import sys

from mmf_domainstudy.utils.cli_errors import bad_input_as_one_line


def build_parser():
    parser = argparse.ArgumentParser(prog="domainstudy-make-subset", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="annotation file to subsample (.npy imdb or .jsonl)")
    parser.add_argument("output", help="file to write, with the source's extension")
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--fraction", type=float, help="share of the samples to keep, in (0, 1]")
    size.add_argument("--num-samples", type=int, help="number of samples to keep")
    parser.add_argument(
        "--seed", type=int, default=0, help="selection seed, the builders' subset_seed [default: %(default)s]"
    )
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from mmf_domainstudy.datasets.subsets import write_annotation_subset

    with bad_input_as_one_line():
        kept, total = write_annotation_subset(
            args.source, args.output, fraction=1.0 if args.fraction is None else args.fraction,
            num_samples=args.num_samples, seed=args.seed,
        )
    print(f"wrote {kept} of {total} samples to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
