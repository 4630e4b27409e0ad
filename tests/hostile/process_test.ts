// deno-lint-ignore-file no-control-regex -- the T11 tests look for control characters on purpose
// THREATS T9-T11: plugins that will not die, eat memory, or flood their
// output. Every promise settles, nothing outlives its plugin, and the host's
// memory stays bounded. Controls show each attack without plugbox.
import assert from "node:assert/strict";
import { PluginError, PluginExitedError, ProtocolError, startPlugin } from "../../mod.ts";
import { Probe } from "./plugins/probe.ts";
import { rejected, testDeadline, until, within } from "../_helpers.ts";
import { hostile, ISOLATIONS, plainRun, processesWith } from "./_hostile.ts";

// T9: staying alive

for (const isolation of ISOLATIONS) {
  Deno.test(`T9 [${isolation}]: a plugin that ignores EOF and SIGTERM is killed, and nothing is left behind`, async () => {
    const lines: string[] = [];
    const plugin = await startPlugin(hostile("t9_refuses_to_die.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      stopGraceMs: 300,
      // Under the OS layer SIGTERM ends the sandbox: long enough for that on a loaded machine (at
      // 300 ms a CI run beside another test file saw the SIGKILL come first), and never waited
      // out when it does. Elsewhere the plugin ignores SIGTERM, and the whole wait is spent.
      stopTermMs: isolation === "os" ? 5_000 : 300,
      onLog: (entry) => lines.push(entry.message),
    });
    assert.equal(await plugin.api(Probe).attempt(), "alive");
    const status = await within(plugin.close(), 10_000, "close() of a plugin that will not die");
    assert.ok(lines.includes("stdin closed; staying alive"), "it really ignored EOF");
    if (plugin.isolation !== "os") {
      // It caught SIGTERM (the listener printed) and had to be SIGKILLed.
      assert.equal(status.reason, "killed");
      assert.equal(status.signal, "SIGKILL");
    } else {
      // Under the OS layer SIGTERM reaches bubblewrap, which takes the sandbox down with it:
      // the stop ended at SIGTERM, before any SIGKILL.
      assert.equal(status.reason, "stopped");
      assert.equal(status.signal, "SIGTERM");
    }
    assert.deepEqual(processesWith(plugin.plan.nonce), [], "no process of this plugin is left");
  });
}

