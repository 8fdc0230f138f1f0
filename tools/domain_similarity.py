#!/usr/bin/env python
"""``domainstudy-domain-similarity``: see ``--help``."""
import sys

from mmf_domainstudy.analysis.cli.domain_similarity import main

if __name__ == "__main__":
    sys.exit(main())
