/** `warren ctl reset` (the CLI built in dist): every vhost, or one with -p; --keep-connections. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { MODES, channel, connect, nextEvent, reason } from '../helpers.js';
import { managedBroker } from '../management/support.js';

const MAIN = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;

async function ctl(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, 'ctl', ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const [code] = await once(child, 'exit');
  return { code, stdout, stderr };
}

describe.each(MODES)('warren ctl reset ($name)', ({ workers }) => {
  const m = managedBroker(workers);
  const run = (...args: string[]) => ctl(['--url', `http://guest:guest@127.0.0.1:${m.broker.managementPort}`, ...args]);

  it('-p VHOST --keep-connections resets that vhost only, clients stay; plain reset closes them with 320', async () => {
    m.broker.broker.addVHost('other');
    m.broker.broker.setPermissions('guest', 'other', { configure: '.*', write: '.*', read: '.*' });
    const home = await connect(m.broker.url);
    const away = await connect(`${m.broker.url}/other`);
    const chHome = await channel(home);
    const chAway = await channel(away);
    await chHome.assertQueue('home-q');
    await chAway.assertQueue('away-q');

    const one = await run('-p', 'other', '--keep-connections', 'reset');
    expect(one).toMatchObject({ code: 0, stdout: "Resetting vhost 'other' ...\n" });
    await expect(chAway.checkQueue('away-q')).rejects.toThrow(/404/);
    expect((await chHome.checkQueue('home-q')).queue).toBe('home-q');

    const closed = nextEvent(home, 'close');
    expect(await run('reset')).toMatchObject({ code: 0, stdout: 'Resetting every vhost ...\n' });
    expect(reason(await closed).code).toBe(320);
    const again = await connect(m.broker.url);
    await expect((await channel(again)).checkQueue('home-q')).rejects.toThrow(/404/);
    await again.close();
    expect(await run('-p', 'missing', 'reset')).toMatchObject({ code: 1 });
  });
});
