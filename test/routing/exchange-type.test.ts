import { describe, expect, it } from 'vitest';
import type { FieldTable } from '../../src/protocol/field-types.js';
import { createMatcher, isExchangeType, type ExchangeMatcher, type ExchangeTypeName } from '../../src/routing/exchange-type.js';

interface Q {
  name: string;
}
const q = (name: string): Q => ({ name });

function routeNames(m: ExchangeMatcher<Q>, key: string, headers?: FieldTable): string[] {
  const out = new Set<Q>();
  m.route(key, headers, out);
  return [...out].map((d) => d.name).sort();
}

describe('isExchangeType', () => {
  it('accepts the four built-in types only', () => {
    for (const t of ['direct', 'fanout', 'topic', 'headers']) expect(isExchangeType(t)).toBe(true);
    for (const t of ['', 'Direct', 'x-delayed-message', 'match']) expect(isExchangeType(t)).toBe(false);
  });
});

// Bookkeeping is shared by every type, so each one must behave the same here.
describe.each<ExchangeTypeName>(['direct', 'fanout', 'topic', 'headers'])('%s bookkeeping', (type) => {
  it('tells a new binding from a duplicate, comparing args regardless of key order', () => {
    const m = createMatcher<Q>(type);
    const a = q('a');
    expect(m.bind(a, 'k', {})).toBe(true);
    expect(m.bind(a, 'k', {})).toBe(false);
    expect(m.bind(a, 'k', { x: 1, y: 'two' })).toBe(true);
    expect(m.bind(a, 'k', { y: Buffer.from('two'), x: 1n })).toBe(false);
    expect(m.bind(a, 'k2', {})).toBe(true);
    expect(m.bind(q('a'), 'k', {})).toBe(true); // same name, different object: a different destination
    expect(m.bindingCount).toBe(4);
  });

  it('unbinds exactly the named binding', () => {
    const m = createMatcher<Q>(type);
    const a = q('a');
    m.bind(a, 'k', { x: 1 });
    m.bind(a, 'k', {});
    expect(m.unbind(a, 'k', { x: 2 })).toBe(false);
    expect(m.unbind(a, 'other', {})).toBe(false);
    expect(m.unbind(q('a'), 'k', {})).toBe(false);
    expect(m.unbind(a, 'k', { x: 1 })).toBe(true);
    expect(m.unbind(a, 'k', { x: 1 })).toBe(false);
    expect(m.bindingCount).toBe(1);
    expect(m.hasBindingsTo(a)).toBe(true);
    expect(m.unbind(a, 'k', {})).toBe(true);
    expect(m.hasBindingsTo(a)).toBe(false);
    expect(m.bindingCount).toBe(0);
  });

  it('unbindAll removes every binding of one destination and nothing else', () => {
    const m = createMatcher<Q>(type);
    const [a, b] = [q('a'), q('b')];
    m.bind(a, 'x', {});
    m.bind(a, 'y', { z: true });
    m.bind(b, 'x', {});
    expect(m.unbindAll(a)).toBe(2);
    expect(m.unbindAll(a)).toBe(0);
    expect(m.hasBindingsTo(a)).toBe(false);
    expect(m.hasBindingsTo(b)).toBe(true);
    expect(m.bindingCount).toBe(1);
    expect([...m.bindings()]).toEqual([{ destination: b, routingKey: 'x', args: {} }]);
    expect(routeNames(m, 'x', {})).toEqual(['b']);
  });

  it('lists its bindings', () => {
    const m = createMatcher<Q>(type);
    const a = q('a');
    m.bind(a, 'k', { p: 1 });
    m.bind(a, 'j', {});
    const listed = [...m.bindings()].map((b) => [b.destination.name, b.routingKey, b.args]);
    expect(listed).toEqual([
      ['a', 'k', { p: 1 }],
      ['a', 'j', {}],
    ]);
  });

  it('keeps a destination routable until its last binding of that kind goes', () => {
    const m = createMatcher<Q>(type);
    const a = q('a');
    m.bind(a, 'k', {});
    m.bind(a, 'k', { 'x-extra': 'v' }); // distinct binding; ignored by headers matching
    m.unbind(a, 'k', {});
    expect(routeNames(m, 'k', {})).toEqual(['a']);
    m.unbind(a, 'k', { 'x-extra': 'v' });
    expect(routeNames(m, 'k', {})).toEqual([]);
  });
});

describe('direct', () => {
  it('routes on the exact key, to each destination once', () => {
    const m = createMatcher<Q>('direct');
    const [a, b] = [q('a'), q('b')];
    m.bind(a, 'info', {});
    m.bind(a, 'info', { v: 1 });
    m.bind(b, 'info', {});
    m.bind(b, 'warn', {});
    m.bind(a, '', {});
    expect(routeNames(m, 'info')).toEqual(['a', 'b']);
    expect(routeNames(m, 'warn')).toEqual(['b']);
    expect(routeNames(m, '')).toEqual(['a']);
    expect(routeNames(m, 'INFO')).toEqual([]);
    expect(routeNames(m, 'info.x')).toEqual([]);
    expect(routeNames(m, '#')).toEqual([]);
  });

  it('adds to what is already in out', () => {
    const m = createMatcher<Q>('direct');
    const [a, b] = [q('a'), q('b')];
    m.bind(a, 'k', {});
    const out = new Set([b, a]);
    m.route('k', undefined, out);
    expect([...out]).toEqual([b, a]);
  });
});

describe('fanout', () => {
  it('routes every message to every destination, whatever the key', () => {
    const m = createMatcher<Q>('fanout');
    const [a, b] = [q('a'), q('b')];
    expect(routeNames(m, 'x')).toEqual([]);
    m.bind(a, 'ignored', {});
    m.bind(a, 'also ignored', {});
    m.bind(b, '', {});
    expect(routeNames(m, 'anything')).toEqual(['a', 'b']);
    expect(routeNames(m, '')).toEqual(['a', 'b']);
    m.unbind(a, 'ignored', {});
    expect(routeNames(m, 'x')).toEqual(['a', 'b']);
    m.unbindAll(b);
    expect(routeNames(m, 'x')).toEqual(['a']);
  });
});
