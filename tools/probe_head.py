#!/usr/bin/env python
"""``domainstudy-probe-head``: see ``--help``."""
import sys

from mmf_domainstudy.analysis.cli.probe_head import main

if __name__ == "__main__":
    sys.exit(main())
