import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ShortstrCache } from '../../src/protocol/shortstr-cache.js';

const shortstr = (text: string): Buffer => {
  const bytes = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
};

describe('ShortstrCache', () => {
  it('gives the text of every shortstr in any order: repeats, same lengths, multi-byte UTF-8, 0-255 bytes', () => {
    const name = fc.string({ unit: 'binary', maxLength: 85 }).filter((s) => Buffer.byteLength(s) <= 255);
    fc.assert(
      fc.property(fc.array(name, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 40 }), (names, picks) => {
        const cache = new ShortstrCache();
        for (const pick of picks) {
          const text = names[pick % names.length];
          expect(cache.get(shortstr(text))).toBe(text);
        }
      }),
    );
  });

  it('tells apart shortstrs of the same length', () => {
    const cache = new ShortstrCache();
    expect(cache.get(shortstr('queue-a'))).toBe('queue-a');
    expect(cache.get(shortstr('queue-b'))).toBe('queue-b');
    expect(cache.get(shortstr('queue-b'))).toBe('queue-b');
    expect(cache.get(shortstr(''))).toBe('');
    expect(cache.get(shortstr('é'.repeat(127)))).toBe('é'.repeat(127));
  });
});
