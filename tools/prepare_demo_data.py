#!/usr/bin/env python
"""``domainstudy-prepare-demo-data``: see ``--help``."""
import sys

from mmf_domainstudy.demo.cli import main

if __name__ == "__main__":
    sys.exit(main())
