"""Bad input, tried: every case ends with ONE `error:` line naming the cause and the fix, a
non-zero exit, and every earlier output byte-identical.

Each case runs the real command a user types (``python -m mmf_domainstudy.run``,
``tools/zoo.py``, ``tools/extract_features.py``, ``tools/run_study.py``) against a
finished run, zoo, feature store or study made first. The README's Troubleshooting
table lists the same cases.
"""
import dataclasses
import os
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from mmf_domainstudy.compat.input_checks import check_run_trains
from mmf_domainstudy.study.run.plan import expand_study
from mmf_domainstudy.study.run.rundir import read_done
from mmf_domainstudy.study.run.spec import load_spec
from mmf_domainstudy.zoo.archive import sha256_file, write_artifact_tar
from mmf_domainstudy.zoo.export import export_run
from tests.conftest import REPO, installed_script, mmf_env, run_mmf, write_run_config
from tests.test_study_support import write_study
from tests.test_trainer import pretrain_config, vqa2_config
from tests.test_zoo import tiny_model_config, tiny_state_dict

APPEND_ONLY_LOGS = ("train.log", "logs")
RUN_WEIGHTS = "visual_bert_final.pth"


def outputs(directory):
    """``{relative path: sha256}`` of every file under ``directory`` but the append-only logs."""
    found = {}
    for root, _, names in os.walk(directory):
        for name in names:
            relative = os.path.relpath(os.path.join(root, name), directory)
            if relative.split(os.sep)[0] not in APPEND_ONLY_LOGS:
                found[relative] = sha256_file(os.path.join(root, name))
    return found


def read_log(directory):
    path = Path(directory) / "train.log"
    return path.read_text() if path.exists() else ""


def assert_one_clear_error(result, *fragments):
    """Exit status 2, no traceback, and exactly one `error:` line that contains every fragment."""
    both = f"--- stdout ---\n{result.stdout[-3000:]}\n--- stderr ---\n{result.stderr[-5000:]}"
    assert result.returncode == 2, both
    assert "Traceback" not in result.stderr, both
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, both
    for fragment in fragments:
        assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, fixture_data_dir):
    """A finished tiny VisualBERT VQA run: the earlier outputs every bad run must leave alone."""
    root = tmp_path_factory.mktemp("finished")
    config = vqa2_config(root, "visual_bert")
    run_mmf(config, "visual_bert", "vqa2", root / "save", fixture_data_dir)
    return config, root / "save"


@pytest.fixture
def earlier_run(tmp_path, finished_run):
    """A copy of the finished run's save dir, with its outputs and log as they were."""
    config, save = finished_run
    copy = tmp_path / "save"
    shutil.copytree(save, copy)
    return config, copy, outputs(copy), read_log(copy)


def assert_intact(save, before, log_before):
    after = outputs(save)
    assert {name: digest for name, digest in after.items() if name in before} == before
    assert read_log(save).startswith(log_before)  # the failed attempt may only append to the log


@dataclasses.dataclass
class BadRun:
    expect: tuple  # what the one error line must say: the cause and the fix
    overrides: tuple = ()
    model: str = "visual_bert"
    dataset: str = "vqa2"
    config: str = None  # default: the finished run's config
    data_dir: str = None  # default: the fixture data


def typo_in_yaml(tmp_path, config, save, data_dir):
    *overlaid, own = config.split(",")
    typo = tmp_path / "typo.yaml"
    typo.write_text(Path(own).read_text().replace("max_updates: 3", "max_update: 3"))
    assert typo.read_text() != Path(own).read_text()
    typo_config = ",".join(overlaid + [str(typo)])
    return BadRun(config=typo_config, expect=(f"config {typo_config}", "sets training.max_update, which is not a config key",
                                              "did you mean training.max_updates?", "fix or remove it"))


def truncated_checkpoint(tmp_path, config, save, data_dir):
    weights = save / RUN_WEIGHTS
    cut = tmp_path / "cut.pth"
    cut.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return BadRun(overrides=(f"checkpoint.resume_file={cut}",),
                  expect=(f"checkpoint {cut}: cannot read this checkpoint", "truncated, damaged", "check its sha256"))


