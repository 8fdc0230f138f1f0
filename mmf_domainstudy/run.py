"""``python -m mmf_domainstudy.run`` takes exactly ``mmf_run``'s arguments.

It also works where the import hook is not installed (the package only on
PYTHONPATH), and it is the entry point for ``torchrun``: rc10's CLI would spawn
its own workers or put every rank on cuda:0, so under torchrun each process
joins the group from the environment (gloo on CPU, NCCL on GPUs).

Bad input (an unknown key, model or dataset, a missing or damaged checkpoint, data
that does not fit the config, an unwritable save dir) ends the run with one
``error:`` line and exit status 2; any other error keeps its traceback.
"""
import argparse
import os
import sys

import mmf_domainstudy
from mmf_domainstudy.utils.cli_errors import bad_input_as_one_line


def launched_by_torchrun():
    return "LOCAL_RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


def _run_torchrun_process(opts):
    import torch
    from mmf.utils.configuration import Configuration
    from mmf_cli.run import main as mmf_main

    args = argparse.Namespace(config_override=None, local_rank=None, opts=opts)
    configuration = Configuration(args)
    configuration.args = args
    config = configuration.get_config()
    local_rank = int(os.environ["LOCAL_RANK"])
    use_cuda = torch.cuda.is_available() and "cuda" in str(config.training.device)
    config.start_rank = 0
    config.device_id = local_rank
    config.distributed.init_method = "env://"
    config.distributed.rank = int(os.environ["RANK"])
    config.distributed.world_size = int(os.environ["WORLD_SIZE"])
    config.distributed.no_spawn = True
    config.distributed.backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(local_rank)
    mmf_main(configuration, init_distributed=True)


USAGE = """usage: python -m mmf_domainstudy.run config=CONFIG.yaml[,OVERLAY.yaml...] [key=value ...]

Exactly mmf_run's arguments (MMF parses them): config= (a comma-separated list overlays files left
to right), run_type=, env.save_dir=, env.data_dir=, any config key. model= and dataset= are optional
with the project's configs, which name them. Under torchrun each process joins the group from the
environment. Bad input ends with one 'error:' line and exit status 2."""


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if list(argv) in (["-h"], ["--help"]):  # answered without importing MMF (~7 s)
        print(USAGE)
        return
    with bad_input_as_one_line():
        mmf_domainstudy.activate()
        if launched_by_torchrun():
            _run_torchrun_process(argv)
            return
        from mmf_cli.run import run

        sys.argv = [sys.argv[0]] + list(argv)
        run()


if __name__ == "__main__":
    main()
