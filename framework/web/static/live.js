/*
 * Live mode on the chart page (serve --live): one websocket (/api/ws) that moves the forming candle, appends closed
 * ones, updates the indicators and the order-flow pane, and carries alerts and paper orders to every page.
 *
 * Each message has a sequence number. On a reconnect the page sends the server run's epoch and the last number it
 * applied and gets exactly what it missed; when the server cannot replay that far (or restarted) it says "reload"
 * and the page reloads the live bars over HTTP (/api/live/bars) and its indicators. A new subscription (another
 * instrument, interval, indicator set) first fills the chart from the live series, then applies what arrived
 * meanwhile, so the chart has no gap. Indicator and flow points pushed live are kept and laid again over what
 * refreshStudies() reads from the catalog.
 *
 * Alerts and paper messages are re-dispatched as window events "workstation:alert" and "workstation:paper"
 * (alerts.js shows them). For tests and benchmarks: workstation.live = {status(), socket(), applied(), lastBar()}.
 */
"use strict";

(function () {
  const ws = window.workstation;
  const RETRY_MS = [250, 500, 1000, 2000, 5000];
  const KEEP = 3000;  // live indicator / flow points kept per line
  const state = {live: false, socket: null, epoch: null, lastSeq: null, sub: null, pending: null, retries: 0,
                 applied: 0, lastBar: null, points: new Map(), flow: new Map(), seenSeries: new WeakSet(),
                 status: "off", liveSince: null, reloads: 0};

  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify(message));
  }

  function studyKey(name, params) {
    const sorted = Object.keys(params || {}).sort().reduce((o, k) => { o[k] = params[k]; return o; }, {});
    return `${name}:${JSON.stringify(sorted)}`;
  }

  // -- subscription -----------------------------------------------------------------------------------------

  async function interest(selection) {
    let settings = {};
    try {
      settings = (await ws.api("/api/settings", {query: {chart: selection.instrument}})).settings || {};
    } catch (e) { /* no settings: candles only */ }
    const studies = (settings.studies || []).map((s) => ({name: s.name, params: s.params || {}}));
    const flow = settings.orderflow ? {bucket: settings.bucket || selection.interval, large: settings.large || "0"}
      : null;
    return {instrument: selection.instrument, interval: selection.interval, studies, flow};
  }

  async function subscribe(selection) {
    const sub = await interest(selection);
    const same = state.sub && JSON.stringify(state.sub) === JSON.stringify(sub);
    if (same) return;
    if (!state.sub || state.sub.instrument !== sub.instrument || state.sub.interval !== sub.interval) {
      state.points = new Map();
      state.flow = new Map();
      state.liveSince = null;
    }
    state.sub = sub;
    state.pending = [];  // messages wait while the chart is filled from the live series
    send({type: "subscribe", ...sub});
    await backfill();
  }

  async function backfill() {
    const sub = state.sub;
    if (!sub) return;
    const held = ws.heldBars ? ws.heldBars() : [];
    const since = held.length ? held[held.length - 1].time : 0;
    state.pending = state.pending || [];
    try {
      const page = await ws.api("/api/live/bars", {query: {instrument: sub.instrument, interval: sub.interval, since}});
      if (sub !== state.sub) return;
      for (let i = 0; i < page.time.length; i++) {
        ws.updateBar({time: page.time[i], open: page.open[i], high: page.high[i], low: page.low[i],
                      close: page.close[i], volume: page.volume[i], interval: sub.interval});
      }
      if (page.forming) ws.updateBar({...page.forming, interval: sub.interval});
      // the indicators over the bars just filled in (the catalog has none of them)
      if (state.liveSince === null) state.liveSince = page.time.length ? page.time[0] : page.forming ? page.forming.time : null;
      const first = state.liveSince;  // since the first bar the live series gave this chart
      if (first !== null) {
        await Promise.all((sub.studies || []).map(async (study) => {
          const lines = await ws.api("/api/live/indicators", {query: {instrument: sub.instrument,
            interval: sub.interval, name: study.name, ...study.params, since: first}});
          const key = studyKey(study.name, study.params);
          lines.time.forEach((t, i) => keep(state.points, key, t / 1000,
            Object.fromEntries(Object.entries(lines.lines).map(([line, values]) => [line, values[i]]))));
        }));
        if (sub === state.sub) reapply();
      }
    } catch (e) {
      ws.notify(`live: ${e.message}`, "error");
    }
    const waiting = state.pending || [];
    state.pending = null;
    for (const message of waiting) apply(message);
  }

  // -- messages ---------------------------------------------------------------------------------------------

  function onMessage(event) {
    const message = JSON.parse(event.data);
    if (message.seq !== undefined && message.type !== "hello" && message.type !== "subscribed") {
      if (state.lastSeq !== null && message.seq <= state.lastSeq) return;  // replayed twice: applied already
      state.lastSeq = message.seq;
    }
    if (state.pending && ["bar", "indicator", "flow"].includes(message.type)) {
      state.pending.push(message);
      return;
    }
    apply(message);
  }

  function apply(message) {
    const sub = state.sub;
    switch (message.type) {
      case "hello":
        if (state.epoch && state.epoch !== message.epoch) state.lastSeq = null;
        state.epoch = message.epoch;
        break;
      case "subscribed":
        state.status = "live";
        ws.status(`${sub ? `${sub.instrument} ${sub.interval} · ` : ""}live`);
        break;
      case "bar":
        if (sub && message.instrument === sub.instrument && message.interval === sub.interval) {
          ws.updateBar({time: message.time, open: message.open, high: message.high, low: message.low,
                        close: message.close, volume: message.volume, interval: message.interval});
          state.applied += 1;
          state.lastBar = {...message, applied_ms: performance.timeOrigin + performance.now()};
        }
        break;
      case "indicator":
        if (sub && message.instrument === sub.instrument && message.interval === sub.interval) indicator(message);
        break;
      case "flow":
        if (sub && sub.flow && message.instrument === sub.instrument) flow(message);
        break;
      case "alert":
        ws.notify(`alert: ${message.text} (${Number(message.value).toPrecision(6)})`, "warn");
        window.dispatchEvent(new CustomEvent("workstation:alert", {detail: message}));
        break;
      case "paper":
        window.dispatchEvent(new CustomEvent("workstation:paper", {detail: message}));
        break;
      case "status":
        ws.notify(message.error, "error");
        break;
      case "error":
        ws.notify(`live: ${message.error}`, "error");
        break;
      case "reload":
        state.reloads += 1;
        state.pending = [];
        backfill().then(() => ws.refreshStudies());
        break;
      default:
        break;
    }
  }

  function keep(map, key, time, value) {
    let points = map.get(key);
    if (!points) map.set(key, (points = new Map()));
    points.set(time, value);
    if (points.size > KEEP) points.delete(points.keys().next().value);
  }

  function lastTime(series) {
    const data = series.data();
    return data.length ? data[data.length - 1].time : -Infinity;
  }

  function drawPoint(series, time, value, line) {
    if (time < lastTime(series)) return;
    const point = value === null ? {time} : {time, value};
    if (line === "hist" && value !== null) point.color = value >= 0 ? "#26a69a88" : "#ef535088";
    series.update(point);
  }

  function indicator(message) {
    const wanted = (state.sub.studies || []).find((s) => studyKey(s.name, s.params) === message.key);
    const series = ws.studySeries()[message.name];
    if (!wanted || !series) return;
    const time = message.time / 1000;
    keep(state.points, message.key, time, message.lines);
    Object.entries(message.lines).forEach(([line, value], i) => { if (series[i]) drawPoint(series[i], time, value, line); });
  }

  function flow(message) {
    const series = ws.studySeries().orderflow;
    if (!series) return;
    const time = message.time / 1000;
    keep(state.flow, "flow", time, message);
    const [buy, sell, delta, cumulative] = series;
    if (time < lastTime(buy)) return;
    buy.update({time, value: message.buy});
    sell.update({time, value: -message.sell});
    delta.update({time, value: message.delta, color: message.delta >= 0 ? "#26a69a" : "#ef5350"});
    const before = cumulative.data().filter((p) => p.time < time && p.value !== undefined);
    const base = before.length ? before[before.length - 1].value : 0;
    cumulative.update({time, value: base + message.delta});
  }

  // laid again over what the catalog gives after each refresh of the indicators
  function reapply() {
    if (!state.sub) return;
    for (const study of state.sub.studies || []) {
      const points = state.points.get(studyKey(study.name, study.params));
      const series = ws.studySeries()[study.name];
      if (!points || !series) continue;
      for (const [time, lines] of [...points.entries()].sort((a, b) => a[0] - b[0])) {
        Object.entries(lines).forEach(([line, value], i) => { if (series[i]) drawPoint(series[i], time, value, line); });
      }
    }
    const flows = state.flow.get("flow");
    if (flows) for (const time of [...flows.keys()].sort((a, b) => a - b)) flow(flows.get(time));
  }

  // -- the socket -------------------------------------------------------------------------------------------

  function connect() {
    const socket = new WebSocket(ws.wsUrl("/api/ws"));
    state.socket = socket;
    socket.onmessage = onMessage;
    socket.onopen = () => {
      state.retries = 0;
      if (state.sub) send({type: "subscribe", ...state.sub, epoch: state.epoch, last_seq: state.lastSeq});
    };
    socket.onclose = () => {
      if (state.socket !== socket) return;
      state.status = "reconnecting";
      ws.status("live: reconnecting");
      const wait = RETRY_MS[Math.min(state.retries++, RETRY_MS.length - 1)];
      setTimeout(connect, wait);
    };
  }

  async function start() {
    let status;
    try {
      status = await ws.api("/api/live/status");
    } catch (e) {
      return;
    }
    if (!status.live) return;
    state.live = true;
    state.epoch = status.epoch;
    connect();
    ws.onInstrumentChange((selection) => subscribe(selection));
    // The chart asks for a refresh after each live bar; what the live bars add comes pushed, so a refresh that
    // would only re-read the same catalog span is skipped (no flicker, no request per page per second).
    const refresh = ws.refreshStudies;
    let refreshed = null;
    ws.refreshStudies = async function () {
      const selection = ws.selection();
      const span = ws.heldSpan && ws.heldSpan();
      const key = selection && span ? `${selection.instrument} ${selection.interval} ${span.start}` : null;
      const drawn = Object.values(ws.studySeries()).flat();
      if (state.sub && key && key === refreshed && drawn.every((series) => state.seenSeries.has(series))) return;
      refreshed = key;
      await refresh();
      const changed = drawn.some((series) => !state.seenSeries.has(series));
      drawn.forEach((series) => state.seenSeries.add(series));
      if (changed && ws.selection()) await subscribe(ws.selection());  // the user toggled an indicator or pane
      reapply();
    };
  }

  ws.live = {
    status: () => ({live: state.live, status: state.status, epoch: state.epoch, lastSeq: state.lastSeq,
                    subscription: state.sub, reloads: state.reloads}),
    socket: () => state.socket,
    applied: () => state.applied,
    lastBar: () => state.lastBar,
    points: (name, params) => [...(state.points.get(studyKey(name, params)) || new Map()).entries()],
  };
  start();
})();
