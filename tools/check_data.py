#!/usr/bin/env python
"""Check that every data file a run reads is there, before running it.

    python tools/check_data.py CONFIG model=... dataset=... [run_type=...] [env.data_dir=...]

Prints a table (dataset, split, kind, file, present/missing, size); exits 2 with one
'error:' line naming every missing file, its config key and the fix.
"""
import sys

from mmf_domainstudy.datasets.cli import main

if __name__ == "__main__":
    sys.exit(main())
