"""``domainstudy-prepare-demo-data`` (``tools/prepare_demo_data.py``): prepare every dataset of the embedded demo study from the offline easy-vqa package.

Writes under DATA_DIR/datasets/ (MMF's layout): easy-vqa (VQA imdbs + EfficientNet-Lite0
features), in-domain captions for half of its images, CCG captions generated for the
other half by a captioner trained on the first, an out-of-domain texture source, and an
SNLI-VE-format entailment task. Every step resumes; a rerun costs seconds.

    domainstudy-prepare-demo-data --data-dir save/demo_data
"""
import argparse
import logging
import sys

from mmf_domainstudy.utils.cli_errors import bad_input_as_one_line


def build_parser():
    parser = argparse.ArgumentParser(prog="domainstudy-prepare-demo-data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="save/demo_data", help="MMF data root to write (default: save/demo_data)")
    parser.add_argument("--max-images", type=int, default=500, help="easy-vqa images to use (default: 500)")
    parser.add_argument("--image-size", type=int, default=160, help="backbone input size; 160 -> 25 regions (default)")
    parser.add_argument("--texture-images", type=int, default=400,
                        help="out-of-domain images (default: 400: more than the 250 in-domain caption images, so the "
                             "demo can test whether domain beats size)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for feature extraction (default: 1)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    from mmf_domainstudy.demo.prepare import prepare_demo_data

    with bad_input_as_one_line():
        paths = prepare_demo_data(args.data_dir, args.max_images, args.image_size, args.texture_images, args.threads)
    print(f"Demo data ready under {args.data_dir} (easy-vqa features: {paths['easy_vqa']['features']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
