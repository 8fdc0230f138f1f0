"""Every console script the package installs, run as a user runs it (the installed script, in a
subprocess): ``--help`` answers, imports neither torch nor MMF, and ``tools/<name>.py`` from a
checkout is the same command."""
import importlib.metadata
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, installed_script

MMF_FACING = {"mmf_domainstudy_run"}  # takes mmf_run's arguments (MMF parses them); it has no tools/ shim
TOOLS = {  # tools/<file>.py -> the console script it stands for
    "run_study": "domainstudy-run",
    "zoo": "domainstudy-zoo",
    "attention_drift": "domainstudy-attention-drift",
    "domain_similarity": "domainstudy-domain-similarity",
    "recommend_source": "domainstudy-recommend-source",
    "probe_head": "domainstudy-probe-head",
    "extract_features": "domainstudy-extract-features",
    "prepare_easy_vqa": "domainstudy-prepare-easy-vqa",
    "prepare_demo_data": "domainstudy-prepare-demo-data",
    "generate_captions": "domainstudy-generate-captions",
    "make_subset": "domainstudy-make-subset",
    "check_data": "domainstudy-check-data",
}


def console_scripts():
    entries = importlib.metadata.distribution("mmf-domainstudy").entry_points
    return {entry.name: entry.value for entry in entries if entry.group == "console_scripts"}


SCRIPTS = console_scripts()


def test_every_tool_is_a_console_script_and_every_script_a_tool():
    assert set(TOOLS.values()) == set(SCRIPTS) - MMF_FACING
    assert {f[:-3] for f in os.listdir(os.path.join(REPO, "tools")) if f.endswith(".py")} == set(TOOLS)


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_installed_script_answers_help(script):
    result = subprocess.run([installed_script(script), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_help_imports_neither_torch_nor_mmf(script):
    module, _, function = SCRIPTS[script].partition(":")
    code = (f"import sys\nfrom {module} import {function}\ntry:\n    {function}(['--help'])\n"
            "except SystemExit:\n    pass\nprint(sorted(m for m in ('torch', 'mmf', 'transformers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_tool_in_a_checkout_is_the_console_script(tool):
    from_checkout = subprocess.run([sys.executable, os.path.join("tools", f"{tool}.py"), "--help"], cwd=REPO,
                                   capture_output=True, text=True, timeout=120)
    installed = subprocess.run([installed_script(TOOLS[tool]), "--help"], capture_output=True, text=True, timeout=120)
    assert from_checkout.returncode == installed.returncode == 0
    assert from_checkout.stdout == installed.stdout


@pytest.mark.parametrize("mode", ["--dry-run", "--report-only"])
def test_study_dry_run_and_report_import_no_torch(mode, tmp_path):
    from tests.test_study_support import write_study

    spec = write_study(tmp_path)
    code = (f"import sys\nfrom mmf_domainstudy.study.cli import main\nmain([{str(spec)!r}, {mode!r}])\n"
            "print(sorted(m for m in ('torch', 'mmf', 'transformers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_package_root_and_every_non_mmf_subpackage_import_without_side_effects():
    code = ("import sys\nimport mmf_domainstudy, mmf_domainstudy.study, mmf_domainstudy.analysis, "
            "mmf_domainstudy.zoo, mmf_domainstudy.features, mmf_domainstudy.captioning, mmf_domainstudy.datasets, "
            "mmf_domainstudy.demo, mmf_domainstudy.utils.cli_errors, mmf_domainstudy.study.run.plan\n"
            "import torch\n"
            "print(sorted(m for m in ('mmf', 'transformers') if m in sys.modules), torch.Tensor.cuda.__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["[]", "cuda"]  # nothing imported MMF, nothing patched torch
