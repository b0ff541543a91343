"""Exact taker buy/sell order flow: clock-aligned buckets, sliding windows, cumulative delta."""

from framework.orderflow.windows import NAUTILUS_QUOTE_SCALE
from framework.orderflow.windows import FlowTotals
from framework.orderflow.windows import SlidingWindow
from framework.orderflow.windows import TakerFlow
from framework.orderflow.windows import quote_amount
from framework.orderflow.windows import to_amount

__all__ = ["NAUTILUS_QUOTE_SCALE", "FlowTotals", "SlidingWindow", "TakerFlow", "quote_amount", "to_amount"]
