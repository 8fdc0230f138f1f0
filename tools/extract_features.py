#!/usr/bin/env python
"""``domainstudy-extract-features``: see ``--help``."""
import sys

from mmf_domainstudy.features.cli.extract_features import main

if __name__ == "__main__":
    sys.exit(main())
