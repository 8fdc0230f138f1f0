#!/usr/bin/env python
"""``domainstudy-attention-drift``: see ``--help``."""
import sys

from mmf_domainstudy.analysis.cli.attention_drift import main

if __name__ == "__main__":
    sys.exit(main())
