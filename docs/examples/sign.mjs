// @ts-check
// Reference signer for the Polaris signed relay (docs/relay-protocol.md), for the app side.
// Plain ES module with JSDoc types: Deno and TypeScript import it as is (`allowJs`/`checkJs`),
// Node 20+ and browsers run it unchanged. Web Crypto only, no dependencies.

const SCHEME = "POLARIS-HMAC-SHA256-V1";
const METHOD_RE = /^[A-Z]{1,16}$/;
const HOST_RE = /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$/;
const PATH_RE = /^\/[\x21-\x7e]*$/;
const TS_RE = /^(?:0|[1-9][0-9]{0,15})$/;
const NONCE_RE = /^[A-Za-z0-9_-]{16,128}$/;

const encoder = new TextEncoder();

/** @param {ArrayBuffer} buffer */
function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** host[:port] lowercased; :80 and :443 are dropped. @param {string} host */
export function canonicalHost(host) {
  return host.toLowerCase().replace(/:(?:80|443)$/, "");
}

/** 16 random bytes, base64url without padding (22 characters). */
export function newNonce() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * The exact string that is signed. Throws when a field could contain the delimiter.
 * @param {string} method @param {string} host @param {string} path
 * @param {string} ts @param {string} nonce @param {Uint8Array} body
 * @returns {Promise<string>}
 */
export async function canonicalString(method, host, path, ts, nonce, body) {
  const canonical = canonicalHost(host);
  /** @type {[string, string, RegExp][]} */
  const checks = [
    ["method", method, METHOD_RE],
    ["host", canonical, HOST_RE],
    ["path", path, PATH_RE],
    ["ts", ts, TS_RE],
    ["nonce", nonce, NONCE_RE],
  ];
  for (const [field, value, pattern] of checks) {
    if (!pattern.test(value)) throw new Error(`${field} ${JSON.stringify(value)} is not signable`);
  }
  const digest = hex(await crypto.subtle.digest("SHA-256", body));
  return [SCHEME, method, canonical, path, ts, nonce, digest].join("\n");
}

/**
 * Headers to send with a request to `url` carrying exactly `body`.
 * `secret` is the text from `openssl rand -base64 32`, used as UTF-8 bytes (not decoded).
 * @param {string} secret @param {string} method @param {string} url
 * @param {Uint8Array | string} body
 * @param {{ tsMs?: number, nonce?: string }} [options]
 * @returns {Promise<Record<string, string>>}
 */
export async function signRequest(secret, method, url, body, options = {}) {
  if (!secret) throw new Error("secret is empty");
  const target = new URL(url);
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  const ts = String(options.tsMs ?? Date.now());
  const nonce = options.nonce ?? newNonce();
  const data = await canonicalString(method, target.host, target.pathname, ts, nonce, bytes);
  const key = await crypto.subtle.importKey(
    "raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"],
  );
  const sig = hex(await crypto.subtle.sign("HMAC", key, encoder.encode(data)));
  return { "X-Polaris-Sig": sig, "X-Polaris-Ts": ts, "X-Polaris-Nonce": nonce };
}
