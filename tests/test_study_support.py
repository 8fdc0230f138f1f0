"""A stand-in for ``python -m mmf_domainstudy.run``, and helpers that build small studies.

Run as a script it takes mmf_run's arguments and writes what a real run writes
into ``env.save_dir``: ``current.ckpt`` after every step, ``<model>_final.pth``
and ``metrics.json`` at the end. It resumes from ``current.ckpt`` when given
``checkpoint.resume=True`` and fails like MMF when ``checkpoint.resume_file``
does not exist. Environment knobs: FAKE_STEPS, FAKE_STEP_SECONDS, FAKE_FAIL and
FAKE_NO_METRICS (globs on the run folder's name), FAKE_EXECUTIONS (a jsonl file
that gets one line per start), FAKE_HOLD (``glob=file;...``: a matching run
stops after its first step until ``file`` exists).

Its validation score is ``fake_score`` from the run's config + 0.01 * seed +
the ``fake_bonus`` of the pretraining config it starts from, so tests know
every expected number.
"""
import fnmatch
import json
import os
import sys
import time
from pathlib import Path

import yaml

FAKE_RUN = Path(__file__).resolve()
REPO = FAKE_RUN.parents[1]


def _write_json(path, content):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        json.dump(content, handle)
    os.replace(tmp, path)


def _merged_config(path):
    merged = {}
    for include in yaml.safe_load(Path(path).read_text())["includes"]:
        merged.update(yaml.safe_load(Path(include).read_text()) or {})
    return merged


def _wait_if_held(name):
    for hold in filter(None, os.environ.get("FAKE_HOLD", "").split(";")):
        pattern, release = hold.split("=", 1)
        while fnmatch.fnmatch(name, pattern) and not os.path.exists(release):
            time.sleep(0.05)


def fake_mmf_run(argv):
    args = dict(arg.split("=", 1) for arg in argv)
    save_dir = Path(args["env.save_dir"])
    name = save_dir.name
    config = _merged_config(args["config"])
    step = 0
    if args.get("checkpoint.resume") == "True" and (save_dir / "current.ckpt").exists():
        step = json.loads((save_dir / "current.ckpt").read_text())["step"]
    bonus = 0.0
    if "checkpoint.resume_file" in args:
        resume_file = Path(args["checkpoint.resume_file"])
        if not resume_file.exists():
            print(f"RuntimeError: {resume_file} doesn't exist", flush=True)
            return 1
        bonus = json.loads(resume_file.read_text())["bonus"]
    if os.environ.get("FAKE_EXECUTIONS"):
        with open(os.environ["FAKE_EXECUTIONS"], "a") as log:
            log.write(json.dumps({"run": name, "start_step": step}) + "\n")
    if fnmatch.fnmatch(name, os.environ.get("FAKE_FAIL", "-")):
        print("Traceback (most recent call last):\nValueError: fake failure for a test", flush=True)
        return 3
    steps = int(os.environ.get("FAKE_STEPS", "3"))
    while step < steps:
        time.sleep(float(os.environ.get("FAKE_STEP_SECONDS", "0")))
        step += 1
        _write_json(save_dir / "current.ckpt", {"step": step})
        print(f"progress: {step}/{steps}", flush=True)
        _wait_if_held(name)
    _write_json(save_dir / f"{args['model']}_final.pth", {"bonus": config.get("fake_bonus", 0.0)})
    if not fnmatch.fnmatch(name, os.environ.get("FAKE_NO_METRICS", "-")):
        score = config.get("fake_score", 0.5) + 0.01 * int(args["training.seed"]) + bonus
        dataset = args["dataset"]
        _write_json(save_dir / "metrics.json",
                    {split: {f"{split}/{dataset}/accuracy": score} for split in ("val", "test")} | {"updates": steps})
    return 0


def write_configs(root, scores=None):
    """Pretraining configs for sources a, b and finetune configs for tasks t1, t2 under ``root/configs``."""
    scores = {"a": 0.1, "b": 0.2, "t1": 0.5, "t2": 0.3, **(scores or {})}
    (root / "configs" / "pretrain").mkdir(parents=True, exist_ok=True)
    (root / "configs" / "finetune").mkdir(parents=True, exist_ok=True)
    (root / "configs" / "base.yaml").write_text("training:\n  max_updates: 3\n")
    for source in ("a", "b"):
        (root / "configs" / "pretrain" / f"{source}.yaml").write_text(
            f"includes:\n- ../base.yaml\nfake_bonus: {scores[source]}\n")
    for task in ("t1", "t2"):
        (root / "configs" / "finetune" / f"{task}.yaml").write_text(f"fake_score: {scores[task]}\n")
    (root / "configs" / "tiny.yaml").write_text("training:\n  batch_size: 2\n")


def study_yaml(root, tasks=("t1",), seeds=(1, 2), modes=True, extra=""):
    """A small study over the configs of write_configs, run by the fake command."""
    task_lines = "".join(f"    {t}: {{dataset: ds_{t}, metric: ds_{t}/accuracy}}\n" for t in tasks)
    mode_lines = ("  modes:\n    finetuned: []\n    frozen: ['model_config.{model}.freeze_base=True']\n"
                  if modes else "")
    return (
        f"name: small\n"
        f"output_dir: {root / 'out'}\n"
        f"command: [{sys.executable}, {FAKE_RUN}]\n"
        f"models: [m1]\n"
        f"pretrain:\n"
        f"  config: {root}/configs/pretrain/{{source}}.yaml\n"
        f"  sources:\n    none: null\n    a: {{dataset: pa}}\n    b: {{dataset: pb}}\n"
        f"finetune:\n"
        f"  config: {root}/configs/finetune/{{task}}.yaml\n"
        f"  seeds: {list(seeds)}\n"
        f"  tasks:\n{task_lines}{mode_lines}"
        f"overlays: [{root}/configs/tiny.yaml]\n"
        f"{extra}"
    )


def write_study(root, **options):
    write_configs(root)
    path = root / "study.yaml"
    path.write_text(study_yaml(root, **options))
    return path


def executions(path):
    """Starts recorded by the fake command: a list of {"run", "start_step"}."""
    if not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_fake_run_writes_what_the_runner_reads(tmp_path, monkeypatch):
    from mmf_domainstudy.study.run.rundir import read_metrics

    (tmp_path / "c.yaml").write_text("fake_score: 0.25\n")
    (tmp_path / "study_config.yaml").write_text(json.dumps({"includes": [str(tmp_path / "c.yaml")]}))
    save_dir = tmp_path / "run"
    save_dir.mkdir()
    monkeypatch.setenv("FAKE_STEPS", "2")
    argv = [f"config={tmp_path / 'study_config.yaml'}", "model=m1", "dataset=ds", f"env.save_dir={save_dir}",
            "training.seed=3"]
    assert fake_mmf_run(argv) == 0
    assert read_metrics(save_dir)["val"] == {"val/ds/accuracy": 0.25 + 0.03}  # rc10's meter names
    assert json.loads((save_dir / "current.ckpt").read_text()) == {"step": 2}
    assert (save_dir / "m1_final.pth").exists()


if __name__ == "__main__":
    sys.exit(fake_mmf_run(sys.argv[1:]))
