// nfsentry dashboard: reads the JSON API (/api/v1/, docs/api.md) and draws the site overview
// and the IP page. Every value from the API is network data: it reaches the page only through
// textContent or attributes set from code, never as HTML. The view's state lives in the address
// (?site=&slot=&range=&ip=&label=&kind=&sort=&lo=&rows=&page=&blocked=&osort=&oo=&date=&all=), so a view
// can be pasted into a ticket. The labelled table and the offenders list are sorted, filtered and
// paged by the server (docs/api.md): the page fetches only the rows it shows.
'use strict';

const SLOT_S = 300;
const RANGE_MAX_S = 31 * 86400; // the API's longest from..to (docs/api.md)
const $ = (id) => document.getElementById(id);
const nf = new Intl.NumberFormat('en-US');
const state = { sites: [], site: '', slot: null, range: 86400, ip: '', label: '', kind: '', sort: 'severity', lo: 0, rows: 200, page: '', blocked: false, osort: 'offences', oo: 0, date: '', all: false };
const PAGE_ROWS = 200; // rows per page of the labelled table and the offenders list (?rows=: 1..1000)
const SORTS = ['severity', 'ip', 'kind', 'labels']; // the labelled route's ?sort= (docs/api.md)
const PAGES = ['collector', 'offenders', 'daily', 'attacks'];
let charts = {};
let slotDocs = [];
let lastLatest = null;

// ---- labels: order of severity, reasons in words, advice ------------------------------------
// The advice per label comes from the configuration (/api/v1/sites/{site}/advice).
// A label not listed here (a newer collector's) is shown with its name, severity low, and its
// reason's figures as the document gives them. The server sorts by the same severities
// (src/web/table.c); tests/unit/test_web.c fails when the two tables differ, and reads one
// `name: { sev: N },` line per label.
let advice = {};
const adviceOf = (l) => advice[l] || 'Look at the IP page.';
const LABELS = {
  flood: { sev: 3 },
  floodOut: { sev: 3 },
  synFlood: { sev: 3 },
  underAttack: { sev: 3 },
  scan: { sev: 2 },
  arpMissing: { sev: 2 },
  zeroMac: { sev: 2 },
  scanOut: { sev: 2 },
  probeUnused: { sev: 2 },
  arpUnused: { sev: 2 },
  noPayload: { sev: 1 },
  fanout: { sev: 1 },
  p2p: { sev: 1 },
};

function num(v, digits) {
  if (typeof v !== 'number' || !isFinite(v)) return String(v);
  return digits === undefined ? nf.format(Math.round(v * 100) / 100) : v.toFixed(digits);
}
function bytes(v) {
  if (typeof v !== 'number') return String(v);
  const u = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
  return (i ? v.toFixed(1) : String(v)) + ' ' + u[i];
}
function pct(v) { return typeof v === 'number' ? (v * 100).toFixed(1) + ' %' : String(v); }

