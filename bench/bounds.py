"""The fewest FoxReload requests that can observe every completion: the yardstick for a sweep.

The list endpoint returns at most `page_size` orders per request, newest first by createdAt.
Every order that completes must appear in some response read after it completed (otherwise
its completion is never observed), and one request shows at most `page_size` orders, so an
hour's completions need at least completions / page_size requests, whatever mixes pages and
per-order GETs (a GET shows one order). Newest-first order lets a reader get close to it: read
each slice of `page_size` consecutive orders once, when its youngest order is older than the
longest completion time; that costs orders / page_size requests an hour (the orders that never
complete ride along) and observes every completion, with a detection lag as long as the
longest completion time. Anything faster costs more; the bench prints how much more.
"""

from __future__ import annotations

import math


def list_requests_lower_bound(completions_per_hour: float, page_size: int) -> float:
    """Requests an hour below which some completion goes unobserved (page_size >= 1)."""
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    if completions_per_hour < 0 or math.isnan(completions_per_hour):
        raise ValueError("completions_per_hour must be a non-negative number")
    return completions_per_hour / page_size


def one_pass_list_requests(orders_per_hour: float, page_size: int) -> float:
    """Requests an hour of the one-pass reader above (each order listed once, late)."""
    return list_requests_lower_bound(orders_per_hour, page_size)


def ratio_to_bound(requests_per_hour: float, bound: float) -> float:
    """How many times the bound a schedule spends (inf when the bound is 0 and it spends)."""
    if bound == 0:
        return 0.0 if requests_per_hour == 0 else math.inf
    return requests_per_hour / bound
