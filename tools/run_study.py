#!/usr/bin/env python
"""``domainstudy-run``: run a domain study and write its report; see ``--help``."""
import sys

from mmf_domainstudy.study.cli import main

if __name__ == "__main__":
    sys.exit(main())
