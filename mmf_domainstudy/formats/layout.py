"""Where data lives: MMF's ``<data_dir>/datasets/<name>/<variant>/{annotations,features,extras}``."""
import os

DATA_DIR_ENV = "MMF_DOMAINSTUDY_DATA"


def default_data_dir():
    """``$MMF_DOMAINSTUDY_DATA``, else ``~/.cache/mmf_domainstudy/data``."""
    return os.environ.get(DATA_DIR_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "mmf_domainstudy", "data")


def dataset_dir(data_dir, name, variant="defaults"):
    return os.path.join(os.fspath(data_dir), "datasets", name, variant)


def annotations_dir(data_dir, name, variant="defaults"):
    return os.path.join(dataset_dir(data_dir, name, variant), "annotations")


def features_dir(data_dir, name, variant="defaults"):
    return os.path.join(dataset_dir(data_dir, name, variant), "features")


def vocabs_dir(data_dir, name, variant="defaults"):
    return os.path.join(dataset_dir(data_dir, name, variant), "extras", "vocabs")
