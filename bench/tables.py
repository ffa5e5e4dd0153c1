"""The benchmarks' one table printer: aligned columns, or Markdown for the docs."""
from __future__ import annotations


def print_table(head: list[str], body: list[list[str]], markdown: bool) -> None:
    """``head`` and ``body`` (rows of strings); the first column left-aligned in Markdown."""
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|")
        for line in body:
            print("| " + " | ".join(line) + " |")
        return
    w = [max(len(h), *(len(line[i]) for line in body)) for i, h in enumerate(head)]
    for line in [head] + body:
        print("  ".join(c.rjust(w[i]) for i, c in enumerate(line)))
