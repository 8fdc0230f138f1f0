"""``domainstudy-generate-captions`` (``tools/generate_captions.py``): CCG captions: train a captioner on one caption dataset, caption another dataset's images.

Steps (each a subcommand):
  train     train region_captioner with mmf_run on a by-image caption imdb + LMDB store,
            then score it on the val split (BLEU-4, CIDEr-D -> SAVE_DIR/caption_quality.json)
  generate  caption every image of a feature store (or those an imdb names) with beam
            search -> an MMF caption imdb + <name>.provenance.json; rerun to resume
  evaluate  score a trained captioner on any by-image caption imdb
  score     score a generated caption imdb against a reference caption imdb
  easy-vqa-captions  derive "a <color> <shape>" caption imdbs from easy-vqa's VQA imdbs

Example (COCO captioner -> captions for Conceptual Captions images):
  domainstudy-generate-captions train --save-dir save/captioner_coco \\
      --train-captions $D/coco/defaults/annotations/imdb_karpathy_train_by_image.npy \\
      --val-captions $D/coco/defaults/annotations/imdb_karpathy_val_by_image.npy \\
      --features $D/coco/defaults/features/trainval2014.lmdb
  domainstudy-generate-captions generate --captioner save/captioner_coco \\
      --features $D/cc/defaults/features/cc.lmdb --out $D/ccg/defaults/annotations/imdb_ccg_full.npy

Anything after `train`'s options of the form key=value goes to mmf_run unchanged
(e.g. training.max_updates=500 model_config.region_captioner.hidden_size=128); rc10
parses values with ast.literal_eval, so write booleans as True/False.
"""
import argparse
import json
import sys

from mmf_domainstudy.utils.cli_errors import bad_input_as_one_line

QUALITY_FILE = "caption_quality.json"


def _add_decoding(parser):
    parser.add_argument("--beam-size", type=int, default=3, help="beam width; 1 is greedy [default: %(default)s]")
    parser.add_argument("--max-length", type=int, default=20, help="most WordPieces per caption [default: %(default)s]")
    parser.add_argument("--batch-size", type=int, default=32, help="images decoded together [default: %(default)s]")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda [default: %(default)s]")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def build_parser():
    parser = argparse.ArgumentParser(prog="domainstudy-generate-captions", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train the captioner, then score it on val")
    train.add_argument("--train-captions", required=True, help="by-image caption imdb (.npy with 'captions') to train on")
    train.add_argument("--val-captions", required=True, help="by-image caption imdb for validation and scoring")
    train.add_argument("--features", required=True, help="LMDB feature store of the training images")
    train.add_argument("--val-features", help="LMDB store of the val images [default: --features]")
    train.add_argument("--save-dir", required=True, help="MMF run dir (env.save_dir) for checkpoints and logs")
    train.add_argument("overrides", nargs="*", help="extra mmf_run options, key=value")
    _add_decoding(train)

    generate = commands.add_parser("generate", help="caption the images of a feature store")
    generate.add_argument("--captioner", required=True, help="the captioner's run dir (train's --save-dir)")
    generate.add_argument("--features", required=True, help="LMDB feature store whose images to caption")
    generate.add_argument("--out", required=True, help="caption imdb to write (.npy)")
    generate.add_argument("--only-images", help="caption only the images this imdb names [default: every stored image]")
    _add_decoding(generate)

    evaluate = commands.add_parser("evaluate", help="score a captioner on a by-image caption imdb")
    evaluate.add_argument("--captioner", required=True, help="the captioner's run dir")
    evaluate.add_argument("--annotations", required=True, help="by-image caption imdb with reference captions")
    evaluate.add_argument("--features", required=True, help="LMDB feature store of those images")
    evaluate.add_argument("--out", help="write the scores to this JSON file")
    _add_decoding(evaluate)

    score = commands.add_parser("score", help="score a generated caption imdb against reference captions")
    score.add_argument("--generated", required=True, help="caption imdb written by `generate`")
    score.add_argument("--references", required=True, help="by-image caption imdb of the same images")
    score.add_argument("--out", help="write the scores to this JSON file")

    easy = commands.add_parser("easy-vqa-captions", help="caption imdb of easy-vqa images from their questions")
    easy.add_argument("--vqa-imdb", required=True, help="easy-vqa imdb from domainstudy-prepare-easy-vqa")
    easy.add_argument("--out", required=True, help="caption imdb to write (.npy)")
    easy.add_argument("--half", choices=("all", "first", "second"), default="all",
                      help="keep all images or one half of them by image_id order [default: %(default)s]")
    return parser


def _decoding(args):
    return dict(beam_size=args.beam_size, max_length=args.max_length, batch_size=args.batch_size,
                device=args.device, progress=not args.no_progress)


def _print_scores(result):
    bleu = "  ".join(f"BLEU-{n} {result[f'bleu{n}']:.4f}" for n in range(1, 5))
    print(f"{bleu}  CIDEr-D {result['cider_d']:.4f}  on {result['num_images']} images")


def run_command(args):
    from mmf_domainstudy.captioning.easy_vqa import write_easy_vqa_captions
    from mmf_domainstudy.captioning.generate import generate_caption_file
    from mmf_domainstudy.captioning.quality import evaluate_captioner, score_caption_files
    from mmf_domainstudy.captioning.training import train_captioner

    if args.command == "train":
        train_captioner(args.save_dir, args.train_captions, args.val_captions, args.features, args.val_features,
                        args.overrides, progress=not args.no_progress)
        quality = f"{args.save_dir}/{QUALITY_FILE}"
        result = evaluate_captioner(args.save_dir, args.val_captions, args.val_features or args.features,
                                    out=quality, **_decoding(args))
        _print_scores(result)
        print(f"scores: {quality}")
    elif args.command == "generate":
        provenance = generate_caption_file(args.captioner, args.features, args.out, args.only_images, **_decoding(args))
        print(f"captioned {provenance['num_images']} images -> {args.out}")
    elif args.command == "evaluate":
        _print_scores(evaluate_captioner(args.captioner, args.annotations, args.features, out=args.out,
                                         **_decoding(args)))
    elif args.command == "score":
        _print_scores(score_caption_files(args.generated, args.references, args.out))
    else:
        print(json.dumps(write_easy_vqa_captions(args.vqa_imdb, args.out, args.half)))


def main(argv=None):
    args = build_parser().parse_args(argv)
    with bad_input_as_one_line():
        run_command(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
