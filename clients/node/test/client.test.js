// Tests of the client against a live gateway: KTGRPC_BINARY names the ktgrpc
// binary (`make test-node` builds it).
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, test } from "node:test";

import { Code, ConnectError } from "@connectrpc/connect";

import {
  Client, FailedPreconditionError, InvalidArgumentError, KtgrpcError, NotFoundError, UnauthenticatedError,
  UnavailableError, text, toKtgrpcError,
} from "@ktgrpc/client";
import { startGateway } from "@ktgrpc/client/testing";

let gw;
let c;
before(async () => {
  gw = await startGateway();
  c = gw.client();
});
after(async () => {
  c.close();
  await gw.stop();
});

async function positionNow(client) {
  for await (const ev of client.watch({ progress: true, progressIntervalMs: 50 })) return ev.position;
}

test("get returns the value or undefined; set takes a ttl", async () => {
  await c.clear();
  assert.equal(await c.get("greeting"), undefined);
  await c.set("greeting", "hello", { ttl: 60 });
  assert.deepEqual(await c.get("greeting"), new TextEncoder().encode("hello"));
  assert.equal(await c.getString("greeting"), "hello");
  const rec = await c.getRecord("greeting");
  assert.ok(rec.expireTime > new Date(Date.now() + 50_000) && rec.expireTime < new Date(Date.now() + 70_000));
  await c.setJSON("doc", { a: [1, 2] });
  assert.deepEqual(await c.getJSON("doc"), { a: [1, 2] });
});

test("conditional writes, counters and bulk calls", async () => {
  await c.clear();
  assert.equal(await c.add("k", "1"), true);
  assert.equal(await c.add("k", "2"), false);
  assert.equal(await c.replace("k", "3"), true);
  assert.equal(await c.cas("k", "x", "4"), false);
  assert.equal(await c.cas("k", "3", "4"), true);
  assert.equal(await c.cas("n", null, "0"), true);
  await c.append("k", "!");
  assert.equal(await c.check("k"), 2);
  assert.equal(text(await c.seize("k")), "4!");
  assert.equal(await c.remove("k"), false);
  assert.equal(await c.incr("hits"), 1n);
  assert.equal(await c.incr("hits", 5), 6n);
  assert.equal(await c.incr("absent", 1, { mustExist: true }), undefined);
  assert.equal(await c.incrDouble("r", 0.5), 0.5);
  assert.equal(await c.setBulk({ "u:1": "ann", "u:2": "bob" }), 2);
  assert.deepEqual([...(await c.getBulk(["u:1", "u:9"]))].map(([k, v]) => [k, text(v)]), [["u:1", "ann"]]);
  assert.deepEqual(await c.match({ prefix: "u:" }), ["u:1", "u:2"]);
  assert.deepEqual(await c.match({ regex: "2$" }), ["u:2"]);
  assert.equal(await c.removeBulk(["u:1", "u:9"]), 1);
  assert.equal((await c.status()).count, 4);
});

test("scan streams in key order, backwards and bounded", async () => {
  await c.clear();
  await c.setBulk({ k0: "0", k1: "1", k2: "2", other: "o" });
  const keys = async (opts) => {
    const out = [];
    for await (const r of c.scan(opts)) out.push(r.key);
    return out;
  };
  assert.deepEqual(await keys({ prefix: "k" }), ["k0", "k1", "k2"]);
  assert.deepEqual(await keys({ reverse: true, limit: 2 }), ["other", "k2"]);
  assert.deepEqual(await keys({ start: "k1", end: "k2" }), ["k1"]);
});

test("errors are typed by status", async () => {
  await c.set("text", "not a number");
  await assert.rejects(c.get(""), (e) => e instanceof InvalidArgumentError && e.code === "INVALID_ARGUMENT");
  await assert.rejects(c.incr("text"), (e) => e instanceof FailedPreconditionError && e instanceof KtgrpcError);
  await assert.rejects(c.withDb("nope").get("k"), (e) => e instanceof InvalidArgumentError && /nope/.test(e.message));
  const down = new Client("127.0.0.1:1");
  await assert.rejects(down.get("k"), UnavailableError);
  down.close();
});

test("values over 4 MiB", async () => {
  const big = new Uint8Array(6 << 20).map((_, i) => i % 251);
  await c.set("big", big);
  assert.deepEqual(await c.get("big"), big);
});