function reasonText(label, r) {
  if (!r || typeof r !== 'object') return label;
  const th = ' — threshold ' + num(r.threshold);
  switch (label) {
    case 'noPayload': return 'average ' + num(r.avgPacketBytes) + ' bytes per packet over ' + num(r.packets) + ' packets' + th + ' bytes';
    case 'flood': return (r.signal === 'synFlood' ? num(r.halfOpenPackets) + ' half-open SYN packets, ' + num(r.halfOpenPerSecond) + '/s; ' : r.signal === 'rate' ? num(r.packetsPerSecond) + ' packets/s over ' + num(r.activeSeconds) + ' s; ' : '') + num(r.packets) + ' packets (' + bytes(r.octets) + ', ' + r.protocol + ') at ' + num(r.targets) + ' target(s), ' + pct(r.answeredRatio) + ' answered' + th;
    case 'scan': return 'probed ' + num(r.probedTargets) + ' inside hosts (' + num(r.probedSilent) + ' silent) of ' + num(r.activeInside) + ' active' + th;
    case 'probeUnused': return 'touched ' + num(r.unusedTouched) + ' unused inside addresses (' + num(r.packets) + ' packets)' + th;
    case 'arpUnused': return 'reached ' + num(Array.isArray(r.ipList) ? r.ipList.length : r.value) + ' addresses that ARP shows unresolved (' + num(r.packets) + ' packets)' + th;
    case 'fanout': return 'talked to ' + num(r.peers) + ' outside peers' + th + ' (peer cap ' + num(r.peerCap) + ')';
    case 'p2p': return num(r.peers) + ' peers, ' + bytes(r.octetsOut) + ' out and ' + bytes(r.octetsIn) + ' in, ' + num(r.avgPacketBytes) + ' bytes per packet' + th + ' peers';
    case 'scanOut': return 'contacted ' + num(r.peers) + ' outside peers, ' + num(r.answeredPeers) + ' answered (return ratio ' + num(r.returnRatio) + ')' + th;
    case 'floodOut': return num(r.packetsOut) + ' packets out against ' + num(r.packetsIn) + ' in, to ' + num(r.peers) + ' peer(s)' + th + ' packets';
    case 'underAttack': return num(r.packets) + ' unanswered packets (' + bytes(r.octets) + ') from ' + num(r.sources) + ' sources, ' + pct(r.answeredShare) + ' of its ingress answered' + th + ' packets';
    case 'arpMissing': return 'sent to the outside but not resolved on its gateway (' + (r.onGateway ? (r.typeList || []).join(', ') : 'absent') + ')';
    case 'zeroMac': return 'seen only with MAC 00:00:00:00:00:00 on ' + num(r.devices) + ' device(s)';
    default: return genericReason(r);
  }
}
// A camelCase field name in words: "answeredRatio" -> "answered ratio".
function words(k) { return k.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase(); }
function figure(k, v) {
  if (Array.isArray(v)) return num(v.length) + ' (' + v.slice(0, 5).map(String).join(', ') + (v.length > 5 ? ', …' : '') + ')';
  if (typeof v === 'number') return /ctets$/.test(k) ? bytes(v) : /Ratio$|Share$/.test(k) ? pct(v) : num(v);
  if (v && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
// Any reason object in words: its figures by name, then the value against the threshold.
function genericReason(r) {
  const parts = [];
  for (const k of Object.keys(r)) if (k !== 'value' && k !== 'threshold') parts.push(words(k) + ' ' + figure(k, r[k]));
  const vt = r.value !== undefined ? 'value ' + num(r.value) + (r.threshold !== undefined ? ' — threshold ' + num(r.threshold) : '') : '';
  return parts.concat(vt ? [vt] : []).join(', ') || '(no figures in the document)';
}
function severity(doc) {
  let s = 0;
  for (const l of doc.labels || []) s = Math.max(s, (LABELS[l] || { sev: 1 }).sev);
  return s;
}
function sevClass(s) { return s >= 3 ? 'sev-high' : s === 2 ? 'sev-mid' : 'sev-low'; }
function sevWord(s) { return s >= 3 ? 'high' : s === 2 ? 'medium' : 'low'; }

// ---- DOM helpers: text only ----------------------------------------------------------------
function el(tag, props, ...kids) {
  const e = document.createElement(tag);
  if (props) for (const k of Object.keys(props)) {
    if (k === 'class') e.className = props[k];
    else if (k === 'text') e.textContent = props[k];
    else e.setAttribute(k, props[k]);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}
function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }
function tile(k, v, cls) { return el('div', { class: 'tile' + (cls ? ' ' + cls : '') }, el('span', { class: 'k', text: k }), el('span', { class: 'v', text: v })); }
function chips(labels) {
  const f = document.createDocumentFragment();
  for (const l of labels || []) f.append(el('span', { class: 'chip ' + sevClass((LABELS[l] || { sev: 1 }).sev), text: l }));
  return f;
}
function ipLink(ip) {
  const q = new URLSearchParams({ site: state.site, ip: ip, range: String(state.range) });
  if (state.slot !== null) q.set('slot', String(state.slot));
  return el('a', { href: '/?' + q.toString(), 'data-ip': ip, text: ip });
}
function fmtTime(ts) {
  const d = new Date(ts * 1000);
  return d.toLocaleString() + ' (' + d.toISOString().replace('.000Z', 'Z').replace('T', ' ') + ')';
}
function slotLabel(ts) { return new Date(ts * SLOT_S * 1000).toISOString().slice(5, 16).replace('T', ' ') + 'Z'; }

// ---- URL state ------------------------------------------------------------------------------
function offsetOf(v) { return v && /^[0-9]{1,9}$/.test(v) ? Number(v) : 0; }
function readUrl() {
  const q = new URLSearchParams(location.search);
  state.site = q.get('site') || localStorage.getItem('nfsentry.site') || '';
  const slot = q.get('slot');
  state.slot = slot !== null && /^[0-9]+$/.test(slot) ? Number(slot) : null;
  const range = q.get('range');
  state.range = range && /^[0-9]+$/.test(range) ? Math.min(Number(range), 31 * 86400) : 86400;
  state.ip = q.get('ip') || '';
  // What the labelled route takes (docs/api.md); anything else is no filter.
  state.label = /^[A-Za-z0-9]{1,63}$/.test(q.get('label') || '') ? q.get('label') : '';
  state.kind = ['inside', 'outside', 'offender'].includes(q.get('kind')) ? q.get('kind') : '';
  state.sort = SORTS.includes(q.get('sort')) ? q.get('sort') : 'severity';
  state.lo = offsetOf(q.get('lo'));
  state.rows = Math.min(1000, offsetOf(q.get('rows')) || PAGE_ROWS);
  state.page = PAGES.includes(q.get('page')) ? q.get('page') : '';
  state.blocked = q.get('blocked') === '1';
  state.osort = ['ip', 'offences', 'sites', 'labels', 'until'].includes(q.get('osort')) ? q.get('osort') : 'offences';
  state.oo = offsetOf(q.get('oo'));
  const date = q.get('date') || '';
  state.date = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(date) ? date : '';
  state.all = q.get('all') === '1';
}
function writeUrl(push) {
  const q = new URLSearchParams();
  if (state.site) q.set('site', state.site);
  if (state.slot !== null) q.set('slot', String(state.slot));
  if (state.range !== 86400) q.set('range', String(state.range));
  if (state.ip) q.set('ip', state.ip);
  if (state.label) q.set('label', state.label);
  if (state.kind) q.set('kind', state.kind);
  if (state.sort !== 'severity') q.set('sort', state.sort);
  if (state.lo) q.set('lo', String(state.lo));
  if (state.rows !== PAGE_ROWS) q.set('rows', String(state.rows));
  if (state.page) q.set('page', state.page);
  if (state.blocked) q.set('blocked', '1');
  if (state.osort !== 'offences') q.set('osort', state.osort);
  if (state.oo) q.set('oo', String(state.oo));
  if (state.date) q.set('date', state.date);
  if (state.all) q.set('all', '1');
  const url = '/' + (q.toString() ? '?' + q.toString() : '');
  if (push) history.pushState(null, '', url); else history.replaceState(null, '', url);
}

// ---- API -------------------------------------------------------------------------------------
// The response to GET /api/v1/<path> when it is 2xx; null on 404; else throws an Error that
// carries the status and the API's error message when the body has one.
async function apiFetch(path) {
  const r = await fetch('/api/v1/' + path, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (r.status === 404) return null;
  if (!r.ok) {
    let msg = 'HTTP ' + r.status;
    try { const j = await r.json(); if (j && j.error && j.error.message) msg += ': ' + j.error.message; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}
async function api(path) {
  const r = await apiFetch(path);
  return r && r.json();
}
// A paged answer: its rows and X-Total-Count (rows matching, all pages); null on 404.
async function apiPage(path) {
  const r = await apiFetch(path);
  if (!r) return null;
  const total = Number(r.headers.get('X-Total-Count'));
  const rows = await r.json();
  return { rows, total: isFinite(total) ? total : rows.length };
}
// "rows a–b of N" and the buttons of a table's two pagers (below it, and -top above it); off:
// first row shown, n: rows shown, total: all.
function drawPager(id, off, n, total, what) {
  for (const where of ['', '-top']) {
    $(id + '-pager' + where).hidden = total === 0;
    $(id + '-range' + where).textContent = n ? what + ' ' + num(off + 1) + '–' + num(off + n) + ' of ' + num(total) : 'no ' + what + ' from ' + num(off + 1) + ' (' + num(total) + ' in all)';
    $(id + '-prev' + where).disabled = off === 0;
    $(id + '-next' + where).disabled = off + n >= total;
  }
}
function showError(e) {
  const box = $('error');
  if (!e) { box.hidden = true; return; }
  box.hidden = false;
  box.textContent = 'Could not read the collector: ' + e.message;
}
function siteInfo() { return state.sites.find((s) => s.site === state.site); }
// The overview's range ends with the selected slot, or with the site's latest one. The IP
// page's is centred on the selected slot (up to the latest), so that its strip shows what came
// before and after.
function rangeOf() {
  const s = siteInfo();
  const latest = s && s.timeSlot !== null ? s.timeSlot : null;
  const last = state.slot !== null ? state.slot : latest;
  let end = last !== null ? (last + 1) * SLOT_S - 1 : Math.floor(Date.now() / 1000);
  if (state.ip && state.slot !== null && latest !== null) end = Math.min((latest + 1) * SLOT_S - 1, end + Math.floor(state.range / 2));
  return { from: end - state.range + 1, to: end };
}

// ---- overview --------------------------------------------------------------------------------
// The decoder's drop reasons (docs/documents.md, the collector object), in words.
const DROPS = {
  notAllowed: 'datagrams: exporter not in the allow-list',
  shortHeader: 'datagrams: shorter than their header',
  badVersion: 'datagrams: not NetFlow v5, v9 or IPFIX',
  badLength: 'datagrams: length or count disagrees with the size',
  exporterLimit: 'datagrams: exporter table full',
  setLength: 'sets longer than their datagram',
  templateInvalid: 'templates beyond the limits',
  templateLimit: 'templates past the per-exporter cap',
  noTemplate: 'data sets whose template is unknown',
  recordInvalid: 'sets ending in a truncated record',
  setShort: 'sets shorter than 4 bytes',
  varlen: 'records whose variable length runs past the set',
  setReserved: 'sets with a reserved set ID',
  templateUnknown: 'withdrawals of templates not held',
  noMemory: 'datagrams or templates: allocation failed',
  noAddress: 'records with no usable address',
};
let collectorLive = null; // /api/v1/collector, or null when no collector runs with the server

function sumOf(obj, keys) { let n = 0; for (const k of keys) n += (obj && obj[k]) || 0; return n; }
function plural(n, one, many) { return num(n) + ' ' + (n === 1 ? one : many); }

// The figures behind the health word, from the selected slot's collector object (counters
// over that slot) and the live devices' polls. Each: [tile name, text, problem?].
function healthFigures(slotDoc) {
  const c = slotDoc.collector || {};
  const caps = slotDoc.capsHit || {};
  const f = [];
  const lostD = c.lostDatagrams || 0, lostR = c.lostRecords || 0;
  f.push(['Sequence loss', lostD || lostR ? plural(lostD, 'datagram', 'datagrams') + ', ' + plural(lostR, 'record', 'records') : 'none', !!(lostD || lostR)]);
  const kernel = (c.udpKernelDrops || 0) + (c.udpTruncated || 0);
  const malformed = sumOf(c, Object.keys(DROPS));
  f.push(['Drops', kernel || malformed ? plural(kernel, 'datagram', 'datagrams') + ' by the receive buffer, ' + num(malformed) + ' malformed' : 'none', !!(kernel || malformed)]);
  const late = (slotDoc.lateRecords || 0) + (slotDoc.futureRecords || 0);
  f.push(['Late records', late ? plural(late, 'record', 'records') + ' folded into the slot' : 'none', late > 0]);
  const capsHit = (caps.inside || 0) + (caps.outside || 0) + (caps.pairs || 0);
  f.push(['Memory caps hit', capsHit ? plural(capsHit, 'record', 'records') + ' past a cap' : 'none', capsHit > 0]);
  if (c.esBacklogSlots !== undefined) {
    f.push(['Elasticsearch backlog', c.esBacklogSlots ? plural(c.esBacklogSlots, 'slot', 'slots') + ' not yet shipped' : 'none', c.esBacklogSlots > 0]);
  } else {
    f.push(['Elasticsearch backlog', 'not configured', false]);
  }
  const devs = ((collectorLive && collectorLive.devices) || []).filter((d) => d.site === state.site);
  if (!collectorLive) f.push(['SSH polls', 'no live collector', false]);
  else if (!devs.length) f.push(['SSH polls', 'no device configured', false]);
  else {
    const failed = devs.filter((d) => d.polled && !d.ok).length;
    const waiting = devs.filter((d) => !d.polled).length;
    f.push(['SSH polls', failed ? num(failed) + ' of ' + num(devs.length) + ' devices failing' : num(devs.length - waiting) + ' of ' + num(devs.length) + ' devices ok' + (waiting ? ', ' + num(waiting) + ' not polled yet' : ''), failed > 0]);
  }
  return f;
}

function pageHref(page) {
  const q = new URLSearchParams({ page: page });
  if (state.site) q.set('site', state.site);
  return '/?' + q.toString();
}
function collectorHref() { return pageHref('collector'); }

function drawStatus(slotDoc, site) {
  const box = $('status');
  clear(box);
  if (!site) { box.append(tile('Status', 'no site has a stored slot yet')); return; }
  if (site.timeSlot === null || !slotDoc) {
    box.append(tile('Status', 'no slot yet: the site is configured, its first slot has not closed', 'warn'));
    return;
  }
  const figs = healthFigures(slotDoc);
  const problems = figs.filter((x) => x[2]);
  const word = problems.length ? 'degraded' : 'healthy';
  const ago = Math.max(0, Math.round(Date.now() / 1000 - site.closedAtS));
  const labelled = Object.values(slotDoc.labels || {}).reduce((a, b) => a + b, 0);
  const health = el('div', { class: 'tile ' + (problems.length ? 'warn' : 'ok'), id: 'health' },
    el('span', { class: 'k', text: 'Collector health' }),
    el('a', { class: 'v', href: collectorHref(), id: 'health-word', text: word }),
    el('span', { class: 'sub', text: problems.length ? problems.map((x) => x[0].toLowerCase() + ': ' + x[1]).join('; ') : 'no loss, drop, late record, cap or backlog' }));
  box.append(
    health,
    tile('Selected slot', slotLabel(slotDoc.timeSlot) + (state.slot === null ? ' (latest)' : '')),
    tile('Latest slot closed', fmtTime(site.closedAtS) + ' — ' + fmtAgo(ago)),
    tile('Records in slot', num(slotDoc.records)),
    tile('Egress (inside → outside)', bytes(slotDoc.egress ? slotDoc.egress.octets : 0)),
    tile('Ingress (outside → inside)', bytes(slotDoc.ingress ? slotDoc.ingress.octets : 0)),
    tile('Labelled IPs in slot', num(labelled), labelled ? 'bad' : 'ok'),
  );
  for (const [k, v, bad] of figs) box.append(tile(k, v, bad ? 'warn' : ''));
}
function fmtAgo(s) {
  if (s < 120) return num(s) + ' s ago';
  if (s < 7200) return num(Math.round(s / 60)) + ' min ago';
  if (s < 172800) return num(Math.round(s / 3600)) + ' h ago';
  return num(Math.round(s / 86400)) + ' days ago';
}

function chartClick(evt, elements, chart) {
  if (!elements || !elements.length) return;
  const doc = slotDocs[elements[0].index];
  if (!doc) return;
  state.slot = doc.timeSlot;
  state.lo = 0;
  writeUrl(true);
  loadSlot();
}

function drawCharts() {
  if (typeof Chart === 'undefined') return;
  const labels = slotDocs.map((d) => slotLabel(d.timeSlot));
  const egress = slotDocs.map((d) => (d.egress ? d.egress.octets : 0));
  const ingress = slotDocs.map((d) => (d.ingress ? d.ingress.octets : 0));
  // Every label counted in the range, the known ones in severity order first.
  const counted = new Set();
  for (const d of slotDocs) for (const [l, n] of Object.entries(d.labels || {})) if (n) counted.add(l);
  const names = Object.keys(LABELS).filter((l) => counted.has(l)).concat([...counted].filter((l) => !LABELS[l]).sort());
  const colours = ['#b3261e', '#d9480f', '#9a5b00', '#c2185b', '#6a1b9a', '#1565c0', '#00838f', '#2e7d32', '#5d4037', '#455a64', '#827717', '#ad1457', '#283593'];
  const common = { animation: false, responsive: true, maintainAspectRatio: false, onClick: chartClick, interaction: { mode: 'index', intersect: false } };
  for (const k of Object.keys(charts)) charts[k].destroy();
  charts.traffic = new Chart($('chart-traffic'), {
    type: 'line',
    data: { labels, datasets: [
      { label: 'egress octets (inside → outside)', data: egress, borderColor: '#1565c0', backgroundColor: '#1565c0', pointRadius: 2 },
      { label: 'ingress octets (outside → inside)', data: ingress, borderColor: '#2e7d32', backgroundColor: '#2e7d32', borderDash: [6, 3], pointRadius: 2 },
    ] },
    options: Object.assign({}, common, { scales: { y: { ticks: { callback: (v) => bytes(v) } } } }),
  });
  charts.labels = new Chart($('chart-labels'), {
    type: 'bar',
    data: { labels, datasets: names.map((n, i) => ({ label: n, data: slotDocs.map((d) => (d.labels && d.labels[n]) || 0), backgroundColor: colours[i % colours.length] })) },
    options: Object.assign({}, common, { scales: { x: { stacked: true }, y: { stacked: true, ticks: { precision: 0 } } } }),
  });
}

function fillSlotPicker() {
  const sel = $('slot');
  clear(sel);
  sel.append(el('option', { value: '', text: 'latest' }));
  for (let i = slotDocs.length - 1; i >= 0; i--) {
    const d = slotDocs[i];
    const n = Object.values(d.labels || {}).reduce((a, b) => a + b, 0);
    sel.append(el('option', { value: String(d.timeSlot), text: slotLabel(d.timeSlot) + (n ? ' — ' + n + ' labelled' : '') }));
  }
  sel.value = state.slot === null ? '' : String(state.slot);
}

let labelledRows = [];
let labelledTotal = 0;
function drawLabelled() {
  const tb = $('labelled').tBodies[0];
  clear(tb);
  // The label filter offers every label the selected slot counted (its slot document).
  const slotDoc = selectedSlotDoc();
  const seenLabels = new Set(Object.entries((slotDoc && slotDoc.labels) || {}).filter(([, n]) => n).map(([l]) => l));
  if (state.label) seenLabels.add(state.label);
  const lf = $('label-filter');
  clear(lf);
  lf.append(el('option', { value: '', text: 'all' }));
  for (const l of [...seenLabels].sort()) lf.append(el('option', { value: l, text: l }));
  lf.value = state.label;
  $('kind-filter').value = state.kind;
  for (const th of $('labelled').tHead.rows[0].cells) th.classList.toggle('sorted', th.dataset.sort === state.sort);
  for (const r of labelledRows) {
    const d = r.doc;
    const reasons = el('td');
    const adviceCell = el('td');
    for (const l of d.labels || []) {
      reasons.append(el('span', { class: 'reason' }, el('b', { text: l + ': ' }), reasonText(l, d.reasons && d.reasons[l])));
      adviceCell.append(el('span', { class: 'reason', text: adviceOf(l) }));
    }
    tb.append(el('tr', { 'data-ip': d.ip, 'data-kind': r.kinds.join(' ') },
      el('td', null, el('span', { class: 'chip ' + sevClass(r.sev), text: sevWord(r.sev) })),
      el('td', null, ipLink(d.ip)),
      el('td', { text: r.kinds.join(' + ') }),
      el('td', null, chips(d.labels)),
      reasons, adviceCell,
      el('td', { class: 'num', text: r.seen === undefined ? '…' : num(r.seen) + ' of ' + num(slotDocs.length) })));
  }
  const filtered = state.label || state.kind;
  $('labelled-count').textContent = '(' + num(labelledTotal) + (filtered ? ' matching the filter' : '') + ')';
  $('labelled-empty').textContent = filtered ? 'No labelled IP in this slot matches the filter.' : 'No labelled IP in this slot.';
  $('labelled-empty').hidden = labelledTotal !== 0;
  drawPager('labelled', state.lo, labelledRows.length, labelledTotal, 'rows');
}
function selectedSlotDoc() { return state.slot === null ? slotDocs[slotDocs.length - 1] : slotDocs.find((d) => d.timeSlot === state.slot); }

// One page of the selected slot's table, sorted and filtered by the server. The rows of an
// outside IP that is also an offender come together (outside first): one row of both kinds.
async function loadLabelled() {
  const slot = state.slot === null ? 'latest' : String(state.slot);
  const q = new URLSearchParams({ sort: state.sort, offset: String(state.lo), limit: String(state.rows) });
  if (state.label) q.set('label', state.label);
  if (state.kind) q.set('kind', state.kind);
  const page = (await apiPage('sites/' + encodeURIComponent(state.site) + '/slots/' + slot + '/labelled?' + q.toString())) || { rows: [], total: 0 };
  // Past the end (the filter or the slot changed under a pasted address): back to the first page.
  if (!page.rows.length && page.total && state.lo) { state.lo = 0; writeUrl(false); return loadLabelled(); }
  labelledRows = [];
  labelledTotal = page.total;
  for (const d of page.rows) {
    const had = labelledRows[labelledRows.length - 1];
    if (had && d.kind !== 'inside' && !had.kinds.includes('inside') && had.doc.ip === d.ip) {
      had.kinds.push(d.kind);
      if (d.kind === 'outside') had.doc = d;
      had.sev = Math.max(had.sev, severity(d));
      continue;
    }
    labelledRows.push({ doc: d, kinds: [d.kind], sev: severity(d) });
  }
  for (const r of labelledRows) r.kinds.sort((a, b) => (a === 'outside' ? -1 : b === 'outside' ? 1 : a.localeCompare(b)));
  drawLabelled();
}

async function countSeen() {
  // How many slots of the range labelled each IP of the page: one /ip/ request per row, at most 40.
  const { from, to } = rangeOf();
  for (const r of labelledRows.slice(0, 40)) {
    const docs = await api('ip/' + encodeURIComponent(r.doc.ip) + '?from=' + from + '&to=' + to);
    const slots = new Set();
    for (const d of docs || []) if (d.site === state.site && (d.labels || []).length) slots.add(d.timeSlot);
    r.seen = slots.size;
  }
  drawLabelled();
}

function drawTop(id, docs, cols) {
  const tb = $(id).tBodies[0];
  clear(tb);
  for (const d of docs || []) {
    tb.append(el('tr', null, el('td', null, ipLink(d.ip)), ...cols.map((c) => el('td', { class: 'num', text: c(d) })), el('td', null, chips(d.labels))));
  }
}

async function loadSlot() {
  const site = encodeURIComponent(state.site);
  const slot = state.slot === null ? 'latest' : String(state.slot);
  fillSlotPicker();
  const slotDoc = selectedSlotDoc();
  drawStatus(slotDoc, siteInfo());
  if (state.ip) return loadIp();
  await loadLabelled();
  const [ins, outs] = await Promise.all([
    api('sites/' + site + '/slots/' + slot + '/top?kind=inside&by=octets&n=10'),
    api('sites/' + site + '/slots/' + slot + '/top?kind=outside&by=fromOctets&n=10'),
  ]);
  drawTop('top-inside', ins, [(d) => bytes(d.octets), (d) => num(d.packets), (d) => num(d.flows), (d) => num(d.peers)]);
  drawTop('top-outside', outs, [(d) => bytes(d.fromOctets), (d) => num(d.fromPackets), (d) => num(d.touchPeers)]);
  document.body.dataset.loaded = 'overview';
  markTiming();
  countSeen().catch(showError);
}

// ---- IP page ---------------------------------------------------------------------------------
async function loadIp() {
  $('overview').hidden = true;
  $('ipview').hidden = false;
  $('ip-title').textContent = state.ip;
  $('ipinput').value = state.ip;
  const q = new URLSearchParams({ site: state.site });
  if (state.slot !== null) q.set('slot', String(state.slot));
  $('back').setAttribute('href', '/?' + q.toString());
  const { from, to } = rangeOf();
  const docs = (await api('ip/' + encodeURIComponent(state.ip) + '?from=' + from + '&to=' + to)) || [];
  const summary = $('ip-summary');
  clear(summary);
  const mine = docs.filter((d) => d.site === state.site);
  const sites = [...new Set(docs.map((d) => d.site))];
  const labelledSlots = new Set(mine.filter((d) => (d.labels || []).length).map((d) => d.timeSlot));
  summary.append(tile('Documents in range', num(docs.length)), tile('Sites where seen', sites.join(', ') || 'none'),
    tile('Slots labelled (this site)', num(labelledSlots.size) + ' of ' + num(slotDocs.length), labelledSlots.size ? 'bad' : 'ok'));
  // The strip: one cell per slot of the range.
  const strip = $('ip-strip');
  clear(strip);
  const bySlot = new Map();
  for (const d of mine) { if (!bySlot.has(d.timeSlot)) bySlot.set(d.timeSlot, []); bySlot.get(d.timeSlot).push(d); }
  const sel = state.slot === null ? (slotDocs.length ? slotDocs[slotDocs.length - 1].timeSlot : null) : state.slot;
  for (const s of slotDocs) {
    const ds = bySlot.get(s.timeSlot) || [];
    const labs = [...new Set(ds.flatMap((d) => d.labels || []))];
    const cell = el('a', { class: 'cell' + (labs.length ? ' lab' : '') + (s.timeSlot === sel ? ' sel' : ''), href: '/?' + new URLSearchParams({ site: state.site, ip: state.ip, slot: String(s.timeSlot) }).toString() },
      el('div', { text: slotLabel(s.timeSlot) }), el('div', { text: labs.length ? labs.join(', ') : ds.length ? 'seen' : '—' }));
    strip.append(cell);
  }
  // The selected slot: each document's figures, peers, ARP facts.
  const box = $('ip-slot');
  clear(box);
  const cur = bySlot.get(sel) || [];
  if (!cur.length) box.append(el('p', { class: 'muted', text: 'No document of this IP in the selected slot.' }));
  for (const d of cur) {
    box.append(el('h3', null, d.kind + ' document ', chips(d.labels)));
    const figs = el('div', { class: 'status' });
    for (const k of ['flows', 'packets', 'octets', 'fromFlows', 'fromPackets', 'fromOctets', 'inOctets', 'peers', 'answeredPeers', 'touchPeers', 'startedTargets', 'unusedTouched', 'protocol']) {
      if (d[k] !== undefined) figs.append(tile(k, /ctets$/.test(k) ? bytes(d[k]) : num(d[k])));
    }
    box.append(figs);
    for (const l of d.labels || []) box.append(el('p', null, el('b', { text: l + ': ' }), reasonText(l, d.reasons && d.reasons[l]), el('br'), el('i', { text: adviceOf(l) })));
    const peers = d.arrayPeer || d.ipList;
    if (Array.isArray(peers) && peers.length) {
      const p = el('p', null, el('b', { text: 'Peers (' + peers.length + (d.peerCapHit ? ', capped' : '') + '): ' }));
      peers.slice(0, 200).forEach((ip, i) => { if (i) p.append(', '); p.append(/^[0-9a-fA-F.:]+$/.test(ip) ? ipLink(ip) : String(ip)); });
      box.append(p);
    }
    if (Array.isArray(d.arpLocations)) {
      const t = el('table', { class: 'data' }, el('thead', null, el('tr', null, el('th', { text: 'MAC' }), el('th', { text: 'Device' }), el('th', { text: 'Interfaces' }))));
      const tb = el('tbody');
      for (const a of d.arpLocations) tb.append(el('tr', null, el('td', { text: a.mac }), el('td', { text: a.device }), el('td', { text: (a.interfaceList || []).join(', ') })));
      t.append(tb);
      box.append(el('h3', { text: 'ARP / MAC facts' }), t);
    }
  }
  await drawIpExtras();
  await drawPeers(sel);
  const raw = $('ip-raw');
  clear(raw);
  raw.append(el('pre', { class: 'json', text: cur.map((d) => JSON.stringify(d, null, 2)).join('\n') || '(none)' }));
  document.body.dataset.loaded = 'ip';
}

// The IP's peers with volumes: kept by the collector for the latest slot it judged only.
async function drawPeers(sel) {
  const box = $('ip-peers');
  clear(box);
  const latest = slotDocs.length ? slotDocs[slotDocs.length - 1].timeSlot : null;
  if (sel === null || sel !== latest) {
    box.append(el('p', { class: 'muted', text: 'Peer volumes are kept for the latest slot only: select it to see them.' }));
    return;
  }
  const p = await api('sites/' + encodeURIComponent(state.site) + '/slots/latest/peers/' + encodeURIComponent(state.ip) + '?n=50');
  if (!p || p.timeSlot !== sel) {
    box.append(el('p', { class: 'muted', text: 'No conversation of this IP in the latest slot judged since the collector started.' }));
    return;
  }
  const t = el('table', { class: 'data', id: 'peers' }, el('thead', null, el('tr', null,
    el('th', { text: 'Peer' }), el('th', { text: 'Octets sent' }), el('th', { text: 'Packets sent' }),
    el('th', { text: 'Octets received' }), el('th', { text: 'Packets received' }), el('th', { text: 'Flows' }))));
  const tb = el('tbody');
  for (const x of p.peers) {
    tb.append(el('tr', null, el('td', null, ipLink(x.ip)), el('td', { class: 'num', text: bytes(x.sent.octets) }),
      el('td', { class: 'num', text: num(x.sent.packets) }), el('td', { class: 'num', text: bytes(x.received.octets) }),
      el('td', { class: 'num', text: num(x.received.packets) }), el('td', { class: 'num', text: num(x.sent.flows + x.received.flows) })));
  }
  t.append(tb);
  box.append(el('p', { class: 'muted', text: 'Slot ' + slotLabel(p.timeSlot) + ': ' + num(p.peerCount) + ' peers as ' + p.kind + ' IP' + (p.peerCount > p.peers.length ? ', the ' + p.peers.length + ' with most octets shown' : '') + '.' }), t);
}

// ---- attacks, offenders, daily report ---------------------------------------------------------
const PROTOS = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 47: 'GRE', 50: 'ESP', 58: 'ICMPv6', 132: 'SCTP' };
function rate(v, unit) {
  if (typeof v !== 'number' || !isFinite(v)) return String(v);
  const u = ['', 'k', 'M', 'G', 'T'];
  let i = 0;
  while (Math.abs(v) >= 1000 && i < u.length - 1) { v /= 1000; i++; }
  return (i ? v.toFixed(1) : num(v)) + ' ' + u[i] + unit;
}
function fmtMs(ms) { return typeof ms === 'number' ? fmtTime(Math.floor(ms / 1000)) : '—'; }
function fmtDur(s) {
  if (s < 120) return num(Math.round(s)) + ' s';
  if (s < 7200) return num(Math.round(s / 60)) + ' min';
  return num(Math.round(s / 360) / 10) + ' h';
}
function dirWord(d) { return d.direction === 'out' ? 'outbound (inside source)' : 'inbound (victim)'; }
// An IP of another site links to its own site's IP page.
function siteIpLink(ip, site) {
  const q = new URLSearchParams({ site: site || state.site, ip: ip, range: String(state.range) });
  return el('a', { href: '/?' + q.toString(), 'data-ip': ip, text: ip });
}
function topList(list, key, fmt, max) {
  if (!Array.isArray(list) || !list.length) return el('span', { class: 'muted', text: 'none counted yet' });
  const f = document.createDocumentFragment();
  list.slice(0, max).forEach((x, i) => {
    if (i) f.append(', ');
    f.append(fmt(x[key]), ' (' + num(x.packets) + ' packets)');
  });
  if (list.length > max) f.append(', …');
  return f;
}
const protoName = (p) => PROTOS[p] || 'protocol ' + p;
// Following the latest slot, the range runs to now: the open slot's attacks (the collector's
// live table, docs/api.md) are listed before their slot is stored.
function attacksQuery(extra) {
  const { from, to } = rangeOf();
  const end = state.slot === null ? Math.max(to, Math.floor(Date.now() / 1000)) : to;
  return 'attacks?from=' + Math.max(from, end - RANGE_MAX_S + 1) + '&to=' + end + (extra || '');
}

// One ongoing event as a card: who, what, since when, how hard, from where.
function attackCard(a) {
  const since = Math.max(0, (a.updated || a.detected || a.start) - a.start) / 1000;
  const p = a.peak || {}, c = a.current || {}, th = a.thresholds || {};
  return el('div', { class: 'attack', 'data-attack': a.id, 'data-ip': a.ip },
    el('div', { class: 'attack-head' }, el('span', { class: 'chip sev-high', text: 'ONGOING' }), ' ',
      siteIpLink(a.ip, a.site), ' — ' + dirWord(a) + ', class ' + a['class'] + ', site ' + a.site),
    el('div', { class: 'status' },
      tile('Started', fmtMs(a.start)),
      tile('Going on for', fmtDur(since) + ' (last update ' + fmtMs(a.updated || a.detected) + ')'),
      tile('Peak', rate(p.pps, 'packets/s') + ', ' + rate(p.bps, 'bit/s') + ', ' + rate(p.fps, 'flows/s'), 'bad'),
      tile('Now', rate(c.pps, 'packets/s') + ', ' + rate(c.bps, 'bit/s')),
      tile('Thresholds', [[th.pps, 'packets/s'], [th.bps, 'bit/s'], [th.fps, 'flows/s']].map(([v, u]) => (v ? rate(v, u) : u + ' off')).join(', '))),
    el('p', null, el('b', { text: 'Top sources: ' }), topList(a.sources, 'ip', (ip) => siteIpLink(ip, a.site), 10)),
    el('p', null, el('b', { text: 'Ports: ' }), topList(a.ports, 'port', String, 8), el('b', { text: ' · Protocols: ' }), topList(a.protocols, 'proto', protoName, 4)));
}
function attackRow(a) {
  const p = a.peak || {};
  return el('tr', { 'data-attack': a.id, 'data-ip': a.ip },
    el('td', null, siteIpLink(a.ip, a.site)), el('td', { text: a.site }), el('td', { text: dirWord(a) }), el('td', { text: a['class'] }),
    el('td', { text: fmtMs(a.start) }), el('td', { class: 'num', text: a.end ? fmtDur((a.end - a.start) / 1000) : '—' }),
    el('td', { class: 'num', text: rate(p.pps, 'packets/s') }), el('td', { class: 'num', text: rate(p.bps, 'bit/s') }),
    el('td', { class: 'num', text: rate(p.fps, 'flows/s') }), el('td', { class: 'num', text: num(a.packets) }),
    el('td', null, topList(a.sources, 'ip', (ip) => siteIpLink(ip, a.site), 5)),
    el('td', null, topList(a.ports, 'port', String, 4)), el('td', null, topList(a.protocols, 'proto', protoName, 3)));
}

async function loadAttacks() {
  document.title = 'nfsentry — attacks';
  $('attacks-all').checked = state.all;
  const { from, to } = rangeOf();
  const list = (await api(attacksQuery(state.all ? '' : '&site=' + encodeURIComponent(state.site)))) || [];
  $('attacks-scope').textContent = '(' + (state.all ? 'every site' : 'site ' + state.site) + ', ' + fmtTime(from) + ' to ' + fmtTime(to) + ')';
  const ongoing = list.filter((a) => a.end === undefined), ended = list.filter((a) => a.end !== undefined);
  const box = $('ongoing');
  clear(box);
  for (const a of ongoing) box.append(attackCard(a));
  $('ongoing-count').textContent = '(' + ongoing.length + ')';
  $('ongoing-empty').hidden = ongoing.length !== 0;
  fillRows('recent', ended.map(attackRow));
  $('recent-count').textContent = '(' + ended.length + ', most recent first)';
  $('recent-empty').hidden = ended.length !== 0;
  document.body.dataset.loaded = 'attacks';
}

// The overview's banner: the site's events with no end yet, in the overview's range.
async function drawBanner() {
  const box = $('attack-banner');
  clear(box);
  const list = (await api(attacksQuery('&site=' + encodeURIComponent(state.site)))) || [];
  const ongoing = list.filter((a) => a.end === undefined);
  box.hidden = ongoing.length === 0;
  if (!ongoing.length) return;
  box.append(el('b', { text: plural(ongoing.length, 'ongoing attack', 'ongoing attacks') + ': ' }));
  ongoing.slice(0, 5).forEach((a, i) => {
    if (i) box.append('; ');
    box.append(siteIpLink(a.ip, a.site), ' ' + dirWord(a) + ' ' + a['class'] + ', peak ' + rate((a.peak || {}).pps, 'packets/s') + ' since ' + fmtMs(a.start));
  });
  box.append(' — ', el('a', { href: pageHref('attacks'), text: 'see the attacks page' }));
}

let offenderRows = [];
let offenderTotal = 0;
// One page of the offender database, sorted by the server.
async function loadOffenders() {
  document.title = 'nfsentry — offenders';
  $('blocked-only').checked = state.blocked;
  const q = new URLSearchParams({ sort: state.osort, offset: String(state.oo), limit: String(state.rows) });
  if (state.blocked) q.set('blocked', '1');
  const page = await apiPage('offenders?' + q.toString());
  if (page && !page.rows.length && page.total && state.oo) { state.oo = 0; writeUrl(false); return loadOffenders(); }
  offenderRows = page ? page.rows : [];
  offenderTotal = page ? page.total : 0;
  $('offenders-empty').textContent = page === null ? 'No offender database: rule III is off (reputation.enabled: false) or nothing was recorded yet.' : state.blocked ? 'No address is blocked.' : 'No offender recorded.';
  drawOffenders();
  document.body.dataset.loaded = 'offenders';
}
function drawOffenders() {
  for (const th of $('offenders').tHead.rows[0].cells) th.classList.toggle('sorted', th.dataset.sort === state.osort);
  fillRows('offenders', offenderRows.map((o) => {
    const site = o.sites.includes(state.site) ? state.site : o.sites[0];
    const per = Object.entries(o.siteSlots || {}).map(([s, v]) => s + ' (' + plural(v.slots, 'slot', 'slots') + ')').join(', ');
    return el('tr', { 'data-ip': o.ip, class: o.blocked ? 'blocked' : '' },
      el('td', null, siteIpLink(o.ip, site)),
      el('td', { class: 'num', text: num(o.offences) + (o.blocks > 1 ? ' (' + num(o.blocks) + ' blocks)' : '') }),
      el('td', { text: per || o.sites.join(', ') }),
      el('td', null, chips(o.labels)),
      o.exempt ? stateCell('never blocked (allow-listed or inside)', 'state-ok')
        : o.blocked ? el('td', null, el('span', { class: 'state-bad', text: 'blocked' }), ' until ' + fmtTime(Date.parse(o.blockedUntil) / 1000))
          : el('td', { text: o.blockedUntil ? 'not blocked (last block ended ' + fmtTime(Date.parse(o.blockedUntil) / 1000) + ')' : 'not blocked' }),
      el('td', { text: o.reason || '—' }));
  }));
  $('offenders-count').textContent = '(' + num(offenderTotal) + (state.blocked ? ' blocked' : '') + ')';
  $('offenders-empty').hidden = offenderTotal !== 0;
  drawPager('offenders', state.oo, offenderRows.length, offenderTotal, 'offenders');
}

function slotTime(iso) { return typeof iso === 'string' ? iso.slice(5, 16).replace('T', ' ') + 'Z' : '—'; }
async function loadDaily() {
  document.title = 'nfsentry — daily report';
  $('daily-date').value = state.date;
  const d = state.site ? await api('sites/' + encodeURIComponent(state.site) + '/daily/latest' + (state.date ? '?date=' + state.date : '')) : null;
  const sum = $('daily-summary');
  clear(sum);
  for (const e of document.querySelectorAll('#daily-offenders')) e.remove();
  if (!d) {
    $('daily-title').textContent = '(site ' + state.site + ')';
    sum.append(tile('Daily report', 'none stored for ' + (state.date || 'any day') + ': the analysis runs after each day ends (docs/daily.md)', 'warn'));
    fillRows('cc', []);
    fillRows('macs', []);
    $('cc-empty').hidden = $('macs-empty').hidden = false;
    document.body.dataset.loaded = 'daily';
    return;
  }
  const s = d.summary;
  $('daily-title').textContent = '(site ' + d.site + ', ' + s.date + ', ' + s.timeZone + ')';
  sum.append(
    tile('Day', s.date + ' (' + s.timeZone + ')'),
    tile('Seen whole?', s.partial ? 'PARTIAL: ' + num(s.slotsPresent) + ' of ' + num(s.slotsExpected) + ' slots stored' + (s.slotsPartial ? ', ' + num(s.slotsPartial) + ' partial' : '') + ' — figures cover the stored slots only' : 'yes: ' + num(s.slotsPresent) + ' of ' + num(s.slotsExpected) + ' slots', s.partial ? 'warn' : 'ok'),
    tile('Possible C&C contact', num(s.ccSuspects) + (s.ccSuspectsDropped ? ' (' + num(s.ccSuspectsDropped) + ' more not listed)' : ''), s.ccSuspects ? 'bad' : 'ok'),
    tile('MACs with several IPs', num(s.macMultiIp), s.macMultiIp ? 'warn' : 'ok'),
    tile('Offenders that day', num(s.offenders)),
    tile('Inside IPs seen', num(s.insideIps)));
  if (Array.isArray(s.topOffenders) && s.topOffenders.length) {
    const p = el('p', { id: 'daily-offenders' }, el('b', { text: 'Most active offenders: ' }));
    s.topOffenders.slice(0, 10).forEach((o, i) => { if (i) p.append('; '); p.append(siteIpLink(o.ip, d.site), ' ' + o.labels + ', ' + plural(o.slots, 'slot', 'slots') + ', ' + num(o.packets) + ' packets'); });
    sum.after(p);
  }
  const sus = d.ccSuspect.slice().sort((a, b) => a.flows - b.flows || (a.ip < b.ip ? -1 : 1));
  fillRows('cc', sus.map((x) => {
    const contacts = el('td');
    for (const c of x.contacts || []) contacts.append(el('span', { class: 'reason' }, siteIpLink(c.ip, d.site), ' — ' + c.how + ', ' + plural(c.slots, 'slot', 'slots') + (c.offender ? ', ' : ''), c.offender ? el('span', { class: 'state-bad', text: 'an offender' }) : ''));
    const reg = x.beacon ? 'REGULAR (beacon): every ' + fmtDur(x.meanGapSlots * SLOT_S) + ', variation ' + num(x.gapCv, 2)
      : x.gapCv === null ? (x.contactSlots > 1 ? 'every ' + fmtDur(x.meanGapSlots * SLOT_S) + ' on average; too few contacts to judge' : 'one contact slot')
        : 'every ' + fmtDur(x.meanGapSlots * SLOT_S) + ' on average, variation ' + num(x.gapCv, 2);
    return el('tr', { 'data-ip': x.ip, class: x.beacon ? 'beacon' : '' },
      el('td', null, siteIpLink(x.ip, d.site), x.receivedOnly ? el('span', { class: 'reason muted', text: 'received only' }) : ''),
      contacts, el('td', { class: 'num', text: num(x.contactSlots) }),
      el('td', { class: 'num', text: num(x.flows) + ' / ' + num(x.inFlows) }),
      el('td', { class: 'num', text: num(x.packets) + ' / ' + num(x.inPackets) }),
      el('td', { class: 'num', text: bytes(x.octets) + ' / ' + bytes(x.inOctets) }),
      el('td', { text: slotTime(x.first) + ' – ' + slotTime(x.last) }),
      el('td', null, x.beacon ? el('span', { class: 'state-bad', text: reg }) : reg));
  }));
  $('cc-count').textContent = '(' + sus.length + ', fewest flows first)';
  $('cc-empty').hidden = sus.length !== 0;
  fillRows('macs', d.macMultiIp.map((m) => {
    const ips = el('td');
    for (const x of m.ips || []) ips.append(el('span', { class: 'reason' }, siteIpLink(x.ip, d.site), ' ' + slotTime(x.first) + ' – ' + slotTime(x.last)));
    if (m.ipCount > (m.ips || []).length) ips.append(el('span', { class: 'reason muted', text: num(m.ipCount - m.ips.length) + ' more not kept' }));
    return el('tr', { 'data-mac': m.mac }, el('td', { text: m.mac }), ips, el('td', { text: (m.places || []).join(', ') || '—' }));
  }));
  $('mac-count').textContent = '(' + d.macMultiIp.length + ')';
  $('macs-empty').hidden = d.macMultiIp.length !== 0;
  document.body.dataset.loaded = 'daily';
}

// The IP page's offender record and attack events, when they exist.
async function drawIpExtras() {
  const [off, atk] = await Promise.all([
    api('offenders?ip=' + encodeURIComponent(state.ip)),
    api(attacksQuery('&ip=' + encodeURIComponent(state.ip))),
  ]);
  const o = off && off[0];
  const ob = $('ip-offender-body');
  clear(ob);
  $('ip-offender').hidden = !o;
  if (o) {
    ob.append(el('div', { class: 'status' },
      tile('Offences', num(o.offences) + ' slots' + (o.blocks ? ', ' + plural(o.blocks, 'block', 'blocks') : '')),
      tile('Block state', o.exempt ? 'never blocked (allow-listed)' : o.blocked ? 'BLOCKED until ' + fmtTime(Date.parse(o.blockedUntil) / 1000) : 'not blocked', o.blocked ? 'bad' : 'ok'),
      tile('Sites', Object.entries(o.siteSlots || {}).map(([s, v]) => s + ' (' + plural(v.slots, 'slot', 'slots') + ')').join(', ') || o.sites.join(', ')),
      tile('First – last slot', slotLabel(o.firstSlot) + ' – ' + slotLabel(o.lastSlot))),
    el('p', null, el('b', { text: 'Labels: ' }), chips(o.labels), el('b', { text: ' Why: ' }), o.reason || '—'));
    const hist = (o.history || []).slice(-10).reverse();
    if (hist.length) {
      const t = el('table', { class: 'data', id: 'ip-history' }, el('thead', null, el('tr', null, el('th', { text: 'Slot' }), el('th', { text: 'Site' }), el('th', { text: 'Labels' }), el('th', { text: 'Reason' }))));
      const tb = el('tbody');
      for (const h of hist) tb.append(el('tr', null, el('td', { text: slotLabel(h.timeSlot) }), el('td', { text: h.site }), el('td', null, chips(h.labels)), el('td', { text: h.reason || '' })));
      t.append(tb);
      ob.append(el('p', { class: 'muted', text: 'Latest offences (at most 10):' }), t);
    }
  }
  const ab = $('ip-attacks-body');
  clear(ab);
  $('ip-attacks').hidden = !atk || !atk.length;
  if (atk && atk.length) {
    for (const a of atk.filter((x) => x.end === undefined)) ab.append(attackCard(a));
    const ended = atk.filter((x) => x.end !== undefined);
    if (ended.length) {
      const t = $('recent').cloneNode(true);
      t.id = 'ip-attacks-table';
      clear(t.tBodies[0]);
      for (const a of ended) t.tBodies[0].append(attackRow(a));
      ab.append(t);
    }
  }
}

// ---- collector page ----------------------------------------------------------------------------
function counterTable(obj, names) {
  const t = el('table', { class: 'data' }, el('thead', null, el('tr', null, el('th', { text: 'Counter' }), el('th', { text: 'Value' }))));
  const tb = el('tbody');
  for (const k of names || Object.keys(obj || {})) {
    const v = obj[k];
    tb.append(el('tr', null, el('td', { text: words(k) }), el('td', { class: 'num', text: /Bytes$|Octets$/.test(k) ? bytes(v) : /Us$/.test(k) ? num(v / 1000) + ' ms' : /Ms$/.test(k) ? num(v) + ' ms' : num(v) })));
  }
  t.append(tb);
  return t;
}
function fillRows(id, rows) {
  const tb = $(id).tBodies[0];
  clear(tb);
  for (const r of rows) tb.append(r);
}
function stateCell(word, cls) { return el('td', null, el('span', { class: cls, text: word })); }

async function refreshCollector() {
  collectorLive = await api('collector');
  drawCollector();
}

function drawCollector() {
  document.title = 'nfsentry — collector';
  $('collector-back').setAttribute('href', '/?' + new URLSearchParams(state.site ? { site: state.site } : {}).toString());
  const c = collectorLive;
  const sum = $('collector-summary');
  clear(sum);
  if (!c) {
    sum.append(tile('Collector', 'no live collector runs with this server: only stored slots are shown', 'warn'));
    for (const id of ['exporters', 'drops', 'csites', 'devices', 'cstore', 'ces']) fillRows(id, []);
    clear($('ccounters'));
    document.body.dataset.loaded = 'collector';
    return;
  }
  const now = c.nowS, k = c.counters || {};
  const udp = k.udp || {}, dec = k.decoder || {}, eng = k.engine || {};
  $('collector-age').textContent = '(counters since start, published ' + fmtAgo(Math.max(0, now - c.publishedAtS)) + ')';
  const kernel = (udp.udpKernelDrops || 0) + (udp.udpTruncated || 0);
  const malformed = sumOf(dec, Object.keys(DROPS));
  const lost = (dec.lostDatagrams || 0) + (dec.lostRecords || 0);
  const devs = c.devices || [];
  const failed = devs.filter((d) => d.polled && !d.ok).length;
  sum.append(
    tile('UDP datagrams received', num(udp.udpDatagrams || 0) + ' (' + bytes(udp.udpBytes || 0) + ')'),
    tile('Receive-buffer drops', kernel ? num(kernel) + ' datagrams dropped' : 'none', kernel ? 'warn' : 'ok'),
    tile('Datagrams decoded', num(dec.datagrams || 0)),
    tile('Records decoded', num(dec.records || 0)),
    tile('Sequence loss', lost ? plural(dec.lostDatagrams || 0, 'datagram', 'datagrams') + ', ' + plural(dec.lostRecords || 0, 'record', 'records') : 'none', lost ? 'warn' : 'ok'),
    tile('Malformed (all reasons)', malformed ? num(malformed) + ' dropped' : 'none', malformed ? 'warn' : 'ok'),
    tile('Late records', num((eng.lateRecords || 0) + (eng.futureRecords || 0)), (eng.lateRecords || eng.futureRecords) ? 'warn' : ''),
    tile('Exporters known', num(c.exportersKnown || 0)),
    tile('SSH polls', devs.length ? (failed ? num(failed) + ' of ' + num(devs.length) + ' devices failing' : num(devs.length) + ' devices') : 'no device configured', failed ? 'bad' : ''),
  );
  // Exporters, most datagrams first.
  const ex = (c.exporters || []).slice().sort((a, b) => b.datagrams - a.datagrams);
  $('exporters-count').textContent = '(' + num(c.exportersKnown || 0) + (c.exportersKnown > ex.length ? ', ' + num(ex.length) + ' listed' : '') + ')';
  fillRows('exporters', ex.map((e) => el('tr', { 'data-exporter': e.exporter + ':' + e.port + '/' + e.domain },
    el('td', { text: e.exporter }), el('td', { class: 'num', text: String(e.port) }), el('td', { class: 'num', text: String(e.domain) }),
    el('td', { text: e.version === 10 ? 'IPFIX' : 'NetFlow v' + e.version }),
    el('td', { class: 'num', text: num(e.datagrams) }), el('td', { class: 'num', text: num(e.records) }),
    el('td', { class: 'num', text: num(e.lostDatagrams) }), el('td', { class: 'num', text: num(e.lostRecords) }),
    el('td', { class: 'num', text: num(e.restarts) }), el('td', { class: 'num', text: num(e.templates) }),
    el('td', { class: 'num', text: e.samplingRate > 1 ? '1 in ' + num(e.samplingRate) : 'unsampled (1)' }),
    el('td', { text: e.lastSeenS ? fmtAgo(Math.max(0, now - e.lastSeenS)) : 'never' }))));
  $('exporters-empty').hidden = ex.length !== 0;
  // Drops by reason: the receive buffer's, then every decoder reason, then the engine's.
  const drops = [['udpKernelDrops', udp.udpKernelDrops, 'datagrams the kernel dropped before they were read'],
    ['udpTruncated', udp.udpTruncated, 'datagrams truncated by the receive buffer']];
  for (const r of Object.keys(DROPS)) drops.push([r, dec[r], DROPS[r]]);
  drops.push(['unmatchedRecords', eng.unmatchedRecords, 'records with neither end inside a site'],
    ['slotAllocFailures', eng.slotAllocFailures, 'records lost: a slot could not be created']);
  drops.sort((a, b) => (b[1] || 0) - (a[1] || 0));
  fillRows('drops', drops.map(([r, v, what]) => el('tr', { 'data-reason': r, class: v ? 'nonzero' : '' },
    el('td', { text: r }), el('td', { class: 'num', text: v === undefined ? '—' : num(v) }), el('td', { text: what }))));
  fillRows('csites', (c.sites || []).map((x) => el('tr', null,
    el('td', null, el('a', { href: '/?' + new URLSearchParams({ site: x.site }).toString(), text: x.site })),
    el('td', { class: 'num', text: num(x.slots) }),
    el('td', { text: x.slots ? slotLabel(x.timeSlot) : 'none since start' }),
    el('td', { text: x.slots ? fmtAgo(Math.max(0, now - x.closedAtS)) : '—' }),
    el('td', { class: 'num', text: num(x.insideIps) }), el('td', { class: 'num', text: num(x.outsideIps) }),
    el('td', { class: 'num', text: num(x.conversations) }), el('td', { class: 'num', text: num(x.records) }),
    el('td', { class: 'num', text: (x.capsHit.inside + x.capsHit.outside + x.capsHit.pairs) ? 'inside ' + num(x.capsHit.inside) + ', outside ' + num(x.capsHit.outside) + ', pairs ' + num(x.capsHit.pairs) : 'none' }))));
  fillRows('devices', devs.map((d) => el('tr', null,
    el('td', { text: d.site }), el('td', { text: d.device }),
    !d.polled ? stateCell('not polled yet', 'state-warn') : d.ok ? stateCell('ok', 'state-ok') : stateCell('failed', 'state-bad'),
    el('td', { text: d.polled ? fmtTime(d.lastPollS) + ' — ' + fmtAgo(Math.max(0, now - d.lastPollS)) : '—' }),
    el('td', { class: 'num', text: d.polled ? num(d.tookMs) + ' ms' : '—' }),
    el('td', { class: 'num', text: num(d.entries) }), el('td', { class: 'num', text: num(d.polls) }),
    el('td', { class: 'num', text: num(d.failures) }), el('td', { text: d.message || '' }))));
  $('devices-empty').hidden = devs.length !== 0;
  const st = $('cstore'), es = $('ces');
  st.replaceWith(Object.assign(counterTable(k.store || {}), { id: 'cstore' }));
  es.replaceWith(Object.assign(counterTable(k.es || {}), { id: 'ces', hidden: !k.es }));
  $('ces-none').hidden = !!k.es;
  const all = $('ccounters');
  clear(all);
  for (const m of Object.keys(k)) all.append(el('div', null, el('h3', { text: m }), counterTable(k[m])));
  document.body.dataset.loaded = 'collector';
}

// The page's own timing, as attributes a headless browser's --dump-dom shows (tools/bench_web):
// first contentful paint and the moment the overview's tables were filled, in ms from navigation.
function markTiming() {
  if (document.body.dataset.readyMs || typeof performance === 'undefined') return;
  document.body.dataset.readyMs = String(Math.round(performance.now()));
  const fcp = performance.getEntriesByType('paint').find((e) => e.name === 'first-contentful-paint');
  if (fcp) document.body.dataset.fcpMs = String(Math.round(fcp.startTime));
}

// ---- load and refresh ------------------------------------------------------------------------
async function loadSites() {
  state.sites = (await api('sites')) || [];
  const sel = $('site');
  clear(sel);
  for (const s of state.sites) sel.append(el('option', { value: s.site, text: s.site + (s.timeSlot === null ? ' (no slot yet)' : '') }));
  if (!state.sites.find((s) => s.site === state.site) && state.sites.length) state.site = state.sites[0].site;
  sel.value = state.site;
  if (state.site) localStorage.setItem('nfsentry.site', state.site);
}

async function loadAll() {
  try {
    showError(null);
    await loadSites();
    $('range').value = String(state.range);
    writeUrl(false);
    collectorLive = await api('collector');
    for (const p of PAGES) $('nav-' + p).setAttribute('href', pageHref(p));
    $('overview').hidden = !!state.ip || !!state.page;
    $('ipview').hidden = !state.ip || !!state.page;
    for (const p of PAGES) $(p + 'view').hidden = state.page !== p;
    $('slot-picker').hidden = !!state.page;
    $('range-picker').hidden = !!state.page && state.page !== 'attacks';
    lastLatest = siteInfo() ? siteInfo().timeSlot : null;
    if (state.page === 'collector') return drawCollector();
    if (state.page === 'offenders') return await loadOffenders();
    if (state.page === 'daily') return await loadDaily();
    if (state.page === 'attacks') return await loadAttacks();
    if (!state.site) { drawStatus(null, null); document.body.dataset.loaded = 'empty'; return; }
    if (siteInfo().timeSlot === null) {
      // Configured, nothing stored yet: say so rather than ask for slots that do not exist.
      slotDocs = [];
      labelledRows = [];
      labelledTotal = 0;
      fillSlotPicker();
      drawStatus(null, siteInfo());
      drawCharts();
      drawLabelled();
      drawTop('top-inside', [], []);
      drawTop('top-outside', [], []);
      $('labelled-empty').textContent = 'No slot of this site has closed yet.';
      $('labelled-pager').hidden = $('labelled-pager-top').hidden = true;
      document.body.dataset.loaded = 'overview';
      return;
    }
    const { from, to } = rangeOf();
    advice = (await api('sites/' + encodeURIComponent(state.site) + '/advice')) || {};
    slotDocs = (await api('sites/' + encodeURIComponent(state.site) + '/slots?from=' + from + '&to=' + to)) || [];
    lastLatest = siteInfo() ? siteInfo().timeSlot : null;
    if (!state.ip) { drawCharts(); await drawBanner(); }
    await loadSlot();
  } catch (e) { showError(e); }
}

// After each slot close the latest slot moves: reload what depends on it (the rest is cached).
async function poll() {
  try {
    const sites = (await api('sites')) || [];
    const s = sites.find((x) => x.site === state.site);
    $('refresh').textContent = 'checked ' + new Date().toLocaleTimeString();
    if (state.page === 'collector') return;
    if (s && s.timeSlot !== lastLatest) await loadAll();
  } catch (e) { showError(e); }
}

function bind() {
  $('site').addEventListener('change', (e) => { state.site = e.target.value; state.slot = null; state.ip = ''; state.lo = 0; writeUrl(true); loadAll(); });
  $('slot').addEventListener('change', (e) => { state.slot = e.target.value === '' ? null : Number(e.target.value); state.lo = 0; writeUrl(true); loadSlot().catch(showError); });
  $('range').addEventListener('change', (e) => { state.range = Number(e.target.value); writeUrl(true); loadAll(); });
  // Sorting, filtering and paging ask the server for the page anew (the first one after a change).
  const relabel = () => { writeUrl(false); loadLabelled().catch(showError); };
  $('label-filter').addEventListener('change', (e) => { state.label = e.target.value; state.lo = 0; relabel(); });
  $('kind-filter').addEventListener('change', (e) => { state.kind = e.target.value; state.lo = 0; relabel(); });
  for (const th of $('labelled').tHead.rows[0].cells) {
    if (th.dataset.sort) th.addEventListener('click', () => { state.sort = th.dataset.sort; state.lo = 0; relabel(); });
  }
  for (const where of ['', '-top']) {
    $('labelled-prev' + where).addEventListener('click', () => { state.lo = Math.max(0, state.lo - state.rows); relabel(); });
    $('labelled-next' + where).addEventListener('click', () => { state.lo += state.rows; relabel(); });
  }
  const reoffend = () => { writeUrl(false); loadOffenders().catch(showError); };
  $('blocked-only').addEventListener('change', (e) => { state.blocked = e.target.checked; state.oo = 0; writeUrl(true); loadAll(); });
  for (const th of $('offenders').tHead.rows[0].cells) {
    if (th.dataset.sort) th.addEventListener('click', () => { state.osort = th.dataset.sort; state.oo = 0; reoffend(); });
  }
  for (const where of ['', '-top']) {
    $('offenders-prev' + where).addEventListener('click', () => { state.oo = Math.max(0, state.oo - state.rows); reoffend(); });
    $('offenders-next' + where).addEventListener('click', () => { state.oo += state.rows; reoffend(); });
  }
  $('daily-date').addEventListener('change', (e) => { state.date = e.target.value; writeUrl(true); loadAll(); });
  $('attacks-all').addEventListener('change', (e) => { state.all = e.target.checked; writeUrl(true); loadAll(); });
  $('ipform').addEventListener('submit', (e) => { e.preventDefault(); const v = $('ipinput').value.trim(); if (v) { state.ip = v; writeUrl(true); loadAll(); } });
  // Links inside the page change the state without a reload.
  document.addEventListener('click', (e) => {
    const a = e.target.closest('a');
    if (!a || a.origin !== location.origin || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    history.pushState(null, '', a.getAttribute('href'));
    readUrl();
    loadAll();
  });
  window.addEventListener('popstate', () => { readUrl(); loadAll(); });
}

document.addEventListener('DOMContentLoaded', () => {
  readUrl();
  bind();
  loadAll();
  setInterval(poll, 30000);
  // The collector page's figures are at most a second old on the server: follow them.
  setInterval(() => { if (state.page === 'collector') refreshCollector().catch(showError); }, 5000);
  // Attacks change within seconds (start, updates, end): follow them where they are shown.
  setInterval(() => {
    if (state.slot !== null) return;
    if (state.page === 'attacks') loadAttacks().catch(showError);
    else if (!state.page && state.ip) drawIpExtras().catch(showError);
    else if (!state.page && state.site && siteInfo()) drawBanner().catch(showError);
  }, 5000);
});
