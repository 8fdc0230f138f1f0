"""``domainstudy-zoo`` (``tools/zoo.py``): the local MMF model zoo: export finished runs, import
downloaded artifacts, list, verify.

Keys start with the architecture, because MMF takes the model name from the first
segment. Once registered, a key works offline wherever MMF takes a zoo key:

    domainstudy-zoo export save/pretrain_vqa_p_full --key visual_bert.domain_study.vqa_p.full
    mmf_run config=... model=visual_bert \\
        checkpoint.resume_zoo=visual_bert.domain_study.vqa_p.full checkpoint.resume_pretrained=true
    VisualBERT.from_pretrained("visual_bert.domain_study.vqa_p.full")

The zoo lives in $MMF_DOMAINSTUDY_ZOO (default ~/.cache/mmf_domainstudy/zoo): models.yaml in
MMF's zoo format plus the artifacts it lists. Checkpoints are loaded tensors-only; one that
needs arbitrary unpickling (it could run code) is refused unless you pass --trust.
"""
import argparse
import sys

from mmf_domainstudy.utils.cli_errors import bad_input_as_one_line
from mmf_domainstudy.zoo.errors import ZooError


def _add_common(parser):
    parser.add_argument(
        "--zoo", help="local zoo dir [default: $MMF_DOMAINSTUDY_ZOO or ~/.cache/mmf_domainstudy/zoo]"
    )


def _add_writing(parser):
    parser.add_argument("--version", help="version string stored with the entry [default: today, or the zoo yaml's]")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing entry (its old artifact file is kept)")
    parser.add_argument(
        "--trust",
        action="store_true",
        help="allow a checkpoint that needs arbitrary unpickling; only for files from a source you trust",
    )


def build_parser():
    parser = argparse.ArgumentParser(prog="domainstudy-zoo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{export,import,list,verify}")

    export = commands.add_parser(
        "export",
        help="package a finished run dir as a zoo artifact",
        description="Package a run's weights and config.yaml as a zoo artifact (tar + sha256) "
        "and register it. The tar is checked the way MMF will read it before it is published.",
    )
    export.add_argument("run_dir", help="the run's save dir (env.save_dir): holds config.yaml and checkpoints")
    export.add_argument("--key", help="zoo key [default: <model>.domain_study.<run dir name>]")
    export.add_argument(
        "--checkpoint",
        default="auto",
        choices=("auto", "final", "best", "current"),
        help="which checkpoint: final = models/model_final.pth or <model>_final.pth; auto = "
        "final, else best.ckpt, else current.ckpt [default: %(default)s]",
    )
    _add_writing(export)
    _add_common(export)

    imported = commands.add_parser(
        "import",
        help="verify and register a downloaded artifact",
        description="Verify a downloaded zoo tar (one *.ckpt|*.pth|*.pt, at most one yaml) against "
        "its sha256 and register it. Give the sha256, or MMF's zoo yaml that publishes it as "
        "'hashcode'. A mismatch deletes nothing.",
    )
    imported.add_argument("tar", help="the downloaded .tar / .tar.gz")
    imported.add_argument("--key", help="local zoo key [default: --zoo-key]")
    expected = imported.add_mutually_exclusive_group(required=True)
    expected.add_argument("--sha256", help="the published sha256 of the tar")
    expected.add_argument("--zoo-yaml", help="an MMF zoo yaml (e.g. MMF's configs/zoo/models.yaml) listing the tar")
    imported.add_argument("--zoo-key", help="the artifact's key in --zoo-yaml, e.g. visual_bert.pretrained.coco [default: --key]")
    _add_writing(imported)
    _add_common(imported)

    listing = commands.add_parser("list", help="show the local zoo's entries")
    _add_common(listing)

    verify = commands.add_parser(
        "verify",
        help="re-check sha256, archive safety and loadability",
        description="Re-check each entry: sha256, tar members, layout, tensors-only load (or the "
        "trust recorded at import) and architecture. Exit status 1 if any entry fails.",
    )
    verify.add_argument("keys", nargs="*", help="keys to check [default: all]")
    _add_common(verify)

    return parser


def _print_registered(key, entry, zoo):
    from mmf_domainstudy.zoo.local_zoo import artifact_path, entry_sha256

    print(f"registered {key}")
    print(f"  artifact {artifact_path(entry, zoo)}")
    print(f"  sha256   {entry_sha256(entry)}")
    print(f"  use      checkpoint.resume_zoo={key} checkpoint.resume_pretrained=true")


def _export(args):
    from mmf_domainstudy.zoo.export import export_run

    key, entry = export_run(
        args.run_dir,
        key=args.key,
        zoo=args.zoo,
        which=args.checkpoint,
        version=args.version,
        overwrite=args.overwrite,
        trust_remote=args.trust,
    )
    _print_registered(key, entry, args.zoo)
    return 0


def _import(args):
    from mmf_domainstudy.zoo.importer import import_artifact

    key, entry = import_artifact(
        args.tar,
        args.key or args.zoo_key,
        sha256=args.sha256,
        zoo_yaml=args.zoo_yaml,
        zoo_key=args.zoo_key,
        version=args.version,
        zoo=args.zoo,
        overwrite=args.overwrite,
        trust_remote=args.trust,
    )
    _print_registered(key, entry, args.zoo)
    return 0


def _list(args):
    from mmf_domainstudy.zoo.local_zoo import entry_sha256, iter_entries, read_zoo, zoo_dir

    entries = list(iter_entries(read_zoo(args.zoo)))
    if not entries:
        print(f"no entries in {zoo_dir(args.zoo)}")
    for key, entry in entries:
        trust = "  TRUSTED-PICKLE" if entry.get("trust_remote") else ""
        print(f"{key}  version={entry['version']}  sha256={entry_sha256(entry)[:12]}{trust}")
        print(f"    from {entry.get('source', '?')}")
    return 0


def _verify(args):
    from mmf_domainstudy.zoo.local_zoo import iter_entries, read_zoo
    from mmf_domainstudy.zoo.verify import verify_entry

    keys = args.keys or [key for key, _ in iter_entries(read_zoo(args.zoo))]
    failures = 0
    for key in keys:
        try:
            summary = verify_entry(key, args.zoo)
        except ZooError as error:
            failures += 1
            print(f"FAIL {key}: {error}")
            continue
        print(f"ok   {key}: {summary['tensors']} tensors ({summary['architecture']}), sha256 {summary['sha256'][:12]}")
    return 1 if failures else 0


COMMANDS = {"export": _export, "import": _import, "list": _list, "verify": _verify}


def main(argv=None):
    """Exit status of the chosen command; bad input is one ``error:`` line and status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "import" and not (args.key or args.zoo_key):
        parser.error("import needs --key (or --zoo-key to reuse the published key)")
    with bad_input_as_one_line():
        return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
