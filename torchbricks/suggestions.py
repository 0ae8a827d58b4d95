"""Close-match suggestions for error messages ("did you mean ...?").

Example:
    >>> close_matches("embeding", ["embedding", "logits"])
    ['embedding']
    >>> did_you_mean("embeding", ["embedding", "logits"])
    " Did you mean 'embedding'?"
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_matches(word: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.7) -> list[str]:
    """Return up to ``n`` candidates similar to ``word``, best first (deterministic for the same candidates)."""
    return difflib.get_close_matches(word, sorted(set(candidates)), n=n, cutoff=cutoff)


def did_you_mean(word: str, candidates: Iterable[str], n: int = 3) -> str:
    """Return ``" Did you mean 'x'?"`` (or several options), or an empty string when nothing is close."""
    matches = close_matches(word, candidates, n=n)
    if not matches:
        return ""
    return " Did you mean " + " or ".join(repr(match) for match in matches) + "?"
