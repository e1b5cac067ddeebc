/** A decoded AMQP field table. Values keep JS types; see field-table.ts for the mapping. */
export type FieldValue =
  | boolean
  | number
  | bigint
  | string
  | Buffer
  | Date
  | null
  | FieldValue[]
  | FieldTable
  | { decimals: number; value: number };

export interface FieldTable {
  [key: string]: FieldValue;
}

/** RabbitMQ's names for field types by type letter, as its errors print them. */
export const TYPE_NAMES: Readonly<Record<string, string>> = {
  t: 'bool', b: 'byte', B: 'unsignedbyte', s: 'short', u: 'unsignedshort', I: 'signedint', i: 'unsignedint',
  l: 'long', f: 'float', d: 'double', D: 'decimal', S: 'longstr', x: 'binary', A: 'array', V: 'void', T: 'timestamp', F: 'table',
};

/**
 * RabbitMQ's name for the AMQP type a client would have sent this value as: for an
 * integer, the smallest signed type that holds it, as amqplib encodes it. A value
 * of a decoded table knows better: see wireTypeName (field-table.ts).
 */
export function typeName(v: FieldValue): string {
  if (v === null) return 'void';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'string') return 'longstr';
  if (typeof v === 'bigint') return 'long';
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return 'double';
    if (v >= -0x80 && v < 0x80) return 'byte';
    if (v >= -0x8000 && v < 0x8000) return 'short';
    if (v >= -0x80000000 && v < 0x80000000) return 'signedint';
    return 'long';
  }
  if (Buffer.isBuffer(v)) return 'binary';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Date) return 'timestamp';
  if ('decimals' in v && 'value' in v && Object.keys(v).length === 2) return 'decimal';
  return 'table';
}
