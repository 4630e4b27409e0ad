// THREATS T8: grants that escalate. plugbox refuses them unless the host
// names an unsafe acknowledgement, and narrow grants keep their neighbours
// denied under both layers. Controls show each escalation without plugbox.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { PreflightError, startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
import { exists } from "../_helpers.ts";
import {
  hostile,
  ISOLATIONS,
  plainRun,
  plantSecrets,
  pluginDenoPid,
  pluginFolder,
  recordingServer,
  SECRET_DIR,
} from "./_hostile.ts";

const LIBC = "/lib/x86_64-linux-gnu/libc.so.6";
const deno = Deno.realPathSync(Deno.execPath());

/** The absolute folders /etc/ld.so.conf.d's files name (the loader searches them all). */
function configuredFolders(): string[] {
  const folders: string[] = [];
  for (const entry of Deno.readDirSync("/etc/ld.so.conf.d")) {
    const text = Deno.readTextFileSync(join("/etc/ld.so.conf.d", entry.name));
    for (const line of text.split("\n")) if (line.startsWith("/")) folders.push(line.trim());
  }
  return folders.filter((folder) => {
    try {
      return Deno.statSync(folder).isDirectory;
    } catch {
      return false;
    }
  });
}

function refusedGrant(promise: Promise<unknown>, message: RegExp) {
  return assert.rejects(promise, (e: unknown) => e instanceof TypeError && message.test(e.message));
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T8 [${isolation}]: run, ffi and all are refused without their acknowledgement`, async () => {
    const start = (permissions: Record<string, unknown>) =>
      startPlugin(hostile("t8_escalating_grants.ts"), {
        contracts: [Probe],
        isolation: isolation as "auto",
        permissions,
      });
    await refusedGrant(start({ run: [deno] }), /Cannot grant run .*pass unsafe\.run/);
    await refusedGrant(start({ ffi: [LIBC] }), /Cannot grant ffi .*pass unsafe\.ffi/);
    await refusedGrant(start({ all: true }), /Cannot grant all.*pass unsafe\.all/);
  });
}

Deno.test("T8 control: without plugbox --allow-run, even scoped to deno, reads any file", async () => {
  await plantSecrets();
  const run = await plainRun(hostile("t8_escalating_grants.ts"), {
    config: true,
    flags: [`--allow-run=${deno}`],
    args: ["run", join(SECRET_DIR, "secret.txt")],
  });
  assert.match(run.stderr, /ran: TOP-SECRET-TEXT/);
});

Deno.test("T8 control: without plugbox --allow-ffi runs native code", async () => {
  const run = await plainRun(hostile("t8_escalating_grants.ts"), {
    config: true,
    flags: ["--allow-ffi"],
    args: ["ffi", LIBC],
  });
  assert.match(run.stderr, /ffi: native getpid\(\) = \d+/);
});

// An acknowledged run grant under an OS layer: the program runs inside the plugin's sandbox (its
// libraries mounted, or made readable to Landlock, with /dev/null for its output), so it reads
// what the plugin may read and nothing else. Under the Deno layer it runs on the host: the control
// above shows what that gives away.
for (const isolation of ["os", "landlock"] as const) {
  Deno.test(`T8 [${isolation}]: a program a run grant names runs, inside the sandbox`, async () => {
    await plantSecrets();
    await using folder = await pluginFolder({ "granted.txt": "GRANTED-TEXT" });
    await using plugin = await startPlugin(hostile("t8_escalating_grants.ts"), {
      contracts: [Probe],
      isolation,
      permissions: { run: [deno, "/bin/cat", "/usr/bin/awk"], read: [folder.dir] },
      unsafe: { run: true },
    });
    const probe = plugin.api(Probe);
    const [granted, secret] = [join(folder.dir, "granted.txt"), join(SECRET_DIR, "secret.txt")];
    // Deno, and a host program with its libraries, run and read what the plugin may.
    assert.equal(await probe.attempt(`run ${granted}`), "ran: GRANTED-TEXT");
    assert.equal(await probe.attempt(`cat ${granted}`), "cat 0: GRANTED-TEXT");
    // A program granted through links (/usr/bin/awk to /etc/alternatives/awk to mawk) runs by
    // the name granted: the links are in the sandbox too.
    assert.equal(await probe.attempt("link /usr/bin/awk"), "link 0: linked program ran");
    // They read nothing the plugin may not: the file is not in their view.
    assert.equal(await probe.attempt(`run ${secret}`), "ran: ");
    assert.equal(await probe.attempt(`cat ${secret}`), "cat 1: ");
    // Output to "null" opens /dev/null, which Landlock's ruleset names for it.
    assert.equal(await probe.attempt(`null ${deno}`), "exited 0");
  });

  Deno.test(`T8 [${isolation}]: a library an ffi grant names loads, inside the sandbox`, async () => {
    // A library Deno does not load itself; ffi grants are real paths, as Deno checks dlopen's path.
    const zlib = Deno.realPathSync("/lib/x86_64-linux-gnu/libz.so.1");
    await using plugin = await startPlugin(hostile("t8_escalating_grants.ts"), {
      contracts: [Probe],
      isolation,
      permissions: { ffi: [zlib] },
      unsafe: { ffi: true },
    });
    // zlib's own formula: 1000 + (1000 >> 12) + (1000 >> 14) + (1000 >> 25) + 13.
    assert.equal(
      await plugin.api(Probe).attempt(`zlib ${zlib}`),
      "zlib compressBound(1000) = 1013",
    );
  });

  // What is mounted is read from the host when the sandbox is built: a path the plugin can
  // change would let it choose what its sandbox shows (review 25: a link in a write grant to
  // /tmp/plugbox-hostile, or to /, put the secret, or /etc/shadow, in its view).
  Deno.test(`T8 [${isolation}]: a run or ffi grant the plugin could redirect, or that is no file, is refused`, async () => {
    await plantSecrets();
    await using folder = await pluginFolder({
      "tool": "#!/bin/sh\necho planted\n",
      "to-secrets": { symlink: SECRET_DIR },
      "to-cat": { symlink: "/usr/bin/cat" },
    });
    await using plain = await pluginFolder({
      "via-writable": { symlink: join(folder.dir, "to-cat") },
      "loop-a": { symlink: "loop-b" },
      "loop-b": { symlink: "loop-a" },
    });
    const refusal = async (permissions: Record<string, string[]>) => {
      const error = await startPlugin(hostile("t8_escalating_grants.ts"), {
        contracts: [Probe],
        isolation,
        permissions: { write: [folder.dir], ...permissions },
        unsafe: { run: true, ffi: true, writeAsRoot: true },
      }).then(() => undefined, (e) => e);
      assert.ok(error instanceof PreflightError, `${JSON.stringify(permissions)}: ${error}`);
      assert.equal(error.reason, `${Object.keys(permissions)[0]}-grant`);
      assert.match(error.message, /isolation "deno"/);
      return error.message;
    };
    // A file in a write grant, for run and for ffi.
    assert.match(
      await refusal({ run: [join(folder.dir, "tool")] }),
      /inside write grant/,
    );
    assert.match(
      await refusal({ ffi: [join(folder.dir, "tool")] }),
      /inside write grant/,
    );
    // A link in a write grant: to a folder of secrets, and to a harmless program (it could change).
    assert.match(
      await refusal({ run: [join(folder.dir, "to-secrets")] }),
      /goes through ".*" inside write grant/,
    );
    assert.match(
      await refusal({ run: [join(folder.dir, "to-cat")] }),
      /goes through ".*" inside write grant/,
    );
    // A link outside every grant whose target is a link in a write grant.
    assert.match(
      await refusal({ run: [join(plain.dir, "via-writable")] }),
      /goes through ".*" inside write grant/,
    );
    // A real folder in a write grant that the spelling leaves with `..` (review 26: swapped for a
    // link between the check and the sandbox's build, it chose what was mounted).
    Deno.mkdirSync(join(folder.dir, "d"));
    const up = "../".repeat(folder.dir.split("/").filter(Boolean).length);
    assert.match(
      await refusal({ run: [`${folder.dir}/d/../${up}usr/bin/cat`] }),
      /goes through ".*\/d" inside write grant/,
    );
    // A file that is itself a write grant: the plugin rewrites it, and ldd would read names it
    // planted (review 27: a library naming /etc/shadow got it mounted).
    assert.match(
      await refusal({ ffi: [join(folder.dir, "tool")], write: [join(folder.dir, "tool")] }),
      /leads to a file inside write grant/,
    );
    // A loop of links is refused, not followed forever.
    assert.match(await refusal({ run: [join(plain.dir, "loop-a")] }), /cannot be followed/);
    // Not a file: a folder would be mounted whole.
    assert.match(await refusal({ run: [SECRET_DIR] }), /which is not a file/);
    // The plugin's own folder.
    const inside = await startPlugin(hostile("t8_escalating_grants.ts"), {
      contracts: [Probe],
      isolation,
      permissions: { run: [hostile("t8_escalating_grants.ts")] },
      unsafe: { run: true },
    }).then(() => undefined, (e) => e);
    assert.ok(inside instanceof PreflightError, String(inside));
    assert.match(inside.message, /inside the plugin's folder/);
  });
}

Deno.test("T8 [os]: the host's LD_LIBRARY_PATH does not lead ldd to a library the plugin planted", async () => {
  // ldd lists Deno's own libraries for the sandbox, as the host: with the host's LD_LIBRARY_PATH
  // on a write grant, root's loader would parse what the plugin wrote there and the sandbox
  // would mount it (reviews 26, 28). ldd runs with no LD_* variable.
  await using folder = await pluginFolder({});
  const gcc = Deno.realPathSync("/lib/x86_64-linux-gnu/libgcc_s.so.1");
  Deno.copyFileSync(gcc, join(folder.dir, "libgcc_s.so.1"));
  await using hostDir = await pluginFolder({});
  const host = join(hostDir.dir, "host.ts");
  Deno.writeTextFileSync(
    host,
    `import { startPlugin } from ${JSON.stringify(new URL("../../mod.ts", import.meta.url).href)};
import { Probe } from ${JSON.stringify(new URL("./plugins/probe.ts", import.meta.url).href)};
await using plugin = await startPlugin(${JSON.stringify(hostile("t8_escalating_grants.ts"))}, {
  contracts: [Probe], isolation: "os",
  permissions: { run: ["/usr/bin/git"], write: [${JSON.stringify(folder.dir)}] },
  unsafe: { run: true, writeAsRoot: true },
});
console.log(JSON.stringify(plugin.plan.args));`,
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", new URL("../../deno.json", import.meta.url).pathname, host],
    env: { LD_LIBRARY_PATH: folder.dir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const args: string[] = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.ok(
    !args.includes(join(folder.dir, "libgcc_s.so.1")),
    "the planted library is not mounted",
  );
  assert.ok(args.includes(gcc), "Deno's own is");
  // The granted program gets the system's library folders and the loader's cache, read-only.
  assert.ok(args.includes("/usr/bin/git"), "git is mounted");
  assert.ok(args.includes(Deno.realPathSync("/usr/lib")), "with the system's library folders");
  assert.ok(args.includes("/etc/ld.so.cache"), "and the loader's cache");
});

Deno.test("T8 [os]: nothing of a granted file runs on the host: an audit module it names never runs", async () => {
  // The loader runs a DT_AUDIT module even when ldd only lists libraries (review 29), and a
  // file's loader structures can hide one from a reader (review 30): plugbox runs no ldd, and
  // reads nothing of a granted file, to find what it loads.
  await using build = await pluginFolder({
    "audit.c": `#include <stdio.h>
unsigned int la_version(unsigned int v) {
  FILE *f = fopen(MARKER, "w"); if (f) { fputs("ran", f); fclose(f); } return v;
}
`,
  });
  const marker = join(build.dir, "ran-on-the-host");
  const library = join(build.dir, "libaudit.so");
  const cc = await new Deno.Command("cc", {
    args: [
      "-shared",
      "-fPIC",
      `-DMARKER="${marker}"`,
      "-o",
      library,
      join(build.dir, "audit.c"),
      `-Wl,--audit,${library}`,
    ],
    stderr: "piped",
  }).output();
  assert.ok(cc.success, new TextDecoder().decode(cc.stderr));
  await using plugin = await startPlugin(hostile("t8_escalating_grants.ts"), {
    contracts: [Probe],
    isolation: "os",
    permissions: { ffi: [library] },
    unsafe: { ffi: true },
  });
  assert.ok(plugin.plan.args.includes(library), "the library is mounted for the plugin");
  assert.ok(!exists(marker), "its audit module ran on the host");
});

for (const isolation of ISOLATIONS) {
  Deno.test(`T8 [${isolation}]: write grants over code or module caches are refused`, async () => {
    const plugin = hostile("t8_escalating_grants.ts");
    const planned = await startPlugin(plugin, {
      contracts: [Probe],
      isolation: isolation as "auto",
    });
    const { snapshot, env } = planned.plan;
    await planned.close();
    const denoDir = Deno.env.get("DENO_DIR") ?? join(Deno.env.get("HOME")!, ".cache", "deno");
    await Deno.mkdir(denoDir, { recursive: true });
    const codeFolders = [
      dirname(plugin), // the plugin's own folder
      snapshot.dir, // what it runs from
      dirname(dirname(snapshot.dir)), // plugbox's cache
      env.DENO_DIR, // its own module cache
      denoDir, // the host's module cache
      new URL("../../runner", import.meta.url).pathname, // plugbox itself
      dirname(deno), // the Deno binary
      dirname(Deno.realPathSync("/lib/x86_64-linux-gnu/libc.so.6")), // the libc every start loads
      Deno.realPathSync("/lib64"), // the dynamic loader's own folder
      ...configuredFolders(), // the loader's own configuration's folders
    ];
    for (const folder of codeFolders) {
      await refusedGrant(
        startPlugin(plugin, {
          contracts: [Probe],
          isolation: isolation as "auto",
          permissions: { write: [folder] },
          unsafe: { writeAsRoot: true },
        }),
        /holds code; pass unsafe\.writeCode/,
      );
    }
  });
}

Deno.test("T8 control: without plugbox write access to a folder of code plants code for the next run", async () => {
  await using folder = await pluginFolder({
    "payload.ts": "export {};\n",
    "main.ts": `import "./payload.ts";\n` +
      `Deno.writeTextFileSync(new URL("./payload.ts", import.meta.url), 'console.error("INJECTED CODE RAN");');\n`,
  });
  const flags = [`--allow-write=${folder.dir}`];
  assert.doesNotMatch((await plainRun(join(folder.dir, "main.ts"), { flags })).stderr, /INJECTED/);
  assert.match(
    (await plainRun(join(folder.dir, "main.ts"), { flags })).stderr,
    /INJECTED CODE RAN/,
  );
});

for (const isolation of ISOLATIONS) {
  Deno.test(`T8 [${isolation}]: loopback needs privateNetwork; the granted port works, another is denied`, async () => {
    await using granted = recordingServer();
    await using other = recordingServer();
    const grant = `127.0.0.1:${granted.port}`;
    await refusedGrant(
      startPlugin(hostile("t8_escalating_grants.ts"), {
        contracts: [Probe],
        isolation: isolation as "auto",
        permissions: { net: [grant] },
      }),
      /loopback, private or local address; pass unsafe\.privateNetwork/,
    );
    // Other spellings of loopback, which Deno (like any URL parser) reads as 127.0.0.1 or ::1.
    for (
      const spelling of [
        "0x7f000001",
        "0x7f.1",
        "2130706433",
        "[::ffff:7f00:1]",
        "[64:ff9b::7f00:1]",
      ]
    ) {
      await refusedGrant(
        startPlugin(hostile("t8_escalating_grants.ts"), {
          contracts: [Probe],
          isolation: isolation as "auto",
          permissions: { net: [`${spelling}:${granted.port}`] },
        }),
        /loopback, private or local address/,
      );
    }
    // A grant in another spelling is passed as Deno reads it, so the granted port works.
    await using plugin = await startPlugin(hostile("t8_escalating_grants.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      permissions: { net: [`0x7f000001:${granted.port}`] },
      unsafe: { privateNetwork: true },
    });
    const probe = plugin.api(Probe);
    assert.equal(await probe.attempt(`fetch http://${grant}/`), "fetched: ok");
    assert.match(
      await probe.attempt(`fetch http://127.0.0.1:${other.port}/`),
      new RegExp(`refused: NotCapable: Requires net access to "127.0.0.1:${other.port}"`),
    );
    assert.deepEqual(other.requests, []);
    assert.equal(granted.requests.length, 1);
  });
}