def vilbert_weights(tmp_path, config, save, data_dir):
    path = tmp_path / "vilbert_final.pth"
    torch.save(tiny_state_dict("vilbert"), path)
    return BadRun(overrides=(f"checkpoint.resume_file={path}",),
                  expect=(f"checkpoint {path} holds vilbert weights", "this run's model is visual_bert",
                          "point checkpoint.resume_file at visual_bert weights", "or run model=vilbert"))


def tokenizer_without_vocab(tmp_path, config, save, data_dir):
    folder = tmp_path / "my-tokenizer"
    folder.mkdir()
    (folder / "tokenizer_config.json").write_text('{"do_lower_case": true}')
    key = "dataset_config.vqa2.processors.text_processor.params.tokenizer_config.type"
    return BadRun(overrides=(f"{key}={folder}",),
                  expect=(f"tokenizer folder {folder} has no vocab.txt or tokenizer.json",
                          "tokenizer_config.type to a folder that holds vocab.txt", "or bert-base-uncased"))


def bert_folder_without_config(tmp_path, config, save, data_dir):
    folder = tmp_path / "my-bert"
    folder.mkdir()
    (folder / "pytorch_model.bin").write_bytes(b"")
    return BadRun(overrides=(f"model_config.visual_bert.bert_model_name={folder}",),
                  expect=(f"bert_model_name folder {folder} has no config.json",
                          "Set model_config.visual_bert.bert_model_name to a folder that holds config.json",
                          "or null to start from random weights"))


def copied_data(tmp_path, data_dir):
    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy)
    return copy


def copied_feature_store(tmp_path, data_dir):
    """A copy of the fixture data; returns it and its COCO feature store (which vqa2 reads)."""
    copy = copied_data(tmp_path, data_dir)
    return copy, copy / "datasets" / "coco" / "defaults" / "features" / "trainval2014.lmdb"


