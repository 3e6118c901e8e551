// `polaris-tui relay --engine workerd`: the shipped Worker in workerd (Miniflare), behind a
// strict HTTP front on loopback.
//
// Why not `wrangler dev`: it needs the secrets in a .dev.vars file, calls workers.cloudflare.com
// at start, keeps state in a temporary folder, and its proxy answers malformed requests with
// 500/501/503 (or normalises the path) before the Worker runs. Here:
// - the settings, secrets included, arrive as one JSON line on stdin (never argv, env or disk);
//   stdin then stays open, and its end (the parent died, even by SIGKILL) stops everything;
// - the RelayGuard Durable Object (strict mode: nonces, rate counters) and KV persist in the
//   state folder the parent names;
// - the front refuses what Cloudflare's edge refuses before a Worker runs, with the contract's
//   answers (docs/relay-protocol.md, section 3, check 0), and hands the rest to the Worker.
import { Agent, STATUS_CODES, createServer, request as httpRequest } from "node:http";
import { join, dirname } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const HOST_RE = /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$/;
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "host", "upgrade"]);

function readConfigLine() {
  return new Promise((resolve, reject) => {
    let buffered = "";
    const onData = (chunk) => {
      buffered += chunk;
      const newline = buffered.indexOf("\n");
      if (newline >= 0) {
        process.stdin.off("data", onData);
        resolve(JSON.parse(buffered.slice(0, newline)));
      }
    };
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", onData);
    process.stdin.once("end", () => reject(new Error("stdin closed before the settings line")));
  });
}

const answer = (status, payload, headers = {}) => ({
  status,
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(payload),
});
const badRequest = (field, message) => answer(400, { error: "bad_request", field, message });

/** Check 0 (and 1, 2, 4 where only the raw request shows them): null when the Worker decides. */
function frontCheck(method, rawUrl, rawHeaders, maxBodyBytes) {
  const hosts = [];
  const lengths = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (name === "host") hosts.push(rawHeaders[i + 1]);
    if (name === "content-length") lengths.push(rawHeaders[i + 1]);
  }
  if (hosts.length !== 1) return badRequest("host", "send exactly one Host header");
  if (!HOST_RE.test(hosts[0].toLowerCase())) {
    return badRequest("host", "Host must be a name or [IPv6] with an optional :port");
  }
  if (method !== "POST") return answer(405, { error: "method_not_allowed" }, { allow: "POST" });
  // workerd hands the Worker a normalised URL ("/a/../send" becomes "/send"); the contract is
  // the path as sent, so a path the normalisation would change is not /send.
  const rawPath = rawUrl.split("?", 1)[0];
  if (rawPath !== "/send") return answer(404, { error: "not_found" });
  if (lengths.length === 1 && Number(lengths[0]) > maxBodyBytes) {
    return answer(413, { error: "payload_too_large", max_bytes: maxBodyBytes });
  }
  return null;
}

function send(res, { status, headers, body }, close = false) {
  res.writeHead(status, { ...headers, "content-length": Buffer.byteLength(body), ...(close ? { connection: "close" } : {}) });
  res.end(body);
}

async function readBody(req, limit) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

const agent = new Agent({ keepAlive: true });

/** POST to workerd's own socket (dispatchFetch costs ~15 ms a request, this ~2 ms). */
function forward(upstream, path, headers, body) {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: "POST", path, headers, agent },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("end", () => resolve({
          status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks),
        }));
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.setNoDelay(true);
    request.end(body);
  });
}

