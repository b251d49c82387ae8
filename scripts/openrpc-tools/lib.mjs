// Shared helpers of the OpenRPC tool scripts: where the pinned npm packages live, how to fetch the served
// OpenRPC document, and the exit codes.
//   0  the check passed
//   1  the check found something (an invalid document, a result contradicting its schema, a server fault)
//   2  usage error
//   3  environment: tools not installed, server unreachable, rpc.discover did not answer a document
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, "..", "..");

export class ToolError extends Error {
  constructor(message, exitCode = 3) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Where the packages of package.json are installed (scripts/openrpc-tools/install). */
export function nodeModulesDir() {
  const npmDir = process.env.LMS_NPM_DIR || path.join(ROOT, ".cache", "npm");
  const candidates = [
    process.env.OPENRPC_TOOLS_NODE_MODULES,
    path.join(npmDir, "openrpc-tools", "node_modules"),
    path.join(HERE, "node_modules"),
  ].filter(Boolean);
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, "@open-rpc", "schema-utils-js", "package.json"))) return dir;
  }
  throw new ToolError(
    `the OpenRPC tools are not installed (looked in ${candidates.join(", ")}): run scripts/openrpc-tools/install`);
}

/** require() resolving from the tools' node_modules (all the @open-rpc packages are CommonJS). */
export function toolsRequire() {
  return createRequire(path.join(nodeModulesDir(), "..", "package.json"));
}

export function packageVersion(req, name) {
  const dir = path.dirname(req.resolve(`${name}/package.json`));
  return JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).version;
}

/** POST one JSON-RPC request; → {status, body} (body parsed, or a ToolError when not JSON). */
export async function postJsonRpc(url, method, params, { token, timeoutMs = 20000, id = 1 } = {}) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const request = { jsonrpc: "2.0", id, method };
  if (params !== undefined) request.params = params;
  let response;
  try {
    response = await fetch(url, {
      method: "POST", headers, body: JSON.stringify(request), signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    throw new ToolError(`POST ${url} failed: ${e.cause?.message || e.message}`);
  }
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ToolError(`POST ${url} (${method}): HTTP ${response.status}, not JSON: ${text.slice(0, 200)}`);
  }
  return { status: response.status, body };
}

/** The served OpenRPC document: POST <url> {"method": "rpc.discover"}. */
export async function fetchDocument(url, options = {}) {
  const { status, body } = await postJsonRpc(url, "rpc.discover", undefined, options);
  if (status !== 200 || !body || typeof body !== "object" || !("result" in body)) {
    throw new ToolError(`rpc.discover at ${url}: HTTP ${status}, ${JSON.stringify(body).slice(0, 300)}`);
  }
  const doc = body.result;
  if (!doc || typeof doc !== "object" || Array.isArray(doc) || !Array.isArray(doc.methods)) {
    throw new ToolError(`rpc.discover at ${url} did not return an OpenRPC document: ${JSON.stringify(doc).slice(0, 300)}`);
  }
  return doc;
}

/** Parse argv: positional args and --name value / --flag options (only the names in `known`). */
export function parseArgs(argv, known, usage) {
  const positional = [];
  const options = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-h" || arg === "--help") {
      process.stdout.write(usage + "\n");
      process.exit(0);
    }
    if (arg.startsWith("--")) {
      const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
      if (!(name in known)) throw new ToolError(`unknown option --${name}\n${usage}`, 2);
      if (known[name] === "flag") options[name] = true;
      else if (inline !== undefined) options[name] = inline;
      else if (i + 1 < argv.length) options[name] = argv[++i];
      else throw new ToolError(`--${name} needs a value\n${usage}`, 2);
    } else {
      positional.push(arg);
    }
  }
  return { positional, options };
}

/** Run main(); print a ToolError's message on stderr and exit with its code. */
export function run(main) {
  main().then(
    (code) => process.exit(code ?? 0),
    (e) => {
      if (e instanceof ToolError) {
        process.stderr.write(`${e.message}\n`);
        process.exit(e.exitCode);
      }
      process.stderr.write(`${e?.stack || e}\n`);
      process.exit(3);
    },
  );
}

export function truncate(value, max = 600) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text === undefined ? "undefined" : text.length > max ? `${text.slice(0, max)}…` : text;
}
