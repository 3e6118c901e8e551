// Shared by the Worker tests: the vectors, a Miniflare for a settings object, and .eml reading.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

export const WORKER_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_DIR = join(WORKER_DIR, "..", "..", "..");
export const VECTORS = JSON.parse(
  readFileSync(join(REPO_DIR, "tests", "vectors", "relay.json"), "utf8"),
);

// miniflare writes sent mail under os.tmpdir(); give this process a private one to read back.
const MAIL_ROOT = mkdtempSync(join(tmpdir(), "polaris-worker-test-"));
process.env.TMPDIR = MAIL_ROOT;
process.on("exit", () => rmSync(MAIL_ROOT, { recursive: true, force: true }));

/** The compatibility date the shipped wrangler.jsonc declares. */
export function compatibilityDate() {
  const text = readFileSync(join(WORKER_DIR, "wrangler.jsonc"), "utf8");
  return JSON.parse(text.replace(/^\s*\/\/.*$/gm, "")).compatibility_date;
}

/** The Durable Object binding strict mode reads, as the deploy step binds it (SQLite-backed). */
export const GUARD = { RELAY_GUARD: { className: "RelayGuard", useSQLite: true } };

/** The Worker in workerd with the bindings the deploy step uploads for `settings`
 * (strict mode's Durable Object unless `durableObjects` says otherwise). */
export function startWorker(settings, extraBindings = {}, durableObjects = GUARD) {
  const bindings = {
    POLARIS_SECRET_A: settings.secret_a,
    TS_WINDOW_MS: String(settings.ts_window_ms),
    NONCE_TTL_SECONDS: String(settings.nonce_ttl_seconds),
    RATE_LIMIT_MAX: String(settings.rate_limit_max),
    RATE_LIMIT_WINDOW_SECONDS: String(settings.rate_limit_window_seconds),
    MAX_BODY_BYTES: String(settings.max_body_bytes),
    ...extraBindings,
  };
  if (settings.secret_b) bindings.POLARIS_SECRET_B = settings.secret_b;
  const sendEmail = [];
  for (const [address, binding] of Object.entries(settings.senders)) {
    bindings[binding.replace(/^SEND_/, "SENDER_")] = address;
    sendEmail.push({ name: binding, allowed_sender_addresses: [address] });
  }
  return new Miniflare({
    modules: true,
    scriptPath: join(WORKER_DIR, "src", "index.js"),
    compatibilityDate: compatibilityDate(),
    kvNamespaces: ["EMAIL_NONCE_DEDUP"],
    durableObjects,
    cf: false, // no fetch of workers.cloudflare.com/cf.json
    email: { send_email: sendEmail },
    bindings,
  });
}

/** Every .eml miniflare has written so far. */
export function emlFiles() {
  const found = [];
  for (const dir of readdirSync(MAIL_ROOT)) {
    const mail = join(MAIL_ROOT, dir, "files", "email");
    if (existsSync(mail)) {
      for (const name of readdirSync(mail)) if (name.endsWith(".eml")) found.push(join(mail, name));
    }
  }
  return found;
}

function unfoldHeaders(block) {
  const headers = new Map();
  for (const line of block.replace(/\r\n[ \t]/g, " ").split("\r\n")) {
    const colon = line.indexOf(":");
    headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

function decodePart(headers, body) {
  if (headers.get("content-transfer-encoding") === "base64") {
    return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  }
  return body;
}

/** A minimal reader for the messages this Worker builds: headers, text and html parts. */
export function parseEml(raw) {
  const split = raw.indexOf("\r\n\r\n");
  const headers = unfoldHeaders(raw.slice(0, split));
  const body = raw.slice(split + 4);
  const parts = {};
  const type = headers.get("content-type") ?? "";
  const boundary = /boundary="([^"]+)"/.exec(type);
  const chunks = boundary
    ? body.split(`--${boundary[1]}`).slice(1, -1).map((chunk) => chunk.replace(/^\r\n/, ""))
    : [null];
  for (const chunk of chunks) {
    const [partHeaders, partBody] = chunk === null
      ? [headers, body]
      : [unfoldHeaders(chunk.slice(0, chunk.indexOf("\r\n\r\n"))), chunk.slice(chunk.indexOf("\r\n\r\n") + 4)];
    const kind = (partHeaders.get("content-type") ?? "").startsWith("text/html") ? "html" : "text";
    parts[kind] = decodePart(partHeaders, partBody);
  }
  return { raw, headers, parts };
}
