"""Command-line options shared by every tool that runs a backbone over images.

One definition keeps ``domainstudy-extract-features`` and ``domainstudy-prepare-easy-vqa``
agreeing on names, defaults and help text.
"""
from mmf_domainstudy.features import DEFAULT_BACKBONE


def add_extraction_arguments(parser):
    """Add backbone, input size, batching, class-distribution, device and thread options."""
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
        help="square backbone input; with efficientnet-lite0 320 -> 10x10=100 regions, 160 -> 25 "
        "[default: %(default)s]",
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


def extraction_options(args):
    """The keyword arguments of ``extract_features`` from parsed ``add_extraction_arguments`` options."""
    return dict(
        backbone=args.backbone,
        image_size=args.image_size,
        batch_size=args.batch_size,
        with_cls_prob=not args.no_cls_prob,
        device=args.device,
        threads=args.threads,
    )
