"""``domainstudy-check-data CONFIG [key=value ...]`` (``tools/check_data.py``): is every data file this
run reads there?

Imports only argparse until the arguments are parsed, so ``--help`` answers at once.
"""
import argparse


def build_parser():
    parser = argparse.ArgumentParser(
        prog="domainstudy-check-data",
        description="List every file an MMF run reads (annotations, feature stores, vocabularies of the splits "
                    "its run_type uses), where MMF looks for it, present or missing, and its size. Exit status 2 "
                    "and one 'error:' line naming every missing file when something is missing.",
        epilog="Example: domainstudy-check-data projects/domain_study/configs/visual_bert/finetune/vqa2.yaml "
               "model=visual_bert dataset=vqa2 run_type=train_val env.data_dir=/data/mmf",
    )
    parser.add_argument("config", help="the run's config yaml, as mmf_run's config=")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="mmf_run's other arguments: model=, dataset=, run_type=, env.data_dir=, dataset_config...")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    bare = [opt for opt in args.overrides if "=" not in opt]
    if bare:
        parser.error(f"overrides are key=value, as mmf_run takes them; got {bare[0]!r}")
    from mmf_domainstudy.utils.cli_errors import bad_input_as_one_line

    with bad_input_as_one_line():
        _check(args.config, args.overrides)
    return 0


def _check(config_path, overrides):
    import mmf_domainstudy

    mmf_domainstudy.activate()
    from mmf_domainstudy.datasets.data_check import format_table, raise_for_missing
    from mmf_domainstudy.datasets.data_check_runs import RunCommand, data_files_of_runs

    command = RunCommand(config_path, tuple(overrides), configs=(config_path,))
    config, files = data_files_of_runs([command])[command.name]
    print(format_table(files))
    raise_for_missing(files, config)
    print(f"{len(files)} files, all present")