// A TCP forwarder whose connections the test cuts, as a network failure
// would: on cut(), or once cutAfter bytes went from the gateway to the client.
function proxy(target, cutAfter = 0) {
  const i = target.lastIndexOf(":");
  const sockets = new Set();
  let sent = 0;
  let cuts = 0;
  const cut = () => {
    cuts++;
    sockets.forEach((s) => s.destroy());
  };
  const server = net.createServer((down) => {
    const up = net.connect(Number(target.slice(i + 1)), target.slice(0, i));
    for (const s of [down, up]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => sockets.delete(s));
    }
    down.pipe(up);
    up.on("data", (chunk) => {
      if (cutAfter && cuts === 0 && (sent += chunk.length) >= cutAfter) {
        cut();
        return;
      }
      down.write(chunk);
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({
    address: `127.0.0.1:${server.address().port}`,
    cut,
    cuts: () => cuts,
    close: () => { sockets.forEach((s) => s.destroy()); server.close(); },
  })));
}

test("scan resumes after a network failure without losing or repeating records", async () => {
  await c.clear();
  const value = new Uint8Array(128 << 10).fill(118);
  const records = new Map();
  for (let i = 0; i < 128; i++) records.set(`s:${String(i).padStart(3, "0")}`, value);
  await c.setBulk(records);
  const p = await proxy(gw.address, 4 << 20); // a quarter of the way through
  const viaProxy = new Client(p.address);
  try {
    const keys = [];
    for await (const r of viaProxy.scan({ prefix: "s:", batchSize: 1 })) {
      keys.push(r.key);
      assert.equal(r.value.length, value.length);
    }
    assert.equal(p.cuts(), 1);
    assert.deepEqual(keys, [...records.keys()]);
  } finally {
    viaProxy.close();
    p.close();
  }
});

test("watch resumes after a network failure without losing or repeating changes", async () => {
  const start = await positionNow(c);
  const p = await proxy(gw.address);
  const viaProxy = new Client(p.address);
  try {
    const events = viaProxy.watch({ after: start, maxBackoffMs: 50 });
    await c.set("w:1", "a");
    const ev1 = (await events.next()).value;
    assert.deepEqual([ev1.operation, ev1.key, text(ev1.value)], ["set", "w:1", "a"]);
    p.cut();
    await c.set("w:2", "b");
    await c.remove("w:1");
    const ev2 = (await events.next()).value;
    const ev3 = (await events.next()).value;
    assert.deepEqual([ev2.operation, ev2.key, ev3.operation, ev3.key], ["set", "w:2", "remove", "w:1"]);
    assert.ok(ev1.position < ev2.position && ev2.position < ev3.position);
    await events.return();
  } finally {
    viaProxy.close();
    p.close();
  }
});

test("bearer token", async () => {
  const { createHash } = await import("node:crypto");
  const { mkdtemp, writeFile } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const dir = await mkdtemp(`${tmpdir()}/ktgrpc-`);
  const hash = createHash("sha256").update("s3cret").digest("hex");
  await writeFile(`${dir}/tokens`, `app read,write sha256:${hash}\n`);
  const secured = await startGateway({ args: ["--tokens-file", `${dir}/tokens`] });
  const ok = secured.client({ token: "s3cret" });
  const anon = secured.client();
  try {
    await ok.set("k", "v");
    assert.equal(await ok.getString("k"), "v");
    await assert.rejects(anon.get("k"), UnauthenticatedError);
  } finally {
    ok.close();
    anon.close();
    await secured.stop();
  }
});

test("an ErrorInfo detail gives the error its reason, domain and metadata", () => {
  const ld = (num, payload) => {
    const p = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
    return new Uint8Array([(num << 3) | 2, p.length, ...p]);
  };
  const value = new Uint8Array([...ld(1, "KEY_MISSING"), ...ld(2, "ktgrpc"), ...ld(3, new Uint8Array([...ld(1, "key"), ...ld(2, "k")]))]);
  const e = toKtgrpcError(new ConnectError("m", Code.NotFound, undefined, [{ type: "google.rpc.ErrorInfo", value }]));
  assert.ok(e instanceof NotFoundError);
  assert.deepEqual([e.code, e.rawMessage, e.reason, e.domain, e.metadata], ["NOT_FOUND", "m", "KEY_MISSING", "ktgrpc", { key: "k" }]);
});

test("TLS: a client that trusts the gateway's CA talks to it; a plaintext client cannot", async (t) => {
  const { execFileSync } = await import("node:child_process");
  const { mkdtemp, readFile, writeFile } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
  } catch {
    t.skip("openssl not found");
    return;
  }
  const dir = await mkdtemp(`${tmpdir()}/ktgrpc-tls-`);
  const f = (n) => `${dir}/${n}`;
  const openssl = (...args) => execFileSync("openssl", args, { stdio: "ignore" });
  await writeFile(f("ext"), "subjectAltName=DNS:gateway.test\n");
  openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", f("ca.key"), "-out", f("ca.pem"), "-subj", "/CN=test CA", "-days", "1");
  openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", f("gw.key"), "-out", f("gw.csr"), "-subj", "/CN=gateway.test");
  openssl("x509", "-req", "-in", f("gw.csr"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial",
    "-out", f("gw.pem"), "-days", "1", "-extfile", f("ext"));
  const secured = await startGateway({ args: ["--tls-cert", f("gw.pem"), "--tls-key", f("gw.key")] });
  const ok = secured.client({ ca: await readFile(f("ca.pem")), serverName: "gateway.test", timeoutMs: 10000 });
  const plain = secured.client({ timeoutMs: 10000 });
  const untrusting = secured.client({ tls: true, serverName: "gateway.test", timeoutMs: 10000 });
  try {
    await ok.set("k", "over tls");
    assert.equal(await ok.getString("k"), "over tls");
    await assert.rejects(plain.get("k"), KtgrpcError);
    await assert.rejects(untrusting.get("k"), KtgrpcError);
  } finally {
    ok.close();
    plain.close();
    untrusting.close();
    await secured.stop();
  }
});

test("CommonJS callers can require the package", async () => {
  const { execFileSync } = await import("node:child_process");
  const out = execFileSync(process.execPath, ["-e", `
    const { Client, KtgrpcError, text } = require("@ktgrpc/client");
    console.log(typeof Client, typeof KtgrpcError, text(new Uint8Array([104, 105])));
  `], { cwd: new URL("..", import.meta.url), encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  assert.equal(out.trim(), "function function hi");
});
