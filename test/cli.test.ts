/** `warren` as a user runs it: one ready line, a working broker, a clean stop. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import amqp from 'amqplib';

const MAIN = new URL('../dist/src/cli/main.js', import.meta.url).pathname;

describe('warren CLI', () => {
  it('prints its address and start-up time, serves clients, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [MAIN, '--port', '0', '--host', '127.0.0.1', '--workers', '1']);
    let output = '';
    child.stdout.setEncoding('utf8');
    const ready = new Promise<string>((resolve) => {
      child.stdout.on('data', (chunk: string) => {
        output += chunk;
        if (output.includes('\n')) resolve(output.split('\n')[0]);
      });
    });
    const line = await ready;
    const match = /listening on 127\.0\.0\.1 port (\d+) .* ready in ([\d.]+) ms/.exec(line);
    expect(match, line).not.toBeNull();
    expect(Number(match![2])).toBeLessThan(1000);

    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${match![1]}`);
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    ch.sendToQueue(queue, Buffer.from('hi'));
    await new Promise((r) => setTimeout(r, 50));
    const msg = await ch.get(queue, { noAck: true });
    expect(msg && msg.content.toString()).toBe('hi');
    await conn.close();

    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });

  it('rejects a bad option value with exit code 2', async () => {
    const child = spawn(process.execPath, [MAIN, '--port', 'abc']);
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const [code] = await once(child, 'exit');
    expect(code).toBe(2);
    expect(stderr).toContain('--port needs a non-negative integer');
  });
});