Deno.test("T9 control: without plugbox's stop ladder the plugin outlives EOF and SIGTERM", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      new URL("../../deno.json", import.meta.url).pathname,
      hostile("t9_refuses_to_die.ts"),
      "--plugbox-nonce=x",
    ],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const waitFor = async (text: string) => {
    while (!seen.includes(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stderr ended before "${text}": ${seen}`);
      seen += value;
    }
  };
  try {
    await child.stdin.close();
    await within(waitFor("stdin closed; staying alive"), 10_000, "the plugin to see EOF");
    child.kill("SIGTERM");
    await within(waitFor("ignoring SIGTERM"), 10_000, "the plugin to catch SIGTERM");
    assert.equal(
      processesWith(`--plugbox-nonce=x`).includes(child.pid),
      true,
      "still running after EOF and SIGTERM",
    );
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await reader.cancel();
  }
});

for (const isolation of ISOLATIONS) {
  Deno.test(`T9 [${isolation}]: Deno.exit(137) is reported as an exit with code 137, not as a kill`, async () => {
    await using plugin = await startPlugin(hostile("t9_fake_kill_code.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
    });
    const error = await rejected<PluginExitedError>(plugin.api(Probe).attempt());
    assert.ok(error instanceof PluginExitedError, String(error));
    assert.equal(error.exitCode, 137);
    assert.equal(error.signal, null);
    assert.equal(error.reason, "exited", "plugbox did not kill it, whatever the code says");
  });
}

Deno.test("T9 control: by its code alone, Deno.exit(137) cannot be told from a SIGKILL", async () => {
  // What a supervisor that reads a shell's status (or bubblewrap's) sees.
  const status = async (script: string) => {
    const out = await new Deno.Command("sh", {
      args: ["-c", `${script}; echo $?`],
      stdout: "piped",
    }).output();
    return new TextDecoder().decode(out.stdout).trim();
  };
  const exited = await status(`${Deno.execPath()} eval "Deno.exit(137)"`);
  const killed = await status(`${Deno.execPath()} eval "Deno.kill(Deno.pid, 'SIGKILL')"`);
  assert.equal(exited, "137");
  assert.equal(killed, exited);
});

// T10: memory

for (const isolation of ISOLATIONS) {
  Deno.test(`T10 [${isolation}]: a heap bomb stops at the heap cap and is reported as out of memory`, async () => {
    testDeadline(90_000);
    await using plugin = await startPlugin(hostile("t10_heap_bomb.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      memoryLimitMiB: 64,
    });
    const error = await within(
      rejected<PluginExitedError>(plugin.api(Probe).attempt()),
      60_000,
      "the heap bomb",
    );
    assert.ok(error instanceof PluginExitedError, String(error));
    assert.equal(error.reason, "out-of-memory");
    assert.match(error.message, /ran out of memory/);
    // The heap cap stopped it, not the larger process limit behind it: the heap never grew
    // much past 64 MiB (the process limit alone would let it reach hundreds).
    const heaps = [...error.stderrTail.matchAll(/heap (\d+) MiB/g)].map((m) => Number(m[1]));
    assert.ok(heaps.length > 0, error.stderrTail);
    assert.ok(Math.max(...heaps) <= 128, `the heap reached ${Math.max(...heaps)} MiB`);
  });
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T10 [${isolation}]: printing V8's words and exiting with 133 is not taken for running out of memory`, async () => {
    await using plugin = await startPlugin(hostile("t10_fake_out_of_memory.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
    });
    const error = await rejected<PluginExitedError>(plugin.api(Probe).attempt());
    assert.ok(error instanceof PluginExitedError);
    // Under both layers plugbox sees the plugin's own wait status: an exit with code 133,
    // not a SIGTRAP, so not out of memory (under the OS layer bubblewrap alone would say 133
    // for both; plugbox reads the real status from the kernel, X1).
    assert.equal(error.exitCode, 133);
    assert.equal(error.signal, null);
    assert.equal(error.reason, "exited");
  });
}

Deno.test("T10 control: without a heap cap the heap bomb grows far past 64 MiB", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "const h = []; while (true) h.push(Array.from({ length: 1000 }, (_, i) => `item ${i} ${Math.random()}`));",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const rss = () =>
      Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${child.pid}/status`))?.[1] ?? 0);
    await until(() => rss() > 512 * 1024, 60_000, "the heap bomb to pass 512 MiB");
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
});

for (const isolation of ISOLATIONS) {
  Deno.test(`T10 [${isolation}]: ArrayBuffers cannot dodge the memory limit`, async () => {
    await using plugin = await startPlugin(hostile("t10_arraybuffer_bomb.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      memoryLimitMiB: 128,
    });
    const outcome = await plugin.api(Probe).attempt().catch((e) => e);
    if (outcome instanceof PluginExitedError) {
      assert.equal(outcome.reason, "out-of-memory");
      return;
    }
    const got = Number(/stopped at (\d+) MiB/.exec(String(outcome))?.[1]);
    assert.ok(
      got < 1024,
      `allocated ${got} MiB against a 128 MiB limit (plus Deno's reservations): ${outcome}`,
    );
  });

  Deno.test(`T10 [${isolation}]: Workers cannot spread allocations past the limit`, async () => {
    await using plugin = await startPlugin(hostile("t10_worker_bomb.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      memoryLimitMiB: 128,
    });
    const outcome = await plugin.api(Probe).attempt().catch((e) => e);
    if (outcome instanceof PluginExitedError) {
      assert.equal(outcome.reason, "out-of-memory", outcome.message);
      return;
    }
    const got = Number(/workers allocated (\d+) MiB/.exec(String(outcome))?.[1]);
    assert.ok(got < 1024, `workers allocated ${got} MiB against a 128 MiB limit: ${outcome}`);
  });
}

for (const isolation of ISOLATIONS) {
  Deno.test(`T10 [${isolation}]: an uncaught ArrayBuffer allocation refused by the limit ends the plugin as out of memory`, async () => {
    await using plugin = await startPlugin(hostile("t10_uncaught_arraybuffer_bomb.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      memoryLimitMiB: 128,
    });
    assert.equal(await plugin.api(Probe).attempt(), "armed");
    const status = await within(plugin.exited, 60_000, "the bomb");
    assert.equal(status.reason, "out-of-memory", JSON.stringify(status));
    assert.match(status.stderrTail, /Array buffer allocation failed/);
    // Trusted evidence: a real fatal signal (SIGTRAP), under bubblewrap too (read from the
    // kernel: THREATS T23).
    assert.equal(status.signal, "SIGTRAP", JSON.stringify(status));
    assert.equal(status.code, null);
  });
}

Deno.test("T10 control: without a process limit ArrayBuffers and Workers ignore the heap cap", async () => {
  // Bombs that allocate and touch 1.5 GiB each, 12× the limit the tests above hold them to.
  testDeadline(120_000);
  const flags = ["--v8-flags=--max-old-space-size=128"];
  const buffers = await plainRun(hostile("t10_arraybuffer_bomb.ts"), { config: true, flags });
  assert.match(buffers.stderr, /allocated 1536 MiB/);
  const workers = await plainRun(hostile("t10_worker_bomb.ts"), { config: true, flags });
  assert.match(workers.stderr, /workers allocated 1536 MiB/);
});

// T11: output floods