async function main() {
  const config = await readConfigLine();
  // npm ci ran in the user cache dir (polaris_tui/relay/node.py), not beside this file.
  const installed = createRequire(join(config.toolsDir, "package.json")).resolve("miniflare");
  const { Log, LogLevel, Miniflare } = await import(pathToFileURL(installed).href);
  process.umask(0o077); // miniflare's mail files and KV state: owner only
  const mf = new Miniflare({
    modules: true,
    scriptPath: join(HERE, "src", "index.js"),
    compatibilityDate: config.compatibilityDate,
    kvNamespaces: ["EMAIL_NONCE_DEDUP"],
    kvPersist: join(config.persistDir, "kv"),
    // Strict mode's guard (nonce claims, per-mailbox counters), as the deploy step binds it.
    durableObjects: { RELAY_GUARD: { className: "RelayGuard", useSQLite: true } },
    durableObjectsPersist: join(config.persistDir, "durable-objects"),
    email: { send_email: config.sendEmail },
    bindings: config.bindings,
    log: new Log(LogLevel.INFO), // prints each sent message's .eml path
    cf: false, // request.cf from a built-in sample: else Miniflare fetches workers.cloudflare.com/cf.json
    host: "127.0.0.1",
    port: 0, // workerd's own socket, reached only through the front below
  });
  const upstream = await mf.ready;
  const maxBodyBytes = Number(config.bindings.MAX_BODY_BYTES);

  // A missing Host is refused by frontCheck, with the contract's JSON answer.
  // Node enforces the timeouts below only when it checks (every 30 s by default).
  const connectionsCheckingInterval = Math.min(1000, config.headerTimeoutMs);
  const server = createServer({ requireHostHeader: false, connectionsCheckingInterval }, async (req, res) => {
    try {
      const refused = frontCheck(req.method, req.url, req.rawHeaders, maxBodyBytes);
      if (refused) return send(res, refused, true);
      const body = await readBody(req, maxBodyBytes);
      if (body === null) {
        return send(res, answer(413, { error: "payload_too_large", max_bytes: maxBodyBytes }), true);
      }
      const headers = { host: req.headers.host, "content-length": String(body.length) };
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i].toLowerCase();
        if (HOP_BY_HOP.has(name) || name === "content-length") continue;
        // A repeated header goes on as repeated lines: workerd joins them, as Cloudflare does.
        headers[name] = name in headers ? [].concat(headers[name], req.rawHeaders[i + 1]) : req.rawHeaders[i + 1];
      }
      const response = await forward(upstream, req.url, headers, body);
      const answerHeaders = Object.fromEntries(
        Object.entries(response.headers).filter(([name]) => !HOP_BY_HOP.has(name) && name !== "content-length"),
      );
      send(res, { status: response.status, headers: answerHeaders, body: response.body });
    } catch (error) {
      console.error(`relay front: ${error}`);
      if (!res.headersSent) send(res, answer(500, { error: "internal_error" }), true);
    }
  });
  // A client that half-closes after its request still gets the answer (Node's default aborts).
  server.httpAllowHalfOpen = true;
  server.headersTimeout = config.headerTimeoutMs;
  server.requestTimeout = config.requestTimeoutMs;
  server.on("clientError", (error, socket) => {
    // Parse errors, before any handler: a lower-case method is still a wrong method.
    const response = error.code === "HPE_INVALID_METHOD"
      ? answer(405, { error: "method_not_allowed" }, { allow: "POST" })
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? answer(408, { error: "request_timeout" })
        : badRequest("request", `malformed HTTP request (${error.code ?? "parse error"})`);
    if (socket.writable) {
      const head = Object.entries({ ...response.headers, "content-length": Buffer.byteLength(response.body), connection: "close" })
        .map(([k, v]) => `${k}: ${v}`).join("\r\n");
      socket.end(`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status]}\r\n${head}\r\n\r\n${response.body}`);
    } else {
      socket.destroy();
    }
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server.close();
    server.closeAllConnections();
    await mf.dispose();
    process.exit(0);
  };
  process.stdin.on("end", stop); // the parent is gone
  process.stdin.resume();
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, stop);
  server.listen(config.port, config.host, () => {
    console.log(`workerd relay ready on http://${config.host}:${server.address().port}/send`);
  });
}

main().catch((error) => {
  console.error(`relay: ${error.message}`);
  process.exit(1);
});
