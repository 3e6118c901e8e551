// Worker behaviour the shared vectors cannot express: configuration handling and KV state.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { REPO_DIR, VECTORS, startWorker } from "./helpers.mjs";

const { signRequest } = await import(pathToFileURL(join(REPO_DIR, "docs", "examples", "sign.mjs")).href);
const { url: URL_SEND, settings: SETTINGS } = VECTORS.relay;

async function post(mf, payload, secret = SETTINGS.secret_a) {
  const body = JSON.stringify(payload);
  const headers = await signRequest(secret, "POST", URL_SEND, body);
  return mf.dispatchFetch(URL_SEND, { method: "POST", headers, body });
}

const payload = (to) => ({ from: "hello@polaris.test", to, subject: "s", text: "t" });

test("without POLARIS_SECRET_A: 405/404 still answer (route check), /send fails closed with 500", async () => {
  const mf = startWorker(SETTINGS, { POLARIS_SECRET_A: "" });
  try {
    assert.equal((await mf.dispatchFetch(URL_SEND)).status, 405);
    const response = await post(mf, payload("x@example.com"));
    assert.equal(response.status, 500);
    assert.deepEqual(await response.json(), { error: "relay_misconfigured" });
  } finally {
    await mf.dispose();
  }
});

test("a non-numeric limit var fails closed with 500 instead of guessing", async () => {
  const mf = startWorker(SETTINGS, { RATE_LIMIT_MAX: "ten" });
  try {
    assert.equal((await post(mf, payload("x@example.com"))).status, 500);
  } finally {
    await mf.dispose();
  }
});

test("a limit var outside the shared bounds fails closed with 500", async () => {
  for (const value of ["9007199254740993", "1000000001", "0"]) {
    const mf = startWorker(SETTINGS, { RATE_LIMIT_MAX: value });
    try {
      assert.equal((await post(mf, payload("x@example.com"))).status, 500, value);
    } finally {
      await mf.dispose();
    }
  }
});

test("NONCE_TTL_SECONDS below twice the window is raised to 2 * TS_WINDOW_MS / 1000 (KV fallback)", async () => {
  const mf = startWorker({ ...SETTINGS, ts_window_ms: 600000, nonce_ttl_seconds: 60 }, { RELAY_STRICT: "false" });
  try {
    const started = Math.floor(Date.now() / 1000);
    assert.equal((await post(mf, { ...payload("ttl@example.com"), dry_run: true })).status, 200);
    const kv = await mf.getKVNamespace("EMAIL_NONCE_DEDUP");
    const { keys } = await kv.list({ prefix: "nonce:" });
    assert.equal(keys.length, 1);
    assert.ok(keys[0].expiration >= started + 1200, JSON.stringify(keys[0]));
  } finally {
    await mf.dispose();
  }
});

test("KV keys hold hashes, never a nonce or a recipient address (KV fallback)", async () => {
  const mf = startWorker(SETTINGS, { RELAY_STRICT: "false" });
  try {
    assert.equal((await post(mf, payload("Private.Person@example.com"))).status, 202);
    const kv = await mf.getKVNamespace("EMAIL_NONCE_DEDUP");
    const names = (await kv.list()).keys.map((k) => k.name);
    assert.equal(names.length, 3);
    for (const name of names) {
      assert.match(name, /^(nonce:[0-9a-f]{64}|rate:[0-9a-f]{64}:[0-9]+|slot-last-accepted:A)$/);
    }
    assert.match(await kv.get("slot-last-accepted:A"), /^[0-9]{13}$/);
  } finally {
    await mf.dispose();
  }
});

test("a declared Content-Length over the cap is refused with 413 before auth", async () => {
  const mf = startWorker(SETTINGS);
  try {
    const body = "x".repeat(SETTINGS.max_body_bytes + 1);
    const response = await mf.dispatchFetch(URL_SEND, {
      method: "POST", body, headers: { "content-length": String(body.length) },
    });
    assert.equal(response.status, 413);
  } finally {
    await mf.dispose();
  }
});
