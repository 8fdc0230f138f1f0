#!/usr/bin/env python
"""Convert the easy-vqa PyPI dataset into MMF's VQA layout, features included.

Writes under DATA_DIR/datasets/easy_vqa/defaults/:
  annotations/imdb_{train,val,test}.npy, extras/vocabs/answers_easy_vqa.txt,
  features/easy_vqa.lmdb (EfficientNet-Lite0 grid regions)
val is every 10th easy-vqa train image, test is easy-vqa's test set. Rerunning
is safe and cheap: stored features are kept and extraction resumes.

Example (300 images: about 30 s on a busy 2-core machine):
    python tools/prepare_easy_vqa.py --max-images 300 --image-size 160 --threads 1
"""
import argparse
import logging

from mmf_domainstudy.features import prepare_easy_vqa
from mmf_domainstudy.formats.layout import DATA_DIR_ENV, default_data_dir


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    parser.add_argument(
        "--image-size",
        type=int,
        default=320,
        help="square backbone input; 320 -> 100 regions, 160 -> 25 [default: %(default)s]",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=8,
        help="images per forward pass and LMDB commit [default: %(default)s]",
    )
    parser.add_argument(
        "--no-cls-prob",
        action="store_true",
        help="omit per-region class distributions (needed only by masked region modelling)",
    )
    parser.add_argument("--device", default="cpu", help="torch device for extraction [default: %(default)s]")
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
    paths, summary = prepare_easy_vqa(
        data_dir=args.data_dir,
        max_images=args.max_images,
        image_size=args.image_size,
        batch_size=args.batch_size,
        device=args.device,
        with_cls_prob=not args.no_cls_prob,
    )
    print(summary)
    for split, path in paths["annotations"].items():
        print(f"{split}: {path}")
    print(f"answers: {paths['answers']}\nfeatures: {paths['features']}")


if __name__ == "__main__":
    main()
