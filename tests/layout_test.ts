// The layout is the architecture: runner/ has five rooms, imports flow one
// way between them, and the public entry files export only documented
// symbols. These tests keep it true as files are added.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join, relative } from "node:path";

const repo = fileURLToPath(new URL("../", import.meta.url));
/**
 * The one way plugbox's own modules import zod: the pinned npm specifier
 * (deno.json's "zod"), so they load from any root (a path, https:, JSR)
 * without the importing project mapping "zod".
 */
const ZOD_SPECIFIER: string =
  JSON.parse(Deno.readTextFileSync(join(repo, "deno.json"))).imports.zod;
const ROOMS = ["wire", "sandbox", "host", "plugin", "cli"] as const;
/** The files both sides share, at runner/'s top. */
const SHARED = [
  "runner/contract.ts",
  "runner/contract_types.ts",
  "runner/host_fetch_schemas.ts",
  "runner/errors.ts",
  "runner/quick_check.ts",
  "runner/untrusted_parse.ts",
  "runner/intersection_cost.ts",
  "runner/issue_cost.ts",
  "runner/schema_walk.ts",
  "runner/thrown_text.ts",
];
type Place =
  | (typeof ROOMS)[number]
  | "shared"
  | "entry:mod"
  | "entry:plugin"
  | "entry:contract"
  | "entry:cli";

/** What each place may import (besides itself and `node:` built-ins and zod). */
const ALLOWED: Record<Place, readonly Place[]> = {
  shared: ["shared"],
  wire: ["shared"],
  sandbox: ["wire", "shared"],
  host: ["sandbox", "wire", "shared"],
  plugin: ["wire", "shared"],
  cli: ["host", "sandbox", "wire", "shared"],
  "entry:mod": ["host", "sandbox", "wire", "shared", "entry:contract"],
  "entry:plugin": ["plugin", "shared", "entry:contract"],
  "entry:contract": ["shared"],
  "entry:cli": ["cli"],
};

function placeOf(path: string): Place | undefined {
  const rel = relative(repo, path);
  if (SHARED.includes(rel)) return "shared";
  const room = /^runner\/(\w+)\//.exec(rel)?.[1];
  if (room && (ROOMS as readonly string[]).includes(room)) return room as Place;
  const entry = /^(mod|plugin|contract|cli)\.ts$/.exec(rel)?.[1];
  return entry ? `entry:${entry}` as Place : undefined;
}

/** Specifiers of every static and dynamic import or re-export, outside comments. */
export function importsOf(text: string): string[] {
  const code = text
    .replace(/\/\*[\s\S]*?\*\//g, "") // block comments, JSDoc examples included
    .replace(/^\s*\/\/.*$/gm, "");
  const found: string[] = [];
  const pattern =
    /(?:^|[\s;])(?:import|export)\b[^"'`;]*?\bfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']/gm;
  for (const m of code.matchAll(pattern)) found.push(m[1] ?? m[2] ?? m[3]);
  return found;
}

function codeFiles(): string[] {
  const files = ["mod.ts", "plugin.ts", "contract.ts", "cli.ts"].map((f) => join(repo, f));
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) walk(path);
      else if (entry.name.endsWith(".ts")) files.push(path);
    }
  };
  walk(join(repo, "runner"));
  return files;
}

Deno.test("importsOf() finds static, dynamic and re-export specifiers, not ones in comments", () => {
  const text = `import { a } from "./a.ts";\nexport { b } from "../b/mod.ts";\n` +
    `import type {\n  C,\n} from "./c.ts";\nconst d = await import("./d.ts");\nimport "./e.ts";\n` +
    `/**\n * import { x } from "./doc.ts";\n */\n// import { y } from "./line.ts";\n`;
  assert.deepEqual(importsOf(text), ["./a.ts", "../b/mod.ts", "./c.ts", "./d.ts", "./e.ts"]);
});

Deno.test("runner/ holds exactly five rooms and the shared files", () => {
  const top = [...Deno.readDirSync(join(repo, "runner"))].map((e) => e.name).sort();
  assert.deepEqual(top, [...ROOMS, ...SHARED.map((f) => f.slice("runner/".length))].sort());
  for (const room of ROOMS) {
    const mod = Deno.readTextFileSync(join(repo, "runner", room, "mod.ts"));
    assert.match(
      mod,
      /^\/\*\*[\s\S]*?May import:[\s\S]*?@module/,
      `runner/${room}/mod.ts says what it may import`,
    );
  }
});

