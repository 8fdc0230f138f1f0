"""The analysis commands: one module each, ``build_parser()`` and ``main(argv)``."""
