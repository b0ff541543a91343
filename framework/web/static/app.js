/*
 * The page shell of the web workstation, and the hook feature scripts plug into: window.workstation.
 *
 * Load order (index.html): lightweight-charts, app.js (this file), chart.js, studies.js, then the feature
 * scripts that exist (runs.js, live.js, alerts.js), then workstation.start(). A feature script registers
 * itself at load time (addPage, addPanel, onInstrumentChange); start() then reads the instruments and draws.
 *
 * window.workstation = {
 *   token                      the access token (read from the page's ?token=...)
 *   api(path, opts) -> Promise<any>
 *       JSON from the server's API. path: "/api/bars" ...; opts: {query: {k: v}, method: "GET"|"POST"|"PUT"|
 *       "DELETE", body: any (sent as JSON)}. Sends the token in the X-Token header. A non-2xx answer rejects
 *       with an Error whose message is the server's one line ({"error": "..."}) and whose .status is the HTTP
 *       status.
 *   wsUrl(path, query) -> string
 *       ws://host/api/...?token=...&k=v for a websocket (the token rides in the query string on websockets).
 *   LightweightCharts          the library (v5: createChart, CandlestickSeries, LineSeries, HistogramSeries,
 *                              createSeriesMarkers, ...)
 *   chart                      the chart page's IChartApi (pane 0: candles + volume; studies add panes)
 *   candles, volume            its candlestick and volume ISeriesApi (time: UTC seconds of the bar's open)
 *   selection() -> {instrument, symbol, market, interval}
 *       what the pickers show now (instrument: the Nautilus id, e.g. "BTCUSDT-PERP.BINANCE"; interval: "1m",
 *       "5m", "15m", "1h", "4h", "1d"); null before the catalog is read or when it holds nothing.
 *   instruments() -> [...]     the /api/instruments rows
 *   onInstrumentChange(cb)     cb(selection) each time the chart has loaded bars for a new selection (and at
 *                              once if bars are already loaded)
 *   updateBar(bar)             a live bar {time: open time in ms, open, high, low, close, volume} of the
 *                              selected instrument at the 1m stream interval or the shown one: the page folds
 *                              it into the shown interval's last candle (a forming bar moves the last candle, a
 *                              later time appends one) and refreshes the indicators (debounced)
 *   refreshStudies()           re-read the indicators / panes of the shown chart from the API
 *   heldBars() -> [...]        the bars the chart holds now, oldest first ({time: open ms, open, high, low,
 *                              close, volume}); heldSpan() -> {start, end} of them in ms (end exclusive) or null
 *   studySeries() -> {key: [ISeriesApi]}   the indicator / pane series drawn now (key: "rsi", "perp:funding",
 *                              "orderflow" ...)
 *   addPage(id, title) -> HTMLElement
 *       a tab in the header and the element shown when it is chosen (URL hash #id); the chart is page "chart"
 *   showPage(id)               switch to a page
 *   addPanel(id, title) -> HTMLElement   a collapsible section in the chart page's side panel
 *   notify(text, level)        a toast; level "info" (default), "ok", "warn" or "error"
 *   fmtTime(ms) -> string      a UTC time as "2024-08-08 12:00:00"
 * }
 */
"use strict";

