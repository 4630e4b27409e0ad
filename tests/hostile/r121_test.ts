// Review 121: descriptors the host inherited from its own parent. Deno passes every descriptor
// that is not close-on-exec on to its children, and a host's own are all close-on-exec, so the
// ones that reach a plugin are those its parent left open: a shell's `5<file`, a CI runner's
// pipe, a socket a supervisor hands down, a terminal. A plugin granted nothing adopted one by
// number through node:net (`new Socket({ fd })`, no permission checked) and read it, under every
// layer; a command plugin (or native code) reads any of them. The prologue now closes every
// descriptor but 0, 1 and 2 before the plugin's command: 3 to 9 itself, one above 9 through
// bash (dash cannot name it), and without bash such a start ends.
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { prologue } from "../../runner/sandbox/prologue.ts";
import { detectTools } from "../../runner/sandbox/isolation.ts";
import { startPlugin } from "../../mod.ts";
import { libcOf } from "../../runner/sandbox/launcher.ts";
import { Probe } from "./plugins/probe.ts";
import { hostile, ISOLATIONS, plainRun } from "./_hostile.ts";
import { rejected } from "../_helpers.ts";

const HOST = fileURLToPath(new URL("./_r121_host.ts", import.meta.url));
const LOW = "LOW-SECRET-121";
const HIGH = "HIGH-SECRET-121";

/**
 * bash closes what it inherited itself (this suite's own runner may leave some), opens a FIFO
 * as descriptor 5 and, if `high`, another as 12, puts a secret in each, and execs the rest: the
 * descriptors a parent leaves its child, one that dash names and one it cannot.
 */
