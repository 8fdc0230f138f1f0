"""Local zoo: export, import, verification, unpacking and the safety refusals.

Weights come from real (tiny) rc10 VisualBERT / ViLBERT models, so the architecture
checks see the key names real checkpoints have.
"""
import hashlib
import importlib
import io
import json
import os
import tarfile

import pytest
import torch
import yaml
from omegaconf import OmegaConf

import mmf_domainstudy

mmf_domainstudy.activate()  # compat shims, MMF, the plugin's registered components

from mmf.models.vilbert import ViLBERT
from mmf.models.visual_bert import VisualBERT
from mmf.utils.configuration import load_yaml
from mmf.utils.download import built
from mmf_domainstudy.zoo import cli as zoo_cli
from mmf_domainstudy.zoo.checkpoints import detect_architecture, load_checkpoint
from mmf_domainstudy.zoo.export import export_run
from mmf_domainstudy.zoo.importer import import_artifact
from mmf_domainstudy.zoo.mmf_hooks import install_local_zoo_hooks
from mmf_domainstudy.zoo.archive import safe_extract, sha256_file
from mmf_domainstudy.zoo.errors import (
    ArchitectureMismatchError,
    ChecksumMismatchError,
    CorruptCheckpointError,
    UnsafeArchiveError,
    UntrustedCheckpointError,
    ZooError,
)
from mmf_domainstudy.zoo.local_zoo import (
    ZOO_ENV,
    artifact_path,
    entry_sha256,
    find_entry,
    read_zoo,
    validate_key,
)
from mmf_domainstudy.zoo.materialize import BUILT_MARKER, materialize
from mmf_domainstudy.zoo.mmf_hooks import _DOWNLOAD_NAMES, _LOAD_NAMES
from mmf_domainstudy.zoo.verify import verify_entry

MODEL_CONFIGS = os.path.join(os.path.dirname(mmf_domainstudy.__file__), "configs", "mmf", "models")
TINY = {
    "bert_model_name": None,
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "vocab_size": 50,
    "visual_embedding_dim": 8,
    "max_position_embeddings": 32,
}
TINY_VILBERT = {
    "v_hidden_size": 16,
    "v_feature_size": 8,
    "v_intermediate_size": 32,
    "v_num_attention_heads": 2,
    "v_num_hidden_layers": 1,
    "v_target_size": 11,
    "bi_hidden_size": 16,
    "bi_num_attention_heads": 2,
    "bi_intermediate_size": 32,
    "v_biattention_id": [0],
    "t_biattention_id": [1],
}
MODEL_CLASSES = {"visual_bert": VisualBERT, "vilbert": ViLBERT}


class NotATensor:
    """A custom class: pickling it makes a checkpoint need arbitrary unpickling."""

    def __init__(self, note):
        self.note = note


def tiny_model_config(arch, head="pretrain"):
    config = load_yaml(os.path.join(MODEL_CONFIGS, arch, f"{head}.yaml")).model_config[arch]
    config = OmegaConf.merge(config, TINY, TINY_VILBERT if arch == "vilbert" else {})
    return OmegaConf.to_container(config, resolve=True)


def tiny_state_dict(arch, head="pretrain", seed=0):
    torch.manual_seed(seed)
    model = MODEL_CLASSES[arch](OmegaConf.create(tiny_model_config(arch, head)))
    model.build()
    return model.state_dict()


@pytest.fixture(scope="module")
def weights():
    """One tiny state_dict per architecture, built once."""
    return {arch: tiny_state_dict(arch) for arch in MODEL_CLASSES}


@pytest.fixture
def zoo(tmp_path, monkeypatch):
    """A clean local zoo, selected the way users do: through the environment."""
    path = tmp_path / "zoo"
    monkeypatch.setenv(ZOO_ENV, str(path))
    return path


def make_run_dir(root, arch, state_dict, checkpoint="final"):
    """A run dir as rc10 / the study trainer leave it."""
    run_dir = root / f"run_{arch}"
    (run_dir / "models").mkdir(parents=True)
    config = {"model": arch, "model_config": {arch: tiny_model_config(arch)}, "training": {"seed": 1}}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    if checkpoint == "final":
        torch.save(state_dict, run_dir / "models" / "model_final.pth")
    else:
        torch.save({"model": state_dict, "optimizer": {}, "num_updates": 3, "config": config},
                   run_dir / f"{checkpoint}.ckpt")
    return run_dir


