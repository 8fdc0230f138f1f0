"""Config and annotation files that rc10 reads with a raw traceback naming neither file nor fix.

rc10 meets a yaml syntax error with the parser's traceback, a yaml whose top level is a
list with omegaconf's KeyValidationError about 'includes', a data dir that does not
exist (or that it created empty from ``$MMF_DATA_DIR``) with FileNotFoundError, and a
0-byte or zero-length annotation ``.npy`` with EOFError or IndexError. Each check runs
where rc10 opens the file, so every caller (the run's config, its includes, the bundled
configs, every dataset's annotations) is covered; good files are read exactly as before.
"""
import os

from .input_checks import ConfigError
from .registry import AFTER_MMF, shim


def _not_valid_yaml(path, error):
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return ConfigError(f"config file {path} is not valid yaml: {problem}{where}; fix the yaml there")


@shim(
    "clear_yaml_errors",
    AFTER_MMF,
    "rc10 reports a yaml syntax error, or a yaml whose top level is a list, as a parser or omegaconf "
    "traceback that names no file",
    detect=lambda: True,
)
def name_the_bad_yaml():
    import yaml
    from mmf.utils import configuration
    from omegaconf import ListConfig, OmegaConf

    class OmegaConfNamingBadYaml(OmegaConf):
        """OmegaConf as rc10's configuration module sees it, where ``load_yaml`` reads every config."""

        @staticmethod
        def load(file_):
            path = os.path.abspath(file_)
            try:
                loaded = OmegaConf.load(file_)
            except yaml.YAMLError as error:
                raise _not_valid_yaml(path, error) from error
            if isinstance(loaded, ListConfig):
                raise ConfigError(
                    f"config file {path} holds a list at its top level, but an MMF config is a mapping "
                    "(training: ..., model_config: ...): write its settings as keys, not '- ' items"
                )
            return loaded

    configuration.OmegaConf = OmegaConfNamingBadYaml


@shim(
    "clear_annotation_file_errors",
    AFTER_MMF,
    "rc10 meets a wrong data dir, or a 0-byte or empty annotation .npy, with FileNotFoundError, EOFError "
    "or IndexError that name neither the key nor the fix",
    detect=lambda: True,
)
def check_annotation_files_before_reading():
    from mmf.datasets.databases.annotation_database import AnnotationDatabase
    from mmf.utils.configuration import get_mmf_env

    from mmf_domainstudy.datasets.data_check import check_data_dir
    from mmf_domainstudy.formats.imdb import check_imdb_header

    load_annotation_db = AnnotationDatabase._load_annotation_db

    def _load_annotation_db(self, path):
        if not os.path.exists(path):
            check_data_dir(get_mmf_env(key="data_dir"), path)
        if path.endswith(".npy"):
            check_imdb_header(path)
        load_annotation_db(self, path)

    AnnotationDatabase._load_annotation_db = _load_annotation_db
