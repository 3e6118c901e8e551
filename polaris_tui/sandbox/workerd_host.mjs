// The sandbox edge's Worker runtime: each deployed script's uploaded modules run in workerd
// through miniflare (the version pinned by the relay Worker's package-lock.json, installed by
// polaris_tui.relay.node.ensure_node_modules).
//
// The parent (polaris_tui/sandbox/workerd.py) writes one JSON request per line on stdin and
// reads one JSON reply per line on stdout:
//   {"id": 1, "op": "load", "name": "...", "worker": {...}}  ->  {"id": 1, "ok": true, "url": "..."}
// The api/smtp endpoints and the API token come the same way, never on the command line.
// End of stdin (the sandbox stopped or died) disposes every workerd and exits.
//
// Durable Object bindings run the script's own classes in workerd, persisted under the folder
// the parent names. KV and send_email bindings are RPC entrypoints of a bridge Worker, as miniflare's own
// send_email binding is, so that KV reads and writes go through the sandbox's KV API (one
// store) and mail lands in the sandbox's SMTP inbox.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { connect } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";

// The folder the pinned packages were installed in (polaris_tui.relay.node.tools_dir()).
const toolsDir = process.argv[2];
const { Miniflare, Log, LogLevel } = createRequire(join(toolsDir, "package.json"))("miniflare");

const BRIDGE_DATE = "2026-04-26";
const BRIDGE = String.raw`
import { WorkerEntrypoint } from "cloudflare:workers";

const RAW = "EmailMessage::raw";

function kvPath(props, kind, key) {
  return "http://sandbox/kv/" + props.namespace_id + "/" + kind + (key === undefined ? "" : "/" + encodeURIComponent(key));
}

async function failed(response, what) {
  throw new Error(what + " failed: HTTP " + response.status + " " + (await response.text()).slice(0, 300));
}

export class KvNamespace extends WorkerEntrypoint {
  async get(key, options) {
    return (await this.read(key, options, false)).value;
  }
  async getWithMetadata(key, options) {
    return this.read(key, options, true);
  }
  async read(key, options, withMetadata) {
    const type = typeof options === "string" ? options : options?.type ?? "text";
    const headers = withMetadata ? { "x-kv-with-metadata": "1" } : {};
    const response = await this.env.HOST.fetch(kvPath(this.ctx.props, "values", key), { headers });
    if (response.status === 404) return { value: null, metadata: null };
    if (!response.ok) await failed(response, "KV get");
    const raw = response.headers.get("x-kv-metadata");
    const metadata = raw ? JSON.parse(raw) : null;
    if (type === "json") return { value: await response.json(), metadata };
    if (type === "arrayBuffer") return { value: await response.arrayBuffer(), metadata };
    if (type === "stream") return { value: response.body, metadata };
    return { value: await response.text(), metadata };
  }
  async put(key, value, options = {}) {
    const query = new URLSearchParams();
    if (options.expirationTtl !== undefined) query.set("expiration_ttl", String(options.expirationTtl));
    if (options.expiration !== undefined) query.set("expiration", String(options.expiration));
    const headers = options.metadata === undefined ? {} : { "x-kv-metadata": JSON.stringify(options.metadata) };
    const url = kvPath(this.ctx.props, "values", key) + (query.size ? "?" + query : "");
    const response = await this.env.HOST.fetch(url, { method: "PUT", headers, body: value });
    if (!response.ok) await failed(response, "KV put");
  }
  async delete(key) {
    const response = await this.env.HOST.fetch(kvPath(this.ctx.props, "values", key), { method: "DELETE" });
    if (!response.ok) await failed(response, "KV delete");
  }
  async list(options = {}) {
    const query = new URLSearchParams();
    for (const name of ["prefix", "limit", "cursor"]) {
      if (options[name] !== undefined && options[name] !== null) query.set(name, String(options[name]));
    }
    const response = await this.env.HOST.fetch(kvPath(this.ctx.props, "keys") + "?" + query);
    if (!response.ok) await failed(response, "KV list");
    return response.json();
  }
}

function headerBlock(raw) {
  const end = raw.search(/\r?\n\r?\n/);
  const headers = new Map();
  for (const line of (end < 0 ? raw : raw.slice(0, end)).replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

function address(value) {
  const angle = /<([^>]*)>/.exec(value ?? "");
  return (angle ? angle[1] : value ?? "").trim();
}

// The checks miniflare's send_email binding makes, then delivery instead of a temp file.
export class SendEmail extends WorkerEntrypoint {
  async send(message) {
    if (message === null || typeof message !== "object" || !(RAW in message)) {
      throw new Error("send() takes an EmailMessage from cloudflare:email");
    }
    const props = this.ctx.props;
    if (props.allowed_sender_addresses && !props.allowed_sender_addresses.includes(message.from)) {
      throw new Error("email from " + message.from + " not allowed");
    }
    if (props.destination_address !== undefined && message.to !== props.destination_address) {
      throw new Error("email to " + message.to + " not allowed");
    }
    if (props.allowed_destination_addresses && !props.allowed_destination_addresses.includes(message.to)) {
      throw new Error("email to " + message.to + " not allowed");
    }
    const raw = await new Response(message[RAW]).text();
    const headers = headerBlock(raw);
    if (!headers.get("message-id")) throw new Error("invalid message-id");
    if (address(headers.get("from")) !== message.from) throw new Error("From: header does not match mail from");
    if (headers.has("received")) throw new Error("invalid headers set");
    const response = await this.env.HOST.fetch("http://sandbox/smtp", {
      method: "POST",
      body: JSON.stringify({ from: message.from, to: message.to, raw }),
    });
    if (!response.ok) throw new Error("send failed: " + (await response.text()));
    return { messageId: headers.get("message-id") };
  }
}

export default { fetch: () => new Response("not an HTTP service", { status: 404 }) };
`;