def make_tar(path, members):
    """A tar from ``[(TarInfo, bytes or None)]``."""
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_member(name, data):
    return tarfile.TarInfo(name), data


def checkpoint_bytes(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def stock_tar(path, state_dict, arch, with_yaml=True, embed_config=False):
    """An artifact in MMF's stock layout: a checkpoint and (usually) a config yaml."""
    config = {"model_config": {arch: tiny_model_config(arch)}}
    checkpoint = {"model": state_dict, "config": config} if embed_config else state_dict
    members = [file_member("model.pth", checkpoint_bytes(checkpoint))]
    if with_yaml:
        members.append(file_member("config.yaml", yaml.safe_dump(config).encode()))
    return make_tar(path, members)


def snapshot(directory):
    return sorted(
        (os.path.relpath(os.path.join(root, name), directory), os.path.getsize(os.path.join(root, name)))
        for root, _, names in os.walk(directory)
        for name in names
    )


# --- architecture detection -------------------------------------------------------


@pytest.mark.parametrize("arch", sorted(MODEL_CLASSES))
@pytest.mark.parametrize("head", ["pretrain", "classification"])
def test_detect_architecture_of_real_models(arch, head):
    state_dict = tiny_state_dict(arch, head)
    assert detect_architecture(state_dict) == arch
    assert detect_architecture({f"module.{k}": v for k, v in state_dict.items()}) == arch


def test_detect_architecture_is_none_for_other_or_mixed_weights(weights):
    assert detect_architecture({"encoder.layer.0.weight": torch.zeros(1)}) is None
    assert detect_architecture({**weights["visual_bert"], **weights["vilbert"]}) is None


# --- export -------------------------------------------------------------------------


def test_export_writes_a_zoo_artifact_rc10_can_read(tmp_path, zoo, weights):
    run_dir = make_run_dir(tmp_path, "visual_bert", weights["visual_bert"])
    key, entry = export_run(str(run_dir), key="visual_bert.domain_study.vqa_p.full")

    listed = read_zoo()["visual_bert"]["domain_study"]["vqa_p"]["full"]
    assert listed == entry
    resource = entry["resources"][0]
    tar_path = artifact_path(entry)
    assert tar_path.startswith(str(zoo))
    assert resource["file_name"] == os.path.basename(tar_path)
    assert resource["hashcode"] == sha256_file(tar_path) == hashlib.sha256(open(tar_path, "rb").read()).hexdigest()
    assert entry["version"] and entry["architecture"] == "visual_bert" and not entry["trust_remote"]

    with tarfile.open(tar_path) as tar:
        assert sorted(tar.getnames()) == ["config.yaml", "model.pth"]
        checkpoint = torch.load(io.BytesIO(tar.extractfile("model.pth").read()), weights_only=True)
        packed_config = yaml.safe_load(tar.extractfile("config.yaml"))
    assert packed_config["model_config"]["visual_bert"] == tiny_model_config("visual_bert")
    assert checkpoint["config"] == packed_config
    assert checkpoint["model"].keys() == weights["visual_bert"].keys()
    for name, tensor in weights["visual_bert"].items():
        assert torch.equal(checkpoint["model"][name], tensor), name


def test_export_is_deterministic(tmp_path, zoo, weights):
    run_dir = make_run_dir(tmp_path, "vilbert", weights["vilbert"])
    _, first = export_run(str(run_dir), key="vilbert.a")
    _, second = export_run(str(run_dir), key="vilbert.b")
    assert entry_sha256(first) == entry_sha256(second)


def test_export_defaults_key_and_falls_back_to_best_checkpoint(tmp_path, zoo, weights):
    run_dir = make_run_dir(tmp_path, "vilbert", weights["vilbert"], checkpoint="best")
    key, entry = export_run(str(run_dir))
    assert key == "vilbert.domain_study.run_vilbert"
    assert entry["source"] == str(run_dir / "best.ckpt")
    with pytest.raises(ZooError, match="no current checkpoint"):
        export_run(str(run_dir), key="vilbert.other", which="current")


def test_export_strips_data_parallel_prefix(tmp_path, zoo, weights):
    wrapped = {f"module.{k}": v for k, v in weights["visual_bert"].items()}
    run_dir = make_run_dir(tmp_path, "visual_bert", wrapped)
    _, entry = export_run(str(run_dir), key="visual_bert.ddp")
    with tarfile.open(artifact_path(entry)) as tar:
        checkpoint = torch.load(io.BytesIO(tar.extractfile("model.pth").read()), weights_only=True)
    assert checkpoint["model"].keys() == weights["visual_bert"].keys()


def test_export_refuses_taken_key_and_overwrite_keeps_old_artifact(tmp_path, zoo, weights):
    run_dir = make_run_dir(tmp_path, "visual_bert", weights["visual_bert"])
    key, old = export_run(str(run_dir), key="visual_bert.k")
    old_path, before = artifact_path(old), snapshot(zoo)
    with pytest.raises(ZooError, match="already exists.*--overwrite"):
        export_run(str(run_dir), key=key)
    assert snapshot(zoo) == before

    torch.save(tiny_state_dict("visual_bert", seed=1), run_dir / "models" / "model_final.pth")
    _, new = export_run(str(run_dir), key=key, overwrite=True)
    assert entry_sha256(new) != entry_sha256(old)
    assert find_entry(key) == new
    assert os.path.isfile(old_path) and sha256_file(old_path) == entry_sha256(old)


def test_export_refuses_key_of_other_architecture(tmp_path, zoo, weights):
    run_dir = make_run_dir(tmp_path, "visual_bert", weights["visual_bert"])
    with pytest.raises(ArchitectureMismatchError, match="starts with 'vilbert'"):
        export_run(str(run_dir), key="vilbert.domain_study.x")
    assert not zoo.exists()


def test_export_refuses_checkpoint_of_other_architecture(tmp_path, zoo, weights):
    run_dir = make_run_dir(tmp_path, "visual_bert", weights["vilbert"])
    with pytest.raises(ArchitectureMismatchError, match=r"model_final.pth: holds vilbert weights .* visual_bert"):
        export_run(str(run_dir), key="visual_bert.x")
    assert find_entry("visual_bert.x") is None


def test_export_names_missing_config(tmp_path, zoo):
    with pytest.raises(ZooError, match=r"config.yaml: not found"):
        export_run(str(tmp_path))


@pytest.mark.parametrize(
    "key",
    ["visual_bert", "bert.domain_study.x", "visual_bert.a b", "visual_bert..x", "visual_bert.version"],
)
def test_invalid_keys_are_refused(key):
    with pytest.raises(ZooError, match="zoo key"):
        validate_key(key)


def test_keys_cannot_nest_inside_each_other(tmp_path, zoo, weights):
    run_dir = make_run_dir(tmp_path, "visual_bert", weights["visual_bert"])
    export_run(str(run_dir), key="visual_bert.a.b")
    with pytest.raises(ZooError, match="would nest under"):
        export_run(str(run_dir), key="visual_bert.a.b.c")
    with pytest.raises(ZooError, match="groups other entries"):
        export_run(str(run_dir), key="visual_bert.a")


# --- import -------------------------------------------------------------------------


def test_import_with_sha256_on_clean_zoo(tmp_path, zoo, weights):
    download = stock_tar(tmp_path / "visual_bert.pretrained.coco.tar", weights["visual_bert"], "visual_bert")
    sha256 = sha256_file(download)
    with pytest.warns(UserWarning, match="train\\+val"):
        key, entry = import_artifact(str(download), "visual_bert.pretrained.coco", sha256=sha256.upper())
    assert find_entry(key) == entry and entry_sha256(entry) == sha256
    assert sha256_file(artifact_path(entry)) == sha256
    assert verify_entry(key)["tensors"] == len(weights["visual_bert"])


def test_import_takes_hash_and_version_from_an_mmf_zoo_yaml(tmp_path, zoo, weights):
    download = stock_tar(tmp_path / "vilbert.tar.gz", weights["vilbert"], "vilbert", with_yaml=False,
                         embed_config=True)
    zoo_yaml = tmp_path / "models.yaml"
    resource = {"url": "mmf://models/vilbert.tar.gz", "file_name": "vilbert.tar.gz",
                "hashcode": sha256_file(download)}
    zoo_yaml.write_text(yaml.safe_dump({"vilbert": {"pretrained": {"cc": {"defaults": {
        "version": "1.0_2020_06_02", "resources": [resource]}}}}}))
    key, entry = import_artifact(str(download), "vilbert.pretrained.cc", zoo_yaml=str(zoo_yaml))
    assert entry["version"] == "1.0_2020_06_02"
    assert artifact_path(entry).endswith(".tar.gz")
    assert verify_entry(key)["config_file"] is None


def test_import_sha_mismatch_deletes_nothing(tmp_path, zoo, weights):
    download = stock_tar(tmp_path / "model.tar", weights["visual_bert"], "visual_bert")
    content, actual, wrong = download.read_bytes(), sha256_file(download), "0" * 64
    with pytest.raises(ChecksumMismatchError) as raised:
        import_artifact(str(download), "visual_bert.x", sha256=wrong)
    message = str(raised.value)
    assert str(download) in message and wrong in message and actual in message
    assert download.read_bytes() == content
    assert not zoo.exists()


def test_import_refuses_bare_state_dict_without_config(tmp_path, zoo, weights):
    download = stock_tar(tmp_path / "bare.tar", weights["visual_bert"], "visual_bert", with_yaml=False)
    with pytest.raises(ZooError, match="no yaml beside this bare state_dict"):
        import_artifact(str(download), "visual_bert.bare", sha256=sha256_file(download))
    assert find_entry("visual_bert.bare") is None


def test_import_refuses_weights_of_other_architecture(tmp_path, zoo, weights):
    download = stock_tar(tmp_path / "vilbert.tar", weights["vilbert"], "visual_bert")
    with pytest.raises(ArchitectureMismatchError, match=r"vilbert.tar/model.pth: holds vilbert weights .*but visual_bert"):
        import_artifact(str(download), "visual_bert.pretrained.cc", sha256=sha256_file(download))
    assert not zoo.exists() or find_entry("visual_bert.pretrained.cc") is None


# --- tar safety ---------------------------------------------------------------------


def _symlink(name, target):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info, None


def _hardlink(name, target):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.LNKTYPE, target
    return info, None


def _special(name, kind):
    info = tarfile.TarInfo(name)
    info.type = kind
    return info, None


UNSAFE_MEMBERS = {
    "absolute": (file_member("/tmp/zoo_escape_absolute.pth", b"x"), "absolute path"),
    "dotdot": (file_member("../escape.pth", b"x"), "'..'"),
    "dotdot_inside": (file_member("a/../../escape.pth", b"x"), "'..'"),
    "symlink": (_symlink("model.pth", "/etc/passwd"), "symlink"),
    "hardlink": (_hardlink("model.pth", "/etc/passwd"), "hardlink"),
    "chardev": (_special("model.pth", tarfile.CHRTYPE), "device"),
    "fifo": (_special("model.pth", tarfile.FIFOTYPE), "device or fifo"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE_MEMBERS))
def test_unsafe_members_are_refused_and_nothing_is_extracted(tmp_path, case):
    member, reason = UNSAFE_MEMBERS[case]
    tar_path = make_tar(tmp_path / "evil.tar", [file_member("config.yaml", b"a: 1"), member])
    target = tmp_path / "deep" / "target"
    target.mkdir(parents=True)
    with pytest.raises(UnsafeArchiveError) as raised:
        safe_extract(str(tar_path), str(target))
    assert repr(member[0].name) in str(raised.value) and reason in str(raised.value)
    assert list(target.iterdir()) == []
    assert snapshot(tmp_path) == [("evil.tar", os.path.getsize(tar_path))]
    assert not os.path.exists("/tmp/zoo_escape_absolute.pth")


@pytest.mark.parametrize("case", sorted(UNSAFE_MEMBERS))
def test_import_refuses_unsafe_archive(tmp_path, zoo, case):
    member, _ = UNSAFE_MEMBERS[case]
    tar_path = make_tar(tmp_path / "evil.tar", [member])
    with pytest.raises(UnsafeArchiveError, match="refusing to extract"):
        import_artifact(str(tar_path), "visual_bert.evil", sha256=sha256_file(tar_path))
    assert not zoo.exists()


@pytest.mark.parametrize(
    "members, message",
    [
        ([file_member("sub/model.pth", b"x")], "not a file at the top level"),
        ([file_member("a.pth", b"x"), file_member("b.ckpt", b"x")], "exactly one checkpoint"),
        ([file_member("a.pth", b"x"), file_member("a.yaml", b""), file_member("b.yaml", b"")], "at most one"),
        ([file_member("model.pth", b"x"), file_member("./model.pth", b"y")], "appears twice"),
    ],
)
def test_layouts_rc10_cannot_read_are_refused(tmp_path, members, message):
    tar_path = make_tar(tmp_path / "odd.tar", members)
    (tmp_path / "out").mkdir()
    with pytest.raises(ZooError, match=message):
        safe_extract(str(tar_path), str(tmp_path / "out"))
    assert list((tmp_path / "out").iterdir()) == []


def test_truncated_tar_names_the_file(tmp_path, zoo, weights):
    full = stock_tar(tmp_path / "full.tar", weights["visual_bert"], "visual_bert")
    cut = tmp_path / "cut.tar"
    cut.write_bytes(full.read_bytes()[: os.path.getsize(full) // 2])
    with pytest.raises(ZooError, match=r"cut.tar: .*(damaged|truncated)"):
        import_artifact(str(cut), "visual_bert.cut", sha256=sha256_file(cut))


# --- checkpoint loading -------------------------------------------------------------


def test_pickle_with_custom_class_needs_trust(tmp_path):
    path = tmp_path / "custom.pth"
    torch.save({"model": {"w": torch.ones(2)}, "note": NotATensor("hi")}, path)
    with pytest.raises(UntrustedCheckpointError) as raised:
        load_checkpoint(str(path))
    assert str(path) in str(raised.value) and "NotATensor" in str(raised.value)
    assert "--trust" in str(raised.value)
    loaded = load_checkpoint(str(path), trust_remote=True)
    assert loaded["note"].note == "hi" and torch.equal(loaded["model"]["w"], torch.ones(2))


def test_import_with_trust_records_it_and_materializes(tmp_path, zoo, weights):
    checkpoint = {"model": weights["visual_bert"], "extra": NotATensor("x"),
                  "config": {"model_config": {"visual_bert": tiny_model_config("visual_bert")}}}
    tar_path = make_tar(tmp_path / "custom.tar", [file_member("model.pth", checkpoint_bytes(checkpoint))])
    with pytest.raises(UntrustedCheckpointError, match="custom.tar/model.pth: .*NotATensor"):
        import_artifact(str(tar_path), "visual_bert.custom", sha256=sha256_file(tar_path))
    assert not zoo.exists()
    key, entry = import_artifact(str(tar_path), "visual_bert.custom", sha256=sha256_file(tar_path),
                                 trust_remote=True)
    assert entry["trust_remote"] is True
    assert verify_entry(key)["tensors"] == len(weights["visual_bert"])


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_checkpoints_name_the_file(tmp_path, damage, weights):
    good = checkpoint_bytes(weights["visual_bert"])
    data = {"truncated": good[: len(good) // 2], "garbage": b"not a checkpoint at all", "empty": b""}[damage]
    path = tmp_path / "broken.pth"
    path.write_bytes(data)
    for trust in (False, True):
        with pytest.raises(CorruptCheckpointError, match=f"{path}: cannot read this checkpoint"):
            load_checkpoint(str(path), trust_remote=trust)


# --- verify and materialize ---------------------------------------------------------


def test_verify_detects_tampering_and_keeps_the_file(tmp_path, zoo, weights):
    run_dir = make_run_dir(tmp_path, "visual_bert", weights["visual_bert"])
    key, entry = export_run(str(run_dir), key="visual_bert.t")
    tar_path = artifact_path(entry)
    with open(tar_path, "ab") as handle:
        handle.write(b"\0" * 512)
    with pytest.raises(ChecksumMismatchError, match=f"{tar_path}: sha256 mismatch .*expected {entry_sha256(entry)}"):
        verify_entry(key)
    assert os.path.isfile(tar_path)


def test_materialize_unpacks_where_rc10_looks_and_marks_built(tmp_path, zoo, weights):
    run_dir = make_run_dir(tmp_path, "vilbert", weights["vilbert"])
    key, entry = export_run(str(run_dir), key="vilbert.m")
    models_dir = tmp_path / "data" / "models"
    directory = materialize(key, str(models_dir))
    assert directory == str(models_dir / key)
    assert sorted(os.listdir(directory)) == [BUILT_MARKER, "config.yaml", "model.pth"]
    assert built(directory, version_string=entry["version"])  # rc10's own check
    marker_before = (models_dir / key / BUILT_MARKER).read_text()
    assert materialize(key, str(models_dir)) == directory
    assert (models_dir / key / BUILT_MARKER).read_text() == marker_before

    torch.save(tiny_state_dict("vilbert", seed=2), run_dir / "models" / "model_final.pth")
    _, new = export_run(str(run_dir), key=key, overwrite=True)
    materialize(key, str(models_dir))
    assert json.loads((models_dir / key / BUILT_MARKER).read_text())["sha256"] == entry_sha256(new)
    assert sorted(os.listdir(models_dir)) == [f".{key}.lock", key]


def test_materialize_never_replaces_a_foreign_dir(tmp_path, zoo, weights):
    run_dir = make_run_dir(tmp_path, "visual_bert", weights["visual_bert"])
    key, _ = export_run(str(run_dir), key="visual_bert.pretrained.coco")
    foreign = tmp_path / "models" / key
    foreign.mkdir(parents=True)
    (foreign / "model.pth").write_bytes(b"upstream")
    (foreign / BUILT_MARKER).write_text(json.dumps({"version": "1.0"}))
    with pytest.raises(ZooError, match="not unpacked from the local zoo"):
        materialize(key, str(tmp_path / "models"))
    assert (foreign / "model.pth").read_bytes() == b"upstream"


def test_materialize_refuses_tampered_artifact(tmp_path, zoo, weights):
    run_dir = make_run_dir(tmp_path, "visual_bert", weights["visual_bert"])
    key, entry = export_run(str(run_dir), key="visual_bert.tampered")
    with open(artifact_path(entry), "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ChecksumMismatchError):
        materialize(key, str(tmp_path / "models"))
    assert not (tmp_path / "models" / key).exists()


# --- rc10 hooks: local keys resolve offline through MMF's own entry points ----------


@pytest.fixture
def rc10(tmp_path, zoo, monkeypatch):
    """rc10 with the local zoo hooks, a global config pointing at a fresh data dir, and
    any network access failing loudly."""
    import mmf.utils.download as download
    from mmf.common.registry import registry

    install_local_zoo_hooks()
    rc10_zoo = tmp_path / "rc10_models.yaml"
    upstream = {"version": "1.0", "resources": [{"url": "https://example.invalid/m.tar", "file_name": "m.tar"}]}
    rc10_zoo.write_text(yaml.safe_dump({"visual_bert": {"pretrained": {"upstream": upstream}}}))
    env = {"data_dir": str(tmp_path / "data"), "cache_dir": str(tmp_path / "cache"), "user_dir": "",
           "model_zoo": str(rc10_zoo)}
    config = OmegaConf.create({"env": env, "model": None})
    monkeypatch.setitem(registry.mapping["state"], "config", config)

    def no_network(*args, **kwargs):
        raise AssertionError("rc10 tried to reach the network")

    monkeypatch.setattr(download, "check_header", no_network)
    monkeypatch.setattr(download, "download", no_network)
    return config


def test_hooks_rebind_every_rc10_resolver_once():
    install_local_zoo_hooks()
    import mmf.utils.checkpoint as checkpoint
    import mmf.utils.download as download

    first = download.download_pretrained_model
    install_local_zoo_hooks()
    assert download.download_pretrained_model is first
    for module_name, attribute in _DOWNLOAD_NAMES + _LOAD_NAMES + (("mmf.utils.checkpoint", "load_pretrained_model"),):
        assert getattr(getattr(importlib.import_module(module_name), attribute), "_mmf_domainstudy_local_zoo")
    assert checkpoint.download_pretrained_model is first


def test_rc10_download_resolves_a_local_key_offline(tmp_path, rc10, weights):
    import mmf.utils.download as download

    key, entry = export_run(str(make_run_dir(tmp_path, "visual_bert", weights["visual_bert"])), key="visual_bert.d")
    path = download.download_pretrained_model(key)
    assert path == str(tmp_path / "data" / "models" / key)
    assert built(path, version_string=entry["version"])
    assert sorted(os.listdir(path)) == [BUILT_MARKER, "config.yaml", "model.pth"]


@pytest.mark.parametrize("arch", sorted(MODEL_CLASSES))
def test_from_pretrained_rebuilds_the_exported_model(tmp_path, rc10, weights, arch):
    key, _ = export_run(str(make_run_dir(tmp_path, arch, weights[arch])), key=f"{arch}.domain_study.p")
    model = MODEL_CLASSES[arch].from_pretrained(key)
    assert model.state_dict().keys() == weights[arch].keys()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, weights[arch][name]), name


def test_resume_zoo_loader_refuses_weights_of_other_architecture(tmp_path, rc10, weights):
    import mmf.utils.checkpoint as checkpoint

    key, _ = export_run(str(make_run_dir(tmp_path, "vilbert", weights["vilbert"])), key="vilbert.r")
    rc10.model = "visual_bert"
    with pytest.raises(ArchitectureMismatchError, match="holds vilbert weights but this run's model is visual_bert"):
        checkpoint.load_pretrained_model(key)
    rc10.model = "vilbert"
    loaded = checkpoint.load_pretrained_model(key)
    assert loaded["checkpoint"].keys() == weights["vilbert"].keys()
    assert loaded["full_config"].model_config.vilbert.hidden_size == TINY["hidden_size"]


def test_trusted_import_loads_through_rc10(tmp_path, rc10, weights):
    checkpoint = {"model": weights["visual_bert"], "extra": NotATensor("x"),
                  "config": {"model_config": {"visual_bert": tiny_model_config("visual_bert")}}}
    tar_path = make_tar(tmp_path / "custom.tar", [file_member("model.pth", checkpoint_bytes(checkpoint))])
    key, _ = import_artifact(str(tar_path), "visual_bert.custom", sha256=sha256_file(tar_path), trust_remote=True)
    model = VisualBERT.from_pretrained(key)
    assert torch.equal(model.state_dict()["model.bert.embeddings.projection.weight"],
                       weights["visual_bert"]["model.bert.embeddings.projection.weight"])


def test_keys_of_mmf_zoo_still_reach_rc10_and_unknown_keys_name_both_zoos(rc10, zoo):
    import mmf.utils.download as download

    with pytest.raises(AssertionError, match="rc10 tried to reach the network"):
        download.download_pretrained_model("visual_bert.pretrained.upstream")
    with pytest.raises(ZooError, match=r"'visual_bert.typo' is in neither the local zoo .*models.yaml.* nor MMF's zoo .*rc10_models.yaml"):
        download.download_pretrained_model("visual_bert.typo")


def test_paths_still_reach_rc10_unchanged(tmp_path, rc10, weights):
    import mmf.utils.checkpoint as checkpoint

    directory = tmp_path / "visual_bert"
    directory.mkdir()
    torch.save(weights["visual_bert"], directory / "model.pth")
    (directory / "config.yaml").write_text(yaml.safe_dump({"model_config": {"visual_bert": {"x": 1}}}))
    loaded = checkpoint.load_pretrained_model(str(directory))
    assert loaded["config"] == {"x": 1} and loaded["checkpoint"].keys() == weights["visual_bert"].keys()


# --- domainstudy-zoo (tools/zoo.py) -------------------------------------------------------------------


def test_cli_export_import_list_verify(tmp_path, zoo, weights, capsys):
    tool = zoo_cli
    run_dir = make_run_dir(tmp_path, "visual_bert", weights["visual_bert"])
    assert tool.main(["export", str(run_dir), "--key", "visual_bert.domain_study.cli"]) == 0
    assert "checkpoint.resume_zoo=visual_bert.domain_study.cli" in capsys.readouterr().out

    other_zoo = tmp_path / "clean_zoo"
    tar_path = artifact_path(find_entry("visual_bert.domain_study.cli"))
    args = ["import", tar_path, "--key", "visual_bert.imported", "--zoo", str(other_zoo)]
    with pytest.raises(SystemExit) as exited:
        tool.main(args + ["--sha256", "f" * 64])
    assert exited.value.code == 2
    assert "sha256 mismatch" in capsys.readouterr().err and not other_zoo.exists()
    assert tool.main(args + ["--sha256", sha256_file(tar_path)]) == 0
    assert find_entry("visual_bert.imported", str(other_zoo)) is not None

    assert tool.main(["list"]) == 0
    assert "visual_bert.domain_study.cli  version=" in capsys.readouterr().out
    assert tool.main(["verify", "--zoo", str(other_zoo)]) == 0
    assert "ok   visual_bert.imported" in capsys.readouterr().out
    with open(tar_path, "ab") as handle:
        handle.write(b"junk")
    assert tool.main(["verify"]) == 1
    assert "FAIL visual_bert.domain_study.cli" in capsys.readouterr().out


def test_cli_help_needs_no_mmf(capsys):
    tool = zoo_cli
    for argv in (["--help"], ["export", "--help"], ["import", "--help"], ["verify", "--help"]):
        with pytest.raises(SystemExit) as raised:
            tool.main(argv)
        assert raised.value.code == 0
    assert "--trust" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        tool.main(["import", "x.tar", "--sha256", "0" * 64])
    assert "import needs --key" in capsys.readouterr().err
