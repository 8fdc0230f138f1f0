"""The study's analyses (attention drift, domain similarity), written under ``<output_dir>/analysis/``."""
