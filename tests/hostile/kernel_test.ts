// THREATS T21 (effects Deno's permissions do not see: set-UID files,
// new privileges, capabilities, the plugin's id) and T23 (exit causes
// under the OS layer). Controls show each effect without the mitigation.
import assert from "node:assert/strict";
import { join } from "node:path";
import { PluginExitedError, startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
import { fixture, freshCache, rejected, testDeadline, within } from "../_helpers.ts";
import { hostile, ISOLATIONS, plainRun, pluginDenoPid, procStatus, tempDir } from "./_hostile.ts";

const ROOT = Deno.uid() === 0;

for (const isolation of ISOLATIONS) {
  Deno.test(`T21 [${isolation}]: the plugin holds no capability and cannot gain privileges`, async () => {
    await using out = await tempDir();
    await using plugin = await startPlugin(hostile("t21_kernel_effects.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      permissions: { write: [out.path] },
      unsafe: { writeAsRoot: true },
    });
    const status = procStatus(pluginDenoPid(plugin.plan.nonce));
    assert.equal(status.NoNewPrivs, "1", "a set-UID program cannot raise its privileges");
    assert.equal(status.CapEff, "0000000000000000", "no effective capability");
    assert.equal(status.CapBnd, "0000000000000000", "none it could ever regain");
    const pid = pluginDenoPid(plugin.plan.nonce);
    if (plugin.isolation === "os") {
      // Not root inside its user namespace: its only id there is 65534 (nobody).
      const [inside] = Deno.readTextFileSync(`/proc/${pid}/uid_map`).trim().split(/\s+/);
      assert.equal(inside, "65534");
      // The granted folder is mounted nosuid: a set-UID file there does nothing inside.
      const mounts = Deno.readTextFileSync(`/proc/${pid}/mountinfo`);
      const grant = mounts.split("\n").find((line) => line.split(" ")[4] === out.path);
      assert.ok(grant, `the grant is mounted: ${mounts}`);
      assert.match(grant.split(" ")[5], /(^|,)nosuid(,|$)/);
    } else {
      // Documented: under the Deno layer the plugin keeps the host's uid (without its capabilities).
      assert.equal(status.Uid.split(/\s+/)[0], String(Deno.uid()));
    }
  });
}

Deno.test("T21 control: without no-new-privileges a set-UID program makes an unprivileged process root", async () => {
  // Root only: the control makes a set-UID root program, then runs it as nobody.
  assert.ok(ROOT, "the suite runs as root (HELPERS.md)");
  await using dir = await tempDir();
  await Deno.chmod(dir.path, 0o755);
  const id = join(dir.path, "id");
  await Deno.copyFile("/usr/bin/id", id);
  await Deno.chmod(id, 0o4755);
  const asNobody = async (extra: string[]) => {
    const out = await new Deno.Command("setpriv", {
      args: ["--reuid=65534", "--regid=65534", "--clear-groups", ...extra, id, "-u"],
    }).output();
    return new TextDecoder().decode(out.stdout).trim();
  };
  assert.equal(await asNobody([]), "0", "the set-UID bit made nobody root");
  assert.equal(await asNobody(["--no-new-privs"]), "65534", "no-new-privileges keeps it nobody");
});

for (const isolation of ISOLATIONS) {
  Deno.test(`T21 [${isolation}]: a root host's write grant needs unsafe.writeAsRoot (then set-UID files are possible under the Deno layer alone)`, async () => {
    await using out = await tempDir();
    const start = (unsafe: Record<string, boolean>) =>
      startPlugin(hostile("t21_kernel_effects.ts"), {
        contracts: [Probe],
        isolation: isolation as "auto",
        permissions: { write: [out.path] },
        unsafe,
      });
    if (ROOT) {
      await assert.rejects(
        start({}),
        (e: unknown) =>
          e instanceof TypeError &&
          /the host runs as root, .*set-UID .*pass unsafe\.writeAsRoot/.test(e.message),
      );
    }
    await using plugin = await start({ writeAsRoot: true });
    const made = await plugin.api(Probe).attempt(`setuid ${join(out.path, "tool")}`);
    const tool = await Deno.stat(join(out.path, "tool"));
    assert.equal(tool.uid, Deno.uid(), "owned by the host's user");
    if (plugin.isolation === "deno") {
      // Acknowledged, the plugin can leave a set-UID/set-GID file (documented in "What is not promised").
      assert.equal(made, "made a set-UID, set-GID file");
      assert.equal(tool.mode! & 0o7777, 0o6755);
    } else {
      // Under both OS layers the seccomp filter refuses set-UID and set-GID modes (T24).
      assert.match(made, /^refused: PermissionDenied/);
      assert.equal(tool.mode! & 0o6000, 0);
    }
  });
}

Deno.test("T21: a root host run with the README's narrow permissions is still known to run as root", async () => {
  // Without sys permission plugbox cannot ask Deno.uid(), and without --allow-all it cannot read
  // /proc/self: it learns its uid from a file it makes in its cache, the one place it may write.
  assert.ok(ROOT, "the suite runs as root (HELPERS.md)");
  await using out = await tempDir();
  await using cache = await freshCache();
  const plan = async (unsafe: Record<string, boolean>) => {
    const options = {
      isolation: "deno",
      cacheDir: cache.path,
      permissions: { write: [out.path] },
      unsafe,
    };
    const run = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        `--allow-write=${cache.path}`,
        "--allow-env",
        "--allow-run",
        fixture("plan_host.ts").pathname,
        hostile("t21_kernel_effects.ts"),
        JSON.stringify(options),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(run.stdout).trim();
    assert.ok(text, new TextDecoder().decode(run.stderr));
    return JSON.parse(text) as { ok: boolean; name?: string; message?: string };
  };
  const refused = await within(plan({}), 60_000, "the narrow host's plan");
  assert.equal(refused.ok, false);
  assert.equal(refused.name, "TypeError");
  assert.match(refused.message!, /the host runs as root, .*pass unsafe\.writeAsRoot/);
  assert.equal((await within(plan({ writeAsRoot: true }), 60_000, "the plan")).ok, true);
});

Deno.test("T21 control: without plugbox a write grant leaves set-UID files and world-writable folders", async () => {
  await using out = await tempDir();
  const flags = [`--allow-write=${out.path}`, `--allow-read=${out.path}`];
  const file = await plainRun(hostile("t21_kernel_effects.ts"), {
    config: true,
    flags,
    args: ["setuid", join(out.path, "tool")],
  });
  assert.match(file.stderr, /made a set-UID, set-GID file/);
  assert.equal((await Deno.stat(join(out.path, "tool"))).mode! & 0o7777, 0o6755);
  const folder = await plainRun(hostile("t21_kernel_effects.ts"), {
    config: true,
    flags,
    args: ["world", join(out.path, "shared")],
  });
  assert.match(folder.stderr, /made a world-writable folder/);
  assert.equal((await Deno.stat(join(out.path, "shared"))).mode! & 0o7777, 0o777);
});

// T23: exit causes under the OS layer

for (const isolation of ISOLATIONS) {
  Deno.test(`T23 [${isolation}]: a death by signal is reported as that signal, an exit code as that code`, async () => {
    testDeadline(120_000);
    {
      await using plugin = await startPlugin(hostile("t23_real_signal.ts"), {
        contracts: [Probe],
        isolation: isolation as "auto",
        memoryLimitMiB: 64,
      });
      const error = await within(
        rejected<PluginExitedError>(plugin.api(Probe).attempt("heap")),
        90_000,
        "the heap bomb to die",
      );
      assert.ok(error instanceof PluginExitedError, String(error));
      assert.equal(error.signal, "SIGTRAP", `${error.message}`);
      assert.equal(error.exitCode, null);
      assert.equal(error.reason, "out-of-memory");
    }
    await using plugin = await startPlugin(hostile("t23_real_signal.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
    });
    const error = await rejected<PluginExitedError>(plugin.api(Probe).attempt("exit"));
    assert.ok(error instanceof PluginExitedError, String(error));
    assert.equal(error.exitCode, 133);
    assert.equal(error.signal, null);
    assert.equal(error.reason, "exited");
  });
}

Deno.test("T23 control: bubblewrap alone reports a SIGTRAP and an exit with 133 the same way", async () => {
  const bwrap = async (script: string) => {
    const out = await new Deno.Command("bwrap", {
      args: ["--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "--", "sh", "-c", script],
    }).output();
    return { code: out.code, signal: out.signal };
  };
  const trapped = await bwrap("kill -TRAP $$");
  const exited = await bwrap("exit 133");
  assert.deepEqual(trapped, { code: 133, signal: null });
  assert.deepEqual(trapped, exited, "indistinguishable by the wrapper's status");
});
