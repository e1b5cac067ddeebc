/** FlushList: each member once per drain, members added during a drain too, deleted ones passed over. */
import { describe, expect, it } from 'vitest';
import { FlushList } from '../../src/acceptor/flush-list.js';

const member = (name: string) => ({ name, queuedForFlush: false });

describe('FlushList', () => {
  it('drains each member once however often it was added, in order, and passes over deleted ones', () => {
    const list = new FlushList<ReturnType<typeof member>>();
    const [a, b, c] = [member('a'), member('b'), member('c')];
    list.add(a);
    list.add(b);
    list.add(a);
    list.add(c);
    list.delete(b);
    const seen: string[] = [];
    list.drain((m) => seen.push(m.name));
    expect(seen).toEqual(['a', 'c']);
    expect(list.empty).toBe(true);
    expect([a, b, c].map((m) => m.queuedForFlush)).toEqual([false, false, false]);
    // Members come back after a drain.
    list.add(b);
    list.drain((m) => seen.push(m.name));
    expect(seen).toEqual(['a', 'c', 'b']);
  });

  it('drains what is added during the drain, the member being drained included', () => {
    const list = new FlushList<ReturnType<typeof member>>();
    const [a, b] = [member('a'), member('b')];
    list.add(a);
    const seen: string[] = [];
    list.drain((m) => {
      seen.push(m.name);
      if (seen.length === 1) {
        list.add(b); // another connection made dirty by this one's flush
        list.add(a); // this one again (a close frame written while failing it)
      }
    });
    expect(seen).toEqual(['a', 'b', 'a']);
    expect(list.empty).toBe(true);
  });
});
