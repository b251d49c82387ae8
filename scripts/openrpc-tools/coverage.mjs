#!/usr/bin/env node
// Runs @open-rpc/test-coverage against a server, as a bearer-token caller, and reports every result that
// contradicts its method's result schema.
//
//   node scripts/openrpc-tools/coverage.mjs http://127.0.0.1:8080/rpc <token | - (stdin) | "" (anonymous)>
//        [--calls 10] [--known '{"course_id": ["…"]}' | --known @ids.json] [--known-calls 3]
//        [--seed N] [--only a.b,c.d] [--skip a.b] [--timeout-ms 20000] [--document saved.json]
// (--document: judge the server against a saved, e.g. hand-edited, document instead of its rpc.discover.)
//
// What runs is test-coverage's own engine (its default export: rules → calls → transport → validateCall →
// reporters), with params from its JsonSchemaFakerRule (json-schema-faker on each param schema, `--calls`
// calls per method, 1 for a method without params) and one call per `examples` pairing. What differs from
// its CLI, each because the CLI cannot do what is asked here:
// - transport: the CLI's http transport sends no headers; ours adds `Authorization: Bearer <token>`, posts
//   to <url> (not servers[0].url, which may be relative or point elsewhere), times out, and refuses a reply
//   that is not a JSON-RPC 2.0 response (a "server fault");
// - validation: the CLI's rules count every error response as a failure (they validate `undefined`
//   against the result schema), compare example results for equality (ids differ between databases), and
//   throw on any `format` keyword (ajv 7 strict without formats). Ours: an error response is expected for
//   random params and is no failure, except -32603/-32000 and a malformed error object (server faults);
//   a result is checked against the method's result schema with ajv 8 + ajv-formats (draft-07);
// - generation: the faker rule also runs for methods that have examples (the CLI's skips them); a
//   json-schema-faker crash on one schema is retried instead of aborting the whole run (reported); example
//   params are mapped to names by name (the CLI's ExamplesRule maps them by position).
// With --known, a third rule ("known-ids") makes --known-calls extra calls per method whose params include
// a known name: generated params with those names replaced by the given values, optional params dropped at
// random — so methods answer with results instead of 404 for random ids.
//
// stdout: a JSON summary (calls, results, error codes, per-method status pass | fail | untested).
// Also checked without a call: each example's own result against the method's result schema.
// Exit 0: no contradiction and no server fault. 1: some. 2: usage. 3: tools missing, server unreachable.
import fs from "node:fs";
import {
  fetchDocument, packageVersion, parseArgs, run, toolsRequire, ToolError, truncate,
} from "./lib.mjs";

const USAGE = "usage: coverage.mjs <rpc url> <token | - | \"\"> [--calls N] [--known JSON|@file] "
  + "[--known-calls N] [--seed N] [--only m1,m2] [--skip m1,m2] [--timeout-ms MS] [--document FILE]";
const MAX_REPORTED = 25;
const GENERATION_ATTEMPTS = 25;
const FAULT_CODES = new Set([-32603, -32000]);

/** mulberry32: a small seeded PRNG, so a run can be repeated with --seed. */
function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function readToken(arg) {
  if (arg === "-") return fs.readFileSync(0, "utf8").trim();
  return arg.trim();
}

function readKnown(arg) {
  if (arg === undefined) return null;
  let text = arg;
  if (arg.startsWith("@")) {
    try {
      text = fs.readFileSync(arg.slice(1), "utf8");
    } catch (e) {
      throw new ToolError(`--known: cannot read ${arg.slice(1)}: ${e.message}`, 2);
    }
  }
  let known;
  try {
    known = JSON.parse(text);
  } catch (e) {
    throw new ToolError(`--known is not JSON: ${e.message}`, 2);
  }
  if (!known || typeof known !== "object" || Array.isArray(known)) {
    throw new ToolError("--known must be a JSON object {param name: value or [values]}", 2);
  }
  const out = {};
  for (const [name, values] of Object.entries(known)) {
    const list = Array.isArray(values) ? values : [values];
    if (list.length) out[name] = list;
  }
  return out;
}