let endpoints = null; // {api, token, smtp_host, smtp_port}
const instances = new Map();

/** One SMTP transaction against the sandbox inbox; rejects on any non-2xx/3xx reply. */
function smtpSend(from, to, raw) {
  return new Promise((resolve, reject) => {
    const socket = connect(endpoints.smtp_port, endpoints.smtp_host);
    const body = raw.replace(/\r?\n/g, "\r\n").replace(/^\./gm, "..");
    const steps = [
      null,
      "EHLO sandbox-edge",
      `MAIL FROM:<${from}>`,
      `RCPT TO:<${to}>`,
      "DATA",
      `${body}${body.endsWith("\r\n") ? "" : "\r\n"}.`,
      "QUIT",
    ];
    let buffer = "";
    socket.setEncoding("utf8");
    socket.setTimeout(10000, () => socket.destroy(new Error("SMTP timed out")));
    socket.on("error", reject);
    socket.on("data", (chunk) => {
      buffer += chunk;
      const lines = buffer.split("\r\n");
      buffer = lines.pop();
      for (const line of lines) {
        if (/^\d{3}-/.test(line)) continue; // a multi-line reply goes on
        if (!/^[23]\d\d /.test(line)) {
          socket.destroy();
          reject(new Error(`SMTP: ${line}`));
          return;
        }
        steps.shift();
        if (steps.length === 0) {
          socket.end();
          resolve();
          return;
        }
        socket.write(`${steps[0]}\r\n`);
      }
    });
  });
}

/** The bridge's way out of workerd: KV calls go to the sandbox API, mail to its inbox. */
async function hostService(request) {
  const url = new URL(request.url);
  if (url.pathname === "/smtp") {
    const { from, to, raw } = await request.json();
    try {
      await smtpSend(from, to, raw);
    } catch (error) {
      return new Response(String(error.message ?? error), { status: 502 });
    }
    return new Response("delivered");
  }
  const match = /^\/kv\/([^/]+)\/(values|keys)(?:\/(.*))?$/.exec(url.pathname);
  if (!match) return new Response("unknown bridge call", { status: 404 });
  const [, namespace, kind, key] = match;
  const target = `${endpoints.api}/accounts/${endpoints.account_id}/storage/kv/namespaces/${namespace}/${kind}`
    + (key === undefined ? "" : `/${key}`) + url.search;
  const headers = { authorization: `Bearer ${endpoints.token}` };
  const metadata = request.headers.get("x-kv-metadata");
  let body;
  if (request.method === "PUT") {
    body = new FormData();
    body.set("value", new Blob([await request.arrayBuffer()]));
    body.set("metadata", metadata ?? "null");
  }
  const upstream = await fetch(target, { method: request.method, headers, body });
  if (kind === "keys" && upstream.ok) {
    const payload = await upstream.json();
    const cursor = payload.result_info?.cursor ?? "";
    return Response.json({
      keys: payload.result,
      list_complete: cursor === "",
      ...(cursor ? { cursor } : {}),
    });
  }
  const out = new Headers();
  if (request.headers.get("x-kv-with-metadata") && upstream.ok) {
    const meta = await fetch(target.replace("/values/", "/metadata/"), { headers });
    if (meta.ok) out.set("x-kv-metadata", JSON.stringify((await meta.json()).result ?? null));
  }
  return new Response(await upstream.arrayBuffer(), { status: upstream.status, headers: out });
}

