#!/usr/bin/env python
"""``domainstudy-generate-captions``: see ``--help``."""
import sys

from mmf_domainstudy.captioning.cli import main

if __name__ == "__main__":
    sys.exit(main())
