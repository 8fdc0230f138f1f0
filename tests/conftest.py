"""Shared fixtures: tiny data in MMF's real formats and real `mmf_run` subprocesses."""
import os
import subprocess
import sys

import pytest
import yaml

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two workers on two cores: one torch thread each, or they oversubscribe and crawl.
    import torch

    torch.set_num_threads(1)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_OVERLAY = os.path.join(REPO, "projects", "domain_study", "configs", "tiny.yaml")


@pytest.fixture(scope="session")
def fixture_data_dir(tmp_path_factory):
    """MMF data root with every fixture dataset (2048-d features, seeded)."""
    from tests.fixtures.make_fixtures import make_fixtures

    root = tmp_path_factory.mktemp("mmf_data")
    make_fixtures(str(root))
    return str(root)


def write_run_config(path, includes=(), **sections):
    """``config=`` for a run: the files in ``includes`` overlaid in order, then ``sections`` (written to
    ``path``) on top, as a comma-separated list: the command-line overlay a user types."""
    with open(path, "w") as handle:
        yaml.safe_dump(dict(sections), handle, sort_keys=False)
    files = [part for item in includes for part in str(item).split(",")]  # an include may be a list already
    return ",".join([os.path.abspath(p) for p in files] + [str(path)])


def exit_status(main, argv):
    """A command's exit status, whether its ``main`` returns it or exits with it (bad input: 2)."""
    try:
        return main(argv)
    except SystemExit as exited:
        return exited.code


def installed_script(name):
    """A console script of this venv (``mmf_run``, ``domainstudy-run``, ...), as a user runs it."""
    return os.path.join(os.path.dirname(sys.executable), name)


def mmf_env(data_dir, **extra):
    env = dict(os.environ)
    env.update(
        PYTHONPATH=REPO + os.pathsep + env.get("PYTHONPATH", ""),
        MMF_DATA_DIR=str(data_dir),
        HF_HUB_OFFLINE="1",
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_mmf(config, model, dataset, save_dir, data_dir, *overrides, launcher=None, check=True, timeout=600, env=None):
    """Run the installed ``mmf_run`` console script as a user would; ``model``/``dataset`` None: the
    config names them."""
    launcher = launcher or [installed_script("mmf_run")]
    args = launcher + [f"config={config}"]
    args += [f"model={model}"] if model else []
    args += [f"dataset={dataset}"] if dataset else []
    args += [f"env.save_dir={save_dir}", *overrides]
    result = subprocess.run(
        args, cwd=REPO, env=env or mmf_env(data_dir), capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"mmf run failed ({result.returncode}): {' '.join(args)}\n--- stdout ---\n{result.stdout[-4000:]}"
            f"\n--- stderr ---\n{result.stderr[-6000:]}"
        )
    return result