(function () {
  const params = new URLSearchParams(location.search);
  const token = params.get("token") || "";
  const instrumentCallbacks = [];
  const pages = {chart: document.getElementById("page-chart")};
  let instrumentRows = [];
  let current = null;  // the selection the chart shows
  let loaded = false;

  async function api(path, opts = {}) {
    const url = new URL(path, location.origin);
    for (const [k, v] of Object.entries(opts.query || {})) {
      if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
    }
    const init = {method: opts.method || "GET", headers: {"X-Token": token}};
    if (opts.body !== undefined) {
      init.body = JSON.stringify(opts.body);
      init.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(url, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = {error: text.slice(0, 200)}; }
    if (!response.ok) {
      const error = new Error((data && data.error) || `${response.status} ${response.statusText}`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function wsUrl(path, query = {}) {
    const url = new URL(path, location.origin);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("token", token);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return url.toString();
  }

  function notify(text, level = "info") {
    const box = document.createElement("div");
    box.className = `toast ${level}`;
    box.textContent = text;
    document.getElementById("toasts").appendChild(box);
    setTimeout(() => box.remove(), level === "error" ? 9000 : 5000);
  }

  function status(text) {
    document.getElementById("status").textContent = text || "";
  }

  function message(text) {
    const box = document.getElementById("message");
    box.hidden = !text;
    box.textContent = text || "";
    document.getElementById("chart-area").classList.toggle("empty", !!text);
  }

  function addPage(id, title) {
    const link = document.createElement("a");
    link.href = `#${id}`;
    link.dataset.page = id;
    link.textContent = title;
    document.getElementById("tabs").appendChild(link);
    const section = document.createElement("section");
    section.id = `page-${id}`;
    section.className = "page";
    document.querySelector("main").appendChild(section);
    pages[id] = section;
    if (location.hash === `#${id}`) showPage(id);
    return section;
  }

  function showPage(id) {
    if (!pages[id]) id = "chart";
    for (const [name, section] of Object.entries(pages)) section.classList.toggle("active", name === id);
    for (const link of document.querySelectorAll("#tabs a")) link.classList.toggle("active", link.dataset.page === id);
    document.getElementById("pickers").style.visibility = id === "chart" ? "visible" : "hidden";
    if (location.hash !== `#${id}`) history.replaceState(null, "", `${location.search}#${id}`);
    if (id === "chart" && ws.chart) ws.chart.applyOptions({});  // re-layout after being hidden
    window.dispatchEvent(new CustomEvent("workstation:page", {detail: id}));
  }

  function addPanel(id, title) {
    const details = document.createElement("details");
    details.open = true;
    details.id = `panel-${id}`;
    const summary = document.createElement("summary");
    summary.textContent = title;
    const body = document.createElement("div");
    details.append(summary, body);
    document.getElementById("side").appendChild(details);
    return body;
  }

  function onInstrumentChange(cb) {
    instrumentCallbacks.push(cb);
    if (loaded && current) cb({...current});
  }

  function fmtTime(ms) {
    return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  }

  // -- pickers ------------------------------------------------------------------------------------------------

  function fill(select, values, chosen) {
    select.replaceChildren(...values.map((v) => new Option(v, v)));
    if (values.includes(chosen)) select.value = chosen;
  }

  function rowFor(symbol, market) {
    return instrumentRows.find((r) => r.symbol === symbol && r.market === market)
      || instrumentRows.find((r) => r.symbol === symbol) || instrumentRows[0];
  }

  function syncPickers(want) {
    const symbols = [...new Set(instrumentRows.map((r) => r.symbol))];
    fill(document.getElementById("symbol"), symbols, want.symbol);
    const symbol = document.getElementById("symbol").value;
    const markets = instrumentRows.filter((r) => r.symbol === symbol).map((r) => r.market);
    fill(document.getElementById("market"), markets, want.market);
    const row = rowFor(symbol, document.getElementById("market").value);
    fill(document.getElementById("interval"), row.intervals, want.interval || row.intervals[0]);
    return {instrument: row.instrument, symbol: row.symbol, market: row.market,
            interval: document.getElementById("interval").value};
  }

  async function choose(want) {
    const selection = syncPickers(want);
    const url = new URL(location.href);
    for (const key of ["symbol", "market", "interval"]) url.searchParams.set(key, selection[key]);
    history.replaceState(null, "", url);
    current = selection;
    loaded = false;
    status(`${selection.instrument} ${selection.interval}`);
    try {
      await ws.loadChart(selection);
    } catch (e) {
      message(`cannot load ${selection.instrument} ${selection.interval}: ${e.message}`);
      return;
    }
    if (current !== selection) return;  // another choice came in while this one loaded
    loaded = true;
    for (const cb of instrumentCallbacks) {
      try { cb({...selection}); } catch (e) { console.error(e); }
    }
  }

  async function start() {
    for (const link of document.querySelectorAll("#tabs a")) {
      link.addEventListener("click", (ev) => { ev.preventDefault(); showPage(link.dataset.page); });
    }
    window.addEventListener("hashchange", () => showPage(location.hash.slice(1)));
    for (const id of ["symbol", "market", "interval"]) {
      document.getElementById(id).addEventListener("change", () => choose({
        symbol: document.getElementById("symbol").value, market: document.getElementById("market").value,
        interval: document.getElementById("interval").value}));
    }
    showPage(location.hash.slice(1) || "chart");
    const nothing = (text) => { message(text); document.body.classList.add("no-data"); };
    if (!token) {
      nothing("This page needs the access token: open the URL `serve` printed (it ends in ?token=...).");
      return;
    }
    let answer;
    try {
      answer = await api("/api/instruments");
    } catch (e) {
      nothing(e.message);
      return;
    }
    instrumentRows = answer.instruments || [];
    if (!instrumentRows.length) {
      nothing(answer.message || "The catalog holds no bars yet.");
      return;
    }
    message("");
    await choose({symbol: params.get("symbol"), market: params.get("market"), interval: params.get("interval")});
  }

  const ws = {
    token, api, wsUrl, notify, status, message, addPage, showPage, addPanel, onInstrumentChange, fmtTime, start,
    LightweightCharts: window.LightweightCharts,
    chart: null, candles: null, volume: null,
    selection: () => (current ? {...current} : null),
    instruments: () => instrumentRows.slice(),
    // chart.js and studies.js fill these in
    loadChart: async () => {},
    updateBar: () => {},
    refreshStudies: () => {},
  };
  window.workstation = ws;
})();
