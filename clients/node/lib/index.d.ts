import type { Client as ConnectClient } from "@connectrpc/connect";
import type { Admin } from "../gen/ktgrpc/v1/admin_pb.js";
import type { Cursor } from "../gen/ktgrpc/v1/cursor_pb.js";
import type { KV } from "../gen/ktgrpc/v1/kv_pb.js";
import type { Replication } from "../gen/ktgrpc/v1/replication_pb.js";

export * from "./errors.js";

/** A key: a string (UTF-8) or raw bytes. */
export type Key = string | Uint8Array;
/** A value: raw bytes, or a string stored as UTF-8. */
export type Value = string | Uint8Array;

export declare const DEFAULT_ADDRESS: string;
export declare const DEFAULT_MAX_MESSAGE_SIZE: number;

/** UTF-8 bytes of a string (a Uint8Array passes through). */
export declare function bytes(s: Value): Uint8Array;
/** The UTF-8 text of bytes (invalid sequences become U+FFFD). */
export declare function text(b: Uint8Array): string;

export interface ClientOptions {
  /** The database; "" (the default) is the backend's default one. */
  db?: string;
  /** Connect over TLS, verifying the gateway with the system's CAs. */
  tls?: boolean;
  /** PEM CA that verifies the gateway instead (implies tls). */
  ca?: string | Buffer;
  /** PEM client certificate and key, for mutual TLS (implies tls). */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The name the gateway's certificate must carry (implies tls). */
  serverName?: string;
  /** Bearer token sent as `authorization: Bearer <token>` with every call. */
  token?: string;
  /** Deadline of every unary call, in milliseconds. */
  timeoutMs?: number;
  /** Largest message sent or received; default 128 MiB, the gateway's. */
  maxMessageSize?: number;
}

/** Expiration of a write: `ttl` in seconds, or `expireAt` (Date or Unix seconds). */
export interface Expiry {
  ttl?: number;
  expireAt?: Date | number;
}

export interface StoredRecord {
  /** The key as UTF-8 text; `rawKey` has its bytes. */
  key: string;
  rawKey: Uint8Array;
  value: Uint8Array;
  /** When the record expires; undefined means never. */
  expireTime?: Date;
}

export interface ScanOptions {
  prefix?: Key;
  /** First key (inclusive). */
  start?: Key;
  /** End key (exclusive). */
  end?: Key;
  reverse?: boolean;
  limit?: number;
  keysOnly?: boolean;
  batchSize?: number;
  /** Reconnections in a row without progress before failing; default 5. */
  retries?: number;
}

export type Operation =
  | "set" | "remove" | "clear" | "append" | "increment" | "increment_double"
  | "sync" | "optimize" | "misc";

export interface WatchOptions {
  /** Resume after this position (exclusive); 0 replays the log; undefined starts now. */
  after?: bigint | number;
  prefix?: Key;
  dbs?: string[];
  operations?: Operation[];
  /** Also yield progress reports (operation "progress"). */
  progress?: boolean;
  progressIntervalMs?: number;
  /** Reconnections in a row before failing; default unlimited. */
  retries?: number;
  maxBackoffMs?: number;
}

export interface ChangeEvent {
  /** Where `watch({after: position})` resumes. */
  position: bigint;
  operation: Operation | "progress";
  db?: string;
  key?: string;
  rawKey?: Uint8Array;
  value?: Uint8Array;
  expireTime?: Date;
}

export interface MatchOptions {
  prefix?: Key;
  regex?: string;
  similar?: Key;
  maxDistance?: number;
  utf8?: boolean;
  limit?: number;
}

/** A connection to a ktgrpc gateway. */
export declare class Client {
  constructor(address?: string, options?: ClientOptions);
  readonly address: string;
  readonly db: string;
  /** The generated clients, for everything this class does not wrap. */
  readonly kv: ConnectClient<typeof KV>;
  readonly cursor: ConnectClient<typeof Cursor>;
  readonly replication: ConnectClient<typeof Replication>;
  readonly admin: ConnectClient<typeof Admin>;

  withDb(db: string): Client;
  close(): void;
  [Symbol.asyncDispose](): Promise<void>;

  /** The value, or undefined when the key does not exist. */
  get(key: Key): Promise<Uint8Array | undefined>;
  getString(key: Key): Promise<string | undefined>;
  getJSON<T = unknown>(key: Key): Promise<T | undefined>;
  getRecord(key: Key): Promise<StoredRecord | undefined>;
  set(key: Key, value: Value, opts?: Expiry): Promise<void>;
  setJSON(key: Key, value: unknown, opts?: Expiry): Promise<void>;
  /** Stores only if the key does not exist; whether it did. */
  add(key: Key, value: Value, opts?: Expiry): Promise<boolean>;
  /** Stores only if the key exists; whether it did. */
  replace(key: Key, value: Value, opts?: Expiry): Promise<boolean>;
  append(key: Key, value: Value, opts?: Expiry): Promise<void>;
  /** Whether the key existed. */
  remove(key: Key): Promise<boolean>;
  /** Removes the record and returns its value, atomically. */
  seize(key: Key): Promise<Uint8Array | undefined>;
  /** The value's size in bytes, or undefined. */
  check(key: Key): Promise<number | undefined>;
  /** Compare and swap; null/undefined old = must not exist, new = remove. */
  cas(key: Key, oldValue: Value | null | undefined, newValue: Value | null | undefined, opts?: Expiry): Promise<boolean>;
  incr(key: Key, delta?: bigint | number, opts?: Expiry & { initial?: bigint | number; mustExist?: boolean }): Promise<bigint | undefined>;
  incrDouble(key: Key, delta?: number, opts?: Expiry & { initial?: number; mustExist?: boolean }): Promise<number | undefined>;
  getBulk(keys: Key[], opts?: { atomic?: boolean }): Promise<Map<string, Uint8Array>>;
  setBulk(records: Record<string, Value> | Map<Key, Value>, opts?: Expiry & { atomic?: boolean }): Promise<number>;
  removeBulk(keys: Key[], opts?: { atomic?: boolean }): Promise<number>;
  match(opts: MatchOptions): Promise<string[]>;
  status(): Promise<{ count: number; size: number; fields: Record<string, string> }>;
  clear(): Promise<void>;
  /** Records in key order; resumes after the last one when the stream breaks. */
  scan(opts?: ScanOptions): AsyncGenerator<StoredRecord, void, undefined>;
  /** Changes from the update log; resumes after the last position when the stream breaks. */
  watch(opts?: WatchOptions): AsyncGenerator<ChangeEvent, void, undefined>;
}

export declare function connect(address?: string, options?: ClientOptions): Client;
