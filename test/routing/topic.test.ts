import { describe, expect, it } from 'vitest';
import { TOPIC_CACHE_LIMIT, TopicMatcher } from '../../src/routing/topic.js';

interface Q {
  name: string;
}
const q = (name: string): Q => ({ name });

function routeNames(m: TopicMatcher<Q>, key: string): string[] {
  const out = new Set<Q>();
  m.route(key, undefined, out);
  return [...out].map((d) => d.name).sort();
}

/** Does pattern match key, with one binding and nothing else in the exchange? */
function matches(pattern: string, key: string): boolean {
  const m = new TopicMatcher<Q>();
  m.bind(q('only'), pattern, {});
  return routeNames(m, key).length === 1;
}

// The reference: a direct transcription of the rules, word by word, with no trie or cache.
const words = (s: string): string[] => (s === '' ? [] : s.split('.'));
function refMatch(p: readonly string[], k: readonly string[]): boolean {
  if (p.length === 0) return k.length === 0;
  if (p[0] === '#') return refMatch(p.slice(1), k) || (k.length > 0 && refMatch(p, k.slice(1)));
  if (k.length === 0) return false;
  return (p[0] === '*' || p[0] === k[0]) && refMatch(p.slice(1), k.slice(1));
}

// mulberry32: a tiny seeded PRNG so the random cases are the same on every run.
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('topic: AMQP tutorial cases', () => {
  it('hello.*.message.#', () => {
    expect(matches('hello.*.message.#', 'hello.world.message.example.in.ruby')).toBe(true);
    expect(matches('hello.*.message.#', 'hello.world.message')).toBe(true);
    expect(matches('hello.*.message.#', 'cruel.world.message')).toBe(false);
  });

  it('*.stock.#', () => {
    expect(matches('*.stock.#', 'usd.stock')).toBe(true);
    expect(matches('*.stock.#', 'eur.stock.db')).toBe(true);
    expect(matches('*.stock.#', 'stock.nasdaq')).toBe(false);
  });

  it('quick.orange.rabbit and friends', () => {
    const m = new TopicMatcher<Q>();
    const [q1, q2] = [q('Q1'), q('Q2')];
    m.bind(q1, '*.orange.*', {});
    m.bind(q2, '*.*.rabbit', {});
    m.bind(q2, 'lazy.#', {});
    expect(routeNames(m, 'quick.orange.rabbit')).toEqual(['Q1', 'Q2']);
    expect(routeNames(m, 'lazy.orange.elephant')).toEqual(['Q1', 'Q2']);
    expect(routeNames(m, 'quick.orange.fox')).toEqual(['Q1']);
    expect(routeNames(m, 'lazy.brown.fox')).toEqual(['Q2']);
    expect(routeNames(m, 'lazy.pink.rabbit')).toEqual(['Q2']);
    expect(routeNames(m, 'quick.brown.fox')).toEqual([]);
    expect(routeNames(m, 'orange')).toEqual([]);
    expect(routeNames(m, 'quick.orange.male.rabbit')).toEqual([]);
    expect(routeNames(m, 'lazy.orange.male.rabbit')).toEqual(['Q2']);
  });
});

describe('topic: wildcards and empty words', () => {
  it.each([
    // [pattern, key, matches]
    ['#', '', true],
    ['#', 'a', true],
    ['#', 'a.b.c', true],
    ['#', '..', true],
    ['#.#', '', true],
    ['a.#', 'a', true],
    ['a.#', 'a.b.c', true],
    ['a.#', 'b', false],
    ['#.a', 'a', true],
    ['#.a', 'x.y.a', true],
    ['#.a', 'a.x', false],
    ['a.#.b', 'a.b', true],
    ['a.#.b', 'a.x.y.b', true],
    ['a.#.b', 'a.x.y.c', false],
    ['a.#.#.b', 'a.b', true],
    ['#.a.#', 'a', true],
    ['#.a.#', 'x.a.y', true],
    ['*', 'a', true],
    ['*', 'a.b', false],
    // RabbitMQ splits "" into no words at all, so '*' (exactly one word) does not match it.
    ['*', '', false],
    ['*', '.', false],
    ['*.*', '.', true],
    ['*.#', '', false],
    ['#.*', 'a', true],
    ['', '', true],
    ['', '.', false],
    ['', 'a', false],
    ['a..b', 'a..b', true],
    ['a.*.b', 'a..b', true],
    ['*.*.*', 'a..b', true],
    ['a.*', 'a.', true],
    ['a', 'a.', false],
    ['a.b', 'a.b', true],
    ['a.b', 'a.bc', false],
    ['a.*', '*.b', false], // a '*' in a key is just a word
    ['*', '#', true],
  ])('%j against %j -> %s', (pattern, key, expected) => {
    expect(matches(pattern, key)).toBe(expected);
    expect(refMatch(words(pattern), words(key))).toBe(expected);
  });

  it('treats a run of # as one, so long runs stay cheap', () => {
    const pattern = [...Array(30).fill('#'), 'z'].join('.');
    expect(matches(pattern, [...Array(40).fill('a'), 'z'].join('.'))).toBe(true);
    expect(matches(pattern, Array(40).fill('a').join('.'))).toBe(false);
  });

  it('walks each state once where #s are apart: 63 of them against a 128-word key answer at once', () => {
    // Walked path by path, "#.a" 63 times against 127 a's and a b tries every way to share the a's out.
    const pattern = Array(63).fill('#.a').join('.');
    expect(pattern.length).toBeLessThanOrEqual(255);
    expect(matches(pattern, [...Array(127).fill('a'), 'b'].join('.'))).toBe(false);
    expect(matches(pattern, Array(127).fill('a').join('.'))).toBe(true);
    expect(matches(pattern, Array(62).fill('a').join('.'))).toBe(false);
    expect(matches(`${pattern}.*.#`, [...Array(100).fill('a'), 'b', 'c'].join('.'))).toBe(true);
  });

  it('routes "" to "" and "#" bindings only', () => {
    const m = new TopicMatcher<Q>();
    for (const p of ['', '#', '*', 'a', '#.a', '*.#']) m.bind(q(`[${p}]`), p, {});
    expect(routeNames(m, '')).toEqual(['[#]', '[]']);
  });
});

