// docs/examples/sign.mjs (the app's reference signer) against the shared signing vectors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { REPO_DIR, VECTORS } from "./helpers.mjs";

const { signRequest, canonicalString, newNonce } = await import(
  pathToFileURL(join(REPO_DIR, "docs", "examples", "sign.mjs")).href
);

for (const vector of VECTORS.signing) {
  test(`signing vector ${vector.name}`, async () => {
    const url = new URL(vector.url);
    const canonical = await canonicalString(
      vector.method, url.host, url.pathname, String(vector.ts_ms), vector.nonce,
      new TextEncoder().encode(vector.body),
    );
    assert.equal(canonical, vector.canonical);
    const headers = await signRequest(vector.secret, vector.method, vector.url, vector.body, {
      tsMs: vector.ts_ms, nonce: vector.nonce,
    });
    assert.deepEqual(headers, {
      "X-Polaris-Sig": vector.signature,
      "X-Polaris-Ts": String(vector.ts_ms),
      "X-Polaris-Nonce": vector.nonce,
    });
  });
}

for (const vector of VECTORS.signing_errors) {
  test(`signer refuses ${vector.name}`, async () => {
    await assert.rejects(
      signRequest("secret", vector.method, vector.url, "", { tsMs: vector.ts_ms, nonce: vector.nonce }),
      new RegExp(`^Error: ${vector.field} `),
    );
  });
}

test("fresh nonces are 22-character base64url from 16 random bytes", () => {
  const nonces = new Set(Array.from({ length: 50 }, newNonce));
  assert.equal(nonces.size, 50);
  for (const nonce of nonces) assert.match(nonce, /^[A-Za-z0-9_-]{22}$/);
});
