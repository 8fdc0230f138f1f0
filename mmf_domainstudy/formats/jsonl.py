"""JSON-lines annotations (SNLI-VE, MM-IMDB): one JSON object per line."""
import json
import os

from mmf_domainstudy.formats.errors import DataFormatError
from mmf_domainstudy.utils.atomic import atomic_write_text

_FIX = "download the dataset's annotations into the data dir (see docs) or regenerate them"


def read_jsonl(path):
    """Return the list of records; a bad line is reported with its line number."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataFormatError(f"annotation file {path} does not exist; {_FIX}.")
    records = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataFormatError(f"{path}:{line_number}: not valid JSON ({err.msg}); {_FIX}.") from None
            if not isinstance(record, dict):
                raise DataFormatError(f"{path}:{line_number}: expected a JSON object per line; {_FIX}.")
            records.append(record)
    if not records:
        raise DataFormatError(f"annotation file {path} has no records (empty split); {_FIX}.")
    return records


def write_jsonl(path, records):
    """Atomically write one JSON object per line."""
    if not records:
        raise DataFormatError(f"refusing to write {path}: no records (empty split).")
    atomic_write_text(path, "".join(json.dumps(record) + "\n" for record in records))
