/* The chart page's main chart: candles + volume, lazy loading backwards. (Filled in with the market API.) */
"use strict";
