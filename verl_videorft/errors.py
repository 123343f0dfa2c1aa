"""The one error class the command line maps to exit code 2 (bad data is 1: ``prompts.RecordError``).

A ``UsageError`` is a request refused before any work: a bad argument value, an output that would
overwrite an input or an existing file, an output folder another run holds.
"""


class UsageError(ValueError):
    """A request refused before any work (``videorft`` exits 2, printing the message on one line)."""
