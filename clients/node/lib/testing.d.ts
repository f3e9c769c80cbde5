import type { Client, ClientOptions } from "./index.js";

export interface Gateway {
  /** host:port the gateway listens on. */
  readonly address: string;
  /** The gateway's log lines so far. */
  readonly log: string[];
  client(options?: ClientOptions): Client;
  /** Stops the gateway gracefully (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
}

export interface GatewayOptions {
  /** The ktgrpc binary; default $KTGRPC_BINARY, else ktgrpc on PATH. */
  binary?: string;
  /** Default "embedded:". */
  backend?: string;
  /** More `ktgrpc serve` flags. */
  args?: string[];
  startTimeoutMs?: number;
}

/** Starts `ktgrpc serve` on a free loopback port and resolves once it serves. */
export declare function startGateway(options?: GatewayOptions): Promise<Gateway>;
