"""Counts added and removed lines in a unified diff read from standard input."""

import sys

added = removed = 0
for line in sys.stdin:
    if line.startswith("+") and not line.startswith("+++"):
        added += 1
    elif line.startswith("-") and not line.startswith("---"):
        removed += 1
print(f"{added} added, {removed} removed")
