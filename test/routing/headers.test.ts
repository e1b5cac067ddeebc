import { describe, expect, it } from 'vitest';
import type { FieldTable } from '../../src/protocol/field-types.js';
import { headersMatch, HeadersMatcher, validateHeadersArgs } from '../../src/routing/headers.js';

describe('headersMatch', () => {
  it('x-match all (the default) needs every argument', () => {
    for (const args of [{ a: 1, b: 'x' }, { 'x-match': 'all', a: 1, b: 'x' }] as FieldTable[]) {
      expect(headersMatch(args, { a: 1, b: 'x' })).toBe(true);
      expect(headersMatch(args, { a: 1, b: 'x', c: true })).toBe(true);
      expect(headersMatch(args, { a: 1 })).toBe(false);
      expect(headersMatch(args, { a: 2, b: 'x' })).toBe(false);
      expect(headersMatch(args, {})).toBe(false);
      expect(headersMatch(args, undefined)).toBe(false);
    }
  });

  it('x-match any needs one argument', () => {
    const args = { 'x-match': 'any', a: 1, b: 'x' };
    expect(headersMatch(args, { a: 1 })).toBe(true);
    expect(headersMatch(args, { a: 0, b: 'x' })).toBe(true);
    expect(headersMatch(args, { a: 0, b: 'y' })).toBe(false);
    expect(headersMatch(args, { c: 1 })).toBe(false);
    expect(headersMatch(args, undefined)).toBe(false);
  });

  it('with nothing to test, all matches every message and any matches none', () => {
    expect(headersMatch({}, undefined)).toBe(true);
    expect(headersMatch({ 'x-match': 'all', 'x-note': 1 }, { z: 1 })).toBe(true);
    expect(headersMatch({ 'x-match': 'any' }, { z: 1 })).toBe(false);
    expect(headersMatch({ 'x-match': 'any', 'x-note': 1 }, { 'x-note': 1 })).toBe(false);
  });

  it('a void argument matches any value of a present header', () => {
    expect(headersMatch({ a: null }, { a: 'anything' })).toBe(true);
    expect(headersMatch({ a: null }, { a: null })).toBe(true);
    expect(headersMatch({ a: null }, { b: 1 })).toBe(false);
    expect(headersMatch({ 'x-match': 'any', a: null, b: 2 }, { a: 0 })).toBe(true);
    expect(headersMatch({ a: 1 }, { a: null })).toBe(false);
  });

  it('ignores x- arguments unless x-match ends in -with-x', () => {
    expect(headersMatch({ a: 1, 'x-b': 2 }, { a: 1 })).toBe(true);
    expect(headersMatch({ 'x-match': 'all-with-x', a: 1, 'x-b': 2 }, { a: 1 })).toBe(false);
    expect(headersMatch({ 'x-match': 'all-with-x', a: 1, 'x-b': 2 }, { a: 1, 'x-b': 2 })).toBe(true);
    expect(headersMatch({ 'x-match': 'any-with-x', 'x-b': 2 }, { 'x-b': 2 })).toBe(true);
    expect(headersMatch({ 'x-match': 'any-with-x', 'x-b': 2 }, { 'x-b': 3 })).toBe(false);
    // x-match itself is never a condition, even with -with-x
    expect(headersMatch({ 'x-match': 'all-with-x' }, {})).toBe(true);
  });

  it('compares values across their decoded representations', () => {
    expect(headersMatch({ a: 5 }, { a: 5n })).toBe(true);
    expect(headersMatch({ a: 2n ** 60n }, { a: 2 ** 60 })).toBe(true);
    expect(headersMatch({ a: 2n ** 60n + 1n }, { a: 2 ** 60 })).toBe(false);
    expect(headersMatch({ a: 1.5 }, { a: 1.5 })).toBe(true);
    expect(headersMatch({ a: 'héllo' }, { a: Buffer.from('héllo') })).toBe(true);
    expect(headersMatch({ a: Buffer.from('abc') }, { a: 'abd' })).toBe(false);
    expect(headersMatch({ a: Buffer.from([1, 2]) }, { a: Buffer.from([1, 2]) })).toBe(true);
    expect(headersMatch({ a: '1' }, { a: 1 })).toBe(false);
    expect(headersMatch({ a: true }, { a: 1 })).toBe(false);
    expect(headersMatch({ a: new Date(1000) }, { a: new Date(1000) })).toBe(true);
    expect(headersMatch({ a: { y: [1, 'b'], x: null } }, { a: { x: null, y: [1n, Buffer.from('b')] } })).toBe(true);
    expect(headersMatch({ a: { x: 1 } }, { a: { x: 1, y: 2 } })).toBe(false);
    expect(headersMatch({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
    expect(headersMatch({ a: { decimals: 2, value: 150 } }, { a: { value: 150, decimals: 2 } })).toBe(true);
  });

  it('does not mistake inherited object properties for headers', () => {
    expect(headersMatch({ toString: null }, {})).toBe(false);
    expect(headersMatch({ constructor: null }, { a: 1 })).toBe(false);
  });

  it('treats an unknown x-match as all, as RabbitMQ does, and reports it as invalid', () => {
    expect(headersMatch({ 'x-match': 'some', a: 1 }, { a: 1 })).toBe(true);
    expect(headersMatch({ 'x-match': 'some', a: 1, b: 1 }, { a: 1 })).toBe(false);
    expect(validateHeadersArgs({ 'x-match': 'some' })).toMatch(/Invalid x-match field value/);
    expect(validateHeadersArgs({ 'x-match': 1 })).toMatch(/Invalid x-match field type/);
    // a binary is not a longstr, whatever it says (RabbitMQ 3.10.8)
    expect(validateHeadersArgs({ 'x-match': Buffer.from('any') })).toBe('Invalid x-match field type binary (value <<"any">>); expected longstr');
    expect(validateHeadersArgs({ 'x-match': 'any-with-x', a: 1 })).toBeUndefined();
    expect(validateHeadersArgs({ a: 1 })).toBeUndefined();
  });
});

describe('HeadersMatcher', () => {
  it('routes by headers and ignores the routing key', () => {
    const m = new HeadersMatcher<string>();
    m.bind('pdf', '', { format: 'pdf' });
    m.bind('big-or-pdf', 'key is ignored', { 'x-match': 'any', format: 'pdf', big: true });
    m.bind('everything', '', {});
    m.bind('nothing', '', { 'x-match': 'any' });
    const route = (headers: FieldTable | undefined): string[] => {
      const out = new Set<string>();
      m.route('whatever', headers, out);
      return [...out].sort();
    };
    expect(route({ format: 'pdf' })).toEqual(['big-or-pdf', 'everything', 'pdf']);
    expect(route({ big: true })).toEqual(['big-or-pdf', 'everything']);
    expect(route(undefined)).toEqual(['everything']);
    m.unbind('everything', '', {});
    m.unbindAll('big-or-pdf');
    expect(route({ format: 'pdf', big: true })).toEqual(['pdf']);
    expect(m.bindingCount).toBe(2);
  });

  it('routes a destination once even when several of its bindings match', () => {
    const m = new HeadersMatcher<string>();
    m.bind('q', '', { a: 1 });
    m.bind('q', '', { b: 1 });
    const out = new Set<string>();
    m.route('', { a: 1, b: 1 }, out);
    expect([...out]).toEqual(['q']);
  });
});