def truncated_feature_store(tmp_path, config, save, data_dir):
    copy, store = copied_feature_store(tmp_path, data_dir)
    data = store / "data.mdb"
    os.truncate(data, data.stat().st_size // 2)  # a copy that stopped half-way
    return BadRun(data_dir=str(copy), expect=(f"feature store {store} is truncated or corrupt",
                                              "re-extract it with tools/extract_features.py"))


def zeroed_feature_records_read_in_a_worker(tmp_path, config, save, data_dir):
    copy, store = copied_feature_store(tmp_path, data_dir)
    data = store / "data.mdb"
    content = bytearray(data.read_bytes())
    content[len(content) // 2:] = bytes(len(content) - len(content) // 2)  # bit rot: records read as zeros
    data.write_bytes(content)
    return BadRun(data_dir=str(copy), overrides=("training.num_workers=1",),  # defaults.yaml reads with 4
                  expect=(f"feature store {store} key", "corrupt pickle", "re-extract or re-download it"))


def no_update(key, value, unit):
    return lambda tmp, config, save, data: BadRun(
        overrides=(f"{key}={value}",),
        expect=(f"{key}={value}: a training run needs at least 1 {unit}", f"set {key} to",
                "to evaluate without training, use run_type=val"))


def yaml_syntax_error(tmp_path, config, save, data_dir):
    *overlaid, own = config.split(",")
    broken = tmp_path / "broken.yaml"
    broken.write_text(Path(own).read_text().replace("max_updates: 3", "max_updates: 3\n   batch_size: 2"))
    return BadRun(config=",".join(overlaid + [str(broken)]), expect=(f"config file {broken} is not valid yaml",
                                              "mapping values are not allowed here at line", "fix the yaml there"))


def yaml_syntax_error_in_an_include(tmp_path, config, save, data_dir):
    broken = tmp_path / "broken.yaml"
    broken.write_text("training: {max_updates: 3\n")
    including = tmp_path / "including.yaml"
    including.write_text(f"includes:\n- {broken}\n")
    return BadRun(config=f"{config},{including}", expect=(f"config file {broken} is not valid yaml", "fix the yaml there"))


def yaml_whose_top_level_is_a_list(tmp_path, config, save, data_dir):
    listed = tmp_path / "listed.yaml"
    listed.write_text("- training.max_updates=3\n- training.batch_size=2\n")
    return BadRun(config=str(listed), expect=(f"config file {listed} holds a list at its top level",
                                              "write its settings as keys"))


def data_dir_that_does_not_exist(tmp_path, config, save, data_dir):
    nowhere = tmp_path / "nowhere"
    return BadRun(overrides=(f"env.data_dir={nowhere}",),
                  expect=(f"env.data_dir={nowhere} does not exist", "set env.data_dir (or $MMF_DATA_DIR)",
                          "the folder that holds datasets/<name>/<variant>/annotations"))


def mmf_data_dir_that_does_not_exist(tmp_path, config, save, data_dir):
    nowhere = tmp_path / "nowhere"  # rc10 creates $MMF_DATA_DIR when it is missing: then it is empty
    return BadRun(data_dir=str(nowhere), expect=(f"env.data_dir={nowhere} has no datasets folder",
                                                 "set env.data_dir (or $MMF_DATA_DIR)"))


def vqa2_train_annotations(tmp_path, data_dir):
    copy = copied_data(tmp_path, data_dir)
    return copy, copy / "datasets" / "vqa2" / "defaults" / "annotations" / "imdb_train2014.npy"


def zero_byte_annotation_file(tmp_path, config, save, data_dir):
    copy, annotations = vqa2_train_annotations(tmp_path, data_dir)
    annotations.write_bytes(b"")  # a copy that never started
    return BadRun(data_dir=str(copy), expect=(f"annotation file {annotations} is empty (0 bytes",
                                              "download the dataset's annotations"))


def annotation_file_without_samples(tmp_path, config, save, data_dir):
    copy, annotations = vqa2_train_annotations(tmp_path, data_dir)
    np.save(annotations, np.array([], dtype=object))
    return BadRun(data_dir=str(copy), expect=(f"annotation file {annotations} has no samples (empty split)",
                                              "download the dataset's annotations"))


def samples_without_captions_read_in_a_worker(tmp_path, config, save, data_dir):
    """VQA questions given to the captions source: every sample lacks ``captions``."""
    questions = "vqa2/defaults/annotations/imdb_train2014.npy"
    captionless = write_run_config(tmp_path / "captionless.yaml", [pretrain_config(tmp_path, "visual_bert")],
                                   dataset_config={"masked_coco": {"annotations": {"train": [questions]}}})
    return BadRun(config=captionless, dataset="masked_coco", overrides=("training.num_workers=1",),
                  expect=(f"annotation file {Path(data_dir) / 'datasets' / questions}: a masked_coco train sample "
                          "lacks 'captions'", "point dataset_config.masked_coco.annotations.train at annotation files"))


def missing_data_files(tmp_path, config, save, data_dir):
    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy, copy_function=os.link)  # hard links: removing one leaves the fixture whole
    annotations = copy / "datasets" / "vqa2" / "defaults" / "annotations" / "imdb_val2014.npy"
    vocabulary = copy / "datasets" / "vqa2" / "defaults" / "extras" / "vocabs" / "answers_vqa.txt"
    annotations.unlink()
    vocabulary.unlink()
    return BadRun(data_dir=str(copy), expect=(
        "2 data file(s) missing", f"dataset_config.vqa2.annotations.val -> {annotations}",
        f"dataset_config.vqa2.processors.answer_processor.params.vocab_file -> {vocabulary}",
        "point its key at the file", "set env.data_dir"))


BAD_RUNS = {
    "unknown_dataset": lambda tmp, config, save, data: BadRun(
        dataset="vqa3", expect=("dataset='vqa3' is not a registered dataset", "did you mean vqa2?", "use one of:")),
    "unknown_model": lambda tmp, config, save, data: BadRun(
        model="visual_bertt", expect=("model='visual_bertt' is not a registered model", "did you mean visual_bert?")),
    "typo_on_command_line": lambda tmp, config, save, data: BadRun(
        overrides=("training.max_update=3",),
        expect=("training.max_update=", "training has no key 'max_update'", "did you mean training.max_updates?")),
    "typo_in_yaml": typo_in_yaml,
    "missing_config_file": lambda tmp, config, save, data: BadRun(
        config=str(tmp / "nope.yaml"), expect=(f"config={tmp / 'nope.yaml'}", "does not exist", "fix the path")),
    "fraction_0": lambda tmp, config, save, data: BadRun(
        overrides=("dataset_config.vqa2.fraction=0",),
        expect=("dataset_config.vqa2.fraction=0 must be a number in (0, 1]", "dataset_config.vqa2.fraction=0.1")),
    "fraction_above_1": lambda tmp, config, save, data: BadRun(
        overrides=("dataset_config.vqa2.fraction=1.5",),
        expect=("dataset_config.vqa2.fraction=1.5 must be a number in (0, 1]", "dataset_config.vqa2.fraction=0.1")),
    "missing_checkpoint": lambda tmp, config, save, data: BadRun(
        overrides=(f"checkpoint.resume_file={tmp / 'nope.pth'}",),
        expect=(f"checkpoint.resume_file={tmp / 'nope.pth'} does not exist", "fix the path",
                "drop checkpoint.resume_file")),
    "truncated_checkpoint": truncated_checkpoint,
    "checkpoint_of_other_architecture": vilbert_weights,
    "tokenizer_folder_without_vocab": tokenizer_without_vocab,
    "bert_folder_without_config": bert_folder_without_config,
    "feature_dim_mismatch": lambda tmp, config, save, data: BadRun(
        overrides=("model_config.visual_bert.visual_embedding_dim=1280",),
        expect=("model_config.visual_bert.visual_embedding_dim=1280 but the features in", "have 2048",
                "set model_config.visual_bert.visual_embedding_dim=2048 (or auto)")),
    "truncated_feature_store": truncated_feature_store,
    "corrupt_feature_record_read_in_a_worker": zeroed_feature_records_read_in_a_worker,
    "max_updates_-1": no_update("training.max_updates", -1, "update"),
    "max_updates_0": no_update("training.max_updates", 0, "update"),
    "max_epochs_0": no_update("training.max_epochs", 0, "epoch"),
    "yaml_syntax_error": yaml_syntax_error,
    "yaml_syntax_error_in_an_include": yaml_syntax_error_in_an_include,
    "yaml_whose_top_level_is_a_list": yaml_whose_top_level_is_a_list,
    "data_dir_that_does_not_exist": data_dir_that_does_not_exist,
    "mmf_data_dir_that_does_not_exist": mmf_data_dir_that_does_not_exist,
    "zero_byte_annotation_file": zero_byte_annotation_file,
    "annotation_file_without_samples": annotation_file_without_samples,
    "samples_without_captions_read_in_a_worker": samples_without_captions_read_in_a_worker,
    "missing_data_files": missing_data_files,
}


@pytest.mark.parametrize("case", sorted(BAD_RUNS))
def test_bad_run_input_is_one_clear_error_and_keeps_earlier_outputs(case, tmp_path, earlier_run, fixture_data_dir):
    config, save, before, log_before = earlier_run
    bad = BAD_RUNS[case](tmp_path, config, save, fixture_data_dir)
    result = run_mmf(bad.config or config, bad.model, bad.dataset, save, bad.data_dir or fixture_data_dir,
                     *bad.overrides, check=False)
    assert_one_clear_error(result, *bad.expect)
    assert_intact(save, before, log_before)


@pytest.mark.parametrize("settings", [
    {"run_type": "train", "training": {"max_updates": -1, "max_epochs": 1}},  # rc10 then trains by epochs
    {"run_type": "val", "training": {"max_updates": 0, "max_epochs": None}},  # evaluates, trains nothing
    {"run_type": "train_val", "training": {"max_updates": 1, "max_epochs": None}},
])
def test_runs_that_train_or_only_evaluate_pass_the_training_length_check(settings):
    check_run_trains(OmegaConf.create(settings))


def test_traceback_on_request(tmp_path, earlier_run, fixture_data_dir):
    config, save, _, _ = earlier_run
    result = run_mmf(config, "visual_bert", "vqa3", save, fixture_data_dir, check=False,
                     env=mmf_env(fixture_data_dir, MMF_DOMAINSTUDY_TRACEBACK=1))
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "ConfigError: dataset='vqa3'" in result.stderr


def read_only_launcher(directory):
    """``python -m mmf_domainstudy.run`` with ``directory`` read-only. Permissions bind everyone but
    root, so root gets a read-only bind mount in a private mount namespace (gone when the command ends)."""
    command = [sys.executable, "-m", "mmf_domainstudy.run"]
    if os.geteuid() != 0:
        return command
    return ["unshare", "--mount", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(directory), *command]


def test_read_only_save_dir(tmp_path, earlier_run, fixture_data_dir):
    config, save, before, log_before = earlier_run
    if os.geteuid() != 0:
        save.chmod(0o555)
    try:
        result = run_mmf(config, "visual_bert", "vqa2", save, fixture_data_dir, check=False,
                         launcher=read_only_launcher(save))
    finally:
        save.chmod(0o755)
    assert_one_clear_error(result, f"cannot write in {save}", f"make {save} writable",
                           "or set env.save_dir to a writable folder")
    assert_intact(save, before, log_before)


def test_disk_full_while_saving_a_checkpoint(tmp_path, earlier_run, fixture_data_dir):
    """The kernel refuses the write mid-checkpoint: a file-size limit (RLIMIT_FSIZE, 1 MiB) makes
    every write past 1 MiB fail with EFBIG, as a full disk fails with ENOSPC, with no root, tmpfs
    or patching needed. The resumed run loads its checkpoint and trains; the logs fit, the 13 MB
    checkpoint does not."""
    config, save, before, log_before = earlier_run

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of killing the process

    result = subprocess.run(
        [sys.executable, "-m", "mmf_domainstudy.run", f"config={config}", "model=visual_bert", "dataset=vqa2",
         f"env.save_dir={save}", "checkpoint.resume=True", "training.max_updates=6"],
        cwd=REPO, env=mmf_env(fixture_data_dir), capture_output=True, text=True, timeout=600,
        preexec_fn=limit_file_size,
    )
    assert_one_clear_error(result, f"cannot write {save / 'models' / 'model_6.ckpt'}: File too large",
                           "raise the file-size limit")
    assert_intact(save, before, log_before)
    assert not [name for name in os.listdir(save / "models") if name.endswith(".tmp")]


# --- tools/zoo.py import -----------------------------------------------------------------------

@pytest.fixture
def zoo_with_an_entry(tmp_path, finished_run):
    """A local zoo holding the finished run, exported: the earlier output a bad import must keep."""
    zoo = tmp_path / "zoo"
    export_run(str(finished_run[1]), key="visual_bert.domain_study.finished", zoo=str(zoo))
    return zoo, outputs(zoo)


def zoo_import(tmp_path, zoo, tar, *args):
    return subprocess.run([sys.executable, "tools/zoo.py", "import", str(tar), "--zoo", str(zoo), *args],
                          cwd=REPO, env=mmf_env(tmp_path), capture_output=True, text=True, timeout=600)


def test_zoo_import_refuses_a_tar_with_a_dotdot_member(tmp_path, zoo_with_an_entry, finished_run):
    zoo, before = zoo_with_an_entry
    tar_path = tmp_path / "downloads" / "evil.tar"
    tar_path.parent.mkdir()
    with tarfile.open(tar_path, "w") as tar:
        tar.add(finished_run[1] / RUN_WEIGHTS, arcname="../escape.pth")
    result = zoo_import(tmp_path, zoo, tar_path, "--key", "visual_bert.evil", "--sha256", sha256_file(tar_path))
    assert_one_clear_error(result, str(tar_path), "'..'")
    assert outputs(zoo) == before
    assert not list(tmp_path.rglob("escape.pth"))


def test_zoo_import_refuses_a_sha256_mismatch(tmp_path, zoo_with_an_entry):
    zoo, before = zoo_with_an_entry
    download = tmp_path / "download.tar"
    shutil.copy(sorted(zoo.rglob("*.tar"))[0], download)
    wrong = "0" * 64
    result = zoo_import(tmp_path, zoo, download, "--key", "visual_bert.other", "--sha256", wrong)
    assert_one_clear_error(result, str(download), "sha256 mismatch", wrong)
    assert outputs(zoo) == before
    assert download.exists()  # a mismatch deletes nothing


class RunsACommand:
    """Unpickling this calls ``os.system(command)``: what a malicious checkpoint does."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_zoo_import_of_a_pickle_that_calls_posix_system_needs_trust(tmp_path, zoo_with_an_entry):
    """Refused without --trust (the command does not run), loaded with it (the command runs: the marker)."""
    zoo, before = zoo_with_an_entry
    marker = tmp_path / "the-pickle-ran"
    checkpoint = tmp_path / "model.pth"
    torch.save({"model": tiny_state_dict("visual_bert"), "hook": RunsACommand(f"touch {marker}"),
                "config": {"model_config": {"visual_bert": tiny_model_config("visual_bert")}}}, checkpoint)
    tar_path = tmp_path / "downloads" / "hooked.tar"
    tar_path.parent.mkdir()
    write_artifact_tar(str(tar_path), {"model.pth": str(checkpoint)})
    key_args = ("--key", "visual_bert.hooked", "--sha256", sha256_file(tar_path))

    refused = zoo_import(tmp_path, zoo, tar_path, *key_args)
    assert_one_clear_error(refused, f"{tar_path}/model.pth", "posix.system",
                           "needs arbitrary unpickling: use --trust only for a file you trust")
    assert not marker.exists()
    assert outputs(zoo) == before

    trusted = zoo_import(tmp_path, zoo, tar_path, *key_args, "--trust")
    assert trusted.returncode == 0, trusted.stderr[-3000:]
    assert "registered visual_bert.hooked" in trusted.stdout
    assert marker.exists()


# --- tools/extract_features.py -----------------------------------------------------------------

def test_extract_features_from_an_empty_folder(tmp_path, fixture_data_dir):
    store = tmp_path / "features.lmdb"
    shutil.copytree(Path(fixture_data_dir) / "datasets" / "coco" / "defaults" / "features" / "trainval2014.lmdb",
                    store)
    before = outputs(store)
    images = tmp_path / "images"
    images.mkdir()
    (images / "notes.txt").write_text("not an image")
    result = subprocess.run([sys.executable, "tools/extract_features.py", str(images), "--output", str(store)],
                            cwd=REPO, env=mmf_env(fixture_data_dir), capture_output=True, text=True, timeout=600)
    assert_one_clear_error(result, f"no image files in {images}", "1 other files skipped", "expected files ending in")
    assert outputs(store) == before


# --- tools/run_study.py ------------------------------------------------------------------------

def test_sigterm_during_a_study_stops_it_resumably(tmp_path):
    """The fake MMF command of the study tests holds pt-m1-b after its first step, so the signal
    arrives with one run finished and one mid-way, by condition, not by timing."""
    spec_path = write_study(tmp_path, seeds=(1,), modes=False)
    runs = {run.name: run for run in expand_study(load_spec(spec_path))}
    finished, held = runs["pt-m1-a-p1.0-s1"].run_dir, runs["pt-m1-b-p1.0-s1"].run_dir
    release = tmp_path / "release"
    env = dict(os.environ, PYTHONPATH=str(REPO), FAKE_STEPS="3", FAKE_HOLD=f"{held.name}={release}")
    command = [sys.executable, "tools/run_study.py", str(spec_path), "--jobs", "2", "--poll-interval", "0.1"]
    runner = subprocess.Popen(command, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (read_done(finished) and (held / "current.ckpt").exists()):
            assert runner.poll() is None and time.monotonic() < deadline, runner.communicate()
            time.sleep(0.05)
        before = outputs(finished)
        checkpoint = (held / "current.ckpt").read_bytes()
        runner.send_signal(signal.SIGTERM)
        _, stderr = runner.communicate(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert runner.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if "interrupted" in line]
    assert len(lines) == 1 and lines[0].endswith("interrupted by SIGTERM; run the study again to resume it"), stderr
    assert outputs(finished) == before
    assert (held / "current.ckpt").read_bytes() == checkpoint
    release.touch()
    again = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert outputs(finished) == before and read_done(held)


def test_every_case_is_in_the_readme():
    readme = (Path(REPO) / "README.md").read_text()
    section = readme.split("## Troubleshooting", 1)[1]
    for phrase in ("unknown dataset", "unknown model", "misspelled key", "fraction", "missing checkpoint",
                   "truncated checkpoint", "ViLBERT weights", "vocab.txt", "config.json", "visual_embedding_dim",
                   "LMDB", "`..`", "sha256", "disk full", "read-only", "SIGTERM", "no images",
                   "max_updates=-1", "max_epochs=0", "posix.system", "captions", "yaml syntax error",
                   "top level is a list", "env.data_dir", "0-byte", "no samples", "data file missing"):
        assert phrase in section, phrase


def test_probe_head_refuses_a_pretraining_config_by_name(tmp_path):
    run = tmp_path / "pt-run"
    run.mkdir()
    (run / "config.yaml").write_text("model: visual_bert\ndatasets: masked_coco\n")
    result = subprocess.run([installed_script("domainstudy-probe-head"), "--checkpoint", str(run / "visual_bert_final.pth"),
                             "--dataset", "easy_vqa"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {run / 'config.yaml'} is a run config for masked_coco, not easy_vqa: pass --config of a finetuning "
        "run on easy_vqa (its config.yaml or study_config.yaml)")
