/**
 * Record framing of the embedded log's segment files.
 *
 *   u32be payload length | u32be CRC-32 of (length bytes + payload) | payload
 *   payload = u8 format (1) | f64be publish time (epoch ms) | u32be attributes length | attributes JSON | data
 *
 * The checksum covers the length field too, so a torn or bit-flipped length is caught as well as a damaged
 * body. Node's zlib.crc32 (IEEE polynomial, native) does the checksum.
 */
import zlib from 'node:zlib';
import { dataBytes } from './types';

export const HEADER_BYTES = 8;
const FORMAT = 1;
const FIXED_PAYLOAD_BYTES = 1 + 8 + 4;
/** Pub/Sub's own per-message limit is 10 MB; a larger length field can only be damage. */
export const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024 + 64 * 1024;

export interface LogRecord {
  publishTimeMs: number;
  attributes: Record<string, string>;
  data: Buffer;
}

/** A record measured and ready to be written: its attributes as JSON text, and its size in the file. */
export interface PreparedRecord {
  attributes: string;
  attributesBytes: number;
  data: Buffer | string;
  dataBytes: number;
  /** Header and payload. */
  bytes: number;
}

/** Measures a record; throws RangeError when it is over the record limit. */
export function prepareRecord(attributes: Record<string, string>, data: Buffer | string): PreparedRecord {
  const text = JSON.stringify(attributes);
  const attributesBytes = Buffer.byteLength(text, 'utf8');
  const size = dataBytes(data);
  const payloadBytes = FIXED_PAYLOAD_BYTES + attributesBytes + size;
  if (payloadBytes > MAX_PAYLOAD_BYTES) {
    throw new RangeError(`message of ${payloadBytes} bytes exceeds the ${MAX_PAYLOAD_BYTES}-byte record limit`);
  }
  return { attributes: text, attributesBytes, data, dataBytes: size, bytes: HEADER_BYTES + payloadBytes };
}

/**
 * Writes a prepared record into `out` at `start` (which must have `record.bytes` free) and returns where the
 * next record goes: a commit's records are encoded straight into the one buffer that is written to the file.
 */
export function writeRecord(out: Buffer, start: number, record: PreparedRecord, publishTimeMs: number): number {
  const payloadBytes = record.bytes - HEADER_BYTES;
  out.writeUInt32BE(payloadBytes, start);
  let at = start + HEADER_BYTES;
  out.writeUInt8(FORMAT, at);
  out.writeDoubleBE(publishTimeMs, at + 1);
  out.writeUInt32BE(record.attributesBytes, at + 9);
  at += FIXED_PAYLOAD_BYTES;
  at += out.write(record.attributes, at, record.attributesBytes, 'utf8');
  if (typeof record.data === 'string') out.write(record.data, at, record.dataBytes, 'utf8');
  else record.data.copy(out, at);
  out.writeUInt32BE(checksum(out, start, payloadBytes), start + 4);
  return start + record.bytes;
}

/** One record as its own buffer. */
export function encodeRecord(record: LogRecord): Buffer {
  const prepared = prepareRecord(record.attributes, record.data);
  const out = Buffer.allocUnsafe(prepared.bytes);
  writeRecord(out, 0, prepared, record.publishTimeMs);
  return out;
}

function checksum(buf: Buffer, start: number, payloadBytes: number): number {
  const lenCrc = zlib.crc32(buf.subarray(start, start + 4));
  return zlib.crc32(buf.subarray(start + HEADER_BYTES, start + HEADER_BYTES + payloadBytes), lenCrc);
}

export type DecodeResult =
  | { kind: 'record'; record: LogRecord; bytes: number }
  /** Not enough bytes in the buffer for the whole record (may be a torn tail, or just a short read). */
  | { kind: 'short'; needed: number }
  | { kind: 'corrupt'; reason: string };

/** Decodes the record starting at `start`; `buf` may end anywhere. */
export function decodeRecord(buf: Buffer, start: number): DecodeResult {
  const available = buf.length - start;
  if (available < HEADER_BYTES) return { kind: 'short', needed: HEADER_BYTES };
  const payloadBytes = buf.readUInt32BE(start);
  if (payloadBytes < FIXED_PAYLOAD_BYTES || payloadBytes > MAX_PAYLOAD_BYTES) {
    return { kind: 'corrupt', reason: `impossible record length ${payloadBytes}` };
  }
  const total = HEADER_BYTES + payloadBytes;
  if (available < total) return { kind: 'short', needed: total };
  if (checksum(buf, start, payloadBytes) !== buf.readUInt32BE(start + 4)) {
    return { kind: 'corrupt', reason: 'checksum mismatch' };
  }
  const p = start + HEADER_BYTES;
  if (buf.readUInt8(p) !== FORMAT) return { kind: 'corrupt', reason: `unknown record format ${buf.readUInt8(p)}` };
  const publishTimeMs = buf.readDoubleBE(p + 1);
  const attrLen = buf.readUInt32BE(p + 9);
  if (FIXED_PAYLOAD_BYTES + attrLen > payloadBytes) return { kind: 'corrupt', reason: 'attributes overrun' };
  const attrStart = p + FIXED_PAYLOAD_BYTES;
  let attributes: Record<string, string>;
  try {
    attributes = JSON.parse(buf.toString('utf8', attrStart, attrStart + attrLen)) as Record<string, string>;
  } catch {
    return { kind: 'corrupt', reason: 'attributes are not JSON' };
  }
  // Copy the data out so the caller's read buffer can be reused or freed.
  const data = Buffer.from(buf.subarray(attrStart + attrLen, start + total));
  return { kind: 'record', record: { publishTimeMs, attributes, data }, bytes: total };
}
