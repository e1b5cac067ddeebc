// warren's dashboard. It polls the management API (once a second) with the
// basic-auth credentials of its login form (kept in sessionStorage, as
// RabbitMQ's UI keeps them), charts the overview's rates with uPlot and keeps
// the queue, connection and channel tables in step, row by row.
'use strict';

/** how often the page polls: every second, or every ?refresh=SECONDS (0.1 at least) */
const REFRESH_MS = Math.max(100, 1000 * (Number(new URLSearchParams(location.search).get('refresh')) || 1));
/** seconds the charts show, up to now */
const WINDOW_S = 120;
const CHART_HEIGHT = 180;
const AUTH = 'warren.auth';

const $ = (id) => document.getElementById(id);
const count = new Intl.NumberFormat('en-US');
const rate = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

class Unauthorised extends Error {}

/** user:password as the Basic scheme sends it: UTF-8, then base64. */
function basic(user, password) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${password}`)));
}

async function api(method, path, auth = sessionStorage.getItem(AUTH)) {
  // credentials 'omit': a 401 then comes back to us instead of opening the browser's password prompt.
  const res = await fetch(`api/${path}`, { method, credentials: 'omit', headers: { authorization: `Basic ${auth}` } });
  if (res.ok) return res.status === 204 ? undefined : res.json();
  const body = await res.json().catch(() => ({}));
  const text = body.reason ?? `${res.status} ${res.statusText}`;
  throw res.status === 401 ? new Unauthorised(text) : new Error(`${method} /api/${path}: ${text}`);
}

function bytes(n) {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

const rateOf = (stats, key) => stats?.[`${key}_details`]?.rate ?? 0;

// --- login -------------------------------------------------------------------

/** Bumped by each login and logout, so a poll of an earlier session stops. */
let session = 0;

function showLogin(message = '') {
  session++;
  sessionStorage.removeItem(AUTH);
  $('dashboard').hidden = true;
  $('who').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('username').focus();
}

$('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const auth = basic($('username').value, $('password').value);
  try {
    const me = await api('GET', 'whoami', auth);
    sessionStorage.setItem(AUTH, auth);
    start(me);
  } catch (err) {
    $('login-error').textContent = err.message;
  }
});

$('logout').addEventListener('click', () => showLogin());

// --- charts ------------------------------------------------------------------

/** A uPlot time chart of `series` ([label, colour, dash?]) over the last WINDOW_S seconds. */
function timeChart(element, series) {
  const data = [[], ...series.map(() => [])];
  const plot = new uPlot(
    {
      width: element.clientWidth,
      height: CHART_HEIGHT,
      series: [{}, ...series.map(([label, stroke, dash]) => ({ label, stroke, dash, width: 2, points: { show: false } }))],
      scales: {
        x: { range: (u, min, max) => [max - WINDOW_S, max] },
        y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] },
      },
      legend: { live: false },
      axes: [{}, { size: 60 }],
    },
    data,
    element,
  );
  return {
    add(seconds, values) {
      data[0].push(seconds);
      values.forEach((v, i) => data[i + 1].push(v));
      while (data[0][0] < seconds - WINDOW_S) for (const column of data) column.shift();
      plot.setData(data);
    },
    fit() {
      plot.setSize({ width: element.clientWidth, height: CHART_HEIGHT });
    },
  };
}

let charts = null;

/** Made once the page is visible (uPlot takes its width from the layout). */
function makeCharts() {
  if (charts !== null) return;
  charts = {
    rates: timeChart($('rates-chart'), [['publish', '#2f7ed8'], ['deliver / get', '#8bbc21'], ['ack', '#f28f43', [6, 4]]]),
    depth: timeChart($('depth-chart'), [['ready', '#2f7ed8'], ['unacked', '#c42525']]),
  };
  addEventListener('resize', () => {
    charts.rates.fit();
    charts.depth.fit();
  });
}

// --- tables ------------------------------------------------------------------

/**
 * Puts `items` into `table`'s body in order, one row per key: rows are kept
 * and only changed cells rewritten, so a button under the pointer stays put.
 * `columns`: [field, text(item), numeric?]; `created(row)` adds to a new row.
 */
function fill(table, items, key, columns, created) {
  const body = table.tBodies[0];
  const old = new Map([...body.rows].map((row) => [row.dataset.key, row]));
  items.forEach((item, i) => {
    const k = key(item);
    let row = old.get(k);
    old.delete(k);
    if (row === undefined) {
      row = document.createElement('tr');
      row.dataset.key = k;
      for (const [field, , numeric] of columns) {
        const cell = row.insertCell();
        cell.dataset.field = field;
        if (numeric) cell.className = 'num';
      }
      created?.(row);
    }
    columns.forEach(([, text], j) => {
      const value = String(text(item));
      if (row.cells[j].textContent !== value) row.cells[j].textContent = value;
    });
    if (body.rows[i] !== row) body.insertBefore(row, body.rows[i] ?? null);
  });
  for (const row of old.values()) row.remove();
  document.querySelector(`[data-count="${table.id}"]`).textContent = `(${items.length})`;
}

const QUEUE_COLUMNS = [
  ['vhost', (q) => q.vhost],
  ['name', (q) => q.name],
  ['messages', (q) => count.format(q.messages), true],
  ['messages_ready', (q) => count.format(q.messages_ready), true],
  ['messages_unacknowledged', (q) => count.format(q.messages_unacknowledged), true],
  ['consumers', (q) => count.format(q.consumers), true],
  ['publish_rate', (q) => rate.format(rateOf(q.message_stats, 'publish')), true],
  ['deliver_rate', (q) => rate.format(rateOf(q.message_stats, 'deliver_get')), true],
  ['ack_rate', (q) => rate.format(rateOf(q.message_stats, 'ack')), true],
];

const client = (props) => props.connection_name ?? [props.product, props.version].filter(Boolean).join(' ');

const CONNECTION_COLUMNS = [
  ['name', (c) => c.name],
  ['user', (c) => c.user],
  ['vhost', (c) => c.vhost],
  ['client', (c) => client(c.client_properties ?? {})],
  ['channels', (c) => count.format(c.channels), true],
  ['recv_oct', (c) => bytes(c.recv_oct), true],
  ['send_oct', (c) => bytes(c.send_oct), true],
];

const CHANNEL_COLUMNS = [
  ['name', (ch) => ch.name],
  ['user', (ch) => ch.user],
  ['vhost', (ch) => ch.vhost],
  ['mode', (ch) => (ch.confirm ? 'confirm' : ch.transactional ? 'transactional' : '')],
  ['prefetch_count', (ch) => count.format(ch.prefetch_count), true],
  ['consumer_count', (ch) => count.format(ch.consumer_count), true],
  ['messages_unacknowledged', (ch) => count.format(ch.messages_unacknowledged), true],
];

function addCloseButton(row) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'close';
  button.textContent = 'Close';
  row.insertCell().append(button);
}

$('connections').tBodies[0].addEventListener('click', async (event) => {
  const button = event.target.closest('button.close');
  if (button === null) return;
  const name = button.closest('tr').dataset.key;
  if (!confirm(`Close connection ${name}?`)) return;
  button.disabled = true;
  try {
    await api('DELETE', `connections/${encodeURIComponent(name)}`);
  } catch (err) {
    button.disabled = false;
    $('status').textContent = `could not close ${name}: ${err.message}`;
  }
});

// --- polling -----------------------------------------------------------------

function show(overview, queues, connections, channels) {
  const stats = overview.message_stats ?? {};
  const depth = overview.queue_totals ?? {};
  const objects = overview.object_totals ?? {};
  const tiles = {
    publish: rate.format(rateOf(stats, 'publish')),
    deliver: rate.format(rateOf(stats, 'deliver_get')),
    ack: rate.format(rateOf(stats, 'ack')),
    messages: count.format(depth.messages ?? 0),
    ready: count.format(depth.messages_ready ?? 0),
    unacked: count.format(depth.messages_unacknowledged ?? 0),
    connections: count.format(objects.connections ?? 0),
    channels: count.format(objects.channels ?? 0),
    queues: count.format(objects.queues ?? 0),
    consumers: count.format(objects.consumers ?? 0),
  };
  for (const [stat, text] of Object.entries(tiles)) document.querySelector(`[data-stat="${stat}"]`).textContent = text;
  $('node').textContent = `${overview.product_name} ${overview.product_version} on ${overview.node}`;

  const now = Date.now() / 1000;
  charts.rates.add(now, [rateOf(stats, 'publish'), rateOf(stats, 'deliver_get'), rateOf(stats, 'ack')]);
  charts.depth.add(now, [depth.messages_ready ?? 0, depth.messages_unacknowledged ?? 0]);

  const byName = (a, b) => (a.vhost === b.vhost ? 0 : a.vhost < b.vhost ? -1 : 1) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  fill($('queues'), queues.sort(byName), (q) => JSON.stringify([q.vhost, q.name]), QUEUE_COLUMNS);
  fill($('connections'), connections.sort((a, b) => a.connected_at - b.connected_at), (c) => c.name, CONNECTION_COLUMNS, addCloseButton);
  fill($('channels'), channels, (ch) => ch.name, CHANNEL_COLUMNS);
}

/** What each poll asks for: only the columns shown, as RabbitMQ's UI asks. */
const POLLED = [
  'overview?columns=product_name,product_version,node,message_stats,queue_totals,object_totals',
  'queues?columns=vhost,name,messages,messages_ready,messages_unacknowledged,consumers,' +
    'message_stats.publish_details,message_stats.deliver_get_details,message_stats.ack_details',
  'connections?columns=name,user,vhost,connected_at,channels,recv_oct,send_oct,' +
    'client_properties.connection_name,client_properties.product,client_properties.version',
  'channels?columns=name,user,vhost,confirm,transactional,prefetch_count,consumer_count,messages_unacknowledged',
];

async function poll(mine) {
  try {
    const answers = await Promise.all(POLLED.map((path) => api('GET', path)));
    if (mine !== session) return;
    show(...answers);
    $('status').textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    if (mine !== session) return;
    if (err instanceof Unauthorised) return showLogin(err.message);
    $('status').textContent = `no answer from the broker: ${err.message}`;
  }
  setTimeout(() => mine === session && poll(mine), REFRESH_MS);
}

function start(me) {
  session++;
  $('login').hidden = true;
  $('dashboard').hidden = false;
  $('who').hidden = false;
  $('user').textContent = me.name;
  makeCharts();
  void poll(session);
}

// A reload within the tab keeps the login.
if (sessionStorage.getItem(AUTH) === null) showLogin();
else api('GET', 'whoami').then(start, (err) => showLogin(err instanceof Unauthorised ? err.message : ''));
