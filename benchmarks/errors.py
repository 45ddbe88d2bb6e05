"""Errors shown to the user as one line, never as a traceback (``benchmarks.run`` maps them to exit codes)."""


class UsageError(Exception):
    """Bad command-line input (unknown name, malformed or out-of-domain value, an unusable
    path, a plugin that fails to import): exit status 2."""


class EnvironmentFailure(Exception):
    """The machine or the files around a run stop it (a full disk, a damaged checkpoint, a run
    folder another process is working in): exit status 1."""
