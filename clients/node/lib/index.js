// An idiomatic async client for the ktgrpc gateway over the generated stubs.
import { setTimeout as sleep } from "node:timers/promises";

import { create } from "@bufbuild/protobuf";
import { DurationSchema, TimestampSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { Http2SessionManager, createGrpcTransport } from "@connectrpc/connect-node";

import { ClearRequestSchema, Admin } from "../gen/ktgrpc/v1/admin_pb.js";
import { Cursor } from "../gen/ktgrpc/v1/cursor_pb.js";
import { KV, SetBulkRequest_EntrySchema } from "../gen/ktgrpc/v1/kv_pb.js";
import { Operation, Replication } from "../gen/ktgrpc/v1/replication_pb.js";
import { CancelledError, UnavailableError, toKtgrpcError } from "./errors.js";

export * from "./errors.js";

/** The gateway's default address. */
export const DEFAULT_ADDRESS = "127.0.0.1:7878";
/** The gateway's default --max-message-size; also this client's limit. */
export const DEFAULT_MAX_MESSAGE_SIZE = 128 * 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** UTF-8 bytes of a string (Uint8Array passes through). */
export function bytes(s) {
  return typeof s === "string" ? encoder.encode(s) : s;
}

/** The UTF-8 text of bytes (invalid sequences become U+FFFD). */
export function text(b) {
  return decoder.decode(b);
}

function toDuration(ttl) {
  if (!(ttl > 0)) throw new RangeError(`ttl must be a positive number of seconds, not ${ttl}`);
  const seconds = Math.floor(ttl);
  return create(DurationSchema, { seconds: BigInt(seconds), nanos: Math.round((ttl - seconds) * 1e9) });
}

function expiration(opts) {
  if (opts?.ttl !== undefined && opts?.expireAt !== undefined) {
    throw new TypeError("give ttl or expireAt, not both");
  }
  if (opts?.ttl !== undefined) return { case: "ttl", value: toDuration(opts.ttl) };
  if (opts?.expireAt !== undefined) {
    const ms = opts.expireAt instanceof Date ? opts.expireAt.getTime() : opts.expireAt * 1000;
    const seconds = Math.floor(ms / 1000);
    return {
      case: "expireTime",
      value: create(TimestampSchema, { seconds: BigInt(seconds), nanos: Math.round(ms - seconds * 1000) * 1e6 }),
    };
  }
  return { case: undefined };
}

function toDate(ts) {
  return ts ? new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6)) : undefined;
}

// A stream is worth reopening when the gateway or network is unavailable, or
// when the connection reset it (CANCELLED although this client did not abort).
function retryable(err, abort) {
  return err instanceof UnavailableError || (err instanceof CancelledError && !abort.signal.aborted);
}

async function backoff(failures, maxMs) {
  const delay = Math.min(maxMs, 100 * 2 ** (failures - 1));
  await sleep(delay * (0.5 + Math.random() / 2));
}

/** A connection to a ktgrpc gateway. */
export class Client {
  constructor(address = DEFAULT_ADDRESS, options = {}) {
    const tls = Boolean(options.tls || options.ca || options.cert || options.serverName);
    this.address = address;
    this.db = options.db ?? "";
    this.timeoutMs = options.timeoutMs;
    const baseUrl = `${tls ? "https" : "http"}://${address}`;
    const nodeOptions = tls
      ? { ca: options.ca, cert: options.cert, key: options.key, servername: options.serverName }
      : {};
    const limit = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
    this._session = options._session ?? new Http2SessionManager(baseUrl, undefined, nodeOptions);
    const token = options.token;
    const interceptors = token
      ? [(next) => (req) => {
          req.header.set("authorization", `Bearer ${token}`);
          return next(req);
        }]
      : [];
    this._transport = options._transport ?? createGrpcTransport({
      baseUrl,
      sessionManager: this._session,
      nodeOptions,
      interceptors,
      readMaxBytes: limit,
      writeMaxBytes: limit,
    });
    this._owner = !options._transport;
    this.kv = createClient(KV, this._transport);
    this.cursor = createClient(Cursor, this._transport);
    this.replication = createClient(Replication, this._transport);
    this.admin = createClient(Admin, this._transport);
  }

  /** A client for database `db` sharing this one's connection. */
  withDb(db) {
    return new Client(this.address, { db, timeoutMs: this.timeoutMs, _session: this._session, _transport: this._transport });
  }

  /** Closes the connection (a client from withDb leaves it to its parent). */
  close() {
    if (this._owner) this._session.abort();
  }

