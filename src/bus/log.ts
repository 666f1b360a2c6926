/**
 * TopicLog: one topic of the embedded bus as an append-only log of segment files, plus the checkpoints of the
 * subscriptions that read it.
 *
 * Layout under the topic directory:
 *   <base>.seg            segment whose first record sits at global position <base> (20-digit, zero padded)
 *   subscriptions/<name>.json   {"position": <next position to deliver>}
 *
 * A position is a byte offset in the topic's whole history, so it only grows and names a record forever;
 * message ids are `<segment base>-<offset in segment>`.
 *
 * Durability: appends are group-committed. The publishes of one event-loop turn share one commit, which is one
 * positional write made durable (the segment is open with O_DSYNC, so the write returns once the data is on disk,
 * as write + fdatasync would; fdatasync where O_DSYNC does not exist); only then do their promises resolve and only then can
 * readers see the records (readers never see bytes that are not yet on disk). Commits are pipelined: up to
 * `maxInFlight` of them write and sync at once, each at the byte range reserved for it when it started, and
 * they are acknowledged strictly in order (a commit resolves only when it and every earlier one are durable).
 * Overlapping syncs let the file system fold them into one journal commit, so a slow disk (fdatasync of
 * milliseconds) no longer caps how many publishes per second are acknowledged. A failed commit cuts the file
 * back to where it started and fails every later commit still in flight: nothing after a hole is acknowledged.
 * On open the tail segment is scanned and a torn or corrupt tail is truncated away.
 */
import { EventEmitter } from 'node:events';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../core/logger';
import { UnavailableError } from '../core/errors';
import type { BusMessage, DeliveredMessage } from './types';
import { type PreparedRecord, decodeRecord, prepareRecord, writeRecord } from './record';
import { fsyncDir, writeFileAtomic } from './fsutil';

const SEGMENT_SUFFIX = '.seg';
const READ_CHUNK_BYTES = 1024 * 1024;
const SUBSCRIPTION_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface TopicLogOptions {
  dir: string;
  logger: Logger;
  /** A segment is closed and a new one started once it reaches this size (checked between commits). */
  segmentMaxBytes: number;
  /** false: one write + fsync per publish call, one at a time (for comparison in the benchmark). */
  groupCommit: boolean;
  /** Commits writing and syncing at once (default 3, leaving one of libuv's 4 pool threads for reads). */
  maxInFlight?: number;
}

interface Segment {
  base: number;
  /** Bytes on disk (for the active segment: bytes written, committed or not). */
  size: number;
}

interface PendingPublish {
  messages: BusMessage[];
  resolve: (ids: string[]) => void;
  reject: (err: Error) => void;
}

/** One commit: its publishes, their ids, and the byte range it reserved in the active segment. */
interface Commit {
  publishes: PendingPublish[];
  ids: string[][];
  records: number;
  /** Segment-relative start and end of the reserved range. */
  start: number;
  end: number;
  /** Set when the write and fdatasync are done (error null) or failed. */
  settled: boolean;
  error: Error | null;
  /** Resolves when settled. */
  done: Promise<void>;
  /** performance.now() when the write was submitted. */
  started: number;
}

const DEFAULT_MAX_IN_FLIGHT = 3;

/**
 * O_DSYNC where the platform has it (Linux, macOS): the commit is one write submitted to libuv's pool instead of a
 * write and an fdatasync. Each submission costs the event loop tens of microseconds on a virtualized host.
 */
const DSYNC: number = typeof fsConstants.O_DSYNC === 'number' ? fsConstants.O_DSYNC : 0;
/** Flags for the active segment: read-write (truncation after a failure), synchronous data writes. */
const ACTIVE_FLAGS = fsConstants.O_RDWR | DSYNC;

export interface ReadResult {
  messages: DeliveredMessage[];
  /** Position just after the last message returned (or unchanged when nothing was read). */
  next: number;
}

function segmentName(base: number): string {
  return `${String(base).padStart(20, '0')}${SEGMENT_SUFFIX}`;
}

export function assertSubscriptionName(name: string): void {
  if (!SUBSCRIPTION_NAME.test(name)) {
    throw new Error(`subscription name "${name}" must match ${SUBSCRIPTION_NAME.source}`);
  }
}

