"""Which version an invocation through an alias runs: a weighted pick, as AWS's routing configuration does.

An alias with ``RoutingConfig`` sends each invocation to its primary version or to the additional one at
random, in proportion to the weights
(https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html); over many invocations the
split approaches the weights, while any one invocation is unpredictable.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def pick_version(routes: Sequence[tuple[str, float]], rng: random.Random | None = None) -> str:
    """One version from ``(version, weight)`` routes, drawn with probability proportional to its weight.

    A single route (no alias, or an alias without routing) is returned without drawing; routes whose weights
    are all zero fall back to the first (the primary version).
    """
    if len(routes) == 1:
        return routes[0][0]
    weights = [max(0.0, weight) for _, weight in routes]
    if sum(weights) <= 0:
        return routes[0][0]
    [version] = (rng or random).choices([version for version, _ in routes], weights=weights)
    return version
