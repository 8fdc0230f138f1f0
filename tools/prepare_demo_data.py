#!/usr/bin/env python
"""Prepare every dataset of the embedded demo study from the offline easy-vqa package.

Writes under DATA_DIR/datasets/ (MMF's layout): easy-vqa (VQA imdbs + EfficientNet-Lite0
features), in-domain captions for half of its images, CCG captions generated for the
other half by a captioner trained on the first, an out-of-domain texture source, and an
SNLI-VE-format entailment task. Every step resumes; a rerun costs seconds.

    python tools/prepare_demo_data.py --data-dir save/demo_data
"""
import argparse
import logging

from mmf_domainstudy.demo import prepare_demo_data


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="save/demo_data", help="MMF data root to write (default: save/demo_data)")
    parser.add_argument("--max-images", type=int, default=500, help="easy-vqa images to use (default: 500)")
    parser.add_argument("--image-size", type=int, default=160, help="backbone input size; 160 -> 25 regions (default)")
    parser.add_argument("--texture-images", type=int, default=100, help="out-of-domain images (default: 100)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for feature extraction (default: 1)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    paths = prepare_demo_data(args.data_dir, args.max_images, args.image_size, args.texture_images, args.threads)
    print(f"Demo data ready under {args.data_dir} (easy-vqa features: {paths['easy_vqa']['features']})")


if __name__ == "__main__":
    main()
