"""The feature commands: one module each, ``build_parser()`` and ``main(argv)``."""