function intOption(value, name, min) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new ToolError(`--${name} must be an integer ≥ ${min}`, 2);
  return n;
}

function listOption(value) {
  return value ? value.split(",").map((s) => s.trim()).filter(Boolean) : [];
}

/** Result-schema validators: ajv 8 (draft-07) with ajv-formats; strict mode first, so a schema that
 * trips it is reported (ajv-based clients in strict mode would refuse it), then validated non-strictly. */
function makeSchemaChecker(req) {
  const AjvModule = req("ajv");
  const Ajv = AjvModule.default || AjvModule;
  const formatsModule = req("ajv-formats");
  const addFormats = formatsModule.default || formatsModule;
  const base = { allErrors: true, logger: false, strictTypes: false, strictTuples: false, strictRequired: false };
  const strict = addFormats(new Ajv({ ...base, strict: true }));
  const lax = addFormats(new Ajv({ ...base, strict: false, validateFormats: true }));
  const cache = new Map();
  return (method) => {
    if (cache.has(method.name)) return cache.get(method.name);
    const schema = method.result && "schema" in method.result ? method.result.schema : undefined;
    let entry;
    if (schema === undefined) {
      entry = { validate: null, error: "the method declares no result schema", note: null };
    } else {
      try {
        entry = { validate: strict.compile(schema), error: null, note: null };
      } catch (strictError) {
        try {
          entry = { validate: lax.compile(schema), error: null, note: `ajv strict mode: ${strictError.message}` };
        } catch (e) {
          entry = { validate: null, error: `the result schema does not compile: ${e.message}`, note: null };
        }
      }
    }
    cache.set(method.name, entry);
    return entry;
  };
}

function describeAjvError(e) {
  const params = e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : "";
  return `${e.instancePath || "(result)"}: ${e.message}${params}`;
}

/** The transport test-coverage calls as transport(url, method, params); ours ignores `url` (servers[0].url)
 * and posts to the url given on the command line, with the bearer token. */