export class TopicLog {
  readonly events = new EventEmitter();
  private segments: Segment[] = [];
  private active!: FileHandle;
  /** Global position up to which records are fsynced and visible to readers. */
  private committedEnd = 0;
  private pending: PendingPublish[] = [];
  private commitLoop: Promise<void> | null = null;
  /** Started, not yet acknowledged commits, oldest first. */
  private inFlight: Commit[] = [];
  /** Wakes the commit loop when it waits for work (a new append or a settled commit). */
  private wake: (() => void) | null = null;
  private broken: Error | null = null;
  private closed = false;
  private readonly checkpoints = new Map<string, number>();
  private readonly readHandles = new Map<number, FileHandle>();
  private retention: Promise<void> = Promise.resolve();
  /** Counters for health and benchmarks. */
  readonly stats = {
    commits: 0,
    records: 0,
    bytes: 0,
    truncatedBytes: 0,
    /** Summed milliseconds from a commit's start to its write settling, and to its acknowledgement. */
    writeMs: 0,
    ackMs: 0,
  };

  private constructor(private readonly options: TopicLogOptions) {
    this.events.setMaxListeners(0);
  }

  static async open(options: TopicLogOptions): Promise<TopicLog> {
    const log = new TopicLog(options);
    await log.recover();
    return log;
  }

  get dir(): string {
    return this.options.dir;
  }

  /** Position of the first retained record. */
  get start(): number {
    return this.segments[0].base;
  }

  /** Position after the last durable record. */
  get end(): number {
    return this.committedEnd;
  }

