/*
 * The runs page: backtests, sweeps and paper runs under the runs folder (/api/runs), and one run (/api/runs/{id}):
 * its summary, equity and drawdown, candles (/api/bars) with a marker at each fill's price, orders, positions and
 * fills, or a sweep's ranking (a row opens that run). The chosen run rides in the page's URL (?run=<id>).
 *
 * For tests and notebooks: workstation.runs = {list() -> rows, detail() -> the shown run's answer,
 * candles() -> the candle series' data, markers() -> the markers drawn, open(id) -> Promise}.
 */
"use strict";

(function () {
  const ws = window.workstation;
  const LC = ws.LightweightCharts;
  const CHART_OPTIONS = {autoSize: true, layout: {background: {color: "#131722"}, textColor: "#d1d4dc",
                                                  panes: {separatorColor: "#2a2e39"}},
                         grid: {vertLines: {color: "#1e222d"}, horzLines: {color: "#1e222d"}},
                         timeScale: {timeVisible: true, secondsVisible: false}, rightPriceScale: {minimumWidth: 96}};
  const INTERVALS = ["1m", "5m", "15m", "1h", "4h", "1d"];
  const INTERVAL_MS = {"1m": 60e3, "5m": 300e3, "15m": 900e3, "1h": 3600e3, "4h": 14400e3, "1d": 86400e3};
  const MAX_CANDLES = 3000;  // the candles chart picks the finest interval that shows the run in at most this many
  const METRICS = [["total_return", "return", "pct"], ["total_pnl", "PnL", "num"], ["sharpe", "Sharpe", "num"],
                   ["max_drawdown", "max DD", "pct"], ["win_rate", "win rate", "pct"], ["trades", "trades", "int"],
                   ["fees", "fees", "num"]];

  const style = document.createElement("style");
  style.textContent = `
    #page-runs { flex-direction: row; }
    #runs-list { width: 42%; min-width: 380px; overflow: auto; border-right: 1px solid var(--line); padding: 8px; }
    #runs-detail { flex: 1; overflow: auto; padding: 8px 12px; }
    #runs-list tr[data-run], #runs-detail tr[data-run] { cursor: pointer; }
    #runs-list tr.chosen { background: var(--line); }
    #runs-list tr.child td:first-child { padding-left: 18px; }
    .runs-chart { height: 300px; margin: 6px 0 12px; border: 1px solid var(--line); position: relative; }
    .runs-kv { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 2px 16px; }
    .runs-kv div { display: flex; justify-content: space-between; border-bottom: 1px solid var(--line); }
    .runs-kv span:first-child { color: var(--muted); }
    #page-runs h3 { margin: 14px 0 4px; font-size: 14px; }
    #page-runs .up { color: var(--up); } #page-runs .down { color: var(--down); }`;
  document.head.appendChild(style);

  const page = ws.addPage("runs", "Runs");
  const list = el("div", {id: "runs-list"});
  const detail = el("div", {id: "runs-detail"}, el("div", {className: "note"}, "Choose a run on the left."));
  page.append(list, detail);
  const state = {rows: [], shown: null, charts: [], candleSeries: null, markers: [], loaded: false, ticket: 0};

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (k in node) node[k] = v;
      else node.setAttribute(k, v);
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function fmt(value, kind) {
    if (value === null || value === undefined || value === "") return "";
    if (kind === "time") return ws.fmtTime(value);
    if (typeof value !== "number") return String(value);
    if (kind === "pct") return `${(value * 100).toFixed(2)} %`;
    if (kind === "int" || Number.isInteger(value)) return String(value);
    return Math.abs(value) >= 100 ? value.toFixed(2) : value.toPrecision(6);
  }

  function table(columns, rows, opts = {}) {
    const head = el("tr", {}, ...columns.map(([, title]) => el("th", {}, title)));
    const body = rows.map((row) => {
      const tr = el("tr", opts.rowAttrs ? opts.rowAttrs(row) : {},
                    ...columns.map(([key, , kind]) => el("td", {}, fmt(row[key], kind))));
      if (opts.onClick) tr.addEventListener("click", () => opts.onClick(row));
      return tr;
    });
    return el("table", {className: "grid"}, el("thead", {}, head), el("tbody", {}, ...body));
  }

  // -- the list ---------------------------------------------------------------------------------------------

  async function loadList() {
    let answer;
    try {
      answer = await ws.api("/api/runs");
    } catch (e) {
      list.replaceChildren(el("div", {className: "message"}, `runs: ${e.message}`));
      return;
    }
    state.rows = answer.runs;
    state.loaded = true;
    if (!answer.runs.length) {
      list.replaceChildren(el("div", {className: "message"}, answer.message || "No runs yet."));
      return;
    }
    const sweeps = new Set(answer.runs.filter((r) => r.kind === "sweep").map((r) => r.id));
    const parentOf = (id) => { const m = /^(.*)\/runs\/[^/]+$/.exec(id); return m && sweeps.has(m[1]) ? m[1] : null; };
    // a sweep's runs right below it
    const top = answer.runs.filter((r) => !parentOf(r.id));
    const ordered = [];
    for (const r of top) {
      ordered.push(r);
      if (r.kind === "sweep") ordered.push(...answer.runs.filter((c) => parentOf(c.id) === r.id));
    }
    const columns = [["name", "run"], ["kind", "kind"], ["start", "start"], ...METRICS];
    const rows = ordered.map((r) => ({...(r.kind === "sweep" ? r.best || {} : {}), ...r,  // a sweep: its best run
                                      start: r.start ? r.start.slice(0, 16).replace("T", " ") : "",
                                      name: r.kind === "sweep" ? `${r.name} (${r.runs} runs)` : r.name}));
    list.replaceChildren(el("div", {className: "note"}, `${answer.runs_folder}: ${answer.runs.length} runs`),
      table(columns, rows, {
        rowAttrs: (r) => ({dataset: {run: r.id}, className: [parentOf(r.id) ? "child" : "",
                                                              r.id === state.shown ? "chosen" : ""].join(" "),
                           title: r.error || r.id}),
        onClick: (r) => open(r.id),
      }));
  }

  // -- one run ----------------------------------------------------------------------------------------------

  function clearCharts() {
    for (const chart of state.charts) chart.remove();
    state.charts = [];
    state.candleSeries = null;
    state.markers = [];
  }

  async function open(id) {
    const ticket = ++state.ticket;
    state.shown = id;
    const url = new URL(location.href);
    url.searchParams.set("run", id);
    history.replaceState(null, "", url);
    for (const tr of list.querySelectorAll("tr[data-run]")) tr.classList.toggle("chosen", tr.dataset.run === id);
    let run;
    try {
      run = await ws.api(`/api/runs/${id.split("/").map(encodeURIComponent).join("/")}`);
    } catch (e) {
      if (ticket !== state.ticket) return;
      clearCharts();
      detail.replaceChildren(el("div", {className: "message"}, e.message));
      return;
    }
    if (ticket !== state.ticket) return;
    state.detail = run;
    clearCharts();
    detail.replaceChildren(el("h3", {}, `${run.name} `, el("span", {className: "note"}, `${run.kind} · ${run.id}`)));
    if (run.kind === "sweep") return showSweep(run);
    showSummary(run.summary || {});
    if (run.kind === "live") return;
    showEquity(run.equity);
    await showCandles(run, ticket);
    if (ticket !== state.ticket) return;
    const orderCols = [["ts_init", "time", "time"], ["instrument_id", "instrument"], ["side", "side"],
                       ["type", "type"], ["quantity", "qty"], ["filled_qty", "filled"], ["avg_px", "avg price"],
                       ["status", "status"], ["commissions", "fees"]];
    detail.append(el("h3", {}, `Orders (${run.orders.length}${run.truncated.orders ? ` of ${run.truncated.orders}` : ""})`),
                  table(orderCols, run.orders));
    detail.append(el("h3", {}, `Positions (${run.positions.length})`), table(
      [["ts_opened", "opened", "time"], ["ts_closed", "closed", "time"], ["instrument_id", "instrument"],
       ["entry", "entry"], ["side", "side"], ["peak_qty", "peak qty"], ["avg_px_open", "open px"],
       ["avg_px_close", "close px"], ["realized_pnl", "realized PnL"], ["realized_return", "return", "pct"]],
      run.positions, {rowAttrs: (p) => ({className: pnlClass(p.realized_pnl)})}));
    detail.append(el("h3", {}, `Fills (${run.fills.length})`), table(
      [["ts_last", "time", "time"], ["instrument_id", "instrument"], ["side", "side"], ["filled_qty", "qty"],
       ["avg_px", "price"], ["commissions", "fees"]], run.fills));
  }

  function pnlClass(text) {
    const value = parseFloat(String(text || ""));
    return value > 0 ? "up" : value < 0 ? "down" : "";
  }

  function showSummary(summary) {
    const box = el("div", {className: "runs-kv", id: "runs-summary"});
    for (const [key, value] of Object.entries(summary)) {
      if (value !== null && typeof value === "object") continue;
      const kind = /return|drawdown|win_rate|exposure/.test(key) ? "pct" : undefined;
      box.append(el("div", {dataset: {key}}, el("span", {}, key.replaceAll("_", " ")), el("span", {}, fmt(value, kind))));
    }
    detail.append(el("h3", {}, "Summary"), box);
  }

  function showEquity(equity) {
    detail.append(el("h3", {}, "Equity and drawdown"));
    const box = el("div", {className: "runs-chart", id: "runs-equity"});
    detail.append(box);
    if (!equity || !equity.time.length) { box.append(el("div", {className: "note"}, "no equity curve")); return; }
    const chart = LC.createChart(box, CHART_OPTIONS);
    state.charts.push(chart);
    const line = chart.addSeries(LC.LineSeries, {color: "#2962ff", lineWidth: 2, title: "equity"});
    const dd = chart.addSeries(LC.AreaSeries, {lineColor: "#ef5350", topColor: "#ef535022", bottomColor: "#ef535066",
                                               lineWidth: 1, title: "drawdown",
                                               priceFormat: {type: "percent", precision: 2}}, 1);
    const points = (values, scale = 1) => {
      const out = [];
      let last = -Infinity;
      for (let i = 0; i < equity.time.length; i++) {
        const t = Math.floor(equity.time[i] / 1000);
        if (values[i] === null || t <= last) continue;  // one point per second, ascending
        out.push({time: t, value: values[i] * scale});
        last = t;
      }
      return out;
    };
    line.setData(points(equity.equity));
    dd.setData(points(equity.drawdown, 100));
    chart.timeScale().fitContent();
  }

  function pickInterval(holding, base, spanMs) {
    const offered = INTERVALS.filter((i) => holding.intervals.includes(i)
                                            && INTERVAL_MS[i] >= (INTERVAL_MS[base] || 60e3));
    return offered.find((i) => spanMs / INTERVAL_MS[i] <= MAX_CANDLES) || offered[offered.length - 1] || base;
  }

  async function showCandles(run, ticket) {
    const summary = run.summary || {};
    const start = Date.parse(summary.start), end = Date.parse(summary.end);
    let held = ws.instruments();
    if (!held.length && run.instruments.length) {  // the chart page has not read them yet
      try { held = (await ws.api("/api/instruments")).instruments; } catch (e) { held = []; }
    }
    for (const {instrument, interval: base} of run.instruments) {
      detail.append(el("h3", {}, `${instrument}: candles and fills`));
      const box = el("div", {className: "runs-chart runs-candles", dataset: {instrument}});
      detail.append(box);
      const holding = held.find((r) => r.instrument === instrument);
      if (!holding || !Number.isFinite(start) || !Number.isFinite(end)) {
        box.append(el("div", {className: "message"}, `The catalog this server reads holds no bars of ${instrument}.`));
        continue;
      }
      const interval = pickInterval(holding, base, end - start);
      const step = INTERVAL_MS[interval];
      let bars;
      try {
        bars = await ws.api("/api/bars", {query: {instrument, interval, start, end: end + step, limit: MAX_CANDLES}});
      } catch (e) {
        box.append(el("div", {className: "message"}, `candles: ${e.message}`));
        continue;
      }
      if (ticket !== state.ticket) return;
      const chart = LC.createChart(box, CHART_OPTIONS);
      state.charts.push(chart);
      const series = chart.addSeries(LC.CandlestickSeries, {upColor: "#26a69a", downColor: "#ef5350",
        borderVisible: false, wickUpColor: "#26a69a", wickDownColor: "#ef5350"});
      series.setData(bars.time.map((t, i) => ({time: t / 1000, open: bars.open[i], high: bars.high[i],
                                              low: bars.low[i], close: bars.close[i]})));
      const own = run.markers.filter((m) => m.instrument === instrument);
      const labelled = own.length <= 12;  // beyond that the labels hide the candles: arrows only
      const marks = own.map((m) => {
        const buy = m.side === "BUY";
        return {time: Math.floor(m.time / step) * step / 1000, position: "atPriceMiddle", price: m.price,
                shape: buy ? "arrowUp" : "arrowDown", color: buy ? "#26a69a" : "#ef5350",
                text: labelled ? `${m.role} ${buy ? "buy" : "sell"} ${m.quantity} @ ${m.price}` : "", id: `${m.time}`};
      });
      LC.createSeriesMarkers(series, marks);
      box.append(el("div", {className: "note flow-note"}, `${interval} candles · ${marks.length} fills`));
      if (!state.candleSeries) { state.candleSeries = series; state.markers = marks; }
      chart.timeScale().fitContent();
    }
  }

  function showSweep(run) {
    const rows = run.ranking || [];
    const keys = rows.length ? Object.keys(rows[0]).filter((k) => k !== "run_id") : [];
    const pct = new Set(["total_return", "max_drawdown", "win_rate"]);
    detail.append(el("h3", {}, `Ranking (${rows.length} runs)`), el("div", {className: "note"}, "Click a row to open its run."),
      table(keys.map((k) => [k, k.replace(/^strategies\.\d+\.config\./, ""), pct.has(k) ? "pct" : undefined]), rows, {
        rowAttrs: (r) => (r.run_id ? {dataset: {run: r.run_id}} : {}),
        onClick: (r) => r.run_id && open(r.run_id),
      }));
  }

  async function activate() {
    if (!state.loaded) await loadList();
    const wanted = new URLSearchParams(location.search).get("run");
    if (wanted && wanted !== state.shown) await open(wanted);
  }

  window.addEventListener("workstation:page", (ev) => { if (ev.detail === "runs") activate(); });
  if (page.classList.contains("active")) activate();

  ws.runs = {
    list: () => state.rows.slice(),
    detail: () => state.detail || null,
    candles: () => (state.candleSeries ? state.candleSeries.data() : []),
    markers: () => state.markers.slice(),
    open,
    reload: loadList,
  };
})();
