"""Errors that are the user's to fix: the CLI prints them as one line."""


class SeqkitError(Exception):
    """A user mistake or an unusable environment, explained in one line."""
