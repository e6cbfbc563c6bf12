// leakhound dashboard: plain JavaScript, no build step. It reads the agent's JSON API and its
// live feed (/api/events) and renders with DOM calls only: every value that comes from the API
// (target names, errors, stack frames, labels) goes through textContent, never through HTML.
'use strict';

(function () {
  const TOKEN_KEY = 'leakhound.token';
  const RANGES = [['1h', 3600e3], ['6h', 6 * 3600e3], ['24h', 24 * 3600e3], ['7d', 7 * 24 * 3600e3]];
  const POINTS = 720; // points per chart: the samples API is asked for one per (range / POINTS)
  const TREND_WINDOW = '30m';
  const COLORS = { goroutines: '#2f6f4f', alloc: '#1f77b4', heap: '#9467bd', sys: '#ff7f0e', rss: '#d62728' };

  // --- DOM helpers (nodes and text only; nothing is parsed as HTML) -----------------------------------------------------
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = String(v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  const $ = (sel, root) => (root || document).querySelector(sel);
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  // Replace a node's children (null/false children are skipped, strings become text nodes).
  function put(node, ...children) {
    clear(node);
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  function targetHref(name) { return '/targets/' + encodeURIComponent(name); }

  // --- formatting ------------------------------------------------------------------------------
  const fmtInt = (n) => (n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));
  function fmtBytes(b) {
    if (b === null || b === undefined) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return (i === 0 ? b : b.toFixed(b < 10 ? 2 : 1)) + ' ' + units[i];
  }
  function fmtAgo(ms) {
    if (!ms) return 'never';
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }
  function fmtTime(ms) { return ms ? new Date(ms).toLocaleString() : '–'; }
  function fmtDuration(ms) {
    const s = Math.round(ms / 1000);
    if (s < 90) return s + 's';
    if (s < 5400) return Math.round(s / 60) + 'm';
    if (s < 172800) return (s / 3600).toFixed(1) + 'h';
    return (s / 86400).toFixed(1) + 'd';
  }

  // --- the token and the API -------------------------------------------------------------------
  class AuthError extends Error {}
  function authHeaders(extra) {
    const h = Object.assign({}, extra || {});
    const t = sessionStorage.getItem(TOKEN_KEY);
    if (t) h.Authorization = 'Bearer ' + t;
    return h;
  }
  async function api(path) {
    const r = await fetch(path, { headers: authHeaders({ Accept: 'application/json' }), cache: 'no-store' });
    if (r.status === 401) throw new AuthError('this agent needs its [web] token');
    let body = null;
    try { body = await r.json(); } catch (_) { body = null; }
    if (!r.ok) {
      const e = new Error((body && body.error) || ('HTTP ' + r.status));
      e.status = r.status;
      throw e;
    }
    return body;
  }

  function showTokenForm(message) {
    closeFeed();
    setLive('off', 'token needed');
    const input = el('input', { type: 'password', id: 'token', autocomplete: 'off', required: true });
    const form = el('form', { class: 'token panel' },
      el('h1', { text: 'Token' }),
      el('p', {}, message || 'This agent asks for the [web] token of its config.'),
      el('p', { class: 'muted' }, 'It is kept in this browser tab only (sessionStorage) and sent as an Authorization header.'),
      el('label', { for: 'token', text: 'Token' }), input,
      el('p', {}, el('button', { type: 'submit', class: 'on', text: 'Open the dashboard' })));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      route();
    });
    put($('#main'), form);
    input.focus();
  }

  function showError(where, err) {
    if (err instanceof AuthError) {
      showTokenForm(sessionStorage.getItem(TOKEN_KEY) ? 'The token was not accepted; type it again.' : null);
      return;
    }
    put(where, el('p', { class: 'err' }, String(err.message || err)));
  }

  // --- the live feed: Server-Sent Events read with fetch, so the token goes in a header --------
  let feed = null;
  function setLive(kind, text) {
    const s = $('#live');
    s.className = 'live ' + kind;
    s.textContent = text;
  }
  function closeFeed() { if (feed) { feed.close(); feed = null; } }

  function openFeed(query, handlers) {
    closeFeed();
    let stopped = false;
    let ctrl = null;
    let retry = 1000;
    function dispatch(block) {
      let event = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        let value = c < 0 ? '' : line.slice(c + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (!data.length || !handlers[event]) return;
      let parsed;
      try { parsed = JSON.parse(data.join('\n')); } catch (_) { return; }
      handlers[event](parsed);
    }
    async function connect() {
      ctrl = new AbortController();
      try {
        const r = await fetch('/api/events' + query, {
          headers: authHeaders({ Accept: 'text/event-stream' }), signal: ctrl.signal, cache: 'no-store',
        });
        if (r.status === 401) { stopped = true; showTokenForm('The token was not accepted; type it again.'); return; }
        if (!r.ok || !r.body) throw new Error('HTTP ' + r.status);
        setLive('on', 'live');
        retry = 1000;
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value.replace(/\r\n?/g, '\n');
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            dispatch(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
          if (buf.length > (4 << 20)) throw new Error('an event over 4 MiB');
        }
      } catch (_) {
        // aborted, or the agent went away: reconnect below
      }
      if (stopped) return;
      setLive('off', 'reconnecting…');
      setTimeout(() => { if (!stopped) connect(); }, retry);
      retry = Math.min(retry * 2, 30000);
    }
    setLive('', 'connecting…');
    connect();
    feed = { close() { stopped = true; if (ctrl) ctrl.abort(); } };
  }

  // --- level words and colours -----------------------------------------------------------------
  function stateOf(t) {
    if (t.up === null || t.up === undefined) return 'waiting';
    if (!t.up) return 'down';
    return t.state || 'waiting';
  }
  function badge(t) {
    const s = stateOf(t);
    const nodes = [el('span', { class: 'badge ' + s, text: s })];
    if (t.up && t.level && t.level !== 'none') nodes.push(el('span', { class: 'level ' + t.level, text: t.level }));
    return nodes;
  }

  // --- trend: least squares over recent points, per hour ----------------------------------------
  function slopePerHour(points) {
    if (points.length < 3) return null;
    const n = points.length;
    let sx = 0, sy = 0, sxx = 0, sxy = 0;
    const x0 = points[0][0];
    for (const [t, v] of points) {
      const x = (t - x0) / 3600e3;
      sx += x; sy += v; sxx += x * x; sxy += x * v;
    }
    const d = n * sxx - sx * sx;
    return d === 0 ? null : (n * sxy - sx * sy) / d;
  }
  function trendOf(points) {
    const slope = slopePerHour(points);
    if (slope === null) return { cls: 'muted', text: 'collecting' };
    const mean = points.reduce((a, p) => a + p[1], 0) / points.length;
    const span = points[points.length - 1][0] - points[0][0];
    const change = points[points.length - 1][1] - points[0][1];
    const arrow = (up) => (up ? '↑ +' : '↓ −');
    if (span < 10 * 60e3) {
      // Too short to say "per hour": say what happened.
      if (Math.abs(change) < Math.max(10, 0.05 * mean)) return { cls: 'flat', text: '→ steady' };
      return { cls: change > 0 ? 'up' : 'down', text: arrow(change > 0) + fmtInt(Math.abs(change)) + ' in ' + fmtDuration(span) };
    }
    if (Math.abs(slope) < Math.max(10, 0.05 * mean)) return { cls: 'flat', text: '→ stable' };
    return { cls: slope > 0 ? 'up' : 'down', text: arrow(slope > 0) + fmtInt(Math.abs(slope)) + '/h' };
  }
  function sparkline(points) {
    const c = el('canvas', { width: 80, height: 20, class: 'spark' });
    const g = c.getContext('2d');
    if (points.length < 2) return c;
    const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    g.strokeStyle = COLORS.goroutines;
    g.lineWidth = 1.5;
    g.beginPath();
    points.forEach(([t, v], i) => {
      const x = x1 === x0 ? 0 : ((t - x0) / (x1 - x0)) * 78 + 1;
      const y = y1 === y0 ? 10 : 19 - ((v - y0) / (y1 - y0)) * 18;
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
    return c;
  }

  // --- overview --------------------------------------------------------------------------------
  function overview() {
    document.title = 'leakhound';
    put($('#crumbs'), 'overview');
    const main = clear($('#main'));
    const summary = el('div', { class: 'summary panel', id: 'summary' });
    const tbody = el('tbody', { id: 'targets' });
    const table = el('table', { class: 'targets' },
      el('thead', {}, el('tr', {},
        el('th', { text: 'Target' }), el('th', { text: 'Level' }), el('th', { class: 'num', text: 'Goroutines' }),
        el('th', { class: 'num', text: 'Memory' }), el('th', { text: 'Trend (' + TREND_WINDOW + ')' }),
        el('th', { text: 'Last seen' }), el('th', { text: 'Source / error' }))),
      tbody);
    const alerts = el('div', { id: 'alerts' }, el('p', { class: 'muted', text: 'Loading alerts…' }));
    main.append(summary, table, el('h2', { text: 'Alerts firing' }), alerts);

    const rows = new Map(); // name -> {tr, view, points}
    function renderSummary() {
      const views = [...rows.values()].map((r) => r.view);
      const down = views.filter((v) => v.up === false).length;
      const total = views.reduce((a, v) => a + (v.goroutines || 0), 0);
      const worst = views.filter((v) => v.level && v.level !== 'none').length;
      put(summary, 
        el('div', {}, el('span', { class: 'num', text: views.length }), 'targets'),
        el('div', {}, el('span', { class: 'num', text: down }), 'down'),
        el('div', {}, el('span', { class: 'num', text: worst }), 'above a level'),
        el('div', {}, el('span', { class: 'num', text: fmtInt(total) }), 'goroutines in all'));
    }
    function renderRow(r, flash) {
      const v = r.view;
      const t = trendOf(r.points);
      const cells = [
        el('td', {}, el('a', { href: targetHref(v.name), class: 'name', text: v.name })),
        el('td', { class: 'state' }, badge(v)),
        el('td', { class: 'num goroutines', text: fmtInt(v.goroutines) }),
        el('td', { class: 'num memory', text: fmtBytes(v.memory_bytes) }),
        el('td', { class: 'trend ' + t.cls }, sparkline(r.points), t.text),
        el('td', { class: 'seen', 'data-ts': v.ts_ms || '' , text: fmtAgo(v.ts_ms) }),
        el('td', {}, v.error ? el('span', { class: 'err', text: v.error }) : el('span', { class: 'muted', text: v.source || '' })),
      ];
      put(r.tr, ...cells);
      // Web Animations: no forced layout per update (a hundred rows update every few seconds).
      if (flash && r.tr.animate) r.tr.animate([{ background: '#fff3b0' }, { background: 'transparent' }], 1000);
    }
    function upsert(view, flash) {
      let r = rows.get(view.name);
      if (!r) {
        r = { tr: el('tr', { 'data-target': view.name }), view, points: [] };
        rows.set(view.name, r);
        tbody.append(r.tr);
      }
      const levelChanged = r.view.level !== view.level || r.view.up !== view.up;
      r.view = view;
      if (view.history) {
        // The stored history (from /api/targets?history=): older than any live point.
        const first = r.points.length ? r.points[0][0] : Infinity;
        r.points = view.history.filter((p) => p[1] !== null && p[0] < first).concat(r.points);
      }
      if (view.goroutines !== null && view.goroutines !== undefined && view.ts_ms) {
        const last = r.points[r.points.length - 1];
        if (!last || last[0] < view.ts_ms) r.points.push([view.ts_ms, view.goroutines]);
        const cutoff = view.ts_ms - 30 * 60e3;
        while (r.points.length && r.points[0][0] < cutoff) r.points.shift();
      }
      renderRow(r, flash);
      return levelChanged;
    }
    let alertsAt = 0;
    async function loadAlerts() {
      alertsAt = Date.now();
      try {
        const body = await api('/api/alerts?limit=20');
        put(alerts, body.active.length ? alertTable(body.active, true) :
          el('p', { class: 'muted', text: 'No alert is firing.' }));
      } catch (e) {
        if (e instanceof AuthError) return showError(main, e);
        put(alerts, el('p', { class: 'muted', text: 'Alerts: ' + e.message }));
      }
    }

    (async () => {
      try {
        // One request for the table and every trend; without a database (no history) the
        // live points fill the trends.
        const list = await api('/api/targets?history=' + TREND_WINDOW).catch((e) => {
          if (e instanceof AuthError) throw e;
          return api('/api/targets');
        });
        list.forEach((v) => upsert(v, false));
        renderSummary();
        if (!list.length) tbody.append(el('tr', {}, el('td', { colspan: 7, class: 'muted', text: 'No targets.' })));
      } catch (e) { return showError(main, e); }
      openFeed('', {
        snapshot(list) { list.forEach((v) => upsert(v, false)); renderSummary(); },
        target(v) {
          if (upsert(v, true) && Date.now() - alertsAt > 5000) loadAlerts();
          renderSummary();
        },
        lagged() { api('/api/targets').then((l) => { l.forEach((v) => upsert(v, false)); renderSummary(); }).catch(() => {}); },
        alert() { loadAlerts(); },
      });
      loadAlerts();
    })();
    ticker(() => {
      for (const td of document.querySelectorAll('td.seen')) {
        const ts = Number(td.getAttribute('data-ts'));
        td.textContent = fmtAgo(ts);
        td.classList.toggle('stale', ts > 0 && Date.now() - ts > 120e3);
      }
      if (Date.now() - alertsAt > 60e3) loadAlerts();
    });
  }

  let tickTimer = null;
  function ticker(f) { if (tickTimer) clearInterval(tickTimer); tickTimer = setInterval(f, 1000); }

  function alertTable(list, withTarget) {
    return el('table', { class: 'alerts' },
      el('thead', {}, el('tr', {},
        el('th', { text: 'When' }), withTarget ? el('th', { text: 'Target' }) : null, el('th', { text: 'Rule' }),
        el('th', { text: 'Severity' }), el('th', { text: 'What' }), el('th', { text: 'Summary' }))),
      el('tbody', {}, list.map((a) => el('tr', {},
        el('td', { text: fmtTime(a.at_ms) }),
        withTarget ? el('td', {}, el('a', { href: targetHref(a.target), text: a.target })) : null,
        el('td', { text: a.rule }),
        el('td', { class: 'level ' + a.severity, text: a.severity }),
        el('td', { text: a.kind + (a.silenced ? ' (silenced)' : '') }),
        el('td', { text: (a.evidence && a.evidence.summary) || '' })))));
  }

  // --- target page -----------------------------------------------------------------------------
  function parseHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    return { range: p.get('range') || '1h', from: Number(p.get('from')) || null, to: Number(p.get('to')) || null };
  }

  function targetPage(name) {
    document.title = name + ' · leakhound';
    put($('#crumbs'), el('a', { href: '/', text: 'overview' }), ' / ', name);
    const main = clear($('#main'));
    const head = el('div', { class: 'panel' }, el('h1', { text: name }), el('div', { class: 'facts', id: 'facts' }));
    const toolbar = el('div', { class: 'toolbar', id: 'ranges' });
    const gChart = el('div', { class: 'chart', id: 'chart-goroutines' }, el('h3', { text: 'Goroutines' }));
    const mChart = el('div', { class: 'chart', id: 'chart-memory' }, el('h3', { text: 'Memory' }));
    const status = el('p', { class: 'hint', id: 'range-status' });
    const alerts = el('div', { id: 'target-alerts' }, el('p', { class: 'muted', text: 'Loading…' }));
    const dumps = el('div', { id: 'dumps' }, el('p', { class: 'muted', text: 'Loading…' }));
    main.append(head, toolbar, status,
      el('div', { class: 'charts' }, gChart, mChart),
      el('p', { class: 'hint', text: 'Drag across a chart to zoom in (finer samples are fetched); double-click to zoom out.' }),
      el('h2', { text: 'Alert history' }), alerts,
      el('h2', { text: 'Goroutine dumps (evidence)' }), dumps);

    let current = null; // latest view
    function renderFacts() {
      const v = current || {};
      const fact = (k, ...value) => el('div', {}, el('span', { class: 'k', text: k }), ...value);
      const facts = [
        fact('level', badge(v)),
        fact('goroutines', el('b', { id: 'goroutines', text: fmtInt(v.goroutines) })),
        fact('memory', el('b', { text: fmtBytes(v.memory_bytes) })),
        fact('last seen', el('b', { class: 'seen', 'data-ts': v.ts_ms || '', text: fmtAgo(v.ts_ms) })),
        fact('source', el('b', { text: v.source || '–' })),
      ];
      if (v.error) facts.push(fact('error', el('b', { class: 'err', text: v.error })));
      put($('#facts'), ...facts);
    }

    // charts
    let plots = [];
    let data = null; // [ts_s[], goroutines[], alloc[], heap[], sys[], rss[]]
    let win = null; // {since, until, relative}
    let zoomTimer = null;
    let settingData = false;

    function columns(samples) {
      const cols = [[], [], [], [], [], []];
      for (const s of samples) {
        const m = s.metrics || {};
        cols[0].push(s.ts_ms / 1000);
        cols[1].push(s.up ? (m.goroutines ?? null) : null);
        cols[2].push(m.alloc_bytes ?? null);
        cols[3].push(m.heap_bytes ?? null);
        cols[4].push(m.sys_bytes ?? null);
        cols[5].push(m.rss_bytes ?? m.cgroup_memory_bytes ?? null);
      }
      return cols;
    }
    function stepFor(ms) { return Math.max(1, Math.ceil(ms / POINTS / 1000)) + 's'; }
    async function fetchRange(since, until) {
      const q = '?since=' + Math.floor(since) + '&until=' + Math.ceil(until) + '&step=' + stepFor(until - since);
      const body = await api('/api/targets/' + encodeURIComponent(name) + '/samples' + q);
      return columns(body.samples);
    }
    function width(node) { return Math.max(300, node.clientWidth - 20); }
    // The x scale shows the chosen window (not just where data happens to be) unless the user
    // zoomed in; `settingData` keeps our own scale changes from counting as a zoom.
    let zoomed = false;
    function viewWindow() {
      if (!win) return null;
      if (!win.relative) return [win.since / 1000, win.until / 1000];
      const last = data && data[0].length ? data[0][data[0].length - 1] : 0;
      const until = Math.max(Date.now() / 1000, last);
      return [until - win.span / 1000, until];
    }
    function applyWindow() {
      const w = viewWindow();
      if (!w || zoomed) return;
      settingData = true;
      try { for (const p of plots) p.setScale('x', { min: w[0], max: w[1] }); } finally { settingData = false; }
    }
    function makePlots() {
      plots.forEach((p) => p.destroy());
      plots = [];
      if (!window.uPlot) { status.textContent = 'The chart library did not load.'; return; }
      const sync = window.uPlot.sync('lh-' + name);
      const cursor = { sync: { key: sync.key }, drag: { x: true, y: false, setScale: true } };
      const hooks = { setScale: [(u, key) => { if (key === 'x' && !settingData) onZoom(u); }] };
      const gOpts = {
        width: width(gChart), height: 260, cursor, hooks,
        scales: { x: { time: true } },
        axes: [{}, { size: 70, values: (u, v) => v.map(fmtInt) }],
        series: [{}, { label: 'goroutines', stroke: COLORS.goroutines, width: 2, fill: 'rgba(47,111,79,0.08)', value: (u, v) => fmtInt(v) }],
      };
      const mem = (label, color) => ({ label, stroke: color, width: 1.5, value: (u, v) => fmtBytes(v) });
      const mOpts = {
        width: width(mChart), height: 260, cursor, hooks,
        scales: { x: { time: true } },
        axes: [{}, { size: 80, values: (u, v) => v.map(fmtBytes) }],
        series: [{}, mem('alloc', COLORS.alloc), mem('heap', COLORS.heap), mem('sys', COLORS.sys), mem('rss', COLORS.rss)],
      };
      settingData = true;
      try {
        plots.push(new window.uPlot(gOpts, [data[0], data[1]], gChart));
        plots.push(new window.uPlot(mOpts, [data[0], data[2], data[3], data[4], data[5]], mChart));
      } finally { settingData = false; }
      applyWindow();
    }
    function setPlotData() {
      if (!plots.length) return makePlots();
      settingData = true;
      try {
        plots[0].setData([data[0], data[1]], !zoomed);
        plots[1].setData([data[0], data[2], data[3], data[4], data[5]], !zoomed);
      } finally { settingData = false; }
      applyWindow();
    }
    function onZoom(u) {
      const min = u.scales.x.min * 1000, max = u.scales.x.max * 1000;
      const w = viewWindow();
      const first = data && data[0].length ? data[0][0] : 0;
      const last = data && data[0].length ? data[0][data[0].length - 1] : 0;
      // A double-click zooms out to the data's extent: back to the whole window.
      if (!w || (min / 1000 <= first + 1e-3 && max / 1000 >= last - 1e-3)) {
        zoomed = false;
        applyWindow();
        return;
      }
      zoomed = true;
      settingData = true;
      try { for (const p of plots) if (p !== u) p.setScale('x', { min: min / 1000, max: max / 1000 }); } finally { settingData = false; }
      clearTimeout(zoomTimer);
      zoomTimer = setTimeout(async () => {
        if (!win || max - min >= (win.until - win.since) * 0.98) return;
        try {
          const cols = await fetchRange(min, max);
          if (cols[0].length < 2) return;
          data = mergeColumns(data, cols, min / 1000, max / 1000);
          setPlotData();
          status.textContent = 'Zoomed: ' + fmtTime(min) + ' – ' + fmtTime(max) + ', one point per ' + stepFor(max - min);
        } catch (_) { /* keep the coarse data */ }
      }, 250);
    }
    function mergeColumns(base, fine, lo, hi) {
      const keep = (i) => base[0][i] < lo || base[0][i] > hi;
      const out = base.map(() => []);
      let inserted = false;
      for (let i = 0; i < base[0].length; i++) {
        if (!inserted && base[0][i] > hi) { fine.forEach((c, k) => out[k].push(...c)); inserted = true; }
        if (keep(i)) base.forEach((c, k) => out[k].push(c[i]));
      }
      if (!inserted) fine.forEach((c, k) => out[k].push(...c));
      return out;
    }

    async function load(sel) {
      const now = Date.now();
      if (sel.range === 'custom' && sel.from && sel.to && sel.from < sel.to) win = { since: sel.from, until: sel.to, relative: false };
      else {
        const span = (RANGES.find((r) => r[0] === sel.range) || RANGES[0])[1];
        win = { since: now - span, until: now, relative: true, span };
      }
      zoomed = false;
      renderToolbar(sel);
      status.textContent = 'Loading ' + fmtTime(win.since) + ' – ' + fmtTime(win.until) + '…';
      try {
        data = await fetchRange(win.since, win.until);
        status.textContent = fmtTime(win.since) + ' – ' + (win.relative ? 'now' : fmtTime(win.until)) +
          ': ' + data[0].length + (data[0].length === 1 ? ' point' : ' points') + ', one per ' + stepFor(win.until - win.since) + ' (the peak of each)';
        if (plots.length) setPlotData(); else makePlots();
      } catch (e) {
        if (e instanceof AuthError) return showError(main, e);
        status.textContent = 'History: ' + e.message;
        data = [[], [], [], [], [], []];
        makePlots();
      }
    }

    function renderToolbar(sel) {
      const bar = clear(toolbar);
      bar.append(el('span', { class: 'muted', text: 'Range' }));
      for (const [label] of RANGES) {
        bar.append(el('button', { type: 'button', class: sel.range === label ? 'on' : '', 'data-range': label, text: label,
          onclick: () => { location.hash = 'range=' + label; } }));
      }
      const toLocal = (ms) => { const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3); return d.toISOString().slice(0, 16); };
      const from = el('input', { type: 'datetime-local', 'aria-label': 'from', value: toLocal(win.since) });
      const to = el('input', { type: 'datetime-local', 'aria-label': 'to', value: toLocal(win.until) });
      bar.append(el('span', { class: 'muted', text: 'custom' }), from, to,
        el('button', { type: 'button', class: sel.range === 'custom' ? 'on' : '', text: 'Show',
          onclick: () => {
            const f = new Date(from.value).getTime(), t = new Date(to.value).getTime();
            if (f < t) location.hash = 'range=custom&from=' + f + '&to=' + t;
          } }));
    }

    function onLive(v) {
      current = v;
      renderFacts();
      if (!data || !win || !win.relative || !plots.length || !v.ts_ms) return;
      const t = v.ts_ms / 1000;
      if (data[0].length && data[0][data[0].length - 1] >= t) return;
      const m = v.metrics || {};
      data[0].push(t); data[1].push(v.up ? v.goroutines : null);
      data[2].push(m.alloc_bytes ?? null); data[3].push(m.heap_bytes ?? null);
      data[4].push(m.sys_bytes ?? null); data[5].push(m.rss_bytes ?? m.cgroup_memory_bytes ?? null);
      const cutoff = t - win.span / 1000;
      while (data[0].length && data[0][0] < cutoff) data.forEach((c) => c.shift());
      setPlotData();
    }

    async function loadAlerts() {
      try {
        const body = await api('/api/alerts?limit=500');
        const mine = body.recent.filter((a) => a.target === name);
        put(alerts, mine.length ? alertTable(mine, false) : el('p', { class: 'muted', text: 'No alerts recorded for this target.' }));
      } catch (e) {
        put(alerts, el('p', { class: 'muted', text: 'Alerts: ' + e.message }));
      }
    }

    (async () => {
      try {
        const list = await api('/api/targets');
        current = list.find((t) => t.name === name);
        if (!current) { put(main, el('p', { class: 'err', text: 'No target named ' + name + ' on this agent.' }), el('a', { href: '/', text: 'All targets' })); return; }
      } catch (e) { return showError(main, e); }
      renderFacts();
      await load(parseHash());
      openFeed('?target=' + encodeURIComponent(name), {
        snapshot(list) { if (list[0]) { current = list[0]; renderFacts(); } },
        target: onLive,
        alert() { loadAlerts(); },
      });
      loadAlerts();
      dumpsView(name, dumps);
    })();
    window.onhashchange = () => load(parseHash());
    window.onresize = () => {
      if (plots.length) { plots[0].setSize({ width: width(gChart), height: 260 }); plots[1].setSize({ width: width(mChart), height: 260 }); }
    };
    ticker(() => {
      for (const b of document.querySelectorAll('.seen')) b.textContent = fmtAgo(Number(b.getAttribute('data-ts')));
    });
  }

  // --- dumps: the evidence bundles, their buckets and suspects, and the diff of two -------------
  function frameText(f) { return f ? f.function + '  ' + f.file + ':' + f.line : '–'; }

  async function dumpsView(name, box) {
    const base = '/api/targets/' + encodeURIComponent(name) + '/dumps';
    let list;
    try {
      list = (await api(base + '?limit=50')).dumps;
    } catch (e) {
      put(box, el('p', { class: 'muted', text: e.status === 404 || e.status === 503 ? 'No dumps: ' + e.message : 'Dumps: ' + e.message }));
      return;
    }
    if (!list.length) {
      put(box, el('p', { class: 'muted' },
        'No goroutine dumps yet. The agent saves one (an evidence bundle) when an alert fires with [evidence] on_alerts, before a restart, or on `leakhound capture ' + name + '`.'));
      return;
    }
    const detail = el('div', { id: 'dump-detail' });
    const fromSel = el('select', { 'aria-label': 'diff from' });
    const toSel = el('select', { 'aria-label': 'diff to' });
    list.forEach((d, i) => {
      const label = '#' + d.id + ' ' + fmtTime(d.at_ms) + ' (' + fmtInt(d.goroutines) + ')';
      fromSel.append(el('option', { value: d.id, text: label }));
      toSel.append(el('option', { value: d.id, text: label }));
      if (i === 1) fromSel.value = String(d.id);
    });
    toSel.value = String(list[0].id);
    const table = el('table', { class: 'dumps' },
      el('thead', {}, el('tr', {}, el('th', { text: 'Dump' }), el('th', { text: 'When' }), el('th', { text: 'Trigger' }),
        el('th', { class: 'num', text: 'Goroutines' }), el('th', { class: 'num', text: 'Size' }), el('th', { text: 'Top suspect' }))),
      el('tbody', {}, list.map((d) => el('tr', {},
        el('td', {}, el('button', { type: 'button', text: '#' + d.id, onclick: () => showDump(d.id) })),
        el('td', { text: fmtTime(d.at_ms) }),
        el('td', { text: d.trigger }),
        el('td', { class: 'num', text: fmtInt(d.goroutines) }),
        el('td', { class: 'num', text: fmtBytes(d.bytes) }),
        el('td', {}, d.suspect_lines && d.suspect_lines[0] ? el('span', { class: 'stack', text: d.suspect_lines[0] }) :
          el('span', { class: 'muted', text: d.error || '–' }))))));
    put(box, table,
      el('div', { class: 'toolbar' }, el('span', { class: 'muted', text: 'Compare' }), fromSel, el('span', { text: '→' }), toSel,
        el('button', { type: 'button', text: 'Diff', onclick: () => showDiff(fromSel.value, toSel.value) })),
      detail);

    async function showDump(id) {
      put(detail, el('p', { class: 'muted', text: 'Loading dump #' + id + '…' }));
      try {
        const body = await api(base + '/' + encodeURIComponent(id));
        const d = body.dump;
        const parts = [el('h3', { text: 'Dump #' + d.id + ' — ' + fmtTime(d.at_ms) + ', ' + fmtInt(body.total) + ' goroutines in ' + fmtInt(body.buckets.length + body.more_buckets) + ' buckets' })];
        // The suspects read as in messages and logs: the server renders the lines.
        if (d.suspect_lines && d.suspect_lines.length) {
          parts.push(el('h4', { text: 'Suspects' }), el('ol', { class: 'suspects' },
            d.suspect_lines.map((line, i) => el('li', { class: 'stack' + (d.suspects[i] && d.suspects[i].basis === 'largest' ? ' muted' : ''), text: line }))));
        }
        parts.push(el('h4', { text: 'Buckets' }), bucketTable(body.buckets, body.total));
        if (body.more_buckets) parts.push(el('p', { class: 'muted', text: body.more_buckets + ' smaller buckets not shown.' }));
        if (body.error) parts.push(el('p', { class: 'err', text: body.error }));
        put(detail, ...parts);
      } catch (e) { showError(detail, e); }
    }
    async function showDiff(from, to) {
      put(detail, el('p', { class: 'muted', text: 'Comparing #' + from + ' → #' + to + '…' }));
      try {
        const body = await api(base + '/diff?from=' + encodeURIComponent(from) + '&to=' + encodeURIComponent(to));
        const d = body.diff;
        const delta = d.after_total - d.before_total;
        put(detail, 
          el('h3', { text: 'Dump #' + body.from.id + ' → #' + body.to.id + ': ' + fmtInt(d.before_total) + ' → ' + fmtInt(d.after_total) + ' goroutines (' + (delta >= 0 ? '+' : '') + fmtInt(delta) + ')' }),
          el('table', { class: 'diff' },
            el('thead', {}, el('tr', {}, el('th', { text: 'Change' }), el('th', { class: 'num', text: 'Before' }), el('th', { class: 'num', text: 'After' }),
              el('th', { class: 'num', text: 'Δ' }), el('th', { text: 'Blocked on' }), el('th', { text: 'Site / created by' }))),
            el('tbody', {}, d.entries.map((e) => el('tr', {},
              el('td', { text: e.change }), el('td', { class: 'num', text: fmtInt(e.before) }), el('td', { class: 'num', text: fmtInt(e.after) }),
              el('td', { class: 'num ' + (e.delta > 0 ? 'delta-up' : e.delta < 0 ? 'delta-down' : ''), text: (e.delta > 0 ? '+' : '') + fmtInt(e.delta) }),
              el('td', { text: e.blocking }),
              el('td', {}, el('pre', { class: 'stack', text: frameText(e.top_frame || e.frames[0]) + (e.created_by ? '\ncreated by ' + frameText(e.created_by) : '') })))))),
          body.more_entries ? el('p', { class: 'muted', text: body.more_entries + ' smaller changes not shown.' }) : null);
      } catch (e) { showError(detail, e); }
    }
  }

  function bucketTable(buckets, total) {
    return el('table', { class: 'buckets' },
      el('thead', {}, el('tr', {}, el('th', { class: 'num', text: 'Count' }), el('th', { class: 'num', text: 'Share' }),
        el('th', { text: 'Blocked on' }), el('th', { text: 'Labels' }), el('th', { text: 'Stack (leaf first)' }))),
      el('tbody', {}, buckets.map((b) => el('tr', {},
        el('td', { class: 'num', text: fmtInt(b.count) }),
        el('td', { class: 'num', text: total ? (100 * b.count / total).toFixed(1) + '%' : '–' }),
        el('td', { text: b.blocking }),
        el('td', { class: 'stack', text: (b.labels || []).slice(0, 3).map((l) => l.key + '=' + l.value).join(' ') }),
        el('td', {}, el('details', {},
          el('summary', { class: 'stack', text: frameText(b.top_frame || b.frames[0]) }),
          el('pre', { class: 'stack', text: b.frames.map(frameText).join('\n') + (b.created_by ? '\ncreated by ' + frameText(b.created_by) : '') })))))));
  }

  // --- routing ---------------------------------------------------------------------------------
  function route() {
    window.onhashchange = null;
    window.onresize = null;
    const m = location.pathname.match(/^\/targets\/([^/]+)\/?$/);
    if (m) {
      let name;
      try { name = decodeURIComponent(m[1]); } catch (_) { name = m[1]; }
      targetPage(name);
    } else overview();
  }
  // A page leaving (or going into the back/forward cache) gives its live connection back: a
  // browser allows only 6 connections per host, and a kept stream would hold one of them.
  window.addEventListener('pagehide', closeFeed);
  window.addEventListener('pageshow', (ev) => { if (ev.persisted) route(); });
  route();
})();
