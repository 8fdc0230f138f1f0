"""The study's report: results from run folders, tables, plots and sections, rebuilt at any time."""
