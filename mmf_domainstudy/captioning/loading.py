"""A trained captioner back from its MMF run dir (``config.yaml`` + the final weights)."""
import os
from dataclasses import dataclass

from omegaconf import OmegaConf

from mmf_domainstudy.zoo.archive import sha256_file
from mmf_domainstudy.zoo.checkpoints import load_checkpoint, split_checkpoint, strip_module_prefix
from mmf_domainstudy.zoo.errors import ZooError
from mmf_domainstudy.zoo.export import find_run_checkpoint

MODEL = "region_captioner"


@dataclass
class Captioner:
    model: object  # RegionCaptioner, in eval mode
    run_config: object  # the run's resolved MMF config (DictConfig)
    checkpoint: str
    checkpoint_sha256: str

    @property
    def max_regions(self):
        """Regions per image the captioner was trained with (MMF pads/truncates to it)."""
        return int(self.run_config.dataset_config.caption_pairs.max_features)


def read_run_config(run_dir):
    path = os.path.join(run_dir, "config.yaml")
    if not os.path.isfile(path):
        raise ZooError(f"{path}: not found; pass the captioner's run dir (the env.save_dir of its training run).")
    config = OmegaConf.load(path)
    if config.get("model") != MODEL:
        raise ZooError(f"{path}: the run trained model {config.get('model')!r}, not {MODEL}.")
    return config


def load_captioner(run_dir, device="cpu"):
    """The run's final (else best, else current) weights in a ``RegionCaptioner``."""
    from mmf_domainstudy.captioning.region_captioner import RegionCaptioner

    run_dir = os.fspath(run_dir)
    config = read_run_config(run_dir)
    checkpoint = find_run_checkpoint(run_dir, MODEL)
    state_dict, _ = split_checkpoint(load_checkpoint(checkpoint), checkpoint)
    model = RegionCaptioner(config.model_config[MODEL])
    model.build()
    model.load_state_dict(strip_module_prefix(state_dict))
    model.to(device).eval()
    return Captioner(model, config, checkpoint, sha256_file(checkpoint))