const MODULE_TYPES = {
  "application/javascript+module": "ESModule",
  "text/javascript+module": "ESModule",
  "application/javascript": "CommonJS",
  "text/javascript": "CommonJS",
  "application/wasm": "CompiledWasm",
  "text/plain": "Text",
  "application/octet-stream": "Data",
};

function options(worker) {
  const modules = worker.modules.map((m) => {
    const type = MODULE_TYPES[m.content_type.split(";")[0].trim()];
    if (!type) throw new Error(`module ${m.name}: content type ${m.content_type} is not supported`);
    const bytes = Buffer.from(m.b64, "base64");
    const contents = type === "ESModule" || type === "CommonJS" || type === "Text" ? bytes.toString("utf8") : bytes;
    return { type, path: `/worker/${m.name}`, contents };
  });
  const serviceBindings = {};
  for (const [name, props] of Object.entries(worker.kv)) {
    serviceBindings[name] = { name: "polaris-bridge", entrypoint: "KvNamespace", props };
  }
  for (const [name, props] of Object.entries(worker.send_email)) {
    serviceBindings[name] = { name: "polaris-bridge", entrypoint: "SendEmail", props };
  }
  // workerd runs the script's own Durable Object classes; each namespace keeps its storage in
  // a folder named by its namespace id, so a reload keeps it and a new migration starts empty.
  const durableObjects = {};
  for (const [name, dobj] of Object.entries(worker.durable_objects)) {
    durableObjects[name] = { className: dobj.class_name, useSQLite: dobj.sqlite, unsafeUniqueKey: dobj.namespace_id };
  }
  return {
    host: "127.0.0.1",
    port: 0,
    log: new Log(LogLevel.WARN),
    durableObjectsPersist: worker.persist,
    workers: [
      {
        name: worker.name,
        modules,
        modulesRoot: "/worker",
        compatibilityDate: worker.compatibility_date ?? undefined,
        compatibilityFlags: worker.compatibility_flags,
        bindings: worker.vars,
        serviceBindings,
        durableObjects,
      },
      {
        name: "polaris-bridge",
        modules: [{ type: "ESModule", path: "/bridge/bridge.mjs", contents: BRIDGE }],
        modulesRoot: "/bridge",
        compatibilityDate: BRIDGE_DATE,
        serviceBindings: { HOST: hostService },
      },
    ],
  };
}

async function load(request) {
  endpoints = request.endpoints;
  const opts = options(request.worker);
  let mf = instances.get(request.name);
  try {
    if (mf === undefined) {
      mf = new Miniflare(opts);
      instances.set(request.name, mf);
    } else {
      await mf.setOptions(opts);
    }
    return { url: (await mf.ready).href };
  } catch (error) {
    // A Worker that cannot start leaves no half-configured workerd behind.
    instances.delete(request.name);
    await mf?.dispose().catch(() => {});
    throw error;
  }
}

async function shutdown() {
  await Promise.allSettled([...instances.values()].map((mf) => mf.dispose()));
  process.exit(0);
}

const reply = (payload) => process.stdout.write(`${JSON.stringify(payload)}\n`);
let queue = Promise.resolve();
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const request = JSON.parse(line);
  queue = queue.then(async () => {
    try {
      if (request.op !== "load") throw new Error(`unknown op ${request.op}`);
      reply({ id: request.id, ok: true, ...(await load(request)) });
    } catch (error) {
      reply({ id: request.id, ok: false, error: String(error?.message ?? error) });
    }
  });
});
lines.on("close", () => queue.then(shutdown));
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(signal, shutdown);
const manifest = JSON.parse(readFileSync(join(toolsDir, "node_modules", "miniflare", "package.json"), "utf8"));
reply({ id: 0, ok: true, miniflare: manifest.version, node: process.version });
