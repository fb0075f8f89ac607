"""Which messages of a FIFO queue one receive gets (pure).

A message group is delivered strictly in order: while one of its messages is in flight the group
is blocked (the database query leaves such groups out). Among the rest SQS "first attempts to
return as many messages with the same message group ID as possible"
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues-understanding-logic.html):
the group whose oldest message is oldest comes first, then the next group, each in send order.
"""

from __future__ import annotations

from collections.abc import Iterable


def pick(candidates: Iterable[tuple[int, str]], blocked: set[str], limit: int) -> list[int]:
    """The ``seq`` of the messages to deliver, from ``(seq, group)`` pairs in send order."""
    groups: dict[str, list[int]] = {}
    for seq, group in candidates:
        if group not in blocked:
            groups.setdefault(group, []).append(seq)
    chosen: list[int] = []
    for seqs in groups.values():
        chosen.extend(seqs[:limit - len(chosen)])
        if len(chosen) >= limit:
            break
    return chosen
