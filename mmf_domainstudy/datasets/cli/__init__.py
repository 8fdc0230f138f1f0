"""The dataset commands: one module each, ``build_parser()`` and ``main(argv)``."""
