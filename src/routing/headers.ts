import type { FieldTable, FieldValue } from '../protocol/field-types.js';
import { wireTypeName } from '../protocol/field-table.js';
import { BindingSet } from './binding-set.js';
import type { Binding } from './exchange-type.js';
import { fieldValuesEqual } from './field-equality.js';

/*
 * Headers exchange, with RabbitMQ's semantics (rabbit_exchange_type_headers):
 *  - x-match 'all' (the default) needs every binding argument matched, 'any' needs one;
 *    with a binding that has no arguments to test, 'all' matches everything, 'any' nothing;
 *  - arguments whose name starts with 'x-' are not tested, except with 'all-with-x' and
 *    'any-with-x' (RabbitMQ 3.10+); 'x-match' itself is never tested;
 *  - a void (null) argument tests only that the header is present;
 *  - a missing headers table is an empty one.
 */

interface Compiled<D> {
  readonly destination: D;
  readonly any: boolean;
  // parallel arrays, so route walks plain indices with no per-message allocation
  readonly names: readonly string[];
  readonly values: readonly FieldValue[];
}

const X_MATCH = 'x-match';
const MODES = ['all', 'any', 'all-with-x', 'any-with-x'];

function xMatchOf(args: FieldTable): string | undefined {
  const v = Object.hasOwn(args, X_MATCH) ? args[X_MATCH] : undefined;
  return typeof v === 'string' ? v : undefined;
}

/** A value as RabbitMQ's error prints it: a binary as an Erlang binary (<<"any">>, or its bytes). */
function erlangText(v: FieldValue): string {
  if (!Buffer.isBuffer(v)) return String(v);
  const printable = [...v].every((b) => b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c);
  return printable ? `<<"${v.toString('latin1')}">>` : `<<${[...v].join(',')}>>`;
}

/**
 * Why RabbitMQ would refuse these binding args (PRECONDITION_FAILED), or undefined if valid.
 * The matcher itself accepts anything and, like RabbitMQ, treats an unknown x-match as 'all'.
 */
export function validateHeadersArgs(args: FieldTable): string | undefined {
  if (!Object.hasOwn(args, X_MATCH)) return undefined;
  const mode = xMatchOf(args);
  if (mode === undefined) return `Invalid x-match field type ${wireTypeName(args, X_MATCH)} (value ${erlangText(args[X_MATCH])}); expected longstr`;
  // RabbitMQ prints the value as an Erlang binary: <<"bogus">>
  if (!MODES.includes(mode)) return `Invalid x-match field value <<"${mode}">>; expected all, any, all-with-x, or any-with-x`;
  return undefined;
}

function compile<D>(destination: D, args: FieldTable): Compiled<D> {
  const mode = xMatchOf(args);
  const withX = mode === 'all-with-x' || mode === 'any-with-x';
  const names: string[] = [];
  const values: FieldValue[] = [];
  for (const name of Object.keys(args)) {
    if (name === X_MATCH || (!withX && name.startsWith('x-'))) continue;
    names.push(name);
    values.push(args[name]);
  }
  return { destination, any: mode === 'any' || mode === 'any-with-x', names, values };
}

function matches(c: Compiled<unknown>, headers: FieldTable | undefined): boolean {
  // Each test decides 'any' on a hit and 'all' on a miss; running out decides the other way.
  for (let i = 0; i < c.names.length; i++) {
    const name = c.names[i];
    const want = c.values[i];
    const hit =
      headers !== undefined && Object.hasOwn(headers, name) && (want === null || fieldValuesEqual(want, headers[name]));
    if (hit === c.any) return hit;
  }
  return !c.any;
}

/** Whether a message with these headers matches a headers binding with these args. */
export function headersMatch(bindingArgs: FieldTable, headers: FieldTable | undefined): boolean {
  return matches(compile(undefined, bindingArgs), headers);
}

export class HeadersMatcher<D> extends BindingSet<D> {
  // keyed by the Binding object, which BindingSet hands back unchanged on unbind
  private readonly compiled = new Map<Binding<D>, Compiled<D>>();

  protected onBind(binding: Binding<D>): void {
    this.compiled.set(binding, compile(binding.destination, binding.args));
  }

  protected onUnbind(binding: Binding<D>): void {
    this.compiled.delete(binding);
  }

  route(_routingKey: string, headers: FieldTable | undefined, out: Set<D>): void {
    for (const c of this.compiled.values()) {
      // A destination already chosen needs no second test.
      if (!out.has(c.destination) && matches(c, headers)) out.add(c.destination);
    }
  }
}
