/*
 * The alerts page: alert rules (/api/alerts: add, delete), the events they fired, and the paper orders they placed
 * (/api/paper: orders, fills, positions, PnL). Live messages (workstation:alert, workstation:paper from live.js)
 * refresh it while it is open; without --live the rules can be edited and a note says nothing evaluates them.
 *
 * For tests: workstation.alerts = {rules(), events(), orders(), reload()}.
 */
"use strict";

(function () {
  const ws = window.workstation;
  const page = ws.addPage("alerts", "Alerts & orders");
  const state = {rules: [], events: [], paper: null, meta: null, loaded: false, timer: null};

  const style = document.createElement("style");
  style.textContent = `
    #page-alerts { flex-direction: column; overflow: auto; padding: 8px 12px; gap: 4px; }
    #page-alerts h3 { margin: 12px 0 4px; font-size: 14px; }
    #alert-form { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; padding: 6px; background: var(--panel);
                  border: 1px solid var(--line); border-radius: 4px; }
    #alert-form label { color: var(--muted); display: inline-flex; gap: 4px; align-items: center; }
    #alert-form input.wide { width: 7em; }
    #page-alerts .up { color: var(--up); } #page-alerts .down { color: var(--down); }`;
  document.head.appendChild(style);

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (k in node && k !== "list") node[k] = v;  // input.list is read-only: an attribute
      else node.setAttribute(k, v);
    }
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  }

  function cell(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "number" && !Number.isInteger(value)) return value.toPrecision(8).replace(/\.?0+$/, "");
    return String(value);
  }

  function table(id, columns, rows, extra) {
    return el("table", {className: "grid", id},
      el("thead", {}, el("tr", {}, ...columns.map(([, title]) => el("th", {}, title)), extra ? el("th") : null)),
      el("tbody", {}, ...rows.map((row) => el("tr", {dataset: row.ref ? {ref: row.ref} : row.id ? {id: row.id} : {}},
        ...columns.map(([key, , fmt]) => el("td", {className: key}, fmt ? fmt(row[key], row) : cell(row[key]))),
        extra ? el("td", {}, extra(row)) : null))));
  }

  const time = (ms) => (ms ? ws.fmtTime(ms) : "");
  const box = {form: el("div", {id: "alert-form"}), note: el("div", {className: "note", id: "alerts-note"}),
               rules: el("div"), events: el("div"), paper: el("div")};
  page.append(el("h3", {}, "New rule"), box.form, box.note, el("h3", {}, "Rules"), box.rules,
              el("h3", {}, "Fired"), box.events, box.paper);

  // -- the form ---------------------------------------------------------------------------------------------

  function select(name, values, chosen) {
    const s = el("select", {name}, ...values.map((v) => new Option(v, v)));
    if (chosen !== undefined) s.value = chosen;
    return s;
  }

  function buildForm() {
    const meta = state.meta;
    const held = ws.instruments().map((r) => r.instrument);
    const selection = ws.selection();
    const instrument = el("input", {name: "instrument", value: (selection && selection.instrument) || held[0] || "",
                                    className: "wide", size: 22, list: "alert-instruments"});
    const list = el("datalist", {id: "alert-instruments"}, ...held.map((i) => new Option(i, i)));
    const interval = select("interval", ["1m", "5m", "15m", "1h", "4h", "1d"], selection ? selection.interval : "1m");
    const indicator = select("indicator", meta.indicators.map((d) => d.name), "rsi");
    const params = el("span", {className: "params"});
    const line = el("select", {name: "line"});
    function showParams() {
      const def = meta.indicators.find((d) => d.name === indicator.value);
      params.replaceChildren(...def.params.flatMap((p) => [`${p.name} `, el("input", {type: "number", value: p.default,
        min: p.min, max: p.max, step: p.whole ? 1 : 0.1, dataset: {param: p.name}})]));
      line.replaceChildren(...def.lines.map((l) => new Option(l, l)));
    }
    indicator.addEventListener("change", showParams);
    showParams();
    const comparison = select("comparison", meta.comparisons, "<");
    const threshold = el("input", {type: "number", name: "threshold", value: 30, step: "any", className: "wide"});
    const action = select("action", meta.actions, "notify");
    const notional = el("input", {type: "number", name: "notional", value: 100, min: 0, step: "any", className: "wide"});
    const add = el("button", {type: "button", id: "alert-add", on: {click: async () => {
      const values = {};
      for (const input of params.querySelectorAll("input")) values[input.dataset.param] = Number(input.value);
      const rule = {instrument: instrument.value.trim(), interval: interval.value, indicator: indicator.value,
                    params: values, line: line.value, comparison: comparison.value,
                    threshold: Number(threshold.value), action: action.value};
      if (action.value !== "notify") rule.notional = Number(notional.value);
      try {
        const made = await ws.api("/api/alerts", {method: "POST", body: rule});
        ws.notify(`rule added: ${made.rule.text}`, "ok");
        await reload();
      } catch (e) {
        ws.notify(e.message, "error");
      }
    }}}, "Add rule");
    state.fillInstruments = (selection) => {  // the catalog's instruments once the chart page has read them
      list.replaceChildren(...ws.instruments().map((r) => new Option(r.instrument, r.instrument)));
      if (!instrument.value && selection) instrument.value = selection.instrument;
    };
    box.form.replaceChildren(el("label", {}, "instrument", instrument, list), el("label", {}, "interval", interval),
      el("label", {}, "indicator", indicator, params, line), el("label", {}, "when", comparison, threshold),
      el("label", {}, "then", action, notional, "quote"), add);
  }

  // -- the tables -------------------------------------------------------------------------------------------

  function render() {
    const meta = state.meta;
    box.note.textContent = meta.live
      ? `Rules are evaluated on ${meta.evaluated_on}; each fires once per crossing.`
      : "Not in live mode: rules are kept but nothing evaluates them (serve --live runs them).";
    box.rules.replaceChildren(state.rules.length ? table("alert-rules", [["id", "#"], ["text", "rule"],
        ["last_value", "last value"], ["last_state", "holds", (v) => (v === null ? "" : v ? "yes" : "no")],
        ["last_time_ms", "evaluated", time]], state.rules,
      (rule) => el("button", {type: "button", on: {click: () => remove(rule.id)}}, "delete"))
      : el("div", {className: "note"}, "No rules yet."));
    box.events.replaceChildren(state.events.length ? table("alert-events", [["fired_ms", "fired", time],
        ["text", "rule"], ["time", "bar", time], ["value", "value"]], [...state.events].reverse())
      : el("div", {className: "note"}, "Nothing fired yet."));
    renderPaper();
  }

  function renderPaper() {
    const paper = state.paper;
    if (!paper) return;
    const pnl = paper.pnl || {};
    const money = (m) => Object.entries(m || {}).map(([c, v]) => `${cell(Number(v))} ${c}`).join(", ") || "0";
    box.paper.replaceChildren(
      el("h3", {}, "Paper orders ", el("span", {className: "note", id: "paper-state"},
                                       `node ${paper.state}${paper.error ? `: ${paper.error}` : ""}`)),
      paper.orders.length ? table("paper-orders", [["created_ms", "time", time], ["rule", "rule"],
        ["instrument", "instrument"], ["side", "side"], ["notional", "notional"], ["quantity", "qty"],
        ["filled_qty", "filled"], ["avg_px", "avg price"], ["status", "status"], ["reason", "reason"]], paper.orders)
        : el("div", {className: "note"}, "No paper orders yet: a rule with buy or sell places one when it fires."),
      el("h3", {}, "Fills"), table("paper-fills", [["ts", "time", time], ["instrument", "instrument"],
        ["side", "side"], ["quantity", "qty"], ["price", "price"], ["commission", "fee"],
        ["liquidity", "liquidity"]], paper.fills),
      el("h3", {}, "Positions"), table("paper-positions", [["instrument", "instrument"], ["side", "side"],
        ["quantity", "qty"], ["avg_px_open", "open price"], ["last_price", "last"],
        ["unrealized_pnl", "unrealized"], ["realized_pnl", "realized"]], paper.positions || []),
      el("div", {id: "paper-pnl", className: "note"}, `PnL realized ${money(pnl.realized_pnl)}, unrealized ` +
         `${money(pnl.unrealized_pnl)}, fees ${money(pnl.commissions)}; balances ${money(pnl.balances)}`));
  }

  async function remove(id) {
    try {
      await ws.api(`/api/alerts/${id}`, {method: "DELETE"});
      await reload();
    } catch (e) {
      ws.notify(e.message, "error");
    }
  }

  async function reload() {
    try {
      const [alerts, paper] = await Promise.all([ws.api("/api/alerts"), ws.api("/api/paper")]);
      const first = !state.meta;
      state.meta = alerts;
      state.rules = alerts.rules;
      state.events = alerts.events;
      state.paper = paper;
      state.loaded = true;
      if (first) buildForm();
      render();
    } catch (e) {
      box.note.textContent = `alerts: ${e.message}`;
    }
  }

  function soon() {  // live messages come in bursts: one reload for them
    clearTimeout(state.timer);
    state.timer = setTimeout(reload, 300);
  }

  ws.onInstrumentChange((selection) => { if (state.fillInstruments) state.fillInstruments(selection); });
  window.addEventListener("workstation:alert", soon);
  window.addEventListener("workstation:paper", soon);
  window.addEventListener("workstation:page", (ev) => { if (ev.detail === "alerts") reload(); });
  if (page.classList.contains("active")) reload();

  ws.alerts = {
    rules: () => state.rules.slice(),
    events: () => state.events.slice(),
    orders: () => (state.paper ? state.paper.orders.slice() : []),
    reload,
  };
})();
