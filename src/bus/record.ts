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

export function encodeRecord(record: LogRecord): Buffer {
  const attrs = Buffer.from(JSON.stringify(record.attributes), 'utf8');
  const payloadBytes = FIXED_PAYLOAD_BYTES + attrs.length + record.data.length;
  if (payloadBytes > MAX_PAYLOAD_BYTES) {
    throw new RangeError(`message of ${payloadBytes} bytes exceeds the ${MAX_PAYLOAD_BYTES}-byte record limit`);
  }
  const out = Buffer.allocUnsafe(HEADER_BYTES + payloadBytes);
  out.writeUInt32BE(payloadBytes, 0);
  let at = HEADER_BYTES;
  out.writeUInt8(FORMAT, at);
  out.writeDoubleBE(record.publishTimeMs, at + 1);
  out.writeUInt32BE(attrs.length, at + 9);
  at += FIXED_PAYLOAD_BYTES;
  attrs.copy(out, at);
  record.data.copy(out, at + attrs.length);
  out.writeUInt32BE(checksum(out, 0, payloadBytes), 4);
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