function makeTransport(url, token, timeoutMs) {
  let nextId = 1;
  return async (_documentUrl, method, params) => {
    const id = nextId++;
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const body = { jsonrpc: "2.0", id, method };
    if (params !== undefined) body.params = params;
    let response;
    try {
      response = await fetch(url, {
        method: "POST", headers, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      throw new Error(`request failed: ${e.cause?.message || e.message}`);
    }
    const text = await response.text();
    let reply;
    try {
      reply = JSON.parse(text);
    } catch {
      throw new Error(`HTTP ${response.status}, body is not JSON: ${truncate(text, 200)}`);
    }
    if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${truncate(reply, 300)}`);
    if (!reply || typeof reply !== "object" || Array.isArray(reply) || reply.jsonrpc !== "2.0") {
      throw new Error(`not a JSON-RPC 2.0 response: ${truncate(reply, 300)}`);
    }
    if (("result" in reply) === ("error" in reply)) {
      throw new Error(`a response needs exactly one of result and error: ${truncate(reply, 300)}`);
    }
    if (reply.id !== id) throw new Error(`response id ${JSON.stringify(reply.id)} for request id ${id}`);
    if ("error" in reply) {
      const err = reply.error;
      if (!err || typeof err !== "object" || !Number.isInteger(err.code) || typeof err.message !== "string") {
        throw new Error(`malformed error object: ${truncate(err, 300)}`);
      }
    }
    return reply;
  };
}

/** A test-coverage Rule whose calls come from `generate`, all judged the same way (see the header). */
class ResultSchemaRule {
  constructor(name, title, generate, checkerFor) {
    this.name = name;
    this.title = title;
    this.generate = generate;
    this.checkerFor = checkerFor;
    this.methods = new Map();
  }

  getTitle() {
    return this.title;
  }

  getCalls(document, method) {
    this.methods.set(method.name, method);
    const calls = this.generate(document, method);
    for (const call of calls) call.ruleName = this.name;
    return calls;
  }

  validateCall(call) {
    if (call.error !== undefined) {
      call.outcome = FAULT_CODES.has(call.error.code) ? "fault" : "error";
      call.valid = call.outcome !== "fault";
      if (!call.valid) call.reason = `server fault: ${truncate(call.error, 400)}`;
      return call;
    }
    const checker = this.checkerFor(this.methods.get(call.methodName));
    if (!checker.validate) {
      call.outcome = "contradiction";
      call.valid = false;
      call.reason = checker.error;
      return call;
    }
    call.valid = checker.validate(call.result);
    call.outcome = call.valid ? "result" : "contradiction";
    if (!call.valid) call.reason = checker.validate.errors.slice(0, 8).map(describeAjvError).join("; ");
    return call;
  }
}

const SILENT_REPORTER = { onBegin() {}, onTestBegin() {}, onTestEnd() {}, onEnd() {} };

async function main() {
  const { positional, options } = parseArgs(process.argv.slice(2), {
    calls: "value", known: "value", "known-calls": "value", seed: "value", only: "value", skip: "value",
    "timeout-ms": "value", document: "value",
  }, USAGE);
  if (positional.length !== 2) throw new ToolError(USAGE, 2);
  const [url, tokenArg] = positional;
  if (!/^https?:\/\//i.test(url)) throw new ToolError(`not an http(s) url: ${url}\n${USAGE}`, 2);
  const token = readToken(tokenArg);
  const numCalls = intOption(options.calls, "calls", 1) ?? 10;
  const knownCalls = intOption(options["known-calls"], "known-calls", 0) ?? 3;
  const timeoutMs = intOption(options["timeout-ms"], "timeout-ms", 100) ?? 20000;
  const seed = intOption(options.seed, "seed", 0) ?? Math.floor(Math.random() * 2 ** 31);
  const known = readKnown(options.known);
  const only = listOption(options.only);
  const skip = listOption(options.skip);

  const req = toolsRequire();
  const coverage = req("@open-rpc/test-coverage").default;
  const JsonSchemaFakerRule = req("@open-rpc/test-coverage/build/rules/json-schema-faker-rule").default;
  const { createRequire } = req("node:module");
  // The very json-schema-faker instance test-coverage's rule uses (seeded here).
  const jsf = createRequire(req.resolve("@open-rpc/test-coverage/build/rules/json-schema-faker-rule"))(
    "json-schema-faker");
  const random = seededRandom(seed);
  (jsf.default || jsf).option({ random });
  const utils = req("@open-rpc/schema-utils-js");

  let served;
  if (options.document) {
    try {
      served = JSON.parse(fs.readFileSync(options.document, "utf8"));
    } catch (e) {
      throw new ToolError(`cannot read --document ${options.document}: ${e.message}`, 2);
    }
    if (served && served.result && !served.methods) served = served.result;
    if (!served || !Array.isArray(served.methods)) throw new ToolError(`${options.document} holds no OpenRPC document`, 2);
  } else {
    served = await fetchDocument(url, { token, timeoutMs });
  }
  let documentErrors = [];
  const verdict = utils.validateOpenRPCDocument(structuredClone(served));
  if (verdict !== true) documentErrors = [truncate(verdict.message.replace(/\s+/g, " "), 400)];
  let document;
  try {
    // What the CLI does first, minus the validation it would stop at (validate.mjs is for that).
    document = await utils.parseOpenRPCDocument(structuredClone(served), { validate: false, dereference: true });
  } catch (e) {
    throw new ToolError(`cannot dereference the served document: ${e?.message || e}`, 1);
  }

  const checkerFor = makeSchemaChecker(req);
  const generationRetries = {};
  const generationFailures = {};
  /** test-coverage's faker rule, one call at a time, retried when json-schema-faker throws. */
  const oneFakeCall = (doc, method) => {
    const faker = new JsonSchemaFakerRule({ numCalls: 1 });
    const bare = { ...method, examples: undefined };
    let lastError;
    for (let attempt = 0; attempt < GENERATION_ATTEMPTS; attempt++) {
      try {
        return faker.getCalls(doc, bare)[0];
      } catch (e) {
        lastError = e;
        generationRetries[method.name] = (generationRetries[method.name] || 0) + 1;
      }
    }
    generationFailures[method.name] = `json-schema-faker: ${lastError?.message || lastError}`;
    return null;
  };
  const fakerRule = new ResultSchemaRule(
    "schema-params", "test-coverage JsonSchemaFakerRule params, result checked against the result schema",
    (doc, method) => {
      const n = method.params.length === 0 ? 1 : numCalls;
      const calls = [];
      for (let i = 0; i < n; i++) {
        const call = oneFakeCall(doc, method);
        if (call) calls.push({ ...call, title: `${call.title.replace(/\[\d+\]$/, "")}[${i}]` });
      }
      return calls;
    }, checkerFor);
  // test-coverage's ExamplesRule maps example params to names by position (utils/params-to-obj), which
  // misassigns an example that leaves out an optional param; these calls map them by name instead.
  const examplesRule = new ResultSchemaRule(
    "examples", "params of each `examples` pairing, result checked against the result schema",
    (doc, method) => (method.examples || []).flatMap((example, i) => {
      if (!example || !Array.isArray(example.params)) return [];
      const params = method.paramStructure === "by-name"
        ? Object.fromEntries(example.params.map((p) => [p.name, p.value]))
        : example.params.map((p) => p.value);
      return [{
        title: `example ${example.name ?? i}`, methodName: method.name, params,
        url: doc.servers?.[0]?.url || "", resultSchema: method.result?.schema,
      }];
    }), checkerFor);
  const rules = [fakerRule, examplesRule];
  if (known && knownCalls > 0) {
    rules.push(new ResultSchemaRule(
      "known-ids", "generated params with the known ids, optional params dropped at random",
      (doc, method) => {
        const byName = method.paramStructure === "by-name";
        if (!byName || !method.params.some((p) => p.name in known)) return [];
        const calls = [];
        for (let i = 0; i < knownCalls; i++) {
          const call = oneFakeCall(doc, method);
          if (!call) break;
          const params = {};
          for (const p of method.params) {
            if (p.name in known) params[p.name] = known[p.name][Math.floor(random() * known[p.name].length)];
            else if (p.required || random() < 0.5) params[p.name] = call.params[p.name];
          }
          calls.push({ ...call, params, title: `known ids[${i}]` });
        }
        return calls;
      }, checkerFor));
  }

  // Each example's own result must satisfy the result schema (a document that contradicts itself).
  const exampleFailures = [];
  let examplesChecked = 0;
  for (const method of document.methods) {
    if (skip.includes(method.name) || (only.length && !only.includes(method.name))) continue;
    for (const [i, example] of (method.examples || []).entries()) {
      if (!example || !example.result || !("value" in example.result)) continue;
      examplesChecked++;
      const checker = checkerFor(method);
      if (checker.validate && !checker.validate(example.result.value)) {
        exampleFailures.push({
          method: method.name, rule: "examples", kind: "example contradicts its own result schema",
          example: example.name ?? i, result: truncate(example.result.value, 800),
          reason: checker.validate.errors.slice(0, 8).map(describeAjvError).join("; "),
        });
      }
    }
  }

  const started = Date.now();
  let calls;
  try {
    calls = await coverage({
      openrpcDocument: document,
      transport: makeTransport(url, token, timeoutMs),
      reporters: [SILENT_REPORTER],
      rules,
      skip,
      only,
    });
  } catch (e) {
    throw new ToolError(`test-coverage failed: ${e?.stack || e}`, 1);
  }

  // The summary.
  const methods = {};
  for (const m of document.methods) {
    if (skip.includes(m.name) || (only.length && !only.includes(m.name))) continue;
    methods[m.name] = { calls: 0, results: 0, errors: {}, contradictions: 0, faults: 0, status: "untested" };
  }
  const byRule = {};
  const errorCodes = {};
  const failures = exampleFailures.slice(0, MAX_REPORTED);
  let results = 0;
  let errors = 0;
  let contradictions = 0;
  let faults = 0;
  for (const call of calls) {
    const m = methods[call.methodName];
    const r = (byRule[call.ruleName] ??= { calls: 0, results: 0, errors: 0, contradictions: 0, faults: 0 });
    m.calls++;
    r.calls++;
    let outcome = call.outcome;
    if (call.requestError !== undefined) outcome = "fault";
    if (outcome === "result") {
      m.results++; r.results++; results++;
    } else if (outcome === "error") {
      const code = String(call.error.code);
      m.errors[code] = (m.errors[code] || 0) + 1;
      errorCodes[code] = (errorCodes[code] || 0) + 1;
      r.errors++; errors++;
    } else if (outcome === "contradiction") {
      m.contradictions++; r.contradictions++; contradictions++;
    } else {
      m.faults++; r.faults++; faults++;
    }
    if (outcome === "contradiction" || outcome === "fault") {
      if (failures.length < MAX_REPORTED) {
        failures.push({
          method: call.methodName,
          rule: call.ruleName,
          kind: outcome,
          params: JSON.parse(truncate(call.params, 100000)),
          ...(call.result !== undefined ? { result: truncate(call.result, 800) } : {}),
          reason: truncate(call.reason || call.requestError?.message || String(call.requestError), 1500),
        });
      }
    }
  }
  const schemaNotes = {};
  for (const [name, m] of Object.entries(methods)) {
    if (m.contradictions || m.faults) m.status = "fail";
    else if (m.results) m.status = "pass";
    const method = document.methods.find((x) => x.name === name);
    const checker = checkerFor(method);
    if (checker.note) schemaNotes[name] = truncate(checker.note, 300);
  }
  const statuses = Object.values(methods).map((m) => m.status);
  const summary = {
    tool: `@open-rpc/test-coverage ${packageVersion(req, "@open-rpc/test-coverage")}`,
    url,
    authenticated: Boolean(token),
    document: {
      openrpc: served.openrpc,
      methods: served.methods.length,
      server_url: served.servers?.[0]?.url ?? null,
      meta_schema_errors: documentErrors,
    },
    seed,
    calls_per_method: numCalls,
    calls: calls.length,
    results,
    errors,
    contradictions,
    faults,
    examples_checked: examplesChecked,
    example_contradictions: exampleFailures.length,
    elapsed_ms: Date.now() - started,
    by_rule: byRule,
    error_codes: errorCodes,
    methods_passed: statuses.filter((s) => s === "pass").length,
    methods_failed: statuses.filter((s) => s === "fail").length,
    methods_untested: Object.keys(methods).filter((n) => methods[n].status === "untested"),
    generation_retries: generationRetries,
    generation_failures: generationFailures,
    schema_notes: schemaNotes,
    failures,
    methods,
  };
  process.stdout.write(JSON.stringify(summary, null, 2) + "\n");
  if (contradictions || faults || exampleFailures.length) {
    process.stderr.write(`${contradictions} result(s) contradict their schema, ${faults} server fault(s) `
      + `in ${calls.length} calls, ${exampleFailures.length} example result(s) contradict their schema; `
      + `first: ${failures[0]?.method}: ${failures[0]?.reason}\n`);
    return 1;
  }
  return 0;
}

run(main);
