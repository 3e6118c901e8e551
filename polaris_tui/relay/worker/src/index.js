// The Polaris signed relay: POST /send, HMAC-SHA256 verified, mailed through send_email bindings.
// The contract (headers, the exact signed bytes, checks in order, every status) is
// docs/relay-protocol.md; tests/vectors/relay.json pins it for this Worker and the Python relay.
import { EmailMessage } from "cloudflare:email";
import { DurableObject } from "cloudflare:workers";

const SCHEME = "POLARIS-HMAC-SHA256-V1";
const DEFAULTS = {
  TS_WINDOW_MS: 300000,
  NONCE_TTL_SECONDS: 600,
  RATE_LIMIT_MAX: 10,
  RATE_LIMIT_WINDOW_SECONDS: 3600,
  MAX_BODY_BYTES: 65536,
};
// Inclusive [lowest, highest] of each limit: polaris_tui/relay/bounds.py holds the same table
// for the config and the Python relay, and tests/test_config_bounds.py fails when they differ.
const BOUNDS = {
  TS_WINDOW_MS: [1000, 3600000],
  NONCE_TTL_SECONDS: [1, 604800],
  RATE_LIMIT_MAX: [1, 1000000000],
  RATE_LIMIT_WINDOW_SECONDS: [1, 604800],
  MAX_BODY_BYTES: [1024, 1048576],
};
// On/off vars and their defaults: polaris_tui/relay/bounds.py's RELAY_SWITCHES holds the same.
const SWITCHES = {
  RELAY_STRICT: true,
};
const KV_MIN_TTL_SECONDS = 60;
// A slot's last-accepted key is rewritten only when it is older than this, so a busy relay
// writes KV at most once a minute per slot (protocol doc, "Last accepted per key slot").
const LAST_ACCEPTED_EVERY_MS = 60000;
const MAX_RECIPIENTS = 10;
const MAX_SUBJECT_CHARS = 900;
const FIELDS = ["from", "to", "subject", "text", "html", "reply_to", "dry_run"];

const TS_RE = /^(0|[1-9][0-9]{0,15})$/;
const NONCE_RE = /^[A-Za-z0-9_-]{16,128}$/;
const SIG_RE = /^[0-9a-f]{64}$/;
const ADDRESS_RE = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;

const encoder = new TextEncoder();

