"""Zoo-format checkpoints: export runs, import downloads, load them safely in rc10.

``checkpoints.py`` reads any checkpoint tensors-only; ``export.py``/``importer.py`` write and
register zoo artifacts; ``mmf_hooks.py`` lets rc10's zoo entry points find them offline
(applied as the ``local_zoo_resolvers`` compat shim); ``cli.py`` is ``domainstudy-zoo``.
"""
