"""Errors that are the user's to fix: printed as one line, never as a traceback."""


class UsageError(Exception):
    """Bad command-line input (unknown name, malformed value): exit status 2."""
