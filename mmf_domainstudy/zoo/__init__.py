"""Zoo-format checkpoints: export runs, import downloads, load them safely in rc10."""
from mmf_domainstudy.zoo.checkpoints import detect_architecture, load_checkpoint
from mmf_domainstudy.zoo.export import export_run
from mmf_domainstudy.zoo.importer import import_artifact
from mmf_domainstudy.zoo.local_zoo import find_entry, iter_entries, read_zoo, zoo_dir
from mmf_domainstudy.zoo.materialize import materialize
from mmf_domainstudy.zoo.mmf_hooks import install_local_zoo_hooks
from mmf_domainstudy.zoo.verify import verify_entry

__all__ = [
    "detect_architecture",
    "export_run",
    "find_entry",
    "import_artifact",
    "install_local_zoo_hooks",
    "iter_entries",
    "load_checkpoint",
    "materialize",
    "read_zoo",
    "verify_entry",
    "zoo_dir",
]