Deno.test("T8 control: without plugbox a hex spelling of loopback reaches the host's own local service", async () => {
  await using service = recordingServer();
  const run = await plainRun(hostile("t8_escalating_grants.ts"), {
    config: true,
    flags: [`--allow-net=0x7f000001:${service.port}`],
    args: ["connect", `0x7f000001:${service.port}`],
  });
  assert.match(run.stderr, /connected: ok/);
  assert.deepEqual(service.requests, ["GET /admin HTTP/1.0"]);
});

Deno.test("T8 control: without plugbox a loopback grant reaches the host's own local service", async () => {
  await using service = recordingServer();
  const run = await plainRun(hostile("t8_escalating_grants.ts"), {
    config: true,
    flags: [`--allow-net=localhost:${service.port}`],
    args: ["fetch", `http://localhost:${service.port}/admin`],
  });
  assert.match(run.stderr, /fetched: ok/);
  assert.deepEqual(service.requests, ["GET /admin HTTP/1.1"]);
});

/** Folder A (granted), folder B (not), a secret in each, and a link from A into B. */
async function neighbours() {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "plugbox-t8-" }));
  await Deno.mkdir(join(base, "a"));
  await Deno.mkdir(join(base, "b"));
  await Deno.writeTextFile(join(base, "a", "mine.txt"), "A-OWN-DATA");
  await Deno.writeTextFile(join(base, "b", "secret.txt"), "B-SECRET");
  return {
    base,
    a: join(base, "a"),
    b: join(base, "b"),
    [Symbol.asyncDispose]: () => Deno.remove(base, { recursive: true }),
  };
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T8 [${isolation}]: read of folder A granted, B stays denied, directly and through ".."`, async () => {
    await using dirs = await neighbours();
    await using plugin = await startPlugin(hostile("t8_escalating_grants.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      permissions: { read: [dirs.a] },
    });
    const probe = plugin.api(Probe);
    assert.equal(await probe.attempt(`read ${dirs.a}/mine.txt`), "read: A-OWN-DATA");
    assert.match(
      await probe.attempt(`read ${dirs.b}/secret.txt`),
      /^refused: NotCapable: Requires read access/,
    );
    assert.match(
      await probe.attempt(`read ${dirs.a}/../b/secret.txt`),
      /^refused: NotCapable: Requires read access/,
    );
  });

  Deno.test(`T8 [${isolation}]: a link in granted folder A pointing into B does not reach B`, async () => {
    await using dirs = await neighbours();
    await Deno.symlink(dirs.b, join(dirs.a, "link"));
    const start = startPlugin(hostile("t8_escalating_grants.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      permissions: { read: [dirs.a] },
    });
    if (isolation === "deno") {
      // Deno checks the path before following the link, so the Deno layer refuses the grant.
      const error = await start.catch((e) => e);
      assert.ok(error instanceof PreflightError, String(error));
      assert.equal(error.reason, "grant-link");
      assert.equal(error.path, join(dirs.a, "link"));
      return;
    }
    // Under bubblewrap B is simply not mounted: the link leads nowhere. Under Landlock B
    // is there, and the kernel refuses it: Landlock judges the file reached, not the path.
    await using plugin = await start;
    assert.match(
      await plugin.api(Probe).attempt(`read ${dirs.a}/link/secret.txt`),
      isolation === "landlock" ? /^refused: PermissionDenied/ : /^refused: NotFound/,
    );
  });
}

Deno.test("T8 control: without plugbox a link inside a granted folder reads its neighbour", async () => {
  await using dirs = await neighbours();
  await Deno.symlink(dirs.b, join(dirs.a, "link"));
  const run = await plainRun(hostile("t8_escalating_grants.ts"), {
    config: true,
    flags: [`--allow-read=${dirs.a}`],
    args: ["read", `${dirs.a}/link/secret.txt`],
  });
  assert.match(run.stderr, /read: B-SECRET/);
});

for (const isolation of ISOLATIONS) {
  Deno.test(`T8 [${isolation}]: a grant whose real path holds a comma cannot widen into a second grant`, async () => {
    await plantSecrets();
    // A real folder named so that, on the command line, its path reads as two: "<base>/a" and "/tmp/...".
    await using dirs = await neighbours();
    const tricky = join(dirs.base, "a,");
    await Deno.mkdir(join(tricky, SECRET_DIR), { recursive: true });
    const grant = `${tricky}${SECRET_DIR}`;
    const start = startPlugin(hostile("t8_escalating_grants.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      permissions: { read: [grant] },
    });
    const outcome = await start.then(async (plugin) => {
      await using _ = plugin;
      return `started; the plugin reads: ${await plugin.api(Probe).attempt(
        `read ${SECRET_DIR}/secret.txt`,
      )}`;
    }, (error) => error);
    assert.ok(outcome instanceof TypeError, String(outcome));
    assert.match(outcome.message, /Cannot grant read\.0 .*must not contain ","/);
  });

  Deno.test(`T8 [${isolation}]: read grants are read-only in the kernel too`, async () => {
    await using dirs = await neighbours();
    await using plugin = await startPlugin(hostile("t8_escalating_grants.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      permissions: { read: [dirs.a] },
    });
    if (plugin.isolation === "os") {
      const mounts = Deno.readTextFileSync(`/proc/${pluginDenoPid(plugin.plan.nonce)}/mountinfo`);
      const line = mounts.split("\n").find((l) => l.split(" ")[4] === dirs.a);
      assert.ok(line, mounts);
      assert.match(line.split(" ")[5], /^ro(,|$)/, "mounted read-only");
    }
    assert.match(
      await plugin.api(Probe).attempt(`write ${dirs.a}/mine.txt`),
      /^refused: NotCapable: Requires write access/,
    );
  });
}

Deno.test("T8 control: without the check a path with a comma becomes two grants on the command line", async () => {
  await plantSecrets();
  await using dirs = await neighbours();
  const tricky = join(dirs.base, "a,");
  await Deno.mkdir(join(tricky, SECRET_DIR), { recursive: true });
  const run = await plainRun(hostile("t8_escalating_grants.ts"), {
    config: true,
    flags: [`--allow-read=${tricky}${SECRET_DIR}`],
    args: ["read", `${SECRET_DIR}/secret.txt`],
  });
  assert.match(run.stderr, /read: TOP-SECRET-TEXT/);
});
