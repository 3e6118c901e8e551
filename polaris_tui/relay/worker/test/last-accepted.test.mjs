// Per key slot, the time of the last accepted real send: what `rotate --promote` reads.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { REPO_DIR, VECTORS, startWorker } from "./helpers.mjs";

const { signRequest } = await import(pathToFileURL(join(REPO_DIR, "docs", "examples", "sign.mjs")).href);
const { url: URL_SEND, settings: SETTINGS } = VECTORS.relay;
const NEW_SECRET = "b".repeat(43);
const KEY_A = "slot-last-accepted:A";
const KEY_B = "slot-last-accepted:B";

async function send(mf, secret, extra = {}) {
  const body = JSON.stringify({ from: "hello@polaris.test", to: "ada@example.com", subject: "s", text: "t", ...extra });
  const headers = await signRequest(secret, "POST", URL_SEND, body);
  return mf.dispatchFetch(URL_SEND, { method: "POST", headers, body });
}

async function withWorker(run) {
  const mf = startWorker({ ...SETTINGS, secret_b: NEW_SECRET });
  try {
    await run(mf, await mf.getKVNamespace("EMAIL_NONCE_DEDUP"));
  } finally {
    await mf.dispose();
  }
}

test("each slot's key holds the epoch ms of its last accepted send; dry runs leave it alone", async () => {
  await withWorker(async (mf, kv) => {
    assert.equal((await send(mf, SETTINGS.secret_a, { dry_run: true })).status, 200);
    assert.equal(await kv.get(KEY_A), null);
    const before = Date.now();
    assert.equal((await send(mf, NEW_SECRET)).status, 202);
    assert.equal(await kv.get(KEY_A), null);
    assert.ok(Number(await kv.get(KEY_B)) >= before - 1000);
  });
});

test("a stored time younger than a minute is not rewritten (no KV write)", async () => {
  await withWorker(async (mf, kv) => {
    const recent = String(Date.now() - 30000);
    await kv.put(KEY_A, recent);
    assert.equal((await send(mf, SETTINGS.secret_a)).status, 202);
    assert.equal(await kv.get(KEY_A), recent);
  });
});

test("an older stored time is rewritten once, then the isolate's memo spares the next write", async () => {
  await withWorker(async (mf, kv) => {
    const old = Date.now() - 120000;
    await kv.put(KEY_A, String(old));
    assert.equal((await send(mf, SETTINGS.secret_a)).status, 202);
    const written = await kv.get(KEY_A);
    assert.ok(Number(written) > old + 60000, written);
    await kv.put(KEY_A, String(old)); // only a KV read would notice this; the memo does not read
    assert.equal((await send(mf, SETTINGS.secret_a)).status, 202);
    assert.equal(await kv.get(KEY_A), String(old));
  });
});
