// Strict mode: nonce claims and per-mailbox counters through the RelayGuard Durable Object,
// exact under concurrency (docs/relay-protocol.md, section 8).
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { REPO_DIR, VECTORS, startWorker } from "./helpers.mjs";

const { signRequest } = await import(pathToFileURL(join(REPO_DIR, "docs", "examples", "sign.mjs")).href);
const { url: URL_SEND, settings: SETTINGS } = VECTORS.relay;

const payload = (to) => ({ from: "hello@polaris.test", to, subject: "s", text: "t" });

async function signed(payloadObject) {
  const body = JSON.stringify(payloadObject);
  return { body, headers: await signRequest(SETTINGS.secret_a, "POST", URL_SEND, body) };
}

const post = (mf, { body, headers }) => mf.dispatchFetch(URL_SEND, { method: "POST", headers, body });

async function statuses(responses) {
  const counts = {};
  for (const response of await Promise.all(responses)) {
    counts[response.status] = (counts[response.status] ?? 0) + 1;
    await response.arrayBuffer();
  }
  return counts;
}

async function withWorker(settings, extra, run, durableObjects) {
  const mf = startWorker(settings, extra, durableObjects);
  try {
    await run(mf);
  } finally {
    await mf.dispose();
  }
}

test("50 concurrent copies of one signed request: exactly one is accepted", async () => {
  await withWorker(SETTINGS, {}, async (mf) => {
    const request = await signed(payload("race@example.com"));
    const counts = await statuses(Array.from({ length: 50 }, () => post(mf, request)));
    assert.deepEqual(counts, { 202: 1, 401: 49 });
  });
});

test("30 concurrent requests to one mailbox with limit 10: exactly 10 are accepted", async () => {
  await withWorker({ ...SETTINGS, rate_limit_max: 10 }, {}, async (mf) => {
    // Case and +tag variants fold into one mailbox, so they share the one budget.
    const variants = ["ada@example.com", "ADA@Example.com", "ada+news@example.com"];
    const requests = await Promise.all(
      Array.from({ length: 30 }, (_, i) => signed(payload(variants[i % 3]))),
    );
    const counts = await statuses(requests.map((r) => post(mf, r)));
    assert.deepEqual(counts, { 202: 10, 429: 20 });
  });
});

test("a 429 for one mailbox of several counts nothing for the others", async () => {
  await withWorker({ ...SETTINGS, rate_limit_max: 2 }, {}, async (mf) => {
    for (let i = 0; i < 2; i++) {
      assert.equal((await post(mf, await signed(payload("full@example.com")))).status, 202);
    }
    const both = await post(mf, await signed(payload(["spare@example.com", "full@example.com"])));
    assert.equal(both.status, 429);
    assert.ok(Number(both.headers.get("retry-after")) >= 1);
    for (let i = 0; i < 2; i++) {
      assert.equal((await post(mf, await signed(payload("spare@example.com")))).status, 202, `send ${i}`);
    }
    assert.equal((await post(mf, await signed(payload("spare@example.com")))).status, 429);
  });
});

test("strict mode keeps nonces and counters out of KV", async () => {
  await withWorker(SETTINGS, {}, async (mf) => {
    assert.equal((await post(mf, await signed(payload("kv@example.com")))).status, 202);
    const kv = await mf.getKVNamespace("EMAIL_NONCE_DEDUP");
    assert.deepEqual((await kv.list()).keys.map((k) => k.name), ["slot-last-accepted:A"]);
  });
});

test("strict mode without its Durable Object binding fails closed with 500", async () => {
  await withWorker(SETTINGS, {}, async (mf) => {
    const response = await post(mf, await signed(payload("nobinding@example.com")));
    assert.equal(response.status, 500);
    assert.deepEqual(await response.json(), { error: "relay_misconfigured" });
  }, {});
});

test("RELAY_STRICT other than true/false fails closed; false runs on KV without the binding", async () => {
  await withWorker(SETTINGS, { RELAY_STRICT: "yes" }, async (mf) => {
    assert.equal((await post(mf, await signed(payload("flag@example.com")))).status, 500);
  });
  await withWorker(SETTINGS, { RELAY_STRICT: "false" }, async (mf) => {
    const request = await signed(payload("fallback@example.com"));
    assert.equal((await post(mf, request)).status, 202);
    assert.equal((await post(mf, request)).status, 401);
    const kv = await mf.getKVNamespace("EMAIL_NONCE_DEDUP");
    assert.equal((await kv.list({ prefix: "nonce:" })).keys.length, 1);
  }, {});
});
