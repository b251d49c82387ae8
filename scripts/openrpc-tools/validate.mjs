#!/usr/bin/env node
// Validates the OpenRPC document a server serves, as @open-rpc/schema-utils-js does for every @open-rpc
// tool: validateOpenRPCDocument (its meta-schema for the document's `openrpc` version, ajv 6 with format
// checks on) and parseOpenRPCDocument (validate, dereference every $ref, validate again).
//
//   node scripts/openrpc-tools/validate.mjs http://127.0.0.1:8080/rpc [--json]
//   node scripts/openrpc-tools/validate.mjs saved-document.json     (a file, or - for stdin: a document
//                                                                     or a whole rpc.discover response)
//
// Exit 0: valid (one line on stdout, or a JSON summary with --json). Exit 1: invalid — every meta-schema
// error (the same meta-schema re-run with allErrors, as ajv's default stops at the first) on stderr, and
// the JSON summary on stdout with --json. Exit 2: usage. Exit 3: tools missing, server unreachable.
import fs from "node:fs";
import { fetchDocument, packageVersion, parseArgs, run, toolsRequire, ToolError, truncate } from "./lib.mjs";

const USAGE = "usage: validate.mjs <rpc url | document file | -> [--json] [--token TOKEN]";

/** A saved document: the file (or stdin) holds the document or a whole {"result": document} response. */
function readDocument(source) {
  let text;
  try {
    text = fs.readFileSync(source === "-" ? 0 : source, "utf8");
  } catch (e) {
    throw new ToolError(`cannot read ${source}: ${e.message}`);
  }
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ToolError(`${source} is not JSON: ${e.message}`);
  }
  if (doc && typeof doc === "object" && doc.result && !doc.methods) doc = doc.result;
  if (!doc || typeof doc !== "object" || !Array.isArray(doc.methods)) {
    throw new ToolError(`${source} holds no OpenRPC document`);
  }
  return doc;
}

/** Every error of the meta-schema schema-utils uses (allErrors), for a complete report. */
function allMetaSchemaErrors(req, document) {
  const utilsDir = req.resolve("@open-rpc/schema-utils-js");
  const { createRequire } = req("node:module");
  const utilsRequire = createRequire(utilsDir);
  const Ajv = utilsRequire("ajv");
  const jsonSchemaMeta = utilsRequire("@json-schema-tools/meta-schema");
  const { getDocumentExtendedMetaSchema } = req("@open-rpc/schema-utils-js");
  const ajv = new Ajv({ allErrors: true });
  ajv.addSchema(jsonSchemaMeta.default || jsonSchemaMeta, "https://meta.json-schema.tools");
  ajv.validate(getDocumentExtendedMetaSchema(document), document);
  return ajv.errors || [];
}

/** ajv's allErrors output for oneOf(reference | object) alternatives is noisy: keep the errors that say
 * what is wrong — drop oneOf/anyOf summaries, the "$ref" alternative, and errors with a deeper one under them. */
function relevantErrors(errors) {
  const path = (e) => e.dataPath || e.instancePath || "";
  const candidates = errors.filter((e) => !["oneOf", "anyOf"].includes(e.keyword)
    && !(e.keyword === "required" && e.params?.missingProperty === "$ref"));
  const deeper = (p) => candidates.some((o) => path(o).length > p.length && path(o).startsWith(p)
    && /^[.[]/.test(path(o).slice(p.length)));
  const kept = candidates.filter((e) => !deeper(path(e)));
  return kept.filter((e) => e.keyword !== "additionalProperties"
    || !kept.some((o) => o !== e && path(o) === path(e) && o.keyword !== "additionalProperties"));
}

function describeError(e) {
  const where = e.dataPath || e.instancePath || "(document)";
  const params = e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : "";
  return `${where}: ${e.message}${params}`;
}

async function main() {
  const { positional, options } = parseArgs(process.argv.slice(2), { json: "flag", token: "value" }, USAGE);
  if (positional.length !== 1) throw new ToolError(USAGE, 2);
  const url = positional[0];
  const req = toolsRequire();
  const utils = req("@open-rpc/schema-utils-js");
  const document = /^https?:\/\//i.test(url) ? await fetchDocument(url, { token: options.token }) : readDocument(url);

  const summary = {
    tool: `@open-rpc/schema-utils-js ${packageVersion(req, "@open-rpc/schema-utils-js")}`,
    url,
    openrpc: document.openrpc,
    methods: document.methods.length,
    servers: (document.servers || []).map((s) => s.url),
    valid: false,
    validate_errors: [],
    parse_error: null,
  };

  // 1. validateOpenRPCDocument: true, or an OpenRPCDocumentValidationError (ajv's first error only).
  const verdict = utils.validateOpenRPCDocument(structuredClone(document));
  if (verdict !== true) {
    const errors = relevantErrors(allMetaSchemaErrors(req, structuredClone(document)));
    summary.validate_errors = (errors.length ? errors : [{ message: verdict.message }]).map(describeError);
  }
  // 2. parseOpenRPCDocument: what the generator and test-coverage's CLI run first (validate + dereference).
  try {
    await utils.parseOpenRPCDocument(structuredClone(document));
  } catch (e) {
    summary.parse_error = truncate(e?.message || String(e), 2000);
  }
  summary.valid = verdict === true && summary.parse_error === null;

  if (options.json) process.stdout.write(JSON.stringify(summary, null, 2) + "\n");
  if (summary.valid) {
    if (!options.json) {
      process.stdout.write(`valid: OpenRPC ${document.openrpc}, ${document.methods.length} methods, `
        + `servers ${summary.servers.join(" ") || "(none)"} (${summary.tool})\n`);
    }
    return 0;
  }
  const lines = [`INVALID OpenRPC document ${/^https?:/i.test(url) ? "served at" : "in"} ${url} (${summary.tool}):`];
  for (const e of summary.validate_errors) lines.push(`  meta-schema: ${e}`);
  if (summary.parse_error && !summary.validate_errors.length) lines.push(`  parseOpenRPCDocument: ${summary.parse_error}`);
  process.stderr.write(lines.join("\n") + "\n");
  return 1;
}

run(main);