  [Symbol.asyncDispose]() {
    this.close();
    return Promise.resolve();
  }

  async _call(fn, req) {
    try {
      return await fn(req, { timeoutMs: this.timeoutMs });
    } catch (e) {
      throw toKtgrpcError(e);
    }
  }

  async get(key) {
    const r = await this._call(this.kv.get, { db: this.db, key: bytes(key) });
    return r.found ? r.value : undefined;
  }

  async getString(key) {
    const v = await this.get(key);
    return v === undefined ? undefined : text(v);
  }

  async getJSON(key) {
    const v = await this.get(key);
    return v === undefined ? undefined : JSON.parse(text(v));
  }

  async getRecord(key) {
    const k = bytes(key);
    const r = await this._call(this.kv.get, { db: this.db, key: k });
    return r.found ? { key: text(k), rawKey: k, value: r.value, expireTime: toDate(r.expireTime) } : undefined;
  }

  async set(key, value, opts) {
    await this._call(this.kv.set, { db: this.db, key: bytes(key), value: bytes(value), expiration: expiration(opts) });
  }

  async setJSON(key, value, opts) {
    await this.set(key, JSON.stringify(value), opts);
  }

  async add(key, value, opts) {
    const r = await this._call(this.kv.add, { db: this.db, key: bytes(key), value: bytes(value), expiration: expiration(opts) });
    return r.applied;
  }

  async replace(key, value, opts) {
    const r = await this._call(this.kv.replace, { db: this.db, key: bytes(key), value: bytes(value), expiration: expiration(opts) });
    return r.applied;
  }

  async append(key, value, opts) {
    await this._call(this.kv.append, { db: this.db, key: bytes(key), value: bytes(value), expiration: expiration(opts) });
  }

  async remove(key) {
    return (await this._call(this.kv.remove, { db: this.db, key: bytes(key) })).removed;
  }

  async seize(key) {
    const r = await this._call(this.kv.seize, { db: this.db, key: bytes(key) });
    return r.found ? r.value : undefined;
  }

  async check(key) {
    const r = await this._call(this.kv.check, { db: this.db, key: bytes(key) });
    return r.found ? Number(r.valueSize) : undefined;
  }

  async cas(key, oldValue, newValue, opts) {
    const req = { db: this.db, key: bytes(key), expiration: expiration(opts) };
    if (oldValue !== undefined && oldValue !== null) req.oldValue = bytes(oldValue);
    if (newValue !== undefined && newValue !== null) req.newValue = bytes(newValue);
    return (await this._call(this.kv.compareAndSwap, req)).swapped;
  }

  async incr(key, delta = 1n, opts = {}) {
    const req = {
      db: this.db, key: bytes(key), delta: BigInt(delta), mustExist: Boolean(opts.mustExist), expiration: expiration(opts),
    };
    if (opts.initial !== undefined) req.initial = BigInt(opts.initial);
    const r = await this._call(this.kv.increment, req);
    return r.applied ? r.value : undefined;
  }

  async incrDouble(key, delta = 1, opts = {}) {
    const req = { db: this.db, key: bytes(key), delta, mustExist: Boolean(opts.mustExist), expiration: expiration(opts) };
    if (opts.initial !== undefined) req.initial = opts.initial;
    const r = await this._call(this.kv.incrementDouble, req);
    return r.applied ? r.value : undefined;
  }

  async getBulk(keys, opts = {}) {
    const r = await this._call(this.kv.getBulk, { db: this.db, keys: keys.map(bytes), atomic: Boolean(opts.atomic) });
    return new Map(r.records.map((rec) => [text(rec.key), rec.value]));
  }

  async setBulk(records, opts = {}) {
    const entries = records instanceof Map ? [...records] : Object.entries(records);
    const exp = expiration(opts);
    const r = await this._call(this.kv.setBulk, {
      db: this.db,
      atomic: Boolean(opts.atomic),
      records: entries.map(([k, v]) => create(SetBulkRequest_EntrySchema, { key: bytes(k), value: bytes(v), expiration: exp })),
    });
    return Number(r.stored);
  }

  async removeBulk(keys, opts = {}) {
    const r = await this._call(this.kv.removeBulk, { db: this.db, keys: keys.map(bytes), atomic: Boolean(opts.atomic) });
    return Number(r.removed);
  }