  /** Bytes retained on disk. */
  get retainedBytes(): number {
    return this.segments.reduce((sum, s) => sum + s.size, 0);
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  get error(): Error | null {
    return this.broken;
  }

  private async recover(): Promise<void> {
    const { dir, logger } = this.options;
    await fs.mkdir(path.join(dir, 'subscriptions'), { recursive: true });
    const names = (await fs.readdir(dir)).filter((n) => /^\d{20}\.seg$/.test(n)).sort();
    for (const name of names) {
      const stat = await fs.stat(path.join(dir, name));
      this.segments.push({ base: Number(name.slice(0, 20)), size: stat.size });
    }
    if (this.segments.length === 0) {
      const handle = await fs.open(path.join(dir, segmentName(0)), 'wx');
      await handle.close();
      await fsyncDir(dir);
      this.segments.push({ base: 0, size: 0 });
    }
    const tail = this.segments[this.segments.length - 1];
    this.active = await fs.open(path.join(dir, segmentName(tail.base)), ACTIVE_FLAGS);
    const valid = await this.scanValidPrefix(this.active, tail.size);
    if (valid.length < tail.size) {
      const dropped = tail.size - valid.length;
      logger.warn(
        { segment: segmentName(tail.base), validBytes: valid.length, droppedBytes: dropped, reason: valid.reason },
        `embedded log: truncating ${dropped} bytes of torn or corrupt tail in ${segmentName(tail.base)}`,
      );
      await this.active.truncate(valid.length);
      await this.active.sync();
      tail.size = valid.length;
      this.stats.truncatedBytes += dropped;
    }
    this.committedEnd = tail.base + tail.size;
    for (const file of await fs.readdir(path.join(dir, 'subscriptions'))) {
      if (!file.endsWith('.json')) continue;
      try {
        const doc = JSON.parse(await fs.readFile(path.join(dir, 'subscriptions', file), 'utf8')) as {
          position: number;
        };
        if (typeof doc.position === 'number') this.checkpoints.set(file.slice(0, -5), doc.position);
      } catch (err) {
        logger.error({ err, file }, 'embedded log: unreadable subscription checkpoint; it will restart from the start');
      }
    }
  }

  /** Length of the prefix of a segment made of whole, checksum-valid records. */
  private async scanValidPrefix(handle: FileHandle, size: number): Promise<{ length: number; reason?: string }> {
    let offset = 0;
    let buf = Buffer.alloc(0);
    let bufStart = 0;
    while (offset < size) {
      let result = decodeRecord(buf, offset - bufStart);
      if (result.kind === 'short') {
        const want = Math.max(result.needed, READ_CHUNK_BYTES);
        const len = Math.min(want, size - offset);
        buf = Buffer.allocUnsafe(len);
        const { bytesRead } = await handle.read(buf, 0, len, offset);
        buf = buf.subarray(0, bytesRead);
        bufStart = offset;
        result = decodeRecord(buf, 0);
        if (result.kind === 'short') return { length: offset, reason: 'torn record at end of segment' };
      }
      if (result.kind === 'corrupt') return { length: offset, reason: result.reason };
      offset += result.bytes;
    }
    return { length: offset };
  }

  /** Appends messages; resolves with their ids once they are fsynced. */
  append(messages: BusMessage[]): Promise<string[]> {
    if (this.closed) return Promise.reject(new UnavailableError('embedded log is closed'));
    if (this.broken) return Promise.reject(new UnavailableError(`embedded log is failing: ${this.broken.message}`));
    if (messages.length === 0) return Promise.resolve([]);
    return new Promise<string[]>((resolve, reject) => {
      this.pending.push({ messages, resolve, reject });
      if (!this.commitLoop) this.commitLoop = this.runCommits();
      else this.wake?.();
    });
  }

  private get maxInFlight(): number {
    return this.options.groupCommit ? Math.max(1, this.options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT) : 1;
  }

  /** Waits until an append arrives or an unsettled commit settles. */
  private idle(): Promise<void> {
    const unsettled = this.inFlight.find((c) => !c.settled);
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      void unsettled?.done.then(resolve);
    }).finally(() => {
      this.wake = null;
    });
  }

  private async runCommits(): Promise<void> {
    try {
      for (;;) {
        this.acknowledge();
        const head = this.inFlight[0];
        if (head?.error && this.inFlight.every((c) => c.settled)) {
          await this.cutBack();
          continue;
        }
        if (this.pending.length === 0 && this.inFlight.length === 0) break;
        // Here every settled commit at the head has been handled, so whenever something is in flight, at least
        // one commit is unsettled and idle() has something to wait for.
        const failing = this.inFlight.some((c) => c.error);
        if (this.pending.length === 0 || this.inFlight.length >= this.maxInFlight || failing) {
          await this.idle();
          continue;
        }
        // Yield one event-loop turn first, so callers released by the previous commit (and everyone else
        // publishing in this turn) can join this one: one fsync then covers all of them.
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.acknowledge();
        if (this.inFlight.some((c) => c.error)) continue;
        const tail = this.segments[this.segments.length - 1];
        if (tail.size >= this.options.segmentMaxBytes) {
          // Rotation switches the file: first let every commit into the current one finish.
          if (this.inFlight.length > 0) {
            await this.idle();
            continue;
          }
          try {
            await this.rotate();
          } catch (err) {
            this.broken = err as Error;
            for (const p of this.pending.splice(0)) {
              p.reject(new UnavailableError(`embedded log rotation failed: ${(err as Error).message}`));
            }
            continue;
          }
        }
        const batch = this.options.groupCommit ? this.pending.splice(0) : this.pending.splice(0, 1);
        this.launch(batch);
      }
    } finally {
      this.commitLoop = null;
    }
  }

  /** Encodes a batch, reserves its byte range and starts writing and syncing it (not awaited here). */
  private launch(batch: PendingPublish[]): void {
    if (this.broken) {
      for (const p of batch) p.reject(new UnavailableError(`embedded log is failing: ${this.broken.message}`));
      return;
    }
    const tail = this.segments[this.segments.length - 1];
    const publishTimeMs = Date.now();
    const prepared: PreparedRecord[] = [];
    const ids: string[][] = [];
    const accepted: PendingPublish[] = [];
    let offset = tail.size;
    for (const p of batch) {
      let mine: PreparedRecord[];
      try {
        mine = p.messages.map((m) => prepareRecord(m.attributes, m.data));
      } catch (err) {
        p.reject(err as Error);
        continue;
      }
      const positions: string[] = [];
      for (const r of mine) {
        positions.push(`${tail.base}-${offset}`);
        offset += r.bytes;
        prepared.push(r);
      }
      ids.push(positions);
      accepted.push(p);
    }
    if (accepted.length === 0) return;
    // Every record of the commit is encoded straight into the one buffer written to the file.
    const chunk = Buffer.allocUnsafe(offset - tail.size);
    let at = 0;
    for (const r of prepared) at = writeRecord(chunk, at, r, publishTimeMs);
    const commit: Commit = {
      publishes: accepted,
      ids,
      records: prepared.length,
      start: tail.size,
      end: tail.size + chunk.length,
      settled: false,
      error: null,
      done: Promise.resolve(),
      started: performance.now(),
    };
    tail.size = commit.end;
    const handle = this.active;
    commit.done = (async () => {
      try {
        let written = 0;
        while (written < chunk.length) {
          const { bytesWritten } = await handle.write(chunk, written, chunk.length - written, commit.start + written);
          written += bytesWritten;
        }
        if (!DSYNC) await handle.datasync();
      } catch (err) {
        commit.error = err as Error;
      }
      commit.settled = true;
      this.stats.writeMs += performance.now() - commit.started;
      this.wake?.();
    })();
    this.inFlight.push(commit);
  }

  /** Resolves settled commits at the head of the line, in order; stops at the first unsettled or failed one. */
  private acknowledge(): void {
    while (this.inFlight.length > 0 && this.inFlight[0].settled && !this.inFlight[0].error) {
      const commit = this.inFlight.shift() as Commit;
      const tail = this.segments[this.segments.length - 1];
      this.committedEnd = tail.base + commit.end;
      this.stats.commits += 1;
      this.stats.records += commit.records;
      this.stats.bytes += commit.end - commit.start;
      this.stats.ackMs += performance.now() - commit.started;
      commit.publishes.forEach((p, i) => p.resolve(commit.ids[i]));
      this.events.emit('append');
    }
  }

  /**
   * The head commit failed and every commit after it has settled: cut the file back to where the failed one
   * started, so the log stays a sequence of whole records, and fail it and every later commit (their bytes sat
   * after the cut). If even the cut fails the log refuses further appends rather than risk acknowledging into a
   * damaged file.
   */
  private async cutBack(): Promise<void> {
    const failed = this.inFlight.splice(0);
    const first = failed[0];
    const tail = this.segments[this.segments.length - 1];
    try {
      await this.active.truncate(first.start);
    } catch (truncateErr) {
      this.broken = truncateErr as Error;
    }
    tail.size = first.start;
    this.options.logger.error({ err: first.error }, 'embedded log: append failed');
    const message = `embedded log append failed: ${(first.error as Error).message}`;
    for (const c of failed) for (const p of c.publishes) p.reject(new UnavailableError(message));
  }

  private async rotate(): Promise<void> {
    const tail = this.segments[this.segments.length - 1];
    const base = tail.base + tail.size;
    const handle = await fs.open(
      path.join(this.options.dir, segmentName(base)),
      ACTIVE_FLAGS | fsConstants.O_CREAT | fsConstants.O_EXCL,
    );
    await fsyncDir(this.options.dir);
    const old = this.active;
    this.active = handle;
    this.segments.push({ base, size: 0 });
    await old.close();
  }

  /** Waits for every queued append to be committed (or rejected). */
  async flush(): Promise<void> {
    while (this.commitLoop) await this.commitLoop;
  }

  /** Reads up to `max` durable records starting at `position`. */
  async read(position: number, max: number, subscription?: string): Promise<ReadResult> {
    const messages: DeliveredMessage[] = [];
    let pos = position;
    if (pos < this.start) {
      this.options.logger.warn(
        { subscription, checkpoint: pos, start: this.start },
        'embedded log: checkpoint is before the oldest retained segment; continuing from the oldest',
      );
      pos = this.start;
    }
    if (pos > this.committedEnd) {
      this.options.logger.error(
        { subscription, checkpoint: pos, end: this.committedEnd },
        'embedded log: checkpoint is past the end of the log (log lost or replaced?); continuing from the end',
      );
      pos = this.committedEnd;
    }
    while (messages.length < max) {
      const idx = this.segmentIndex(pos);
      const seg = this.segments[idx];
      const isActive = idx === this.segments.length - 1;
      const segEnd = isActive ? this.committedEnd : seg.base + seg.size;
      if (pos >= segEnd) {
        if (isActive) break;
        pos = this.segments[idx + 1].base;
        continue;
      }
      const handle = await this.readHandle(seg.base);
      // Sized to the batch (events are typically well under 2 KB); a longer record is read whole below.
      const want = Math.max(64 * 1024, (max - messages.length) * 2048);
      let buf = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, want, segEnd - pos));
      let { bytesRead } = await handle.read(buf, 0, buf.length, pos - seg.base);
      buf = buf.subarray(0, bytesRead);
      let at = 0;
      while (messages.length < max && pos < segEnd) {
        let r = decodeRecord(buf, at);
        if (r.kind === 'short') {
          if (at > 0) break; // read the rest in the next chunk
          // One record larger than the chunk.
          buf = Buffer.allocUnsafe(Math.min(r.needed, segEnd - pos));
          ({ bytesRead } = await handle.read(buf, 0, buf.length, pos - seg.base));
          buf = buf.subarray(0, bytesRead);
          r = decodeRecord(buf, 0);
          if (r.kind === 'short') r = { kind: 'corrupt', reason: 'record runs past the end of its segment' };
        }
        if (r.kind === 'corrupt') {
          // Only a sealed segment can get here (the tail was verified on open and is written by us).
          this.options.logger.error(
            {
              subscription,
              segment: segmentName(seg.base),
              offset: pos - seg.base,
              reason: r.reason,
              lostBytes: segEnd - pos,
            },
            'embedded log: corrupt record in a sealed segment; skipping the rest of that segment',
          );
          pos = segEnd;
          break;
        }
        messages.push({
          messageId: `${seg.base}-${pos - seg.base}`,
          publishTime: new Date(r.record.publishTimeMs),
          attributes: r.record.attributes,
          data: r.record.data,
          position: pos,
        });
        pos += r.bytes;
        at += r.bytes;
      }
    }
    return { messages, next: pos };
  }

  private segmentIndex(pos: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.segments[mid].base <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private async readHandle(base: number): Promise<FileHandle> {
    const cached = this.readHandles.get(base);
    if (cached) return cached;
    const opened = await fs.open(path.join(this.options.dir, segmentName(base)), 'r');
    // Two readers may have opened the segment at once: keep one handle, close the other (never leave one to GC).
    const raced = this.readHandles.get(base);
    if (raced) {
      await opened.close();
      return raced;
    }
    this.readHandles.set(base, opened);
    return opened;
  }

  /** The subscription's next position: its checkpoint, or the oldest retained record for a new one. */
  checkpoint(subscription: string): number {
    return this.checkpoints.get(subscription) ?? this.start;
  }

  /**
   * Makes retention wait for a reader that has not saved a checkpoint yet (a new subscription starts at the
   * oldest retained record, which must not be deleted under it).
   */
  register(subscription: string): number {
    if (!this.checkpoints.has(subscription)) this.checkpoints.set(subscription, this.start);
    return this.checkpoints.get(subscription) as number;
  }

  hasCheckpoint(subscription: string): boolean {
    return this.checkpoints.has(subscription);
  }

  /** Persists a checkpoint atomically, then drops segments every subscription has passed. */
  async saveCheckpoint(subscription: string, position: number): Promise<void> {
    assertSubscriptionName(subscription);
    const file = path.join(this.options.dir, 'subscriptions', `${subscription}.json`);
    await writeFileAtomic(file, JSON.stringify({ position, updated: new Date().toISOString() }));
    this.checkpoints.set(subscription, position);
    this.retention = this.retention
      .then(() => this.applyRetention())
      .catch((err: unknown) => {
        this.options.logger.error({ err }, 'embedded log: retention failed');
      });
    await this.retention;
  }

  /** Deletes sealed segments that every known subscription has read past. With no subscription, keeps all. */
  private async applyRetention(): Promise<void> {
    if (this.checkpoints.size === 0) return;
    const min = Math.min(...this.checkpoints.values());
    let removed = false;
    while (this.segments.length > 1) {
      const seg = this.segments[0];
      if (seg.base + seg.size > min) break;
      const handle = this.readHandles.get(seg.base);
      this.readHandles.delete(seg.base);
      await handle?.close();
      await fs.rm(path.join(this.options.dir, segmentName(seg.base)), { force: true });
      this.segments.shift();
      removed = true;
    }
    if (removed) await fsyncDir(this.options.dir);
  }

  /** Number of durable records from `position` to the end (scans; used for spool health on open). */
  async countFrom(position: number): Promise<number> {
    let count = 0;
    let pos = position;
    while (pos < this.committedEnd) {
      const r = await this.read(pos, 10_000);
      if (r.messages.length === 0) break;
      count += r.messages.length;
      pos = r.next;
    }
    return count;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flush();
    await this.retention;
    this.events.emit('close');
    for (const handle of this.readHandles.values()) await handle.close();
    this.readHandles.clear();
    await this.active.close();
  }
}
