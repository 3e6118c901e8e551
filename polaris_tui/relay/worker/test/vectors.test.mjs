// Every relay vector case against the shipped Worker in workerd (miniflare), real clock.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { REPO_DIR, VECTORS, emlFiles, parseEml, startWorker } from "./helpers.mjs";

const { signRequest } = await import(pathToFileURL(join(REPO_DIR, "docs", "examples", "sign.mjs")).href);
const RELAY = VECTORS.relay;
const workers = new Map();
after(async () => Promise.all([...workers.values()].map((mf) => mf.dispose())));

function workerFor(settings) {
  const key = JSON.stringify(settings);
  if (!workers.has(key)) workers.set(key, startWorker(settings));
  return workers.get(key);
}

const bodyOf = (spec) => ("payload" in spec ? JSON.stringify(spec.payload) : spec.body_text ?? "");

async function buildRequest(step, settings, nonces) {
  const spec = step.request;
  const base = new URL(RELAY.url);
  const path = spec.path ?? base.pathname;
  const method = spec.method ?? "POST";
  const body = bodyOf(spec);
  const url = `${base.protocol}//${base.host}${path}`;
  const sign = spec.sign === undefined ? {} : spec.sign;
  if (sign === null) return { url, method, headers: new Headers(), body, nonce: null };
  const secret = sign.secret ?? { A: settings.secret_a, B: RELAY.settings.secret_b }[sign.key ?? "A"];
  const headers = await signRequest(
    secret,
    sign.method ?? method,
    `${base.protocol}//${sign.host ?? base.host}${sign.path ?? path}`,
    "payload" in sign ? bodyOf(sign) : body,
    { tsMs: Date.now() + (sign.ts_offset_ms ?? 0), nonce: "nonce_from_step" in sign ? nonces[sign.nonce_from_step] : undefined },
  );
  const nonce = headers["X-Polaris-Nonce"];
  if (sign.uppercase_sig) headers["X-Polaris-Sig"] = headers["X-Polaris-Sig"].toUpperCase();
  for (const name of sign.omit ?? []) delete headers[name];
  const sent = new Headers(headers);
  for (const name of sign.duplicate ?? []) sent.append(name, headers[name]);
  return { url, method, headers: sent, body, nonce };
}

function checkMessage(where, expect, messages) {
  const { raw, headers, parts } = messages[0];
  assert.ok(headers.get("message-id"), where);
  assert.ok(headers.get("date"), where);
  assert.equal(headers.get("mime-version"), "1.0", where);
  if (expect.from) assert.equal(headers.get("from"), expect.from, where);
  if (expect.to) assert.deepEqual(headers.get("to").split(",").map((s) => s.trim()), expect.to, where);
  if (expect.reply_to) assert.equal(headers.get("reply-to"), expect.reply_to, where);
  if (expect.subject_header) assert.ok(raw.includes(`\r\nSubject: ${expect.subject_header}\r\n`), where);
  if (expect.text) assert.equal(parts.text, expect.text, where);
  if (expect.html) assert.equal(parts.html, expect.html, where);
  // One envelope per recipient: every copy is the same message.
  assert.ok(messages.every((m) => m.raw === raw), where);
  assert.equal(messages.length, expect.to?.length ?? messages.length, where);
}

for (const testCase of RELAY.cases) {
  test(`relay case ${testCase.name}`, async () => {
    const settings = { ...RELAY.settings, ...testCase.settings };
    const mf = await workerFor(settings);
    const nonces = [];
    for (const [index, step] of testCase.steps.entries()) {
      const where = `${testCase.name} step ${index}`;
      const before = new Set(emlFiles());
      const request = await buildRequest(step, settings, nonces);
      nonces.push(request.nonce);
      const response = await mf.dispatchFetch(request.url, {
        method: request.method,
        headers: request.headers,
        body: request.method === "GET" ? undefined : request.body,
      });
      const expect = step.expect;
      const text = await response.text();
      assert.equal(response.status, expect.status, `${where}: ${text}`);
      const parsed = JSON.parse(text);
      if (expect.body) assert.deepEqual(parsed, expect.body, where);
      for (const [key, value] of Object.entries(expect.body_subset ?? {})) {
        assert.deepEqual(parsed[key], value, `${where}: ${key} in ${text}`);
      }
      if (response.status === 202) assert.match(parsed.id, /@/, where);
      for (const [name, value] of Object.entries(expect.headers ?? {})) {
        assert.ok(response.headers.has(name), `${where}: header ${name}`);
        if (value !== true) assert.equal(response.headers.get(name), value, where);
      }
      const messages = emlFiles().filter((f) => !before.has(f)).map((f) => parseEml(readFileSync(f, "utf8")));
      if ("delivered" in expect) {
        const ids = new Set(messages.map((m) => m.headers.get("message-id")));
        assert.equal(ids.size, expect.delivered, where);
        if (response.status === 202) assert.ok(ids.has(`<${parsed.id}>`), where);
      }
      if (expect.message) checkMessage(where, expect.message, messages);
    }
  });
}
