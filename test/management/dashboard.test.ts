/**
 * The dashboard at / of the management port, in Debian's chromium (playwright-core,
 * no browser download): it logs in, shows the queue depths, totals and connections
 * the API reports, charts the rates, its close button closes a connection (320),
 * and its login lasts the browser tab's session.
 * Skipped only where /usr/bin/chromium is missing outside CI (.ci/run installs it).
 */
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import amqp from 'amqplib';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODES, collect, connect, sleep, uniq, within } from '../helpers.js';
import { enc, managedBroker, type ManagedBroker } from './support.js';

const CHROMIUM = '/usr/bin/chromium';
const POLL = { timeout: 8000, interval: 100 };

const num = (text: string | null) => Number(String(text).replace(/,/g, ''));

/** The cells of the row whose key is `key` in table `id`, by data-field; null while absent. */
function row(page: Page, id: string, key: string): Promise<Record<string, string> | null> {
  // The callbacks run in the page (typed loosely: the tests compile without the DOM's types).
  return page.$$eval(
    `#${id} tbody tr`,
    (rows: any[], key) => {
      const tr = rows.find((r) => r.dataset.key === key);
      if (tr === undefined) return null;
      return Object.fromEntries([...tr.cells].filter((c: any) => c.dataset.field).map((c: any) => [c.dataset.field, c.textContent]));
    },
    key,
  );
}

const tile = async (page: Page, stat: string) => num(await page.textContent(`[data-stat="${stat}"]`));
const rowKeys = (page: Page, id: string) => page.$$eval(`#${id} tbody tr`, (rows: any[]) => rows.map((r) => r.dataset.key as string));

/** A fresh page logged in as guest; `errors` collects the page's uncaught errors. */
async function openLoggedIn(browser: Browser, m: ManagedBroker): Promise<{ page: Page; errors: string[] }> {
  const page = await (await browser.newContext()).newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  // Polled every 0.2 s rather than every second, so the test waits less.
  await page.goto(`${m.base}/?refresh=0.2`);
  // A wrong password is refused with the API's reason and shows no data.
  await page.fill('#username', 'guest');
  await page.fill('#password', 'wrong');
  await page.click('#login button[type=submit]');
  await expect.poll(() => page.textContent('#login-error'), POLL).toBe('Login failed');
  expect(await page.isHidden('#dashboard')).toBe(true);
  await page.fill('#password', 'guest');
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#dashboard:not([hidden])');
  expect(await page.textContent('#user')).toBe('guest');
  return { page, errors };
}

describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)('dashboard in chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  afterAll(() => browser?.close());

  for (const mode of MODES) {
    describe(mode.name, () => {
      const m = managedBroker(mode.workers);

      it('serves the page and its assets without auth; /api still needs it', async () => {
        for (const [path, type] of [['/', 'text/html'], ['/dashboard.js', 'text/javascript'], ['/dashboard.css', 'text/css'], ['/uplot/uPlot.iife.min.js', 'text/javascript'], ['/uplot/uPlot.min.css', 'text/css']]) {
          const res = await fetch(m.base + path);
          expect(res.status, path).toBe(200);
          expect(res.headers.get('content-type'), path).toContain(type);
          expect((await res.text()).length, path).toBeGreaterThan(100);
        }
        expect((await m.api('GET', '/api/overview', undefined, { auth: null })).status).toBe(401);
      });

      it('shows the broker’s depths, rates and connections, and closes a connection', async () => {
        const { page, errors } = await openLoggedIn(browser, m);
        // Names with multi-byte UTF-8 and markup: shown as text, as the API spells them.
        const qa = uniq('dash-ä<b>x</b>');
        const qb = uniq('dash-€ "q"');
        const publisher = await connect(m.broker.url);
        const consumerConn = await amqp.connect(m.broker.url, { clientProperties: { connection_name: 'dash-consumer' } });
        consumerConn.on('error', () => {});
        try {
          const pub = await publisher.createConfirmChannel();
          await pub.assertQueue(qa, { durable: false });
          await pub.assertQueue(qb, { durable: false });

          // Publish steadily into qa until the page shows a publish rate, overall and on qa's row.
          let sentA = 0;
          let publishing = true;
          const steady = (async () => {
            while (publishing) {
              pub.sendToQueue(qa, Buffer.from(`a-${sentA++}`));
              await sleep(10);
            }
          })();
          await expect.poll(() => tile(page, 'publish'), POLL).toBeGreaterThan(0);
          await expect.poll(async () => num((await row(page, 'queues', JSON.stringify(['/', qa])))?.publish_rate ?? '0'), POLL).toBeGreaterThan(0);
          publishing = false;
          await steady;
          await pub.waitForConfirms();

          // qb: 120 numbered messages, 10 of them delivered unacked to a consumer with prefetch 10.
          for (let i = 0; i < 120; i++) pub.sendToQueue(qb, Buffer.from(`b-${i}`));
          await pub.waitForConfirms();
          const sub = await consumerConn.createChannel();
          await sub.prefetch(10);
          const got = await collect(sub, qb, 10, { noAck: false });
          expect(got.map((msg) => msg.content.toString())).toEqual(Array.from({ length: 10 }, (_, i) => `b-${i}`));

          // The API's answer for the settled state is what we published ...
          const depth = async (q: string) => {
            const { body } = await m.api('GET', `/api/queues/%2F/${enc(q)}`);
            return { name: body.name, messages: body.messages, messages_ready: body.messages_ready, messages_unacknowledged: body.messages_unacknowledged, consumers: body.consumers };
          };
          const apiA = await depth(qa);
          const apiB = await depth(qb);
          expect(apiA).toEqual({ name: qa, messages: sentA, messages_ready: sentA, messages_unacknowledged: 0, consumers: 0 });
          expect(apiB).toEqual({ name: qb, messages: 120, messages_ready: 110, messages_unacknowledged: 10, consumers: 1 });
          // ... and the page shows the same.
          const shown = async (q: string) => {
            const cells = await row(page, 'queues', JSON.stringify(['/', q]));
            if (cells === null) return null;
            const { name, messages, messages_ready, messages_unacknowledged, consumers } = cells;
            return { name, messages: num(messages), messages_ready: num(messages_ready), messages_unacknowledged: num(messages_unacknowledged), consumers: num(consumers) };
          };
          await expect.poll(() => shown(qa), POLL).toEqual(apiA);
          await expect.poll(() => shown(qb), POLL).toEqual(apiB);
          expect(await page.locator('#queues b').count()).toBe(0);
          await expect.poll(() => tile(page, 'messages'), POLL).toBe(sentA + 120);
          const overview = (await m.api('GET', '/api/overview')).body;
          expect(await tile(page, 'messages')).toBe(overview.queue_totals.messages);
          expect(await tile(page, 'unacked')).toBe(overview.queue_totals.messages_unacknowledged);

         
          // Connections and channels: the rows are the API's, the tiles its totals.
          const apiConnections = (await m.api('GET', '/api/connections')).body.map((c: any) => c.name).sort();
          expect(apiConnections).toHaveLength(2);
          await expect.poll(async () => (await rowKeys(page, 'connections')).sort(), POLL).toEqual(apiConnections);
          expect(await tile(page, 'connections')).toBe(2);
          const apiChannels = (await m.api('GET', '/api/channels')).body.map((c: any) => c.name).sort();
          await expect.poll(async () => (await rowKeys(page, 'channels')).sort(), POLL).toEqual(apiChannels);
          expect(await tile(page, 'channels')).toBe(apiChannels.length);

          // Both charts are drawn on canvases.
          for (const chart of ['#rates-chart', '#depth-chart']) {
            const box = await page.locator(`${chart} canvas`).boundingBox();
            expect(box?.width, chart).toBeGreaterThan(100);
          }

         
          // Close, confirmed in the dialog, closes the consumer's connection with 320.
          page.on('dialog', (dialog) => void dialog.accept());
          const closed = once(consumerConn, 'close');
          await page.locator('#connections tbody tr', { hasText: 'dash-consumer' }).locator('button.close').click();
          const [err] = (await within(closed, 5000, 'the close of the consumer connection')) as [any];
          expect(err?.code).toBe(320);
          expect(String(err?.message)).toContain('Closed via management plugin');
          await expect.poll(() => tile(page, 'connections'), POLL).toBe(1);
          expect(await rowKeys(page, 'connections')).toHaveLength(1);

         
          // A reload keeps the login (sessionStorage); Log out forgets it.
          await page.reload();
          await page.waitForSelector('#queues tbody tr');
          await page.click('#logout');
          expect(await page.isVisible('#login')).toBe(true);
          expect(await page.isHidden('#dashboard')).toBe(true);
          expect(await page.evaluate(() => (globalThis as any).sessionStorage.length)).toBe(0);

          // Every numbered message published into qa is there, once, in order.
          const drained = await collect(pub, qa, sentA);
          expect(drained.map((msg) => msg.content.toString())).toEqual(Array.from({ length: sentA }, (_, i) => `a-${i}`));
          expect(errors).toEqual([]);
        } finally {
          await page.context().close();
          await publisher.close();
          await consumerConn.close().catch(() => {});
        }
      });
    });
  }
});
