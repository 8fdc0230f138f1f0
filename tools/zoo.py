#!/usr/bin/env python
"""The local MMF model zoo (``domainstudy-zoo``); ``--help`` for the commands."""
import sys

from mmf_domainstudy.zoo.cli import main

if __name__ == "__main__":
    sys.exit(main())
