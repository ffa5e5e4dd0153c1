"""Errors that are the user's to fix: the CLI prints them as one line."""


class SeqkitError(Exception):
    """A user mistake or an unusable environment, explained in one line."""


def short_list(names, most: int = 5) -> str:
    """``a, b, c and 12 more``: names in an error line that stays one short line."""
    names = sorted(map(str, names))
    if not names:
        return "none"
    head = ", ".join(names[:most])
    return head if len(names) <= most else f"{head} and {len(names) - most} more"
