#!/usr/bin/env python
"""``domainstudy-check-data``: see ``--help``."""
import sys

from mmf_domainstudy.datasets.cli.check_data import main

if __name__ == "__main__":
    sys.exit(main())
