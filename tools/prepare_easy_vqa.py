#!/usr/bin/env python
"""``domainstudy-prepare-easy-vqa``: see ``--help``."""
import sys

from mmf_domainstudy.features.cli.prepare_easy_vqa import main

if __name__ == "__main__":
    sys.exit(main())
