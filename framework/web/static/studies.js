/* Indicators, perpetual and order-flow panes of the chart page. (Filled in with the market API.) */
"use strict";
