// The built-in dashboard: draws the panels the monitor lists at dashboard/panels.json (the
// same expressions as its Grafana dashboards) from its own /api/v1, with uPlot. Nothing is
// fetched from anywhere but the monitor.
"use strict";
(() => {
  const CHART_HEIGHT = 180;
  const MAX_POINTS = 300;

  const state = {
    config: null,
    view: null,
    range: 300,
    paused: false,
    timer: null,
    panels: new Map(),
    refreshes: 0,
    running: false,
  };

  const $ = (selector) => document.querySelector(selector);
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child);
    return node;
  };

  // ---- Numbers and times, in the panel's unit (Grafana's unit ids). ----

  const BINARY = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

  // Extra digits, for axis ticks closer together than the default precision shows.
  let extra = 0;

  function trim(n) {
    const a = Math.abs(n);
    const digits = (a >= 100 ? 0 : a >= 10 ? 1 : 2) + extra;
    const text = n.toFixed(digits);
    return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
  }

  function scaled(v, steps) {
    for (const [size, suffix] of steps) {
      if (Math.abs(v) >= size) return trim(v / size) + " " + suffix;
    }
    const [size, suffix] = steps[steps.length - 1];
    return trim(v / size) + " " + suffix;
  }

  function seconds(v) {
    if (v === 0) return "0 s";
    const a = Math.abs(v);
    if (a >= 86400) return trim(v / 86400) + " d";
    if (a >= 3600) return trim(v / 3600) + " h";
    if (a >= 60) return trim(v / 60) + " min";
    return scaled(v, [[1, "s"], [1e-3, "ms"], [1e-6, "µs"], [1e-9, "ns"]]);
  }

  function bytes(v, suffix = "") {
    let i = 0;
    let n = v;
    while (Math.abs(n) >= 1024 && i < BINARY.length - 1) {
      n /= 1024;
      i += 1;
    }
    return trim(n) + " " + BINARY[i] + suffix;
  }

  function short(v) {
    return scaled(v, [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"], [1, ""]]).trim();
  }

  const HEALTH = { "1": "healthy", "0.5": "degraded", "0": "unhealthy", "-1": "unknown" };

  function format(unit, v) {
    if (v == null || Number.isNaN(v)) return "–";
    if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
    switch (unit) {
      case "s": return seconds(v);
      case "bytes": return bytes(v);
      case "Bps": return bytes(v, "/s");
      case "percentunit": return trim(v * 100) + " %";
      case "percent": return trim(v) + " %";
      case "ops": return short(v) + "/s";
      case "health": return HEALTH[String(v)] || trim(v);
      default: return short(v);
    }
  }

  // Tick labels that differ from one another: more digits until they do (at most four more).
  function ticks(unit, splits) {
    let labels = [];
    for (extra = 0; extra <= 4; extra += 1) {
      labels = splits.map((v) => (v == null ? "" : format(unit, v)));
      if (new Set(labels).size === labels.length) break;
    }
    extra = 0;
    return labels;
  }

  function clock(t, minutes = false) {
    const options = minutes ? { hour12: false, hour: "2-digit", minute: "2-digit" } : { hour12: false };
    return new Date(t * 1000).toLocaleTimeString([], options);
  }

  function stamp(t) {
    const d = new Date(t * 1000);
    return d.toLocaleDateString() + " " + d.toLocaleTimeString([], { hour12: false });
  }

  function since(iso) {
    const t = Date.parse(iso);
    if (Number.isNaN(t) || t <= 0) return "–";
    return seconds(Math.max(0, Math.round((Date.now() - t) / 1000))) + " ago";
  }

  // ---- Talking to the monitor. ----

  async function getJSON(url) {
    const response = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
    const text = await response.text();
    let body = null;
    try {
      body = JSON.parse(text);
    } catch (_) {
      throw new Error(`${response.status} ${response.statusText}: ${text.slice(0, 300)}`);
    }
    if (!response.ok || body.status === "error") {
      throw new Error(body.error || `${response.status} ${response.statusText}`);
    }
    return body;
  }

  function duration(s) {
    return `${Math.max(1, Math.round(s * 1000))}ms`;
  }

  // The expression as the page runs it: every label variable matches anything, and the
  // rate window is Grafana's $__rate_interval for the monitor's collection interval.
  function fill(expr, step) {
    const interval = state.config.interval_seconds;
    const rate = duration(Math.max(4 * interval, step + interval));
    return expr.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, name) =>
      name === "__rate_interval" || name === "__interval" || name === "__range" ? rate : ".*");
  }

  function window_() {
    const interval = state.config.interval_seconds;
    const range = state.range === "all" ? state.config.retention_seconds : state.range;
    const step = Math.max(interval, Math.ceil(range / MAX_POINTS));
    const end = Math.floor(Date.now() / 1000 / step) * step;
    return { start: end - range, end, step };
  }

  // ---- Panels. ----

  function palette() {
    const dark = matchMedia("(prefers-color-scheme: dark)").matches;
    return dark
      ? ["#6ea0ff", "#3cc47c", "#f0a63a", "#ff6b61", "#c58cff", "#4fd1d9", "#ff8fc7", "#c9d35a", "#9aa3b2"]
      : ["#2f6fde", "#1f9d55", "#c77c02", "#d0342c", "#8a4fd8", "#0e9aa7", "#d6458f", "#7c8a12", "#5f6b7d"];
  }

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function legendOf(template, metric) {
    if (template) {
      const text = template.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_, l) => metric[l] || "").trim();
      if (text) return text;
    }
    const labels = Object.entries(metric).filter(([k]) => k !== "__name__");
    const inner = labels.map(([k, v]) => `${k}="${v}"`).join(", ");
    return (metric.__name__ || "") + (inner ? `{${inner}}` : "") || "value";
  }

  function value(text) {
    if (text === "+Inf" || text === "Inf") return Infinity;
    if (text === "-Inf") return -Infinity;
    return parseFloat(text);
  }

  function createPanel(p) {
    const body = el("div", { class: "body" });
    const kind = p.kind === "time-series" ? "chart" : p.kind;
    const node = el("section", { class: `panel ${kind}`, "data-panel": p.id, "data-state": "loading" },
      el("h2", { text: p.title, title: p.expr }), body);
    return { def: p, node, body, plot: null, labels: "" };
  }

  function showError(panel, message) {
    panel.node.dataset.state = "error";
    panel.node.dataset.points = "0";
    let box = panel.body.querySelector(".error");
    if (!box) {
      box = el("div", { class: "error", role: "alert" });
      panel.body.append(box);
    }
    box.textContent = message;
  }

  function clearError(panel) {
    const box = panel.body.querySelector(".error");
    if (box) box.remove();
  }

  async function drawChart(panel) {
    const w = window_();
    panel.window = w;
    const q = new URLSearchParams({ query: fill(panel.def.expr, w.step), start: w.start, end: w.end, step: w.step });
    const body = await getJSON(`api/v1/query_range?${q}`);
    const result = body.data.result || [];
    const times = new Set();
    for (const s of result) for (const [t] of s.values) times.add(t);
    const xs = [...times].sort((a, b) => a - b);
    const index = new Map(xs.map((t, i) => [t, i]));
    const labels = [];
    const data = [xs];
    let points = 0;
    result.sort((a, b) => legendOf(panel.def.legend, a.metric).localeCompare(legendOf(panel.def.legend, b.metric)));
    for (const s of result) {
      const ys = new Array(xs.length).fill(null);
      for (const [t, v] of s.values) {
        const n = value(v);
        if (Number.isFinite(n)) {
          ys[index.get(t)] = n;
          points += 1;
        }
      }
      labels.push(legendOf(panel.def.legend, s.metric));
      data.push(ys);
    }
    clearError(panel);
    panel.node.dataset.points = String(points);
    panel.node.dataset.series = String(result.length);
    panel.node.dataset.state = result.length ? "ok" : "empty";
    if (panel.def.kind === "state-timeline") {
      drawTimeline(panel, xs, labels, data, result.map((r) => r.metric));
      return;
    }
    if (panel.def.exemplars) await loadExemplars(panel, w);
    if (panel.def.anomalies) await loadAnomalies(panel, w);
    const key = labels.join("\u0000");
    if (panel.plot && panel.labels === key) {
      panel.plot.setData(data);
      return;
    }
    if (panel.plot) panel.plot.destroy();
    panel.labels = key;
    panel.plot = new uPlot(chartOptions(panel, labels), data, panel.body);
    if (panel.def.exemplars && !panel.body.querySelector(".exemplar")) {
      panel.body.append(el("div", { class: "exemplar", "aria-live": "polite" }));
    }
    // When the first chart with data appeared, in ms since the page was asked for.
    if (points && !document.body.dataset.firstChart) {
      document.body.dataset.firstChart = String(Math.round(performance.now()));
    }
  }

  const SVG = "http://www.w3.org/2000/svg";

  // Each series a row of bands, one per run of equal values, coloured by state; hovering a
  // band reads out its value and times.
  function drawTimeline(panel, xs, labels, data, metrics) {
    const w = panel.window;
    const span = Math.max(1, w.end - w.start);
    const colors = palette();
    const rows = labels.map((label, i) => {
      const ys = data[i + 1];
      const svg = document.createElementNS(SVG, "svg");
      svg.setAttribute("viewBox", "0 0 1000 10");
      svg.setAttribute("preserveAspectRatio", "none");
      svg.setAttribute("role", "img");
      svg.setAttribute("aria-label", label);
      const band = (from, to, v) => {
        const rect = document.createElementNS(SVG, "rect");
        const x = ((Math.max(from, w.start) - w.start) / span) * 1000;
        rect.setAttribute("x", x.toFixed(2));
        rect.setAttribute("y", "0");
        rect.setAttribute("width", Math.max(1, ((Math.min(to, w.end) - Math.max(from, w.start)) / span) * 1000).toFixed(2));
        rect.setAttribute("height", "10");
        const state = panel.def.unit === "health" ? HEALTH[String(v)] : metrics[i].alertstate;
        if (state) rect.setAttribute("class", `band ${state}`);
        else rect.setAttribute("fill", colors[i % colors.length]);
        const title = document.createElementNS(SVG, "title");
        title.textContent = `${label}: ${format(panel.def.unit, v)}, ${stamp(from)} – ${clock(to)}`;
        rect.append(title);
        svg.append(rect);
      };
      let runStart = null;
      let runValue = null;
      let previous = null;
      for (let j = 0; j < xs.length; j += 1) {
        const v = ys[j];
        const gap = previous != null && xs[j] - previous > w.step * 1.5;
        if (v !== runValue || gap) {
          if (runValue != null) band(runStart, previous + w.step, runValue);
          runStart = v == null ? null : xs[j];
          runValue = v;
        }
        if (v != null) previous = xs[j];
      }
      if (runValue != null) band(runStart, previous + w.step, runValue);
      return el("div", { class: "row" }, el("span", { class: "name", text: label, title: label }), svg);
    });
    const axis = el("div", { class: "row axis" }, el("span", { class: "name" }),
      el("span", { class: "times" }, el("span", { text: stamp(w.start) }), el("span", { text: clock(w.end) })));
    panel.body.replaceChildren(el("div", { class: "timeline" }, ...rows, axis));
    if (!rows.length) panel.body.prepend(el("p", { class: "empty", text: "no data" }));
  }

  // The exemplars of the series the panel's expression selects: a trace id each, drawn as
  // points; a failure leaves the chart as it is.
  async function loadExemplars(panel, w) {
    try {
      const q = new URLSearchParams({ query: fill(panel.def.expr, w.step), start: w.start, end: w.end });
      const body = await getJSON(`api/v1/query_exemplars?${q}`);
      panel.exemplars = (body.data || []).flatMap((s) => s.exemplars.map((e) => ({
        t: e.timestamp,
        v: value(e.value),
        trace: e.labels.trace_id || Object.values(e.labels)[0] || "",
        series: s.seriesLabels,
      })));
    } catch (_) {
      panel.exemplars = [];
    }
    panel.node.dataset.exemplars = String(panel.exemplars.length);
  }

  // The stretches where the anomaly scores of what the chart draws reached the alarm
  // threshold, as [from, to] times; a failure leaves the chart unmarked.
  async function loadAnomalies(panel, w) {
    const threshold = state.config.anomaly_threshold;
    const bands = [];
    try {
      const q = new URLSearchParams({ query: fill(panel.def.anomalies, w.step), start: w.start, end: w.end, step: w.step });
      const body = await getJSON(`api/v1/query_range?${q}`);
      const times = [];
      for (const s of body.data.result || []) {
        for (const [t, v] of s.values) if (value(v) >= threshold) times.push(t);
      }
      times.sort((a, b) => a - b);
      for (const t of times) {
        const last = bands[bands.length - 1];
        if (last && t <= last[1] + w.step) last[1] = Math.max(last[1], t + w.step);
        else bands.push([t, t + w.step]);
      }
    } catch (_) {
      bands.length = 0;
    }
    panel.anomalyBands = bands;
    panel.node.dataset.anomalies = String(bands.length);
    let note = panel.body.querySelector(".anomaly");
    if (!note) {
      note = el("div", { class: "anomaly", "aria-live": "polite" });
      panel.body.append(note);
    }
    note.textContent = bands.length ? `shaded: anomalous (score ≥ ${threshold})` : "";
  }

  // Shades the anomalous stretches behind the lines.
  function drawAnomalies(u, panel) {
    const bands = panel.anomalyBands || [];
    if (!bands.length) return;
    const ctx = u.ctx;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.fillStyle = cssVar("--bad");
    ctx.globalAlpha = 0.15;
    for (const [from, to] of bands) {
      const x0 = Math.max(left, u.valToPos(from, "x", true));
      const x1 = Math.min(left + width, u.valToPos(to, "x", true));
      if (x1 > x0) ctx.fillRect(x0, top, Math.max(x1 - x0, devicePixelRatio), height);
    }
    ctx.restore();
  }

  // Draws the panel's exemplars as diamonds over the lines.
  function drawExemplars(u, panel) {
    const list = panel.exemplars || [];
    if (!list.length) return;
    const ctx = u.ctx;
    const size = 4 * devicePixelRatio;
    ctx.save();
    ctx.fillStyle = cssVar("--bad");
    ctx.strokeStyle = cssVar("--panel");
    ctx.lineWidth = devicePixelRatio;
    for (const e of list) {
      if (!Number.isFinite(e.v)) continue;
      const x = u.valToPos(e.t, "x", true);
      const y = u.valToPos(e.v, "y", true);
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
      if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) continue;
      ctx.beginPath();
      ctx.moveTo(x, y - size);
      ctx.lineTo(x + size, y);
      ctx.lineTo(x, y + size);
      ctx.lineTo(x - size, y);
      ctx.closePath();
      ctx.fill();
      ctx.stroke();
    }
    ctx.restore();
  }

  // Under the cursor, the nearest exemplar's trace id, value and time.
  function readExemplar(u, panel) {
    const box = panel.body.querySelector(".exemplar");
    const list = panel.exemplars || [];
    const { left, top } = u.cursor;
    let best = null;
    let bestDistance = 10;
    for (const e of list) {
      const dx = u.valToPos(e.t, "x") - left;
      const dy = u.valToPos(e.v, "y") - top;
      const d = Math.hypot(dx, dy);
      if (d < bestDistance) {
        best = e;
        bestDistance = d;
      }
    }
    if (box) box.textContent = best ? `trace ${best.trace} · ${format(panel.def.unit, best.v)} · ${stamp(best.t)}` : "";
  }

  function chartOptions(panel, labels) {
    const unit = panel.def.unit;
    const colors = palette();
    const fg = cssVar("--muted");
    const grid = cssVar("--line");
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    return {
      width: Math.max(200, panel.body.clientWidth),
      height: CHART_HEIGHT,
      cursor: { sync: { key: "kotoba" }, points: { size: 6 } },
      hooks: {
        ...(panel.def.anomalies ? { drawClear: [(u) => drawAnomalies(u, panel)] } : {}),
        ...(panel.def.exemplars
          ? { draw: [(u) => drawExemplars(u, panel)], setCursor: [(u) => readExemplar(u, panel)] }
          : {}),
      },
      legend: { live: true },
      scales: {
        x: { time: true, range: () => [panel.window.start, panel.window.end] },
      },
      axes: [
        {
          ...axis,
          space: 70,
          values: (u, splits) => splits.map((t) => (t == null ? "" : clock(t, panel.window.end - panel.window.start > 600))),
        },
        {
          ...axis,
          size: 72,
          values: (u, splits) => ticks(unit, splits),
        },
      ],
      series: [
        { value: (u, t) => (t == null ? "–" : stamp(t)) },
        ...labels.map((label, i) => ({
          label,
          stroke: colors[i % colors.length],
          width: 1.5,
          spanGaps: false,
          points: { show: false },
          value: (u, v) => format(unit, v),
        })),
      ],
    };
  }

  async function drawStat(panel) {
    const body = await getJSON(`api/v1/query?${new URLSearchParams({ query: fill(panel.def.expr, 0) })}`);
    const result = body.data.result || [];
    let text = "no data";
    let cls = "stat-value empty";
    let points = 0;
    if (body.data.resultType === "scalar") {
      text = format(panel.def.unit, value(result[1]));
      cls = "stat-value";
      points = 1;
    } else if (result.length) {
      const v = value(result[0].value[1]);
      text = format(panel.def.unit, v);
      cls = "stat-value" + (panel.def.unit === "health" ? " " + (HEALTH[String(v)] || "") : "");
      points = result.length;
    }
    clearError(panel);
    panel.body.replaceChildren(el("span", { class: cls, text }));
    panel.node.dataset.points = String(points);
    panel.node.dataset.state = points ? "ok" : "empty";
  }

  function table(headers, rows) {
    return el("table", {},
      el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { text: h })))),
      el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((c) =>
        c instanceof Node ? el("td", {}, c) : el("td", { text: c }))))));
  }

  function labelText(labels, skip = []) {
    return Object.entries(labels || {})
      .filter(([k]) => !skip.includes(k))
      .map(([k, v]) => `${k}="${v}"`).join(", ");
  }

  const SOURCES = {
    async alerts() {
      const body = await getJSON("api/v1/alerts");
      const alerts = body.data.alerts || [];
      return [["State", "Alert", "Labels", "Summary", "Since"], alerts.map((a) => [
        el("span", { class: `badge ${a.state}`, text: a.state }),
        a.labels.alertname || "",
        el("code", { text: labelText(a.labels, ["alertname"]) }),
        (a.annotations && (a.annotations.summary || a.annotations.description)) || "",
        el("span", { title: a.activeAt || "", text: since(a.activeAt) }),
      ])];
    },
    async rules() {
      const body = await getJSON("api/v1/rules");
      const groups = body.data.groups || [];
      return [["Group", "Rules", "Last evaluation", "Took", "Errors"], groups.map((g) => {
        const failing = (g.rules || []).filter((r) => r.health && r.health !== "ok");
        return [
          g.name,
          String((g.rules || []).length),
          el("span", { title: g.lastEvaluation || "", text: since(g.lastEvaluation) }),
          seconds(g.evaluationTime || 0),
          failing.length ? el("code", { text: failing.map((r) => `${r.name}: ${r.lastError}`).join("\n") }) : "none",
        ];
      })];
    },
    async channels() {
      const response = await fetch("alerts", { cache: "no-store" });
      if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
      const body = await response.json();
      return [["Channel", "Type", "Delivered", "Failed", "Last success", "Last error"],
        (body.notifications || []).map((c) => [
          c.name, c.type, String(c.delivered), String(c.failed),
          c.lastSuccess ? since(c.lastSuccess) : "never",
          c.lastError ? el("code", { text: `${since(c.lastError.time)}: ${c.lastError.message}` }) : "none",
        ])];
    },
  };

  async function drawTable(panel) {
    let headers;
    let rows;
    if (panel.def.source) {
      [headers, rows] = await SOURCES[panel.def.source]();
    } else {
      const body = await getJSON(`api/v1/query?${new URLSearchParams({ query: fill(panel.def.expr, 0) })}`);
      const result = body.data.result || [];
      headers = ["Series", "Value"];
      rows = result.map((s) => [el("code", { text: legendOf(panel.def.legend, s.metric) }), format(panel.def.unit, value(s.value[1]))]);
    }
    clearError(panel);
    panel.body.replaceChildren(rows.length ? table(headers, rows) : el("p", { class: "empty", text: "none" }));
    panel.node.dataset.points = String(rows.length);
    panel.node.dataset.state = "ok";
  }

  async function draw(panel) {
    try {
      if (panel.def.kind === "stat") await drawStat(panel);
      else if (panel.def.kind === "table") await drawTable(panel);
      else await drawChart(panel);
    } catch (e) {
      showError(panel, String(e.message || e));
    }
  }

  // ---- The page. ----

  function renderViews() {
    const nav = $("#views");
    nav.replaceChildren(...state.config.views.map((v) =>
      el("a", { href: `#${v.slug}`, "data-view": v.slug, text: v.title })));
  }

  function selectView(slug) {
    const known = state.config.views.some((v) => v.slug === slug);
    state.view = known ? slug : state.config.views[0].slug;
    for (const a of document.querySelectorAll("#views a")) {
      if (a.dataset.view === state.view) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const main = $("#panels");
    const stats = el("div", { class: "stats" });
    const rest = [];
    for (const p of state.config.panels.filter((x) => x.view === state.view)) {
      let panel = state.panels.get(p.id);
      if (!panel) {
        panel = createPanel(p);
        state.panels.set(p.id, panel);
      }
      (p.kind === "stat" ? stats : { append: (n) => rest.push(n) }).append(panel.node);
    }
    main.replaceChildren(...(stats.childElementCount ? [stats] : []), ...rest);
    document.body.dataset.view = state.view;
  }

  async function refresh() {
    clearTimeout(state.timer);
    if (state.running) return;
    state.running = true;
    try {
      const visible = [...state.panels.values()].filter((p) => p.def.view === state.view);
      await Promise.all(visible.map(draw));
      state.refreshes += 1;
      document.body.dataset.refreshes = String(state.refreshes);
      $("#status").textContent = state.paused ? "paused" : `updated ${clock(Date.now() / 1000)}`;
    } finally {
      state.running = false;
      schedule();
    }
  }

  function schedule() {
    clearTimeout(state.timer);
    if (state.paused) return;
    const every = Math.max(1, state.config.interval_seconds) * 1000;
    state.timer = setTimeout(refresh, every);
  }

  function resize() {
    for (const panel of state.panels.values()) {
      if (panel.plot && panel.node.isConnected) {
        panel.plot.setSize({ width: Math.max(200, panel.body.clientWidth), height: panel.plot.height });
      }
    }
  }

  function redrawAll() {
    for (const panel of state.panels.values()) {
      if (panel.plot) {
        panel.plot.destroy();
        panel.plot = null;
        panel.labels = "";
      }
    }
    refresh();
  }

  function setRange(range) {
    state.range = range;
    for (const b of document.querySelectorAll("#ranges button")) {
      b.setAttribute("aria-pressed", String(String(range) === b.dataset.range));
    }
  }

  async function start() {
    try {
      state.config = await getJSON("dashboard/panels.json");
    } catch (e) {
      $("#panels").replaceChildren(el("p", { class: "error", role: "alert", text: `cannot load the panels: ${e.message}` }));
      return;
    }
    renderViews();
    setRange(state.range);
    selectView(location.hash.slice(1));
    window.addEventListener("hashchange", () => {
      selectView(location.hash.slice(1));
      refresh();
    });
    for (const b of document.querySelectorAll("#ranges button")) {
      b.addEventListener("click", () => {
        setRange(b.dataset.range === "all" ? "all" : Number(b.dataset.range));
        refresh();
      });
    }
    $("#pause").addEventListener("click", (event) => {
      state.paused = !state.paused;
      event.currentTarget.setAttribute("aria-pressed", String(state.paused));
      event.currentTarget.textContent = state.paused ? "Resume" : "Pause";
      $("#status").textContent = state.paused ? "paused" : "";
      if (!state.paused) refresh();
      else clearTimeout(state.timer);
    });
    let pending = null;
    new ResizeObserver(() => {
      cancelAnimationFrame(pending);
      pending = requestAnimationFrame(resize);
    }).observe($("#panels"));
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", redrawAll);
    refresh();
  }

  start();
})();
