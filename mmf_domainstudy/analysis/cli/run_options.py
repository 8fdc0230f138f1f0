"""Options of the analysis commands that build data and a model through MMF from a run config."""
import os


def add_run_options(parser, config_help, batch_size):
    """--config, --data-dir, --batch-size, --seed, --device."""
    parser.add_argument("--config", metavar="YAML", help=config_help)
    parser.add_argument("--data-dir", help="env.data_dir, for a config that leaves it to MMF (study_config.yaml)")
    parser.add_argument("--batch-size", type=int, default=batch_size, help="[default: %(default)s]")
    parser.add_argument("--seed", type=int, default=0, help="which samples (MMF shuffles the split) [default: 0]")
    parser.add_argument("--device", help="cpu or cuda [default: cuda when available]")


def data_dir_overrides(args):
    """MMF options for --data-dir: absolute, since MMF resolves a relative one against its own package."""
    return (f"env.data_dir={os.path.abspath(args.data_dir)}",) if args.data_dir else ()
