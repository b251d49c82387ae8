#!/usr/bin/env node
// Generates a TypeScript client with @open-rpc/generator from a served rpc.discover, builds it, and uses it
// to log in and list courses — what an integrator does. Starts no server (scripts/generate-ts-client runs
// this after installing the tools; `make serve` or `lms serve --demo` is the server).
//
//   node scripts/openrpc-tools/generate-ts-client.mjs [http://127.0.0.1:8080/rpc]
//        [--email student1@demo.lms] [--password demo-password-2026] [--keep] [--document saved.json]
// (--document: generate from a saved document — e.g. a hand-edited rpc.discover — instead of the served one;
// the client still calls the server at the url.)
//
// Steps, each reported: 1. the generator on the document as served (it refuses an invalid one; then it is
// run again with servers[0].url made absolute, to see the rest); 2. the generated package's own build
// (`npm install`, its pinned TypeScript); 3. the known generator bugs patched in the generated source
// (dotted method names as identifiers; by-name params validated as positional) and compiled with current
// TypeScript; 4. which result types came out typed (TypeScript's checker on each method's Promise<T>);
// 5. a typed use (login.access_token, courses[i].title) type-checked; 6. the built client calling the
// server: auth.login, course.list, and user.me with the bearer token.
// Exit 0 when the generated client (patched if need be) logged in and listed courses; 1 otherwise;
// 3 when the server or npm is unreachable.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fetchDocument, nodeModulesDir, packageVersion, parseArgs, run, toolsRequire, ToolError } from "./lib.mjs";

const USAGE = "usage: generate-ts-client.mjs [rpc url] [--email E] [--password P] [--keep] [--document FILE]";
const DEFAULT_URL = "http://127.0.0.1:8080/rpc";

const report = [];
function say(line = "") {
  report.push(line);
  process.stdout.write(line + "\n");
}

function sh(cmd, args, cwd, timeoutMs = 300000) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status ?? 1, out: `${r.stdout || ""}${r.stderr || ""}`, error: r.error };
}

/** Run @open-rpc/generator (its default export) with console output captured. */
async function generate(req, document, outDir) {
  const generator = req("@open-rpc/generator").default;
  const saved = { error: console.error, log: console.log, warn: console.warn };
  const captured = [];
  console.error = console.log = console.warn = (...a) => captured.push(a.map(String).join(" "));
  try {
    await generator({
      openrpcDocument: document, outDir,
      components: [{ type: "client", language: "typescript", name: "lms-client" }],
    });
    return { ok: true, dir: path.join(outDir, "client", "typescript") };
  } catch (e) {
    return { ok: false, message: String(e?.message || e), captured };
  } finally {
    Object.assign(console, saved);
  }
}

function tscErrors(output) {
  const lines = output.split("\n").filter((l) => /error TS\d+/.test(l));
  const src = lines.filter((l) => l.startsWith("src/"));
  return { total: lines.length, src, libs: lines.length - src.length, lines };
}

/** Known generator bugs, patched in the generated src/index.ts; → the patches applied. */
function patchSource(file) {
  let text = fs.readFileSync(file, "utf8");
  const patches = [];
  // 1. open-rpc/generator#619: `public auth.login: AuthLogin = …` is not TypeScript. A quoted property
  //    name is: client["auth.login"](…).
  let dotted = 0;
  text = text.replace(/^(\s*public )([A-Za-z_$][\w$]*(?:\.[\w$]+)+)(\s*:)/gm, (_, a, name, b) => {
    dotted++;
    return `${a}"${name}"${b}`;
  });
  if (dotted) patches.push(`${dotted} dotted method names quoted (open-rpc/generator#619)`);
  // 2. open-rpc/generator#729: request() validates the positional `params` array, but for
  //    paramStructure "by-name" MethodCallValidator looks params up by name, so every required param
  //    reads as missing and no call leaves the client. Validate the named object that is sent.
  const before = "this.validator.validate(methodName, params)";
  if (text.includes(before)) {
    text = text.replace(before, "this.validator.validate(methodName, (methodObject.paramStructure === \"by-name\" "
      + "? _.zipObject(_.map(methodObject.params, \"name\"), params) : params) as any)");
    patches.push("by-name params validated as the object that is sent (open-rpc/generator#729)");
  }
  fs.writeFileSync(file, text);
  return patches;
}

