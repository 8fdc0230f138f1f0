"""The embedded default study's data: easy-vqa and what the demo derives from it (``prepare.py``;
the command is ``cli.py``)."""
