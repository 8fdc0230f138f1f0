"""``domainstudy-prepare-easy-vqa`` (``tools/prepare_easy_vqa.py``): convert the easy-vqa PyPI dataset into MMF's VQA layout, features included.

Writes under DATA_DIR/datasets/easy_vqa/defaults/:
  annotations/imdb_{train,val,test}.npy, extras/vocabs/answers_easy_vqa.txt,
  features/easy_vqa.lmdb (EfficientNet-Lite0 grid regions)
val is every 10th easy-vqa train image, test is easy-vqa's test set. Rerunning
is safe and cheap: stored features are kept and extraction resumes.

Example (300 images: about 30 s on a busy 2-core machine):
    domainstudy-prepare-easy-vqa --max-images 300 --image-size 160 --threads 1
"""
import argparse
import logging
import sys

from mmf_domainstudy.features.cli.extraction_options import add_extraction_arguments, extraction_options
from mmf_domainstudy.formats.layout import DATA_DIR_ENV, default_data_dir
from mmf_domainstudy.utils.cli_errors import bad_input_as_one_line


def build_parser():
    parser = argparse.ArgumentParser(prog="domainstudy-prepare-easy-vqa", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data-dir",
        default=default_data_dir(),
        help=f"MMF data root (env.data_dir): ${DATA_DIR_ENV}, else ~/.cache/mmf_domainstudy/data "
        "[now: %(default)s]",
    )
    parser.add_argument(
        "--max-images",
        type=int,
        default=None,
        help="use at most this many images in total, 80%% from easy-vqa's train set and 20%% from its "
        "test set [default: all 5,000]",
    )
    add_extraction_arguments(parser)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from mmf_domainstudy.features.easy_vqa import prepare_easy_vqa

    with bad_input_as_one_line():
        paths, summary = prepare_easy_vqa(args.data_dir, args.max_images, **extraction_options(args))
    print(summary)
    for split, path in paths["annotations"].items():
        print(f"{split}: {path}")
    print(f"answers: {paths['answers']}\nfeatures: {paths['features']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