/** Per method: the T of Promise<T> its client property returns, and whether T is typed. */
function resultTypes(ts, dir) {
  const file = path.join(dir, "src", "index.ts");
  const program = ts.createProgram([file], {
    strict: true, target: ts.ScriptTarget.ES2019, module: ts.ModuleKind.CommonJS, esModuleInterop: true,
    skipLibCheck: true, noEmit: true, typeRoots: [path.join(dir, "node_modules", "@types")],
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const out = [];
  const describe = (t, depth = 0) => {
    if (t.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return { typed: false, why: "any" };
    if (t.isUnion()) {
      const parts = t.types.filter((x) => !(x.flags & (ts.TypeFlags.Null | ts.TypeFlags.Undefined)));
      const described = parts.map((x) => describe(x, depth));
      const bad = described.filter((d) => !d.typed);
      if (!bad.length) return { typed: true, fields: [...new Set(described.flatMap((d) => d.fields || []))] };
      return { typed: false, why: bad.map((d) => d.why).join(" | ") };
    }
    if (checker.isArrayType(t)) {
      const [element] = checker.getTypeArguments(t);
      const d = describe(element, depth + 1);
      return d.typed ? d : { typed: false, why: `${d.why}[]` };
    }
    if (t.flags & (ts.TypeFlags.StringLike | ts.TypeFlags.NumberLike | ts.TypeFlags.BooleanLike | ts.TypeFlags.Null)) {
      return { typed: true };
    }
    if (t.flags & ts.TypeFlags.Object) {
      const props = checker.getPropertiesOfType(t);
      if (props.length) return { typed: true, fields: props.map((p) => p.getName()) };
      return { typed: false, why: "{[key: string]: any}" };
    }
    return { typed: false, why: checker.typeToString(t) };
  };
  ts.forEachChild(source, function visit(node) {
    if (ts.isClassDeclaration(node)) {
      for (const member of node.members) {
        if (!ts.isPropertyDeclaration(member) || !member.type || !member.name) continue;
        const name = ts.isStringLiteral(member.name) ? member.name.text : member.name.getText(source);
        const type = checker.getTypeAtLocation(member);
        const signature = type.getCallSignatures()[0];
        if (!signature) continue;
        const promised = checker.getAwaitedType(signature.getReturnType()) || signature.getReturnType();
        out.push({ method: name, type: checker.typeToString(promised).slice(0, 120), ...describe(promised) });
      }
    }
  });
  return out;
}

const USAGE_CHECK = `import Client from "./index";
// A typed use of the generated client: compiles only if the results are typed.
export async function use(c: Client): Promise<string[]> {
  const login = await c["auth.login"]("a@example.test", "password");
  const token: string = login.access_token;
  const role: string = login.user.role;
  const courses = await c["course.list"]();
  const titles: string[] = courses.map((course) => course.title);
  return [token, role, ...titles];
}
`;

const RUN_CLIENT = `// Uses the built client (CommonJS) against the server.
const [, , build, url, email, password] = process.argv;
const Client = require(build).default;
const { RequestManager, HTTPTransport, Client: RpcClient } = require(require.resolve("@open-rpc/client-js", { paths: [build] }));
const u = new URL(url);
const out = {};
(async () => {
  const client = new Client({ transport: { type: u.protocol.replace(":", ""), host: u.hostname,
    port: Number(u.port || (u.protocol === "https:" ? 443 : 80)), path: u.pathname } });
  try {
    const login = await client["auth.login"](email, password);
    out.login = { ok: true, keys: Object.keys(login), token_type: login.token_type, role: login.user && login.user.role };
    try {
      const courses = await client["course.list"]();
      out.list = { ok: true, count: courses.length, titles: courses.slice(0, 3).map((c) => c.title) };
    } catch (e) { out.list = { ok: false, error: String(e && (e.message || e)).slice(0, 300) }; }
    try {
      await client["course.list"](undefined, undefined, undefined, undefined, 0);
      out.client_validation = "limit 0 was sent to the server";
    } catch (e) {
      const errs = Array.isArray(e) ? e : [e];
      out.client_validation = errs.map((x) => x && x.name).join(", ") || String(e);
    }
    // The generated constructor takes no headers; client-js's HTTPTransport does.
    client.rpc = new RpcClient(new RequestManager([new HTTPTransport(url, { headers: { Authorization: "Bearer " + login.access_token } })]));
    try {
      const me = await client["user.me"]();
      out.me = { ok: true, email: me.email, role: me.role };
    } catch (e) { out.me = { ok: false, error: String(e && (e.message || e)).slice(0, 300) }; }
  } catch (e) {
    const errs = Array.isArray(e) ? e : [e];
    out.login = { ok: false, error: errs.map((x) => (x && (x.message || x.name)) || String(x)).join(" | ").slice(0, 500) };
  }
  process.stdout.write(JSON.stringify(out));
})();
`;

async function main() {
  const { positional, options } = parseArgs(process.argv.slice(2),
    { email: "value", password: "value", keep: "flag", document: "value" }, USAGE);
  if (positional.length > 1) throw new ToolError(USAGE, 2);
  const url = positional[0] || DEFAULT_URL;
  const email = options.email || "student1@demo.lms";
  const password = options.password || process.env.LMS_DEMO_PASSWORD || "demo-password-2026";
  const req = toolsRequire();
  const ts = req("typescript");
  const tsc = path.join(nodeModulesDir(), "typescript", "bin", "tsc");
  let served;
  if (options.document) {
    try {
      served = JSON.parse(fs.readFileSync(options.document, "utf8"));
    } catch (e) {
      throw new ToolError(`cannot read --document ${options.document}: ${e.message}`, 2);
    }
    if (served && served.result && !served.methods) served = served.result;
  } else {
    served = await fetchDocument(url).catch((e) => {
      throw new ToolError(`${e.message}\nstart a server first: make serve (or lms serve --demo)`, 3);
    });
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "lms-ts-client-"));
  let ok = false;
  try {
    say(`@open-rpc/generator ${packageVersion(req, "@open-rpc/generator")} on ${options.document || url} `
      + `(OpenRPC ${served.openrpc}, ${served.methods.length} methods, servers[0].url ${JSON.stringify(served.servers?.[0]?.url)})`);

    // 1. Generate from the document as served.
    let gen = await generate(req, structuredClone(served), path.join(work, "as-served"));
    if (gen.ok) {
      say("1. generator: accepted the document as served");
    } else {
      say(`1. generator: REFUSED the document as served: ${gen.message.split("\n").slice(0, 12).join(" ").replace(/\s+/g, " ").slice(0, 400)}`);
      const fixed = structuredClone(served);
      fixed.servers = (fixed.servers?.length ? fixed.servers : [{ name: "server" }])
        .map((s) => ({ ...s, url: new URL(s.url || url, url).href }));
      gen = await generate(req, fixed, path.join(work, "fixed"));
      if (!gen.ok) {
        say(`   also refused with servers[0].url made absolute: ${gen.message.slice(0, 400)}`);
        return 1;
      }
      say(`   generated with servers[0].url made absolute (${fixed.servers[0].url}) to see the rest`);
    }
    const dir = gen.dir;
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    const pins = { ...pkg.dependencies, ...pkg.devDependencies };
    say(`   → ${path.relative(work, dir)}: src/index.ts, package.json pinning typescript ${pins.typescript}, `
      + `@open-rpc/client-js ${pins["@open-rpc/client-js"]}, @open-rpc/schema-utils-js ${pins["@open-rpc/schema-utils-js"]}`);

    // 2. Its own build: npm install, then its pinned tsc.
    const install = sh("npm", ["install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"], dir);
    if (install.code !== 0) throw new ToolError(`npm install in the generated client failed:\n${install.out.slice(-2000)}`, 3);
    const own = sh(process.execPath, [path.join(dir, "node_modules", "typescript", "bin", "tsc"), "-p", "."], dir);
    const ownErrors = tscErrors(own.out);
    if (own.code === 0) say(`2. its own build (typescript ${pins.typescript}): compiles`);
    else {
      say(`2. its own build (typescript ${pins.typescript}): FAILS with ${ownErrors.total} errors — `
        + `${ownErrors.src.length} in src/index.ts (e.g. ${ownErrors.src[0]?.trim() || "none"}), `
        + `${ownErrors.libs} in node_modules/@types (TypeScript ${pins.typescript} cannot parse current @types/node, @types/lodash)`);
    }

    // 3. Patch the known bugs, compile with current TypeScript.
    const patches = patchSource(path.join(dir, "src", "index.ts"));
    const built = sh(process.execPath, [tsc, "-p", "."], dir);
    const builtErrors = tscErrors(built.out);
    say(`3. patched: ${patches.length ? patches.join("; ") : "nothing needed"}`);
    if (built.code !== 0) {
      say(`   typescript ${ts.version}: FAILS with ${builtErrors.total} errors: ${builtErrors.lines.slice(0, 5).join(" | ")}`);
      return 1;
    }
    say(`   typescript ${ts.version}: compiles (build/index.js)`);

    // 4. Which results are typed.
    const types = resultTypes(ts, dir);
    const typed = types.filter((t) => t.typed);
    const untyped = types.filter((t) => !t.typed);
    say(`4. result types: ${typed.length} of ${types.length} methods typed`);
    const groups = new Map();
    for (const t of untyped) {
      const key = `Promise<${t.type}> = ${t.why}`;
      groups.set(key, [...(groups.get(key) || []), t.method]);
    }
    for (const [key, names] of groups) {
      say(`   untyped (${names.length}): ${key}: ${names.length > 8 ? `${names.slice(0, 8).join(", ")}, …` : names.join(", ")}`);
    }
    for (const name of ["auth.login", "course.list", "user.me"]) {
      const t = types.find((x) => x.method === name);
      if (t?.typed) say(`   typed: ${name} → ${t.fields ? `{${t.fields.join(", ")}}` : t.type}`);
    }

    // 5. A typed use.
    fs.writeFileSync(path.join(dir, "src", "usage-check.ts"), USAGE_CHECK);
    const check = sh(process.execPath, [tsc, "--noEmit", "--strict", "--esModuleInterop", "--skipLibCheck",
      "--target", "es2019", "--module", "commonjs", path.join("src", "usage-check.ts")], dir);
    if (check.code === 0) say("5. typed use (login.access_token, login.user.role, courses.map(c => c.title)): type-checks");
    else {
      const errs = tscErrors(check.out).lines.filter((l) => l.includes("usage-check"));
      say(`5. typed use (login.access_token, login.user.role, courses.map(c => c.title)): does NOT type-check: `
        + errs.slice(0, 3).map((l) => l.replace(/^.*?error /, "")).join(" | "));
    }

    // 6. Call the server.
    fs.writeFileSync(path.join(dir, "run-client.cjs"), RUN_CLIENT);
    const call = sh(process.execPath, ["run-client.cjs", path.join(dir, "build", "index.js"), url, email, password], dir, 60000);
    let res;
    try {
      res = JSON.parse(call.out.trim().split("\n").pop());
    } catch {
      say(`6. the client crashed: ${call.out.slice(-800)}`);
      return 1;
    }
    if (res.login.ok) say(`6. auth.login as ${email}: ok → {${res.login.keys.join(", ")}}, token_type ${res.login.token_type}, role ${res.login.role}`);
    else say(`6. auth.login as ${email}: FAILED: ${res.login.error}`);
    if (res.list) say(res.list.ok ? `   course.list: ok → ${res.list.count} courses (${res.list.titles.map((t) => JSON.stringify(t)).join(", ")})`
      : `   course.list: FAILED: ${res.list.error}`);
    if (res.client_validation) say(`   course.list {limit: 0}: ${res.client_validation} (client-side param validation)`);
    if (res.me) say(res.me.ok ? `   user.me with the bearer token (client.rpc replaced: the generated constructor takes no headers): ok → ${res.me.email}, ${res.me.role}`
      : `   user.me with the bearer token: FAILED: ${res.me.error}`);
    ok = Boolean(res.login.ok && res.list?.ok);
    return ok ? 0 : 1;
  } finally {
    if (options.keep) say(`kept: ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

run(main);
