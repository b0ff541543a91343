/*
 * The chart page's indicators (from /api/indicators), perpetual panes (/api/perp) and the order-flow chart
 * (/api/orderflow), toggled in the side panel; what a chart shows is saved per instrument (/api/settings).
 */
"use strict";

(function () {
  const ws = window.workstation;
  const LC = ws.LightweightCharts;
  const PALETTE = {sma: ["#f0b90b"], ema: ["#2962ff"], vwap: ["#e040fb"], bbands: ["#787b86", "#b2b5be", "#787b86"],
                   rsi: ["#7e57c2"], macd: ["#2962ff", "#ff6d00", "#26a69a"], atr: ["#00bcd4"]};
  const PERP_TITLES = {funding: "Funding rate", open_interest: "Open interest", top_position_ratio:
                       "Top traders long/short (positions)", top_account_ratio: "Top traders long/short (accounts)",
                       global_account_ratio: "Long/short accounts", taker_volume: "Taker buy/sell volume"};
  const EMPTY = {studies: [], perp: [], orderflow: false, bucket: null, large: null};
  let defs = [];
  let settings = {...EMPTY};
  let holding = null;
  let drawn = {};  // key -> [series]
  let saveTimer = null;
  let refreshing = 0;
  let flow = null;  // the order-flow chart: {chart, buy, sell, delta, cumulative}

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
      else if (k in node) node[k] = v;
      else node.setAttribute(k, v);
    }
    node.append(...children);
    return node;
  }

  function save() {
    clearTimeout(saveTimer);
    const chart = ws.selection() && ws.selection().instrument;
    if (!chart) return;
    saveTimer = setTimeout(() => ws.api("/api/settings", {method: "PUT", query: {chart}, body: settings})
      .catch((e) => ws.notify(`settings not saved: ${e.message}`, "error")), 300);
  }

  // -- controls ---------------------------------------------------------------------------------------------

  function studyControl(def) {
    const on = settings.studies.find((s) => s.name === def.name);
    const box = el("input", {type: "checkbox", checked: !!on, "data-study": def.name});
    const params = el("span", {className: "params"});
    for (const p of def.params) {
      const value = on && on.params[p.name] !== undefined ? on.params[p.name] : p.default;
      params.append(p.name, " ", el("input", {type: "number", value, min: p.min, max: p.max,
        step: p.whole ? 1 : 0.1, "data-param": p.name, on: {change: () => changed()}}), " ");
    }
    function changed() {
      settings.studies = settings.studies.filter((s) => s.name !== def.name);
      if (box.checked) {
        const values = {};
        for (const input of params.querySelectorAll("input")) values[input.dataset.param] = Number(input.value);
        settings.studies.push({name: def.name, params: values});
      }
      save();
      rebuild();
    }
    box.addEventListener("change", changed);
    const swatch = el("span", {className: "swatch"});
    swatch.style.background = (PALETTE[def.name] || ["#ccc"])[0];
    return el("div", {className: "study"}, el("label", {}, box, swatch, def.title),
              def.params.length ? params : "");
  }

  function paneControls() {
    const out = [];
    const perpHeld = (holding && holding.perp) || [];
    if (!perpHeld.length) out.push(el("div", {className: "note"}, holding && holding.market === "spot"
      ? "Perpetual series belong to USD-M instruments." : "No perpetual series in the catalog for this one."));
    for (const name of perpHeld) {
      const box = el("input", {type: "checkbox", checked: settings.perp.includes(name), "data-perp": name});
      box.addEventListener("change", () => {
        settings.perp = settings.perp.filter((n) => n !== name);
        if (box.checked) settings.perp.push(name);
        save();
        rebuild();
      });
      out.push(el("div", {className: "study"}, el("label", {}, box, PERP_TITLES[name] || name)));
    }
    const flowBox = el("input", {type: "checkbox", checked: !!settings.orderflow, "data-orderflow": "1",
                                 disabled: !(holding && holding.trades)});
    const bucket = el("input", {type: "text", value: settings.bucket || "", placeholder: "interval", size: 5,
                                "data-bucket": "1"});
    const large = el("input", {type: "number", value: settings.large || "", placeholder: "0", min: 0,
                               "data-large": "1"});
    const changed = () => {
      settings.orderflow = flowBox.checked;
      settings.bucket = bucket.value.trim() || null;
      settings.large = large.value.trim() || null;
      save();
      rebuild();
    };
    for (const input of [flowBox, bucket, large]) input.addEventListener("change", changed);
    out.push(el("div", {className: "study"}, el("label", {}, flowBox, "Order flow (taker buy/sell)"),
      el("span", {className: "params"}, "bucket ", bucket, " large ≥ ", large, " quote"),
      holding && holding.trades ? "" : el("div", {className: "note"}, "No trades in the catalog for this one.")));
    return out;
  }

  function renderControls() {
    document.getElementById("studies").replaceChildren(...defs.map(studyControl));
    document.getElementById("panes").replaceChildren(...paneControls());
  }

  // -- series -----------------------------------------------------------------------------------------------

  function clearDrawn() {
    for (const list of Object.values(drawn)) for (const s of list) ws.chart.removeSeries(s);
    drawn = {};
  }

  function rebuild() {
    clearDrawn();
    let pane = 1;
    for (const def of defs) {
      const on = settings.studies.find((s) => s.name === def.name);
      if (!on) continue;
      const index = def.pane === "price" ? 0 : pane++;
      const colors = PALETTE[def.name] || ["#ccc"];
      drawn[def.name] = def.lines.map((line, i) => {
        const kind = line === "hist" ? LC.HistogramSeries : LC.LineSeries;
        return ws.chart.addSeries(kind, {color: colors[i % colors.length], lineWidth: 1, title: i ? "" :
          `${def.title}${def.params.length ? "(" + def.params.map((p) => on.params[p.name] ?? p.default).join(",") + ")" : ""}`,
          priceLineVisible: false, lastValueVisible: true}, index);
      });
    }
    for (const name of settings.perp) {
      if (!holding || !holding.perp.includes(name)) continue;
      const index = pane++;
      if (name === "taker_volume") {
        drawn[`perp:${name}`] = [
          ws.chart.addSeries(LC.HistogramSeries, {color: "#26a69a", title: "taker buy", priceLineVisible: false}, index),
          ws.chart.addSeries(LC.HistogramSeries, {color: "#ef5350", title: "taker sell", priceLineVisible: false}, index)];
      } else {
        const step = name === "funding" ? LC.LineType.WithSteps : LC.LineType.Simple;
        drawn[`perp:${name}`] = [ws.chart.addSeries(LC.LineSeries, {color: "#f0b90b", lineWidth: 1, lineType: step,
          title: PERP_TITLES[name], priceLineVisible: false,
          priceFormat: name === "funding" ? {type: "percent", precision: 4} : {type: "price", precision: 4,
                                                                                  minMove: 0.0001}}, index)];
      }
    }
    showFlow(!!settings.orderflow && holding && holding.trades);
    refreshStudies();
  }

  function lineData(times, values) {
    const out = new Array(times.length);
    for (let i = 0; i < times.length; i++) {
      out[i] = values[i] === null ? {time: times[i] / 1000} : {time: times[i] / 1000, value: values[i]};
    }
    return out;
  }

  async function refreshStudies() {
    const selection = ws.selection();
    const span = ws.heldSpan && ws.heldSpan();
    if (!selection || !span) return;
    const ticket = ++refreshing;
    const base = {instrument: selection.instrument, interval: selection.interval, start: span.start, end: span.end};
    const jobs = [];
    for (const on of settings.studies) {
      const series = drawn[on.name];
      if (!series) continue;
      jobs.push(ws.api("/api/indicators", {query: {...base, name: on.name, ...on.params}}).then((answer) => {
        if (ticket !== refreshing || drawn[on.name] !== series) return;
        Object.values(answer.lines).forEach((values, i) => {
          const data = lineData(answer.time, values);
          if (Object.keys(answer.lines)[i] === "hist") {
            for (const d of data) if (d.value !== undefined) d.color = d.value >= 0 ? "#26a69a88" : "#ef535088";
          }
          series[i].setData(data);
        });
      }));
    }
    const perp = settings.perp.filter((n) => drawn[`perp:${n}`]);
    if (perp.length) {
      jobs.push(ws.api("/api/perp", {query: {...base, series: perp.join(",")}}).then((answer) => {
        if (ticket !== refreshing) return;
        for (const name of perp) {
          const data = answer.series[name];
          const series = drawn[`perp:${name}`];
          if (!data || !series) continue;
          if (name === "taker_volume") {
            series[0].setData(lineData(data.time, data.buy_volume));
            series[1].setData(lineData(data.time, data.sell_volume.map((v) => (v === null ? null : -v))));
          } else {
            const column = Object.keys(data).find((k) => k !== "time" && k !== "held");
            const values = name === "funding" ? data[column].map((v) => (v === null ? null : v * 100)) : data[column];
            series[0].setData(lineData(data.time, values));
          }
        }
      }));
    }
    if (flow && settings.orderflow) {
      const query = {...base, large: settings.large || 0};
      if (settings.bucket) query.bucket = settings.bucket;
      jobs.push(ws.api("/api/orderflow", {query}).then((answer) => {
        if (ticket !== refreshing || !flow) return;
        flow.buy.setData(lineData(answer.time, answer.buy));
        flow.sell.setData(lineData(answer.time, answer.sell.map((v) => -v)));
        flow.delta.setData(answer.time.map((t, i) => ({time: t / 1000, value: answer.delta[i],
                                                      color: answer.delta[i] >= 0 ? "#26a69a" : "#ef5350"})));
        flow.cumulative.setData(lineData(answer.time, answer.cumulative_delta));
        syncFlow(ws.chart.timeScale().getVisibleRange());
        flow.note.textContent = answer.counted_from ? `newest trades only, from ${ws.fmtTime(answer.counted_from)}` : "";
      }));
    }
    const results = await Promise.allSettled(jobs);
    for (const r of results) if (r.status === "rejected") ws.notify(r.reason.message, "error");
  }

  // -- the order-flow chart ---------------------------------------------------------------------------------

  function showFlow(show) {
    const box = document.getElementById("flow-chart");
    box.hidden = !show;
    if (!show) {
      if (flow) { flow.chart.remove(); flow = null; }
      return;
    }
    if (flow) return;
    const chart = LC.createChart(box, {autoSize: true, layout: {background: {color: "#131722"}, textColor: "#d1d4dc"},
      grid: {vertLines: {color: "#1e222d"}, horzLines: {color: "#1e222d"}}, timeScale: {timeVisible: true, rightOffset: 5},
      rightPriceScale: {minimumWidth: 96}});
    const note = el("div", {className: "note flow-note"});
    box.appendChild(note);
    flow = {chart, note,
      buy: chart.addSeries(LC.HistogramSeries, {color: "#26a69a", title: "taker buy", priceLineVisible: false, priceFormat: {type: "volume"}}),
      sell: chart.addSeries(LC.HistogramSeries, {color: "#ef5350", title: "taker sell", priceLineVisible: false, priceFormat: {type: "volume"}}),
      delta: chart.addSeries(LC.HistogramSeries, {title: "delta", priceLineVisible: false, priceFormat: {type: "volume"}}, 1),
      cumulative: chart.addSeries(LC.LineSeries, {color: "#f0b90b", lineWidth: 1, title: "cumulative delta",
                                                  priceLineVisible: false, priceFormat: {type: "volume"}}, 1)};
  }

  // The order-flow chart follows the main chart's visible time span (its own time axis: buckets need not be bars).
  function syncFlow(range) {
    if (flow && range) { try { flow.chart.timeScale().setVisibleRange(range); } catch (e) { /* no data yet */ } }
  }
  ws.chart.timeScale().subscribeVisibleTimeRangeChange(syncFlow);

  // -- selection --------------------------------------------------------------------------------------------

  ws.onInstrumentChange(async (selection) => {
    holding = ws.instruments().find((r) => r.instrument === selection.instrument) || null;
    try {
      if (!defs.length) defs = (await ws.api("/api/indicators")).indicators;
      const saved = await ws.api("/api/settings", {query: {chart: selection.instrument}});
      settings = {...EMPTY, ...(saved.settings || {})};
    } catch (e) {
      ws.notify(`indicators: ${e.message}`, "error");
      settings = {...EMPTY};
    }
    renderControls();
    rebuild();
  });

  // Keep only the points inside the bars' span (chart.js calls it before drawing another span of bars).
  function trimStudies(span) {
    const from = span.start / 1000, to = span.end / 1000;
    for (const list of Object.values(drawn)) {
      for (const s of list) s.setData(s.data().filter((d) => d.time >= from && d.time < to));
    }
  }

  Object.assign(ws, {refreshStudies, trimStudies, studySeries: () => ({...drawn, ...(flow ? {orderflow: [flow.buy, flow.sell,
                                                                         flow.delta, flow.cumulative]} : {})})});
})();
