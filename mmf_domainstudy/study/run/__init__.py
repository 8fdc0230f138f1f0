"""Running a study: spec -> plan of runs -> run folders, started locally or on SLURM, resumable."""