function json(status, payload, headers = {}) {
  return new Response(JSON.stringify(payload), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

const unauthorized = () => json(401, { error: "unauthorized" });
const badRequest = (field, message) => json(400, { error: "bad_request", field, message });

class ConfigError extends Error {}

/** "true" or "false" (unset: the default); anything else fails closed. */
function switchVar(env, name) {
  const raw = env[name];
  if (raw === undefined || raw === null || raw === "") return SWITCHES[name];
  if (raw === "true" || raw === "false") return raw === "true";
  throw new ConfigError(`${name} must be "true" or "false", got ${JSON.stringify(raw)}`);
}

function intVar(env, name) {
  const raw = env[name];
  if (raw === undefined || raw === null || raw === "") return DEFAULTS[name];
  const value = Number(raw);
  const [low, high] = BOUNDS[name];
  if (!Number.isSafeInteger(value) || value < low || value > high) {
    throw new ConfigError(`${name} must be a whole number from ${low} to ${high}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** Read the relay settings from the Worker env; a bad value fails closed with a 500. */
function loadSettings(env) {
  const secretA = env.POLARIS_SECRET_A;
  if (typeof secretA !== "string" || secretA === "") {
    throw new ConfigError("POLARIS_SECRET_A is not set");
  }
  const secretB = typeof env.POLARIS_SECRET_B === "string" && env.POLARIS_SECRET_B !== ""
    ? env.POLARIS_SECRET_B
    : null;
  const tsWindowMs = intVar(env, "TS_WINDOW_MS");
  // A nonce must outlive every timestamp that could still be accepted with it.
  const nonceTtlSeconds = Math.max(
    intVar(env, "NONCE_TTL_SECONDS"),
    Math.ceil((2 * tsWindowMs) / 1000),
    KV_MIN_TTL_SECONDS,
  );
  // Strict mode needs its Durable Object; without it the relay refuses rather than fall back.
  const strict = switchVar(env, "RELAY_STRICT");
  if (strict && !env.RELAY_GUARD) {
    throw new ConfigError("RELAY_STRICT is on but the RELAY_GUARD Durable Object binding is missing");
  }
  const senders = new Map();
  for (const [name, value] of Object.entries(env)) {
    const match = /^SENDER_([A-Z0-9_]+)$/.exec(name);
    if (match && typeof value === "string" && value !== "") {
      senders.set(value.toLowerCase(), { address: value, binding: `SEND_${match[1]}` });
    }
  }
  return {
    secretA,
    secretB,
    tsWindowMs,
    nonceTtlSeconds,
    rateLimitMax: intVar(env, "RATE_LIMIT_MAX"),
    rateLimitWindowSeconds: intVar(env, "RATE_LIMIT_WINDOW_SECONDS"),
    maxBodyBytes: intVar(env, "MAX_BODY_BYTES"),
    strict,
    senders,
  };
}

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function unhex(text) {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

async function sha256Hex(data) {
  return hex(await crypto.subtle.digest("SHA-256", typeof data === "string" ? encoder.encode(data) : data));
}

/** host[:port] lowercased, with :80 and :443 dropped, as the signer does. */
function canonicalHost(host) {
  return host.toLowerCase().replace(/:(80|443)$/, "");
}

async function canonicalString(method, host, path, ts, nonce, body) {
  return [SCHEME, method, canonicalHost(host), path, ts, nonce, await sha256Hex(body)].join("\n");
}

async function verifyWith(secret, signature, data) {
  const key = await crypto.subtle.importKey(
    "raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"],
  );
  // crypto.subtle.verify compares in constant time.
  return crypto.subtle.verify("HMAC", key, signature, data);
}

/** Read at most `limit` bytes; null when the body is larger. */
async function readCapped(request, limit) {
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

const hasLineBreak = (value) => /[\r\n]/.test(value);

function checkAddress(field, value) {
  if (typeof value !== "string") return `${field} must be a string e-mail address`;
  if (hasLineBreak(value)) return `${field} must not contain CR or LF`;
  if (value.length > 254 || !ADDRESS_RE.test(value)) {
    return `${field} must be a bare address like name@example.com`;
  }
  return null;
}

/** Validate the parsed JSON body; returns {field, message} or the normalised message. */
function validatePayload(payload) {
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
    return { error: ["body", "the body must be a JSON object"] };
  }
  for (const key of Object.keys(payload)) {
    if (!FIELDS.includes(key)) return { error: [key, `unknown field; allowed: ${FIELDS.join(", ")}`] };
  }
  let problem = checkAddress("from", payload.from);
  if (problem) return { error: ["from", problem] };
  const to = typeof payload.to === "string" ? [payload.to] : payload.to;
  if (!Array.isArray(to) || to.length < 1 || to.length > MAX_RECIPIENTS) {
    return { error: ["to", `to must be an address or a list of 1 to ${MAX_RECIPIENTS} addresses`] };
  }
  const seen = new Set();
  for (const address of to) {
    problem = checkAddress("to", address);
    if (problem) return { error: ["to", problem] };
    if (seen.has(address.toLowerCase())) return { error: ["to", `to lists ${address} twice`] };
    seen.add(address.toLowerCase());
  }
  const subject = payload.subject;
  if (typeof subject !== "string" || subject === "") {
    return { error: ["subject", "subject must be a non-empty string"] };
  }
  if (hasLineBreak(subject)) return { error: ["subject", "subject must not contain CR or LF"] };
  if ([...subject].length > MAX_SUBJECT_CHARS) {
    return { error: ["subject", `subject must be at most ${MAX_SUBJECT_CHARS} characters`] };
  }
  for (const field of ["text", "html"]) {
    if (payload[field] !== undefined && typeof payload[field] !== "string") {
      return { error: [field, `${field} must be a string`] };
    }
  }
  for (const field of ["subject", "text", "html"]) {
    if (typeof payload[field] === "string" && !payload[field].isWellFormed()) {
      return { error: [field, `${field} contains an unpaired UTF-16 surrogate (\\ud800-\\udfff)`] };
    }
  }
  if (!payload.text && !payload.html) {
    return { error: ["text", "give text or html (or both), non-empty"] };
  }
  if (payload.reply_to !== undefined) {
    problem = checkAddress("reply_to", payload.reply_to);
    if (problem) return { error: ["reply_to", problem] };
  }
  if (payload.dry_run !== undefined && typeof payload.dry_run !== "boolean") {
    return { error: ["dry_run", "dry_run must be true or false"] };
  }
  return {
    message: {
      from: payload.from,
      to,
      subject,
      text: payload.text || null,
      html: payload.html || null,
      replyTo: payload.reply_to ?? null,
      dryRun: payload.dry_run === true,
    },
  };
}

// ---- MIME -----------------------------------------------------------------------------------

function base64(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function base64Lines(text) {
  const encoded = base64(encoder.encode(text));
  const lines = [];
  for (let i = 0; i < encoded.length; i += 76) lines.push(encoded.slice(i, i + 76));
  return lines.join("\r\n");
}

/** RFC 2047: printable ASCII stays as is; otherwise B-encoded words of at most 45 UTF-8 bytes. */
function encodeSubject(subject) {
  if (/^[\x20-\x7e]*$/.test(subject)) return subject;
  const words = [];
  let chunk = [];
  let size = 0;
  for (const ch of subject) {
    const bytes = encoder.encode(ch);
    if (size + bytes.length > 45) {
      words.push(chunk);
      chunk = [];
      size = 0;
    }
    chunk.push(...bytes);
    size += bytes.length;
  }
  words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${base64(w)}?=`).join("\r\n ");
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function rfc5322Date(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${DAYS[d.getUTCDay()]}, ${p(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} `
    + `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

function part(contentType, content) {
  return [
    `Content-Type: ${contentType}; charset=utf-8`,
    "Content-Transfer-Encoding: base64",
    "",
    base64Lines(content),
  ];
}

/** The message as sent: same header set and order as the Python relay builds. */
function buildMime(message, messageId, ms, boundary) {
  const lines = [`From: ${message.from}`, `To: ${message.to.join(", ")}`];
  if (message.replyTo) lines.push(`Reply-To: ${message.replyTo}`);
  lines.push(
    `Subject: ${encodeSubject(message.subject)}`,
    `Date: ${rfc5322Date(ms)}`,
    `Message-ID: <${messageId}>`,
    "MIME-Version: 1.0",
  );
  const parts = [];
  if (message.text) parts.push(part("text/plain", message.text));
  if (message.html) parts.push(part("text/html", message.html));
  if (parts.length === 1) {
    lines.push(...parts[0]);
  } else {
    lines.push(`Content-Type: multipart/alternative; boundary="${boundary}"`, "");
    for (const p of parts) lines.push(`--${boundary}`, ...p);
    lines.push(`--${boundary}--`);
  }
  return lines.join("\r\n") + "\r\n";
}

// ---- KV state ---------------------------------------------------------------------------------

/** Best effort: KV is eventually consistent across locations (see the protocol doc). */
async function claimNonce(kv, nonce, ttlSeconds) {
  const key = `nonce:${await sha256Hex(nonce)}`;
  if ((await kv.get(key)) !== null) return false;
  await kv.put(key, "1", { expirationTtl: ttlSeconds });
  return true;
}

/** One budget per mailbox: case folded and `+tag` dropped (protocol doc, "Rate limit"). */
function mailbox(address) {
  const lowered = address.toLowerCase();
  const at = lowered.lastIndexOf("@");
  const local = lowered.slice(0, at);
  const untagged = local.split("+", 1)[0] || local;
  return `${untagged}${lowered.slice(at)}`;
}

/** The current fixed window of the rate limit: its number, end and the seconds left. */
function rateWindow(settings, nowMs) {
  const windowMs = settings.rateLimitWindowSeconds * 1000;
  const number = Math.floor(nowMs / windowMs);
  const endMs = (number + 1) * windowMs;
  return { number, endMs, retryAfter: Math.max(1, Math.ceil((endMs - nowMs) / 1000)) };
}

/** The recipients' distinct mailboxes as digests, sorted: the order strict mode takes them in. */
async function mailboxDigests(recipients) {
  const digests = await Promise.all([...new Set(recipients.map(mailbox))].map((m) => sha256Hex(m)));
  return [...new Set(digests)].sort();
}

async function applyRateLimit(kv, recipients, settings, nowMs) {
  const window = rateWindow(settings, nowMs);
  const keys = (await mailboxDigests(recipients)).map((d) => `rate:${d}:${window.number}`);
  const counts = await Promise.all(keys.map(async (k) => Number((await kv.get(k)) ?? "0")));
  if (counts.some((c) => c >= settings.rateLimitMax)) return window.retryAfter;
  const ttl = Math.max(KV_MIN_TTL_SECONDS, Math.ceil((window.endMs - nowMs) / 1000));
  await Promise.all(keys.map((k, i) => kv.put(k, String(counts[i] + 1), { expirationTtl: ttl })));
  return 0;
}

// ---- strict mode: a Durable Object per nonce and per mailbox ----------------------------------

/**
 * One claimed nonce or one mailbox's counters. A Durable Object is single-threaded per id, and
 * these methods read and write SQLite synchronously before their first await, so a check and
 * its write never interleave with another request's: what KV's read-then-write cannot promise.
 * Rows expire; an alarm at the earliest expiry removes them and empties an idle object.
 */
export class RelayGuard extends DurableObject {
  /** The tables, made on first use (and again after an alarm emptied the object). */
  tables() {
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS claim (expires_ms INTEGER NOT NULL)");
    sql.exec(
      "CREATE TABLE IF NOT EXISTS counter (window TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_ms INTEGER NOT NULL)",
    );
    return sql;
  }

  /** True for the first caller within `ttlSeconds`, false for every other. */
  async claim(ttlSeconds) {
    const sql = this.tables();
    const now = Date.now();
    if (sql.exec("SELECT 1 FROM claim WHERE expires_ms > ?", now).toArray().length) return false;
    sql.exec("DELETE FROM claim");
    sql.exec("INSERT INTO claim (expires_ms) VALUES (?)", now + ttlSeconds * 1000);
    await this.scheduleCleanup();
    return true;
  }

  /** Count one send in `window` unless it already holds `max`; true when counted. */
  async reserve(window, max, expiresMs) {
    const sql = this.tables();
    sql.exec("DELETE FROM counter WHERE expires_ms <= ?", Date.now());
    const row = sql.exec("SELECT count FROM counter WHERE window = ?", window).toArray()[0];
    if ((row?.count ?? 0) >= max) return false;
    sql.exec(
      "INSERT INTO counter (window, count, expires_ms) VALUES (?, 1, ?) ON CONFLICT(window) DO UPDATE SET count = count + 1",
      window, expiresMs,
    );
    await this.scheduleCleanup();
    return true;
  }

  /** Undo one `reserve` (another mailbox of the same request was refused). */
  async release(window) {
    this.tables().exec("UPDATE counter SET count = count - 1 WHERE window = ? AND count > 0", window);
  }

  async scheduleCleanup() {
    const next = this.tables().exec(
      "SELECT MIN(e) AS next FROM (SELECT expires_ms AS e FROM claim UNION ALL SELECT expires_ms FROM counter)",
    ).one().next;
    if (next === null) await this.ctx.storage.deleteAll();
    else await this.ctx.storage.setAlarm(next);
  }

  async alarm() {
    const sql = this.tables();
    const now = Date.now();
    sql.exec("DELETE FROM claim WHERE expires_ms <= ?", now);
    sql.exec("DELETE FROM counter WHERE expires_ms <= ?", now);
    await this.scheduleCleanup();
  }
}

/** The guard object for `kind` and a digest: ids are derived from digests, never raw values. */
function guard(env, kind, digest) {
  return env.RELAY_GUARD.get(env.RELAY_GUARD.idFromName(`${kind}:${digest}`));
}

async function claimNonceStrict(env, nonce, ttlSeconds) {
  return guard(env, "nonce", await sha256Hex(nonce)).claim(ttlSeconds);
}

/**
 * Reserve one send per mailbox, one object after another in sorted order; when one refuses,
 * the reservations already made are released, so a 429 counts nothing (as the contract says).
 */
async function applyRateLimitStrict(env, recipients, settings, nowMs) {
  const window = rateWindow(settings, nowMs);
  const key = `${settings.rateLimitWindowSeconds}:${window.number}`;
  const reserved = [];
  for (const digest of await mailboxDigests(recipients)) {
    const object = guard(env, "mailbox", digest);
    if (!(await object.reserve(key, settings.rateLimitMax, window.endMs))) {
      await Promise.all(reserved.map((r) => r.release(key)));
      return window.retryAfter;
    }
    reserved.push(object);
  }
  return 0;
}

/** The time each slot's KV key is known to hold, per isolate: spares a KV read per request. */
const lastAcceptedMemo = new Map();

/** Record that `slot` signed a real send at `nowMs`: at most one KV write a minute per slot. */
async function recordAccepted(kv, slot, nowMs) {
  const known = lastAcceptedMemo.get(slot);
  if (known !== undefined && nowMs - known < LAST_ACCEPTED_EVERY_MS) return;
  const key = `slot-last-accepted:${slot}`;
  const stored = Number((await kv.get(key)) ?? "0");
  if (nowMs - stored < LAST_ACCEPTED_EVERY_MS) {
    lastAcceptedMemo.set(slot, stored);
    return;
  }
  await kv.put(key, String(nowMs));
  lastAcceptedMemo.set(slot, nowMs);
}

// ---- request handling -------------------------------------------------------------------------

async function handle(request, env) {
  if (request.method !== "POST") {
    return json(405, { error: "method_not_allowed" }, { allow: "POST" });
  }
  const url = new URL(request.url);
  if (url.pathname !== "/send") return json(404, { error: "not_found" });

  let settings;
  try {
    settings = loadSettings(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`relay misconfigured: ${error.message}`);
    return json(500, { error: "relay_misconfigured" });
  }
  const tooLarge = () => json(413, { error: "payload_too_large", max_bytes: settings.maxBodyBytes });
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > settings.maxBodyBytes) return tooLarge();
  const body = await readCapped(request, settings.maxBodyBytes);
  if (body === null) return tooLarge();

  const sig = request.headers.get("x-polaris-sig");
  const ts = request.headers.get("x-polaris-ts");
  const nonce = request.headers.get("x-polaris-nonce");
  if (!sig || !ts || !nonce || !SIG_RE.test(sig) || !TS_RE.test(ts) || !NONCE_RE.test(nonce)) {
    return unauthorized();
  }
  const nowMs = Date.now();
  if (Math.abs(nowMs - Number(ts)) > settings.tsWindowMs) return unauthorized();

  const signed = encoder.encode(
    await canonicalString("POST", url.host, url.pathname, ts, nonce, body),
  );
  const signature = unhex(sig);
  let keySlot = null;
  if (await verifyWith(settings.secretA, signature, signed)) keySlot = "A";
  else if (settings.secretB && (await verifyWith(settings.secretB, signature, signed))) keySlot = "B";
  if (keySlot === null) return unauthorized();
  const claimed = settings.strict
    ? await claimNonceStrict(env, nonce, settings.nonceTtlSeconds)
    : await claimNonce(env.EMAIL_NONCE_DEDUP, nonce, settings.nonceTtlSeconds);
  if (!claimed) return unauthorized();

  let payload;
  try {
    payload = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(body));
  } catch {
    return badRequest("body", "the body must be UTF-8 JSON");
  }
  const { error, message } = validatePayload(payload);
  if (error) return badRequest(...error);
  const sender = settings.senders.get(message.from.toLowerCase());
  if (!sender) {
    return json(403, {
      error: "sender_not_allowed",
      field: "from",
      message: `from must be one of: ${[...settings.senders.values()].map((s) => s.address).join(", ")}`,
    });
  }
  message.from = sender.address;
  if (message.dryRun) return json(200, { ok: true, dry_run: true, key: keySlot });
  await recordAccepted(env.EMAIL_NONCE_DEDUP, keySlot, nowMs);

  const retryAfter = settings.strict
    ? await applyRateLimitStrict(env, message.to, settings, nowMs)
    : await applyRateLimit(env.EMAIL_NONCE_DEDUP, message.to, settings, nowMs);
  if (retryAfter > 0) {
    return json(
      429,
      { error: "rate_limited", field: "to", retry_after: retryAfter },
      { "retry-after": String(retryAfter) },
    );
  }

  const binding = env[sender.binding];
  if (!binding) {
    console.error(`relay misconfigured: no send_email binding ${sender.binding}`);
    return json(500, { error: "relay_misconfigured" });
  }
  const messageId = `${crypto.randomUUID()}@${sender.address.split("@")[1]}`;
  const boundary = `polaris-${crypto.randomUUID().replaceAll("-", "")}`;
  const raw = buildMime(message, messageId, nowMs, boundary);
  try {
    // One envelope per recipient: an EmailMessage carries a single RCPT TO.
    for (const recipient of message.to) {
      await binding.send(new EmailMessage(sender.address, recipient, raw));
    }
  } catch (err) {
    console.error(`send failed: ${err}`);
    return json(502, { error: "send_failed", id: messageId, message: String(err) });
  }
  return json(202, { ok: true, id: messageId, key: keySlot });
}

export default {
  fetch: handle,
};
