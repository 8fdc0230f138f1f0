#!/usr/bin/env python
"""``domainstudy-recommend-source``: see ``--help``."""
import sys

from mmf_domainstudy.analysis.cli.recommend_source import main

if __name__ == "__main__":
    sys.exit(main())
