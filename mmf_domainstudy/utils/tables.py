"""Tables as text."""
import csv
import io


def csv_text(header, rows):
    """CSV with one header row and "\\n" line ends on every platform."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()
