"""The local zoo, reached through rc10's own zoo entry points (see zoo/mmf_hooks.py)."""
from .registry import AFTER_MMF, shim


@shim(
    "local_zoo_resolvers",
    AFTER_MMF,
    "rc10 resolves a zoo key only by downloading it from its own zoo; keys exported or imported into the "
    "local zoo resolve offline first (download_pretrained_model, load_pretrained_model rebound in 6 modules)",
    detect=lambda: True,
)
def resolve_local_zoo_keys_first():
    from mmf_domainstudy.zoo.mmf_hooks import install_local_zoo_hooks

    install_local_zoo_hooks()