describe('topic: agrees with the reference matcher', () => {
  it('on thousands of random patterns and keys, through binds and unbinds', () => {
    const random = rng(0x5eed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
    const make = (alphabet: readonly string[], maxWords: number): string => {
      const n = Math.floor(random() * (maxWords + 1));
      return Array.from({ length: n }, () => pick(alphabet)).join('.');
    };

    const m = new TopicMatcher<Q>();
    // A few destinations each holding many patterns, so duplicates and shared nodes occur.
    const dests = Array.from({ length: 40 }, (_, i) => q(`d${i}`));
    const bound = new Map<string, { dest: Q; pattern: string }>(); // keyed "index|pattern"
    const patternAlphabet = ['a', 'b', 'c', '', '*', '#', '#'];
    const keyAlphabet = ['a', 'b', 'c', '', '*', '#'];
    const keys = Array.from({ length: 3000 }, () => make(keyAlphabet, 6));

    const check = (): void => {
      const live = new Set([...bound.values()].map((b) => b.dest)).size;
      let routed = 0;
      let dropped = 0;
      for (const key of keys) {
        const expected = new Set<string>();
        for (const { dest, pattern } of bound.values()) if (refMatch(words(pattern), words(key))) expected.add(dest.name);
        expect(routeNames(m, key), `key ${JSON.stringify(key)}`).toEqual([...expected].sort());
        routed += expected.size;
        dropped += live - expected.size;
      }
      // Guard against a generator so skewed that the comparison proves nothing:
      // count (key, destination) pairs that should and should not route.
      expect(routed).toBeGreaterThan(keys.length);
      expect(dropped).toBeGreaterThan(keys.length);
    };

    for (let i = 0; i < 400; i++) {
      const index = Math.floor(random() * dests.length);
      const pattern = make(patternAlphabet, 5);
      const id = `${index}|${pattern}`;
      expect(m.bind(dests[index], pattern, {})).toBe(!bound.has(id));
      bound.set(id, { dest: dests[index], pattern });
    }
    check();

    // Remove about half, then some destinations wholesale: pruning must not lose live patterns.
    for (const [id, { dest, pattern }] of bound) {
      if (random() < 0.5) continue;
      expect(m.unbind(dest, pattern, {})).toBe(true);
      bound.delete(id);
    }
    for (const dest of dests.slice(0, 10)) {
      const mine = [...bound].filter(([, b]) => b.dest === dest);
      expect(m.unbindAll(dest)).toBe(mine.length);
      for (const [id] of mine) bound.delete(id);
    }
    expect(m.bindingCount).toBe(bound.size);
    check();
  });
});

describe('topic: route cache', () => {
  it('is invalidated by bind, unbind and unbindAll', () => {
    const m = new TopicMatcher<Q>();
    const [a, b] = [q('a'), q('b')];
    m.bind(a, 'x.*', {});
    expect(routeNames(m, 'x.y')).toEqual(['a']);
    expect(routeNames(m, 'x.y')).toEqual(['a']); // served from the cache
    expect(m.cacheSize).toBe(1);
    m.bind(b, '#.y', {});
    expect(m.cacheSize).toBe(0);
    expect(routeNames(m, 'x.y')).toEqual(['a', 'b']);
    m.unbind(a, 'x.*', {});
    expect(routeNames(m, 'x.y')).toEqual(['b']);
    m.unbindAll(b);
    expect(routeNames(m, 'x.y')).toEqual([]);
  });

  it('is left alone by binds and unbinds that change nothing', () => {
    const m = new TopicMatcher<Q>();
    const a = q('a');
    m.bind(a, 'x', {});
    routeNames(m, 'x');
    expect(m.bind(a, 'x', {})).toBe(false);
    expect(m.unbind(a, 'y', {})).toBe(false);
    expect(m.cacheSize).toBe(1);
  });

  it('stays within its limit and still answers correctly', () => {
    const m = new TopicMatcher<Q>();
    m.bind(q('even'), '*.0', {});
    m.bind(q('all'), 'k.#', {});
    for (let i = 0; i < TOPIC_CACHE_LIMIT * 3; i++) {
      expect(routeNames(m, `k.${i % 2}`)).toEqual(i % 2 === 0 ? ['all', 'even'] : ['all']);
      routeNames(m, `k.${i}.z`);
      expect(m.cacheSize).toBeLessThanOrEqual(TOPIC_CACHE_LIMIT);
    }
    expect(routeNames(m, 'k.1.z')).toEqual(['all']);
  });

  it('caches unroutable keys too, and adds to what is already in out', () => {
    const m = new TopicMatcher<Q>();
    const [a, b] = [q('a'), q('b')];
    m.bind(a, 'a.#', {});
    expect(routeNames(m, 'b')).toEqual([]);
    expect(m.cacheSize).toBe(1);
    const out = new Set([b]);
    m.route('a.b', undefined, out);
    m.route('a.b', undefined, out);
    expect([...out]).toEqual([b, a]);
  });
});
