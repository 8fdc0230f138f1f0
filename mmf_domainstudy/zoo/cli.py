"""What ``tools/zoo.py`` does with its parsed arguments: one call each, errors as one line."""
import sys

from mmf_domainstudy.zoo.errors import ZooError
from mmf_domainstudy.zoo.export import export_run
from mmf_domainstudy.zoo.importer import import_artifact
from mmf_domainstudy.zoo.local_zoo import artifact_path, entry_sha256, iter_entries, read_zoo, zoo_dir
from mmf_domainstudy.zoo.verify import verify_entry


def _print_registered(key, entry, zoo):
    print(f"registered {key}")
    print(f"  artifact {artifact_path(entry, zoo)}")
    print(f"  sha256   {entry_sha256(entry)}")
    print(f"  use      checkpoint.resume_zoo={key} checkpoint.resume_pretrained=true")


def _export(args):
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
    entries = list(iter_entries(read_zoo(args.zoo)))
    if not entries:
        print(f"no entries in {zoo_dir(args.zoo)}")
    for key, entry in entries:
        trust = "  TRUSTED-PICKLE" if entry.get("trust_remote") else ""
        print(f"{key}  version={entry['version']}  sha256={entry_sha256(entry)[:12]}{trust}")
        print(f"    from {entry.get('source', '?')}")
    return 0


def _verify(args):
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


_COMMANDS = {"export": _export, "import": _import, "list": _list, "verify": _verify}


def run(args):
    """Exit status of the chosen command; a ZooError becomes 'error: ...' and status 2."""
    try:
        return _COMMANDS[args.command](args)
    except ZooError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
