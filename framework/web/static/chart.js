/*
 * The chart page's main chart: candles and volume from /api/bars, loaded a page at a time as the user scrolls
 * back (and forward again), holding at most MAX_HELD bars; live bars folded in by workstation.updateBar.
 */
"use strict";

(function () {
  const ws = window.workstation;
  const LC = ws.LightweightCharts;
  const PAGE = 1500;  // bars per request
  const MAX_HELD = 6000;  // bars the page keeps; scrolling further drops the far end (and reloads it on return)
  const EDGE = 60;  // bars from an edge that trigger loading the next page
  const UP = "#26a69a", DOWN = "#ef5350";
  const state = {selection: null, bars: [], intervalMs: 0, olderEnd: null, newerStart: null, busy: false,
                 generation: 0, live: null};

  const chart = LC.createChart(document.getElementById("chart"), {
    autoSize: true,
    layout: {background: {color: "#131722"}, textColor: "#d1d4dc", panes: {separatorColor: "#2a2e39"}},
    grid: {vertLines: {color: "#1e222d"}, horzLines: {color: "#1e222d"}},
    timeScale: {timeVisible: true, secondsVisible: false, rightOffset: 5},
    rightPriceScale: {minimumWidth: 96},
    crosshair: {mode: LC.CrosshairMode.Normal},
  });
  const candles = chart.addSeries(LC.CandlestickSeries, {upColor: UP, downColor: DOWN, borderVisible: false,
                                                         wickUpColor: UP, wickDownColor: DOWN});
  const volume = chart.addSeries(LC.HistogramSeries, {priceScaleId: "volume", priceFormat: {type: "volume"},
                                                      lastValueVisible: false, priceLineVisible: false});
  chart.priceScale("volume").applyOptions({scaleMargins: {top: 0.8, bottom: 0}});

  const INTERVAL_MS = {"1m": 60e3, "3m": 180e3, "5m": 300e3, "15m": 900e3, "30m": 1800e3, "1h": 3600e3,
                       "2h": 7200e3, "4h": 14400e3, "6h": 21600e3, "8h": 28800e3, "12h": 43200e3, "1d": 86400e3,
                       "1w": 604800e3};

  function rows(page) {
    const out = new Array(page.time.length);
    for (let i = 0; i < out.length; i++) {
      out[i] = {time: page.time[i], open: page.open[i], high: page.high[i], low: page.low[i], close: page.close[i],
                volume: page.volume[i]};
    }
    return out;
  }

  function candle(bar) {
    return {time: bar.time / 1000, open: bar.open, high: bar.high, low: bar.low, close: bar.close};
  }

  function volumeBar(bar) {
    return {time: bar.time / 1000, value: bar.volume, color: bar.close >= bar.open ? "#26a69a66" : "#ef535066"};
  }

  function draw() {
    // the studies first: a point of theirs outside the bars would add a time to the scale and shift its indices
    if (ws.trimStudies && state.bars.length) ws.trimStudies(heldSpan());
    candles.setData(state.bars.map(candle));
    volume.setData(state.bars.map(volumeBar));
  }

  function heldSpan() {
    const bars = state.bars;
    return bars.length ? {start: bars[0].time, end: bars[bars.length - 1].time + state.intervalMs} : null;
  }

  function fetchPage(query) {
    const s = state.selection;
    return ws.api("/api/bars", {query: {instrument: s.instrument, interval: s.interval, limit: PAGE, ...query}});
  }

  async function loadChart(selection) {
    const generation = ++state.generation;
    state.selection = selection;
    state.intervalMs = INTERVAL_MS[selection.interval];
    state.live = null;
    const page = await fetchPage({});
    if (generation !== state.generation) return;
    state.bars = rows(page);
    state.olderEnd = page.more ? page.next_end : null;
    state.newerStart = null;
    const precision = page.price_precision ?? 2;
    candles.applyOptions({priceFormat: {type: "price", precision, minMove: Math.pow(10, -precision)}});
    draw();
    if (state.bars.length > 150) {
      chart.timeScale().setVisibleLogicalRange({from: state.bars.length - 150, to: state.bars.length + 5});
    } else {
      chart.timeScale().fitContent();
    }
    if (!state.bars.length) {
      ws.message(`The catalog holds no ${selection.interval} bars of ${selection.instrument}.`);
    } else {
      ws.message("");
    }
    ws.refreshStudies();
  }

  async function older() {
    let end = state.olderEnd;
    let added = [];
    for (let tries = 0; end !== null && !added.length && tries < 20; tries++) {  // skips gaps in the data
      const page = await fetchPage({end});
      added = rows(page);
      end = page.more ? page.next_end : null;
    }
    state.olderEnd = end;
    if (!added.length) return 0;
    state.bars = added.concat(state.bars);
    if (state.bars.length > MAX_HELD) {  // drop the newest beyond the bound; scrolling forward reloads them
      state.bars = state.bars.slice(0, MAX_HELD);
      state.newerStart = state.bars[state.bars.length - 1].time + state.intervalMs;
      state.live = null;
    }
    return added.length;
  }

  async function newer() {
    const start = state.newerStart;
    const page = await fetchPage({start, end: start + PAGE * state.intervalMs});
    const added = rows(page).filter((b) => b.time >= start);
    state.newerStart = added.length === PAGE ? start + PAGE * state.intervalMs : null;
    if (state.newerStart === null && !added.length) return 0;
    state.bars = state.bars.concat(added);
    let dropped = 0;
    if (state.bars.length > MAX_HELD) {
      dropped = state.bars.length - MAX_HELD;
      state.bars = state.bars.slice(dropped);
      state.olderEnd = state.bars[0].time;
    }
    return -dropped;
  }

  async function onRange(range) {
    if (!range || state.busy || !state.selection) return;
    const wantOlder = range.from < EDGE && state.olderEnd !== null;
    const wantNewer = range.to > state.bars.length - EDGE && state.newerStart !== null;
    if (!wantOlder && !wantNewer) return;
    state.busy = true;
    const generation = state.generation;
    try {
      const shift = wantOlder ? await older() : await newer();
      if (generation !== state.generation || !shift) return;
      const current = chart.timeScale().getVisibleLogicalRange() || range;
      draw();
      chart.timeScale().setVisibleLogicalRange({from: current.from + shift, to: current.to + shift});
      ws.refreshStudies();
    } catch (e) {
      ws.notify(`bars: ${e.message}`, "error");
    } finally {
      state.busy = false;
    }
  }
  chart.timeScale().subscribeVisibleLogicalRangeChange(onRange);

  // A live bar: {time (open, ms), open, high, low, close, volume, interval?}. One at the shown interval replaces
  // or appends the last candle; a 1m bar is folded into the shown interval's bucket (its volume summed per minute).
  function updateBar(bar) {
    if (!state.selection || state.newerStart !== null) return;  // not showing the newest bars: nothing to move
    const step = state.intervalMs;
    const key = bar.time - (bar.time % step);
    const last = state.bars[state.bars.length - 1];
    let merged;
    if (!bar.interval || bar.interval === state.selection.interval || INTERVAL_MS[bar.interval] === step) {
      merged = {time: key, open: bar.open, high: bar.high, low: bar.low, close: bar.close, volume: bar.volume};
    } else {
      if (!state.live || state.live.key !== key) {
        const base = last && last.time === key ? last : null;
        state.live = {key, baseVolume: base ? base.volume : 0, parts: new Map(), open: base ? base.open : bar.open,
                      high: base ? base.high : bar.high, low: base ? base.low : bar.low};
      }
      const live = state.live;
      live.parts.set(bar.time, bar.volume);
      live.high = Math.max(live.high, bar.high);
      live.low = Math.min(live.low, bar.low);
      let vol = live.baseVolume;
      for (const v of live.parts.values()) vol += v;
      merged = {time: key, open: live.open, high: live.high, low: live.low, close: bar.close, volume: vol};
    }
    if (last && last.time > key) return;  // older than what is drawn
    if (last && last.time === key) {
      state.bars[state.bars.length - 1] = merged;
    } else {
      state.bars.push(merged);
      if (state.bars.length > MAX_HELD) state.bars.shift();
    }
    candles.update(candle(merged));
    volume.update(volumeBar(merged));
    scheduleStudies();
  }

  let studiesTimer = null;
  function scheduleStudies() {
    if (studiesTimer) return;
    studiesTimer = setTimeout(() => { studiesTimer = null; ws.refreshStudies(); }, 1000);
  }

  Object.assign(ws, {
    chart, candles, volume, loadChart, updateBar, intervalMs: INTERVAL_MS,
    heldBars: () => state.bars.slice(),
    heldSpan,
  });
})();