Deno.test("imports flow one way: cli → host → sandbox → wire → shared, plugin → wire, and rooms meet only at mod.ts", () => {
  const violations: string[] = [];
  for (const file of codeFiles()) {
    const from = placeOf(file)!;
    for (const specifier of importsOf(Deno.readTextFileSync(file))) {
      const where = `${relative(repo, file)} imports "${specifier}"`;
      if (specifier.startsWith("node:") || specifier === ZOD_SPECIFIER) continue;
      if (!specifier.startsWith(".")) {
        violations.push(
          `${where}: only relative, node: and "${ZOD_SPECIFIER}" imports are allowed`,
        );
        continue;
      }
      const target = join(file, "..", specifier);
      const to = placeOf(target);
      if (!to) {
        violations.push(`${where}: outside runner/ and the entry files`);
        continue;
      }
      if (to === from) continue;
      if (!ALLOWED[from].includes(to)) violations.push(`${where}: ${from} may not import ${to}`);
      const crossRoom = (ROOMS as readonly string[]).includes(to);
      if (crossRoom && !target.endsWith("/mod.ts")) {
        violations.push(`${where}: another room is reached through its mod.ts only`);
      }
    }
  }
  assert.deepEqual(violations, []);
});

Deno.test("the import rule notices a violation (a wire file importing the host)", () => {
  const file = join(repo, "runner/wire/peer.ts");
  const to = placeOf(join(file, "..", "../host/mod.ts"))!;
  assert.equal(ALLOWED[placeOf(file)!].includes(to), false);
  assert.equal(ALLOWED[placeOf(join(repo, "runner/plugin/serve.ts"))!].includes("host"), false);
  assert.equal(ALLOWED[placeOf(join(repo, "runner/sandbox/plan.ts"))!].includes("cli"), false);
});

interface DocDeclaration {
  kind: string;
  location: { filename: string; line: number };
  jsDoc?: { doc?: string; tags?: { kind: string }[] };
  def?: { target?: { filename: string; line: number } };
}
interface DocSymbol {
  name: string;
  declarations: DocDeclaration[];
}

async function publicSymbols(): Promise<Map<string, { entry: string; documented: boolean }[]>> {
  const entries = ["mod.ts", "plugin.ts", "contract.ts"];
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", ...entries],
    cwd: repo,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const doc = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    nodes: Record<string, { symbols: DocSymbol[] }>;
  };
  const at = (l: { filename: string; line: number }) => `${l.filename}:${l.line}`;
  const byLocation = new Map<string, DocDeclaration>();
  for (const node of Object.values(doc.nodes)) {
    for (const symbol of node.symbols) {
      for (const d of symbol.declarations) byLocation.set(at(d.location), d);
    }
  }
  const hasExample = (d: DocDeclaration | undefined): boolean =>
    d?.kind === "reference"
      ? hasExample(byLocation.get(at(d.def!.target!)))
      : Boolean(d?.jsDoc?.doc?.trim()) && (d?.jsDoc?.tags ?? []).some((t) => t.kind === "example");
  const found = new Map<string, { entry: string; documented: boolean }[]>();
  for (const entry of entries) {
    for (const symbol of doc.nodes[new URL(entry, `file://${repo}`).href].symbols) {
      const list = found.get(symbol.name) ?? [];
      list.push({ entry, documented: symbol.declarations.some(hasExample) });
      found.set(symbol.name, list);
    }
  }
  return found;
}

Deno.test("every symbol mod.ts, plugin.ts and contract.ts export has a summary and an @example", async () => {
  const undocumented: string[] = [];
  for (const [name, places] of await publicSymbols()) {
    for (const { entry, documented } of places) {
      if (!documented) undocumented.push(`${entry}: ${name}`);
    }
  }
  assert.deepEqual(undocumented, []);
});

Deno.test("every error the README tells users to catch is exported from mod.ts under its name", async () => {
  const readme = await Deno.readTextFile(join(repo, "README.md"));
  const table = readme.slice(readme.indexOf("**What each error means.**"));
  const named = [...table.matchAll(/^\| `(\w+Error)`/gm)].map((m) => m[1]);
  assert.ok(named.length >= 10, `the README's error table lists ${named.length} errors`);
  const mod = await import("../mod.ts") as Record<string, unknown>;
  for (const name of named.filter((n) => n !== "TypeError")) {
    const value = mod[name];
    assert.equal(typeof value, "function", `mod.ts exports ${name}`);
    assert.equal((value as { name: string }).name, name, `${name} is exported under its own name`);
  }
});

Deno.test("public entry files do not export what lets a caller skip the sandbox", async () => {
  const mod = await import("../mod.ts") as Record<string, unknown>;
  const plugin = await import("../plugin.ts") as Record<string, unknown>;
  for (
    const internal of [
      "Plugin",
      "ManagedPlugin",
      "createApi",
      "planPlugin",
      "toDenoArgs",
      "resolveGrants",
      "launchPlugin",
    ]
  ) {
    assert.equal(mod[internal], undefined, `mod.ts does not export ${internal} as a value`);
  }
  assert.equal(plugin.Dispatcher, undefined);
  assert.equal(typeof mod.previewStart, "function");
  assert.equal(typeof mod.ResponseError, "function");
  assert.equal(typeof mod.TimeoutError, "function");
});
