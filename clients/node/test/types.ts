// Compiled by `tsc -p tsconfig.json` (never run): uses the declarations the
// way a TypeScript program would, so that a wrong or missing type fails CI.
import { Client, NotFoundError, KtgrpcError, connect, text, type ChangeEvent, type StoredRecord } from "@ktgrpc/client";
import { startGateway } from "@ktgrpc/client/testing";
import { GetRequestSchema } from "@ktgrpc/client/ktgrpc/v1/kv_pb";

export async function use(): Promise<void> {
  const gw = await startGateway({ args: ["--read-only"] });
  const c: Client = connect(gw.address, { token: "t", timeoutMs: 1000 });
  const v: Uint8Array | undefined = await c.get("k");
  const s: string | undefined = await c.getString(new Uint8Array([0]));
  await c.set("k", "v", { ttl: 60 });
  const applied: boolean = await c.add("k", new Uint8Array(), { expireAt: new Date() });
  const n: bigint | undefined = await c.incr("n", 1, { initial: 5n });
  const m: Map<string, Uint8Array> = await c.getBulk(["a", "b"]);
  const stored: number = await c.setBulk({ a: "1" });
  const keys: string[] = await c.match({ prefix: "a", limit: 10 });
  for await (const r of c.scan({ prefix: "a", reverse: true })) {
    const rec: StoredRecord = r;
    text(rec.value);
  }
  for await (const ev of c.watch({ after: 0n, operations: ["set"] })) {
    const e: ChangeEvent = ev;
    if (e.operation === "progress") break;
  }
  const raw = await c.kv.get({ key: new Uint8Array() });
  const found: boolean = raw.found;
  try {
    await c.withDb("1").remove("k");
  } catch (e) {
    if (e instanceof NotFoundError || e instanceof KtgrpcError) console.log(e.code, e.rawMessage);
  }
  void [v, s, applied, n, m, stored, keys, found, GetRequestSchema];
  c.close();
  await gw.stop();
}