  async match(opts) {
    const req = { db: this.db, limit: BigInt(opts.limit ?? 0) };
    const given = ["prefix", "regex", "similar"].filter((k) => opts[k] !== undefined);
    if (given.length !== 1) throw new TypeError("match needs exactly one of prefix, regex or similar");
    if (opts.prefix !== undefined) req.pattern = { case: "prefix", value: bytes(opts.prefix) };
    else if (opts.regex !== undefined) req.pattern = { case: "regex", value: opts.regex };
    else {
      req.pattern = {
        case: "similar",
        value: { origin: bytes(opts.similar), maxDistance: opts.maxDistance ?? 1, utf8: opts.utf8 ?? true },
      };
    }
    const r = await this._call(this.kv.matchKeys, req);
    return r.keys.map(text);
  }

  async status() {
    const r = await this._call(this.admin.status, { db: this.db });
    return { count: Number(r.count), size: Number(r.size), fields: { ...r.fields } };
  }

  async clear() {
    await this._call(this.admin.clear, create(ClearRequestSchema, { db: this.db }));
  }

  /**
   * Records of a key range in key order, as an async iterator. A broken
   * stream (UNAVAILABLE, or reset in transit) resumes after the last record yielded.
   */
  async *scan(opts = {}) {
    const req = {
      db: this.db,
      prefix: opts.prefix === undefined ? new Uint8Array() : bytes(opts.prefix),
      startKey: opts.start === undefined ? new Uint8Array() : bytes(opts.start),
      endKey: opts.end === undefined ? new Uint8Array() : bytes(opts.end),
      reverse: Boolean(opts.reverse),
      limit: BigInt(opts.limit ?? 0),
      keysOnly: Boolean(opts.keysOnly),
      batchSize: opts.batchSize ?? 0,
    };
    const retries = opts.retries ?? 5;
    const limit = opts.limit ?? 0;
    let yielded = 0;
    let failures = 0;
    for (;;) {
      const abort = new AbortController();
      try {
        for await (const batch of this.cursor.scan(req, { signal: abort.signal })) {
          for (const rec of batch.records) {
            failures = 0;
            yielded++;
            if (req.reverse) req.endKey = rec.key;
            else req.startKey = new Uint8Array([...rec.key, 0]);
            if (limit) req.limit = BigInt(limit - yielded);
            yield { key: text(rec.key), rawKey: rec.key, value: rec.value, expireTime: toDate(rec.expireTime) };
          }
        }
        return;
      } catch (e) {
        const err = toKtgrpcError(e);
        if (!retryable(err, abort) || failures >= retries) throw err;
        failures++;
        await backoff(failures, 5000);
        if (limit && yielded >= limit) return;
      } finally {
        abort.abort();
      }
    }
  }

  /**
   * Changes from the update log as an async iterator that resumes after the
   * last position seen when the stream breaks (UNAVAILABLE, or reset in transit). `after`
   * undefined starts from now, 0 replays the retained log.
   */
  async *watch(opts = {}) {
    const req = {
      start: opts.after === undefined ? { case: "now", value: true } : { case: "after", value: BigInt(opts.after) },
      dbs: opts.dbs ?? [],
      keyPrefix: opts.prefix === undefined ? new Uint8Array() : bytes(opts.prefix),
      operations: (opts.operations ?? []).map((op) => Operation[op.toUpperCase()]),
    };
    if (opts.progressIntervalMs !== undefined) req.progressInterval = toDuration(opts.progressIntervalMs / 1000);
    const retries = opts.retries ?? Infinity;
    let failures = 0;
    for (;;) {
      const abort = new AbortController();
      try {
        for await (const msg of this.replication.subscribe(req, { signal: abort.signal })) {
          failures = 0;
          if (msg.kind.case === "progress") {
            req.start = { case: "after", value: msg.kind.value.position };
            if (opts.progress) yield { position: msg.kind.value.position, operation: "progress" };
            continue;
          }
          const ev = msg.kind.value;
          req.start = { case: "after", value: ev.position };
          yield {
            position: ev.position,
            operation: Operation[ev.operation].toLowerCase(),
            db: ev.db,
            key: text(ev.key),
            rawKey: ev.key,
            value: ev.value,
            expireTime: toDate(ev.expireTime),
          };
        }
        return;
      } catch (e) {
        const err = toKtgrpcError(e);
        if (!retryable(err, abort) || failures >= retries) throw err;
        failures++;
        await backoff(failures, opts.maxBackoffMs ?? 10000);
      } finally {
        abort.abort();
      }
    }
  }
}

/** A Client for the gateway at `address`. */
export function connect(address = DEFAULT_ADDRESS, options = {}) {
  return new Client(address, options);
}

