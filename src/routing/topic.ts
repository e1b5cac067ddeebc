import type { FieldTable } from '../protocol/field-types.js';
import { addRef, BindingSet, dropRef } from './binding-set.js';
import type { Binding } from './exchange-type.js';

/*
 * Topic exchange, with RabbitMQ's semantics (rabbit_exchange_type_topic):
 *  - keys and patterns are split on '.'; empty words are real words ("a..b" has three),
 *    but the empty string has zero words, so "" matches patterns "" and "#" and not "*";
 *  - '*' matches exactly one word, '#' matches zero or more words anywhere in the pattern.
 */

/** Most distinct routing keys whose result is remembered; beyond that the oldest is dropped. */
export const TOPIC_CACHE_LIMIT = 1024;

let nodes = 0;

class TrieNode<D> {
  /** tells apart the states of a walk (walk's `seen`) */
  readonly id = nodes++;
  words: Map<string, TrieNode<D>> | undefined; // literal children, created on first use
  star: TrieNode<D> | undefined;
  hash: TrieNode<D> | undefined;
  /** destinations of the patterns that end here, counted per binding */
  readonly ends = new Map<D, number>();

  child(word: string): TrieNode<D> | undefined {
    return word === '*' ? this.star : word === '#' ? this.hash : this.words?.get(word);
  }

  addChild(word: string): TrieNode<D> {
    const existing = this.child(word);
    if (existing !== undefined) return existing;
    const node = new TrieNode<D>();
    if (word === '*') this.star = node;
    else if (word === '#') this.hash = node;
    else (this.words ??= new Map()).set(word, node);
    return node;
  }

  removeChild(word: string): void {
    if (word === '*') this.star = undefined;
    else if (word === '#') this.hash = undefined;
    else if (this.words?.delete(word) && this.words.size === 0) this.words = undefined;
  }

  get isEmpty(): boolean {
    return this.ends.size === 0 && this.star === undefined && this.hash === undefined && this.words === undefined;
  }
}

function splitWords(key: string): string[] {
  return key === '' ? [] : key.split('.');
}

/** "#.#" matches exactly what "#" does; collapsing runs keeps the walk from revisiting states. */
function patternWords(pattern: string): string[] {
  return splitWords(pattern).filter((w, i, all) => !(w === '#' && all[i - 1] === '#'));
}

const NOTHING: readonly never[] = [];

export class TopicMatcher<D> extends BindingSet<D> {
  private readonly root = new TrieNode<D>();
  // routing key -> destinations; a Map iterates in insertion order, so the first key is the oldest
  private readonly cache = new Map<string, readonly D[]>();
  // reused by every uncached route; route never re-enters, so one set of each is enough
  private readonly scratch = new Set<D>();
  private readonly seen = new Set<number>();

  /** Number of cached routing keys (exposed for tests and metrics). */
  get cacheSize(): number {
    return this.cache.size;
  }

  protected onBind({ destination, routingKey }: Binding<D>): void {
    let node = this.root;
    for (const word of patternWords(routingKey)) node = node.addChild(word);
    addRef(node.ends, destination);
    this.cache.clear();
  }

  protected onUnbind({ destination, routingKey }: Binding<D>): void {
    const words = patternWords(routingKey);
    const path = [this.root];
    for (const word of words) {
      const next = path[path.length - 1].child(word);
      if (next === undefined) return; // cannot happen: BindingSet only unbinds what it bound
      path.push(next);
    }
    dropRef(path[words.length].ends, destination);
    // Prune now-empty nodes bottom-up so the trie does not grow with churned patterns.
    for (let i = words.length; i > 0 && path[i].isEmpty; i--) path[i - 1].removeChild(words[i - 1]);
    this.cache.clear();
  }

  route(routingKey: string, _headers: FieldTable | undefined, out: Set<D>): void {
    let hit = this.cache.get(routingKey);
    if (hit === undefined) {
      const found = this.scratch;
      walk(this.root, splitWords(routingKey), 0, found, this.seen);
      hit = found.size === 0 ? NOTHING : [...found];
      found.clear();
      this.seen.clear();
      if (this.cache.size >= TOPIC_CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(routingKey, hit);
    }
    for (let i = 0; i < hit.length; i++) out.add(hit[i]);
  }
}

/**
 * Adds the destinations of every pattern under node that matches words[i..].
 * Below a '#' the same node is reached at the same word along many paths
 * ("#.a.#.a.#.a" against "a.a.a.a.a.a.b": one for each way to share the a's
 * out), exponentially many in the patterns' length; `seen` walks each of those
 * states once. Elsewhere a node has one path from the root, so one word.
 */
function walk<D>(node: TrieNode<D>, words: readonly string[], i: number, out: Set<D>, seen: Set<number>): void {
  const hash = node.hash;
  if (hash !== undefined) {
    // '#' swallows words[i..j) for every j, from none at all up to the rest of the key.
    for (let j = i; j <= words.length; j++) {
      const state = hash.id * (words.length + 1) + j;
      if (seen.has(state)) continue;
      seen.add(state);
      walk(hash, words, j, out, seen);
    }
  }
  if (i === words.length) {
    for (const d of node.ends.keys()) out.add(d);
    return;
  }
  const literal = node.words?.get(words[i]);
  if (literal !== undefined) walk(literal, words, i + 1, out, seen);
  if (node.star !== undefined) walk(node.star, words, i + 1, out, seen);
}
