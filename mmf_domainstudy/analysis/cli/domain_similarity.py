"""``domainstudy-domain-similarity`` (``tools/domain_similarity.py``): domain similarity between a
pretraining source and a downstream task, from data alone.

Examples:
    domainstudy-domain-similarity text --source coco_captions.txt --target vqa2_questions.txt
    domainstudy-domain-similarity visual --source data/coco/trainval2014.lmdb \\
        --target data/vizwiz/detectron.lmdb --max-images 5000
    domainstudy-domain-similarity spearman --similarity 0.31 0.45 0.62 --gains 1.2 0.4 -0.3

text:     unigram Jensen-Shannon divergence (bits, 0..1) and vocabulary overlap; files hold
          one text per line; tokens are lowercased runs of letters/digits.
visual:   Frechet distance between Gaussian fits of region features; sources are MMF .lmdb
          feature stores (real regions per image) or .npy arrays [n, d] / [images, regions, d].
spearman: rank correlation between per-pair similarities and transfer gains.
Prints JSON (measures, a definition for each, inputs); --out also writes it to a file.
"""
import argparse
import json
import sys

from mmf_domainstudy.utils.cli_errors import bad_input_as_one_line


def build_parser():
    parser = argparse.ArgumentParser(prog="domainstudy-domain-similarity", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    text = commands.add_parser("text", help="unigram JSD and vocabulary overlap of text files")
    text.add_argument("--source", nargs="+", required=True, help="source text file(s), one text per line")
    text.add_argument("--target", nargs="+", required=True, help="target text file(s), one text per line")
    visual = commands.add_parser("visual", help="Frechet distance of region features")
    visual.add_argument("--source", nargs="+", required=True, help="source .lmdb store(s) or .npy array(s)")
    visual.add_argument("--target", nargs="+", required=True, help="target .lmdb store(s) or .npy array(s)")
    visual.add_argument("--ridge", type=float, default=1e-6, help="added to covariance diagonals [default: %(default)s]")
    visual.add_argument("--max-images", type=int, help="images drawn per LMDB store (seeded) [default: all]")
    visual.add_argument("--seed", type=int, default=0, help="seed of the --max-images draw [default: %(default)s]")
    spearman = commands.add_parser("spearman", help="rank correlation of similarity and transfer gain")
    spearman.add_argument("--similarity", nargs="+", type=float, required=True, help="one value per (source, task) pair")
    spearman.add_argument("--gains", nargs="+", type=float, required=True, help="transfer gain per pair, same order")
    for sub in (text, visual, spearman):
        sub.add_argument("--out", help="also write the JSON here")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from mmf_domainstudy.analysis import report

    with bad_input_as_one_line():
        if args.command == "text":
            result = report.text_similarity_report(args.source, args.target, args.out)
        elif args.command == "visual":
            result = report.visual_similarity_report(args.source, args.target, args.out, args.ridge,
                                                     args.max_images, args.seed)
        else:
            result = report.rank_correlation_report(args.similarity, args.gains, args.out)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
