/** Rates of the management API: RabbitMQ's *_details.rate, per second over the last few seconds of samples. */
import { describe, expect, it } from 'vitest';
import { Rates } from '../../dist/src/management/stats.js';
import { MODES, connect, sleep, uniq } from '../helpers.js';
import { managedBroker } from './support.js';

describe('Rates', () => {
  it('is the change per second since the oldest sample of the window, 0 with one sample', () => {
    const rates = new Rates();
    expect(rates.observe('q', [5, 100], 0)).toEqual([0, 0]);
    expect(rates.observe('q', [15, 90], 2000)).toEqual([5, -5]);
    expect(rates.observe('q', [45, 90], 4000)).toEqual([10, -2.5]);
    // Past the window the oldest samples drop out: from t=4000 to t=10000.
    expect(rates.observe('q', [105, 90], 10_000)).toEqual([10, 0]);
    expect(rates.observe('other', [1], 10_000)).toEqual([0]);
    rates.forgetAllBut(new Set(['other']));
    expect(rates.observe('q', [200, 0], 11_000)).toEqual([0, 0]);
  });
});

for (const mode of MODES) {
  describe(`management API rates (${mode.name})`, () => {
    const m = managedBroker(mode.workers);

    it('publish_details.rate and messages_details.rate follow what amqplib publishes', async () => {
      const q = uniq('rate');
      const conn = await connect(m.broker.url);
      try {
        const ch = await conn.createConfirmChannel();
        await ch.assertQueue(q, { durable: false });
        const started = Date.now(); // before the server takes its first sample
        const first = (await m.api('GET', `/api/queues/%2F/${q}`)).body;
        expect(first.messages_details.rate).toBe(0);
        await sleep(1000);
        for (let i = 0; i < 100; i++) ch.sendToQueue(q, Buffer.from(`m-${i}`));
        await ch.waitForConfirms();
        const { body } = await m.api('GET', `/api/queues/%2F/${q}`);
        const seconds = (Date.now() - started) / 1000;
        expect(body.messages).toBe(100);
        // 100 messages over the time between the two samples (within `seconds`, over 1 s)
        expect(body.message_stats.publish_details.rate).toBeGreaterThanOrEqual(100 / seconds - 0.1);
        expect(body.message_stats.publish_details.rate).toBeLessThanOrEqual(100);
        expect(body.messages_details.rate).toBe(body.message_stats.publish_details.rate);
        expect(body.messages_ready_details.rate).toBe(body.message_stats.publish_details.rate);
      } finally {
        await conn.close();
      }
    });
  });
}
