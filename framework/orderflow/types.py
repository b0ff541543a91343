"""``OrderFlowUpdate``: taker buy/sell quote volume of one span, as Nautilus custom data.

One type for both span kinds (``kind``): ``"bucket"`` is a closed clock-aligned bucket ``[start_ns, end_ns)``,
published once when it closes; ``"window"`` is a sliding window ``(start_ns, end_ns]`` read at ``end_ns``,
published on a timer. Subscribe with ``subscribe_order_flow(self)`` (or, in a backtest,
``subscribe_data(DataType(OrderFlowUpdate))``); the catalog files it under
``custom_order_flow_update/<instrument_id>/``.

Volumes are exact decimal text (like ``framework.data.types``): ``.buy_quote`` is a ``Decimal``,
``.buy_quote_float`` a float. ``min_quote`` is the large-trade threshold the values were counted with ("0": every
trade). ``cumulative_delta`` is buy minus sell over every counted trade since ``cumulative_since_ns``.

No ``from __future__ import annotations`` here: Nautilus builds the Arrow schema from the annotations.
"""

from nautilus_trader.common.actor import Actor
from nautilus_trader.core.data import Data
from nautilus_trader.core.nautilus_pyo3.model import register_custom_data_class
from nautilus_trader.model.custom import customdataclass_pyo3
from nautilus_trader.model.data import DataType
from nautilus_trader.model.identifiers import InstrumentId

from framework.data.types import DecimalView
from framework.data.types import FloatView

BUCKET = "bucket"
WINDOW = "window"


def amount_text(amount: int, scale: int) -> str:
    """An integer amount at ``scale`` (a power of ten) as plain decimal text, exact, without trailing zeros."""
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), scale)
    digits = len(str(scale)) - 1
    fraction_text = f"{fraction:0{digits}d}".rstrip("0") if digits else ""
    return f"{sign}{whole}.{fraction_text}" if fraction_text else f"{sign}{whole}"


@customdataclass_pyo3()
class OrderFlowUpdate(Data):
    """Taker flow of one instrument over one bucket or sliding window (see the module docstring)."""

    instrument_id: InstrumentId
    kind: str
    span: str
    min_quote_str: str
    start_ns: int
    end_ns: int
    buy_quote_str: str
    sell_quote_str: str
    delta_str: str
    cumulative_delta_str: str
    cumulative_since_ns: int
    buy_count: int
    sell_count: int
    last_trade_id: int

    buy_quote = DecimalView("buy_quote_str")
    buy_quote_float = FloatView("buy_quote_str")
    sell_quote = DecimalView("sell_quote_str")
    sell_quote_float = FloatView("sell_quote_str")
    delta = DecimalView("delta_str")
    delta_float = FloatView("delta_str")
    cumulative_delta = DecimalView("cumulative_delta_str")
    cumulative_delta_float = FloatView("cumulative_delta_str")
    min_quote = DecimalView("min_quote_str")


register_custom_data_class(OrderFlowUpdate)


#: The message-bus topic ``publish_data(DataType(OrderFlowUpdate), ...)`` publishes on.
ORDER_FLOW_TOPIC = f"data.{DataType(OrderFlowUpdate).topic}"


def subscribe_order_flow(actor: Actor) -> None:
    """Deliver every ``OrderFlowUpdate`` to ``actor.on_data``.

    The updates come from an actor on the bus, not from a data client, so ``subscribe_data(DataType(...))`` without
    a client id would subscribe the same topic but also log an error (it wants a client to ask for the data).
    """
    actor.msgbus.subscribe(topic=ORDER_FLOW_TOPIC, handler=actor.handle_data)
