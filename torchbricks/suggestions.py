"""Close-match suggestions for error messages ("did you mean ...?").

Matching ignores case: a name that differs only in case is the suggestion (and the only one), and
other close matches are found on case-folded names. Suggestions never change what a name means:
lookups stay case-sensitive, the user is told the right spelling.

Example:
    >>> close_matches("embeding", ["embedding", "logits"])
    ['embedding']
    >>> did_you_mean("embeding", ["embedding", "logits"])
    " Did you mean 'embedding'?"
    >>> did_you_mean("adamw", ["Adam", "AdamW", "SGD"])
    " Did you mean 'AdamW'?"
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_matches(word: str, candidates: Iterable[str], n: int = 3, cutoff: float = 0.7) -> list[str]:
    """Return up to ``n`` candidates similar to ``word``, best first, ignoring case (deterministic).

    Candidates equal to ``word`` but for case are returned alone when there are any; otherwise the
    candidates are compared with ``word`` case-folded.

    Example:
        >>> close_matches("ADAMW", ["Adam", "AdamW", "adamw_legacy"])
        ['AdamW']
        >>> close_matches("Adamm", ["Adam", "AdamW", "SGD"])
        ['Adam', 'AdamW']
    """
    unique = sorted(set(candidates))
    folded = word.casefold()
    same_but_case = [candidate for candidate in unique if candidate != word and candidate.casefold() == folded]
    if same_but_case:
        return same_but_case[:n]
    by_folded: dict[str, list[str]] = {}
    for candidate in unique:
        by_folded.setdefault(candidate.casefold(), []).append(candidate)
    similar = difflib.get_close_matches(folded, list(by_folded), n=n, cutoff=cutoff)
    return [candidate for key in similar for candidate in by_folded[key]][:n]


def did_you_mean(word: str, candidates: Iterable[str], n: int = 3) -> str:
    """Return ``" Did you mean 'x'?"`` (or several options), or an empty string when nothing is close.

    Example:
        >>> did_you_mean("resnet", ["ResNet", "resnet50"])
        " Did you mean 'ResNet'?"
        >>> did_you_mean("vgg", ["resnet18"])
        ''
    """
    matches = close_matches(word, candidates, n=n)
    if not matches:
        return ""
    return " Did you mean " + " or ".join(repr(match) for match in matches) + "?"
