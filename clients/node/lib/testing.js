// A gateway on the embedded store, in a subprocess, for tests.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

import { Client } from "./index.js";

/**
 * Starts `ktgrpc serve` on a free loopback port with an in-memory store (or
 * `backend`) and resolves once it serves. The binary is `binary`, else
 * $KTGRPC_BINARY, else `ktgrpc` on PATH.
 */
export async function startGateway({ binary, backend = "embedded:", args = [], startTimeoutMs = 30000 } = {}) {
  const bin = binary ?? process.env.KTGRPC_BINARY ?? "ktgrpc";
  const child = spawn(bin, ["serve", "--listen", "127.0.0.1:0", "--backend", backend, "--log-format", "json", ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const log = [];
  const address = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`${bin} did not start within ${startTimeoutMs} ms:\n${log.join("\n")}`));
    }, startTimeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${bin} (set KTGRPC_BINARY or put ktgrpc on PATH): ${e.message}`));
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${bin} exited with ${code} before serving:\n${log.join("\n")}`));
    });
    createInterface({ input: child.stderr }).on("line", (line) => {
      log.push(line);
      try {
        const entry = JSON.parse(line);
        if (entry.msg === "ktgrpc serving") {
          clearTimeout(timer);
          resolve(entry.listen);
        }
      } catch {
        // not a JSON line
      }
    });
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return {
    address,
    log,
    client: (options) => new Client(address, options),
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
