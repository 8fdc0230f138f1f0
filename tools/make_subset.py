#!/usr/bin/env python
"""``domainstudy-make-subset``: see ``--help``."""
import sys

from mmf_domainstudy.datasets.cli.make_subset import main

if __name__ == "__main__":
    sys.exit(main())
