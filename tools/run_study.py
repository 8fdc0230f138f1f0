#!/usr/bin/env python
"""Run a domain study and write its report; ``--help`` for the options.

    python tools/run_study.py projects/domain_study/studies/demo.yaml --dry-run
    python tools/run_study.py projects/domain_study/studies/paper.yaml --executor slurm
    python tools/run_study.py projects/domain_study/studies/paper.yaml --report-only
    python tools/run_study.py projects/domain_study/studies/demo.yaml --analyses-only   # drift, similarity
"""
import sys

from mmf_domainstudy.study.cli import main

if __name__ == "__main__":
    sys.exit(main())