async function inherited(high = true): Promise<{ prefix: string[] } & AsyncDisposable> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r121-" }));
  const [low, up] = [join(dir, "low"), join(dir, "high")];
  const made = await new Deno.Command("mkfifo", { args: [low, up] }).output();
  assert.ok(made.success, new TextDecoder().decode(made.stderr));
  const script = [
    'for f in /dev/fd/*; do n=${f##*/}; [ "$n" -gt 2 ] 2>/dev/null && eval "exec $n<&-"; done',
    `exec 5<>"$1" && printf ${LOW} >&5`,
    high ? `exec 12<>"$2" && printf ${HIGH} >&12` : "",
    'shift 2; exec "$@"',
  ].join("\n");
  return {
    prefix: ["bash", "-c", script, "bash", low, up],
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** `_r121_host.ts` run with the two descriptors open: the layer it ran and what the plugin said. */
async function host(isolation: string, kind: "deno" | "python", high = true) {
  await using fds = await inherited(high);
  const [command, ...args] = [...fds.prefix, Deno.execPath(), "run", "--allow-all", HOST];
  const out = await new Deno.Command(command, {
    args: [...args, isolation, kind],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, text + new TextDecoder().decode(out.stderr));
  return JSON.parse(text.trim().split("\n").at(-1)!) as { layer: string; said: string };
}

for (const isolation of ISOLATIONS) {
  Deno.test(`review 121 [${isolation}]: a plugin granted nothing reads no descriptor its host inherited`, async () => {
    const seen = await host(isolation, "deno");
    assert.equal(seen.layer, isolation);
    // Both numbers were tried (what is there now is the plugin's own, or nothing)...
    assert.match(seen.said, /^5: .+; 12: .+$/, seen.said);
    // ... and neither secret came.
    assert.doesNotMatch(seen.said, /SECRET/, seen.said);
  });
}

// Only descriptor 5 here: the prologue's own shell closes it, with no bash run.
Deno.test("review 121 [os]: a command plugin reads no descriptor its host inherited", async () => {
  const seen = await host("os", "python", false);
  assert.equal(seen.layer, "os");
  assert.equal(
    seen.said,
    "denied: OSError: [Errno 9] Bad file descriptor; denied: OSError: [Errno 9] Bad file descriptor",
  );
});

Deno.test("review 121 control: without plugbox the same plugin reads both descriptors", async () => {
  await using fds = await inherited();
  const plain = await plainRun(hostile("r121_inherited_fds.ts"), {
    config: true,
    args: ["5,12"],
    prefix: fds.prefix,
  });
  assert.match(plain.stderr, new RegExp(`5: read ${LOW}; 12: read ${HIGH}`), plain.stderr);
});

/** The descriptors a program run after the prologue holds (bar the one its listing opens). */
async function afterPrologue(closer: string | null | undefined, high = true) {
  await using fds = await inherited(high);
  const sh = (await detectTools(Deno.execPath(), false)).sh!;
  const list = 'for f in /dev/fd/*; do printf "%s " "${f##*/}"; done';
  const argv = [
    ...fds.prefix,
    ...prologue(sh, { limits: { dataLimitBytes: 1 << 30 }, closer }),
    sh,
    "-c",
    list,
  ];
  const out = await new Deno.Command(argv[0], { args: argv.slice(1), stdin: "null" }).output();
  const decoder = new TextDecoder();
  return {
    code: out.code,
    fds: decoder.decode(out.stdout).trim().split(" "),
    stderr: decoder.decode(out.stderr),
  };
}

Deno.test("review 121: the prologue closes 3 to 9 itself, one above 9 through bash, and without bash ends the start", async () => {
  const closed = await afterPrologue(undefined); // bash from PATH
  assert.equal(closed.code, 0, closed.stderr);
  // 0, 1, 2 and the listing's own folder: neither 5 nor 12.
  assert.deepEqual(
    closed.fds.filter((fd) => !["0", "1", "2"].includes(fd)).length,
    1,
    closed.fds.join(" "),
  );
  assert.ok(!closed.fds.includes("5") && !closed.fds.includes("12"), closed.fds.join(" "));
  // Descriptors 3 to 9 need no bash.
  const low = await afterPrologue(null, false);
  assert.equal(low.code, 0, low.stderr);
  assert.ok(!low.fds.includes("5"), low.fds.join(" "));
  const refused = await afterPrologue(null);
  assert.equal(refused.code, 125, refused.fds.join(" "));
  assert.match(
    refused.stderr,
    /inherited descriptor \d{2,} from its parent, .*no bash is on the host's PATH/,
  );
});

// bash reads the plugin's environment before the plugin runs (BASH_ENV names a file it runs, on
// the host, outside every layer): the names its binary holds are refused as Deno's are.
Deno.test("review 121: no env grant names a variable the host's bash reads", async () => {
  for (const name of ["BASH_ENV", "BASH_XTRACEFD"]) {
    const error = await rejected(startPlugin(hostile("r121_inherited_fds.ts"), {
      contracts: [Probe],
      isolation: "deno",
      permissions: { env: { [name]: "xtrace" } },
    }));
    assert.match(String(error), new RegExp(`${name}.*bash`), String(error));
  }
});

// Documented: under Landlock, native code reads metadata by path outside every rule (Landlock
// controls no lookup or stat, and no program runs without them), never the contents. Under
// bubblewrap the file is not there at all.
for (const isolation of ["os", "landlock"] as const) {
  Deno.test({
    name:
      `review 121 [${isolation}]: native code reads a file's contents outside its grants under neither OS layer; under Landlock its size and a link's target`,
    fn: async () => {
      const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-r121-" }));
      try {
        await Deno.writeTextFile(join(dir, "secret.txt"), "TWENTY-FOUR-BYTES-SECRET");
        await Deno.symlink("/home/someone/.ssh/id_ed25519", join(dir, "link"));
        const deno = Deno.realPathSync(Deno.execPath());
        const libc = Deno.realPathSync((await libcOf(deno))!);
        await using plugin = await startPlugin(hostile("r121_metadata.ts"), {
          contracts: [Probe],
          isolation,
          permissions: { ffi: [libc] },
          unsafe: { ffi: true },
        });
        const seen = JSON.parse(await plugin.api(Probe).attempt(`${dir} ${libc}`));
        if (isolation === "os") {
          assert.deepEqual(seen, { link: "errno 2", size: "errno 2", open: "errno 2" });
        } else {
          assert.deepEqual(seen, {
            link: "/home/someone/.ssh/id_ed25519",
            size: "24",
            open: "errno 13",
          });
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
