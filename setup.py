"""mmf-domainstudy: a plugin for MMF 1.0.0rc10.

mmf itself is NOT in install_requires: its 2020 pins (torch 1.5, transformers
2.3, ...) do not install on Python 3.11, so `make install` installs it with
--no-deps next to requirements/constraints.txt.
"""
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HOOK_PTH = "mmf_domainstudy_bootstrap.pth"


class BuildWithImportHook(build_py):
    """Ships the .pth that activates the plugin before `mmf_run` imports mmf."""

    def run(self):
        super().run()
        self.copy_file(HOOK_PTH, os.path.join(self.build_lib, HOOK_PTH))

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + [os.path.join(self.build_lib, HOOK_PTH)]


setup(
    name="mmf-domainstudy",
    version="0.1.0",
    description="Which data should a vision-and-language model pretrain on? The domain study on MMF.",
    python_requires=">=3.10",
    packages=find_packages(include=["mmf_domainstudy", "mmf_domainstudy.*"]),
    py_modules=["mmf_domainstudy_bootstrap"],
    package_data={"mmf_domainstudy": ["configs/**/*.yaml", "configs/*.yaml"]},
    install_requires=[
        "torch>=2.1",
        "transformers>=4.40,<5",
        "omegaconf==2.0.0",
        "demjson3",
        "lmdb",
        "numpy",
        "tqdm",
        "matplotlib",
        "tensorboard",
        "submitit",
        "pillow",
        "scipy",
    ],
    entry_points={
        # One per command: tools/<name>.py runs the same main() from a checkout.
        "console_scripts": [
            "mmf_domainstudy_run = mmf_domainstudy.run:main",
            "domainstudy-run = mmf_domainstudy.study.cli:main",
            "domainstudy-zoo = mmf_domainstudy.zoo.cli:main",
            "domainstudy-attention-drift = mmf_domainstudy.analysis.cli.attention_drift:main",
            "domainstudy-domain-similarity = mmf_domainstudy.analysis.cli.domain_similarity:main",
            "domainstudy-recommend-source = mmf_domainstudy.analysis.cli.recommend_source:main",
            "domainstudy-probe-head = mmf_domainstudy.analysis.cli.probe_head:main",
            "domainstudy-extract-features = mmf_domainstudy.features.cli.extract_features:main",
            "domainstudy-prepare-easy-vqa = mmf_domainstudy.features.cli.prepare_easy_vqa:main",
            "domainstudy-prepare-demo-data = mmf_domainstudy.demo.cli:main",
            "domainstudy-generate-captions = mmf_domainstudy.captioning.cli:main",
            "domainstudy-make-subset = mmf_domainstudy.datasets.cli.make_subset:main",
            "domainstudy-check-data = mmf_domainstudy.datasets.cli.check_data:main",
        ]
    },
    cmdclass={"build_py": BuildWithImportHook},
)