for (const isolation of ISOLATIONS) {
  Deno.test(`T11 [${isolation}]: a stdout flood without newlines is cut at the line cap and kills the plugin`, async () => {
    const before = Deno.memoryUsage().rss;
    await using plugin = await startPlugin(hostile("t11_stdout_flood.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      maxLineBytes: 1024 * 1024,
    });
    const error = await within(
      rejected<ProtocolError>(plugin.api(Probe).attempt()),
      30_000,
      "the flood to be cut",
    );
    assert.ok(error instanceof ProtocolError, String(error));
    assert.match(error.message, /Line of more than 1048576 bytes/);
    const status = await plugin.exited;
    assert.equal(status.reason, "killed");
    const grown = Deno.memoryUsage().rss - before;
    assert.ok(grown < 256 * 1024 * 1024, `host memory grew by ${grown} bytes`);
  });

  Deno.test(`T11 [${isolation}]: a stderr flood of escape sequences stays bounded and never reaches the host raw`, async () => {
    const before = Deno.memoryUsage().rss;
    let lines = 0;
    let raw = 0;
    let notes = 0;
    let notesAsPlugin = 0;
    await using plugin = await startPlugin(hostile("t11_stderr_flood.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
      onLog: ({ message, source }) => {
        lines++;
        if (/[\x00-\x08\x0b-\x1f\x7f-\x9f]/.test(message)) raw++;
        if (
          /^\(plugbox: stderr (went over 2000 lines|took more than 100 ms of the host's time) a second; \d+ bytes were dropped\)$/
            .test(message)
        ) {
          notes++;
          if (source !== "plugbox") notesAsPlugin++;
        }
      },
    });
    assert.equal(await plugin.api(Probe, { timeout: 60_000 }).attempt("4"), "flooded");
    await plugin.close();
    // About 4,400 lines were written: past 2,000 a second (or 100 ms of the host's thread) the host
    // drops what it read and reads no more until the next second, so the plugin waits on its pipe
    // (review 95; 64 MB took 34 s so, against 1 s read and dropped before).
    assert.ok(lines >= 2000, `saw ${lines} lines`);
    assert.ok(notes >= 1, "the drop is reported");
    assert.equal(notesAsPlugin, 0, "as plugbox's note, not a line of the plugin's");
    assert.equal(raw, 0, "no control character reached the callback");
    assert.ok(plugin.stderrTail().length <= 8192, "the tail is bounded");
    assert.ok(plugin.stderrTail().includes("\\x1b[2J"), "escapes are shown, not obeyed");
    const grown = Deno.memoryUsage().rss - before;
    assert.ok(grown < 256 * 1024 * 1024, `host memory grew by ${grown} bytes`);
  });

  Deno.test(`T11 [${isolation}]: escape sequences in a plugin's error never reach the host raw`, async () => {
    await using plugin = await startPlugin(hostile("t11_escape_in_error.ts"), {
      contracts: [Probe],
      isolation: isolation as "auto",
    });
    const error = await rejected<PluginError>(plugin.api(Probe).attempt());
    assert.ok(error instanceof PluginError);
    assert.equal(error.remoteName, "Sneaky\\x1b[31m");
    assert.match(error.message, /\\x1b\[2J\\x1b\]0;pwned\\x07screen cleared/);
    assert.ok(!/\x1b|\x07/.test(error.message + error.remoteName));
  });
}

Deno.test("T11 control: without plugbox the flood is a gigabyte with no newline, and escapes are raw", async () => {
  const flood = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "const c = new Uint8Array(1 << 20).fill(65); for (let i = 0; i < 1024; i++) await Deno.stdout.write(c);",
    ],
    stdout: "piped",
  }).spawn();
  let bytes = 0;
  let newlines = 0;
  for await (const chunk of flood.stdout) {
    bytes += chunk.length;
    if (chunk.includes(10)) newlines++;
  }
  await flood.status;
  assert.equal(bytes, 1024 * 1024 * 1024);
  assert.equal(newlines, 0);
  // Speak the protocol by hand to the plain plugin: the error text arrives with raw escapes.
  const plugin = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      new URL("../../deno.json", import.meta.url).pathname,
      hostile("t11_escape_in_error.ts"),
      "--plugbox-nonce=n",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = plugin.stdin.getWriter();
  await writer.write(new TextEncoder().encode(
    '{"jsonrpc":"2.0","id":1,"method":"$/initialize","params":{"protocolVersion":1,"nonce":"n","contracts":[],"maxLineBytes":65536}}\n' +
      '{"jsonrpc":"2.0","id":2,"method":"probe.attempt","params":[]}\n',
  ));
  await writer.close();
  const raw = new TextDecoder().decode((await plugin.output()).stdout);
  const answer = JSON.parse(raw.trim().split("\n")[1]);
  assert.match(
    answer.error.message,
    /\x1b\[2J\x1b\]0;pwned\x07/,
    "a host that printed this would obey it",
  );
});
