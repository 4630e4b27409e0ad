import assert from "node:assert/strict";
import { resolveGrants, toDenoArgs } from "../../runner/sandbox/permissions.ts";
import { rememberWrites } from "../../runner/sandbox/grant_rules.ts";
import { isPrivateHost } from "../../runner/sandbox/net.ts";
import { runtimeNames } from "../../runner/sandbox/env_names.ts";

function refused(fn: () => unknown, message: RegExp) {
  assert.throws(
    fn,
    (e: unknown) => e instanceof TypeError && message.test(e.message),
    `expected ${message}`,
  );
}

Deno.test("resolveGrants() denies everything by default", () => {
  const grants = resolveGrants();
  assert.deepEqual(toDenoArgs(grants), ["--no-prompt"]);
});

Deno.test("resolveGrants() resolves paths to absolute real paths", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.mkdir(`${dir}/data`);
    await Deno.symlink(`${dir}/data`, `${dir}/link`);
    const grants = resolveGrants({ read: ["link", "./data"], write: [`${dir}/data`] }, {
      cwd: dir,
      hostIsRoot: false,
    });
    assert.deepEqual(grants.read, [`${dir}/data`]);
    assert.deepEqual(toDenoArgs(grants), [
      "--no-prompt",
      `--allow-read=${dir}/data`,
      `--allow-write=${dir}/data`,
    ]);
    refused(() => resolveGrants({ read: [`${dir}/missing`] }), /no such file or folder/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// A grant is resolved again at each start: a link the plugin (or its author) put in a place it
// controls, between two starts, would aim the host's own spelling at any folder (review 41).
Deno.test("resolveGrants() refuses a grant spelled through a link in a write grant", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    for (const sub of ["work/in", "work/x", "secret", "host/data"]) {
      await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
    }
    const options = { cwd: dir, hostIsRoot: false };
    // Before the swap the same spelling is granted as it is.
    const before = resolveGrants({ write: ["work"], read: ["work/in"] }, options);
    assert.deepEqual(before.read, [`${dir}/work/in`]);
    await Deno.remove(`${dir}/work/in`);
    await Deno.symlink(`${dir}/secret`, `${dir}/work/in`);
    refused(
      () => resolveGrants({ write: ["work"], read: ["work/in"] }, options),
      new RegExp(
        `^Cannot grant read "work/in": it leads through the link "${dir}/work/in" inside the write grant "${dir}/work", which a plugin can replace between starts; grant the path it leads to now \\("${dir}/secret"\\)`,
      ),
    );
    // Deeper, through "..", and as a write grant nested in another.
    refused(
      () => resolveGrants({ write: ["work"], read: ["work/x/../in/."] }, options),
      /read "work\/x\/\.\.\/in\/\.": it leads through the link/,
    );
    refused(
      () => resolveGrants({ write: ["work", "work/x/../in"] }, options),
      /write "work\/x\/\.\.\/in": it leads through the link/,
    );
    // A link the host made elsewhere is the host's own spelling; a write grant spelled through one
    // is not inside itself.
    await Deno.symlink(`${dir}/host/data`, `${dir}/alias`);
    await Deno.symlink(`${dir}/work/x`, `${dir}/x-alias`);
    const host = resolveGrants({ write: ["x-alias"], read: ["alias"] }, options);
    assert.deepEqual([host.read, host.write], [[`${dir}/host/data`], [`${dir}/work/x`]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// Review 44: only the first link of a chain was looked at, and only this plugin's write grants.
Deno.test("resolveGrants() follows a chain of links one at a time, and knows other plugins' write grants", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    for (const sub of ["out", "shared/in", "secret"]) {
      await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
    }
    await Deno.symlink(`${dir}/secret`, `${dir}/out/in`); // the plugin's link, in its write grant
    await Deno.symlink(`${dir}/out/in`, `${dir}/current`); // the host's own, outside it
    await Deno.symlink(`../out/in`, `${dir}/shared/rel`); // relative, from outside again
    const options = { cwd: dir, hostIsRoot: false };
    refused(
      () => resolveGrants({ write: ["out"], read: ["current"] }, options),
      new RegExp(`^Cannot grant read "current": it leads through the link "${dir}/out/in"`),
    );
    refused(
      () => resolveGrants({ write: ["out"], read: ["shared/rel"] }, options),
      /read "shared\/rel": it leads through the link ".*\/out\/in"/,
    );
    // Another plugin of this process was given "shared" to write: a grant inside it is refused
    // (that plugin can swap it for a link while this one starts); "shared" itself is not.
    const unique = `writer-${crypto.randomUUID()}`;
    resolveGrants({ write: ["shared"] }, { ...options, plugin: unique });
    // Planned only: nothing ran with it, so nothing is refused for it.
    resolveGrants({ read: ["shared/in"] }, { ...options, plugin: "reader" });
    rememberWrites([`${dir}/shared`]); // launched, as launchPlugin records it
    refused(
      () => resolveGrants({ read: ["shared/in"] }, { ...options, plugin: "reader" }),
      new RegExp(
        `^Cannot grant read "${dir}/shared/in": it lies inside "${dir}/shared", which a plugin was given to write`,
      ),
    );
    const whole = resolveGrants({ read: ["shared"] }, { ...options, plugin: "reader" });
    assert.deepEqual(whole.read, [`${dir}/shared`]);
    // The writer itself may read inside its own write grant, given now; restarted without it, not
    // (review 45: what it planted there outlives it).
    resolveGrants({ write: ["shared"], read: ["shared/in"] }, { ...options, plugin: unique });
    refused(
      () => resolveGrants({ read: ["shared/in"] }, { ...options, plugin: unique }),
      /it lies inside ".*\/shared", which a plugin was given to write/,
    );
    await Deno.symlink(`${dir}/secret`, `${dir}/shared/planted`);
    refused(
      () => resolveGrants({ read: ["shared/planted"] }, { ...options, plugin: "reader" }),
      /it leads through the link ".*\/shared\/planted"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveGrants() refuses values that would inject flags", () => {
  refused(
    () => resolveGrants({ read: ["/tmp,/etc"] }),
    /read\.0 "\/tmp,\/etc": must not contain ","/,
  );
  refused(() => resolveGrants({ read: ["--allow-all"] }), /must not start with "-"/);
  refused(() => resolveGrants({ write: ["/tmp\n--allow-run"] }), /newline/);
  refused(() => resolveGrants({ read: ["/tmp=x"] }), /"="/);
  refused(() => resolveGrants({ net: ["example.com,127.0.0.1"] }), /must not contain ","/);
  refused(() => resolveGrants({ net: ["exa mple.com"] }), /host or host:port/);
  refused(() => resolveGrants({ net: ["example.com:99999"] }), /port 1-65535/);
  refused(() => resolveGrants({ env: ["A=B"] }), /must be upper-case letters/);
  refused(() => resolveGrants({ sys: ["everything" as "hostname"] }), /sys\.0/);
  refused(() => resolveGrants({ colour: ["red"] } as never), /unknown kind "colour"/);
});

Deno.test("resolveGrants() refuses run, ffi and all without their acknowledgement", () => {
  refused(() => resolveGrants({ run: ["/bin/ls"] }), /pass unsafe\.run/);
  refused(() => resolveGrants({ ffi: ["/lib/x.so"] }), /pass unsafe\.ffi/);
  refused(() => resolveGrants({ all: true }), /pass unsafe\.all/);
  assert.deepEqual(toDenoArgs(resolveGrants({ run: ["/bin/ls"] }, { unsafe: { run: true } })), [
    "--no-prompt",
    "--allow-run=/bin/ls",
  ]);
  assert.deepEqual(toDenoArgs(resolveGrants({ all: true }, { unsafe: { all: true } })), [
    "--no-prompt",
    "--allow-all",
  ]);
});

Deno.test("resolveGrants() refuses hosts that are not ASCII host names", () => {
  refused(() => resolveGrants({ net: ["bücher.example"] }), /host or host:port/);
});

Deno.test("resolveGrants() refuses private network grants without privateNetwork", () => {
  for (
    const host of [
      "localhost:80",
      "127.0.0.1:8080",
      "10.1.2.3",
      "192.168.1.1:22",
      "[::1]:80",
      "169.254.169.254",
    ]
  ) {
    refused(() => resolveGrants({ net: [host] }), /loopback, private or local/);
  }
  const grants = resolveGrants({ net: ["127.0.0.1:8080"] }, { unsafe: { privateNetwork: true } });
  assert.deepEqual(grants.net, ["127.0.0.1:8080"]);
});

Deno.test("resolveGrants() refuses write grants over code roots", async () => {
  const root = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.mkdir(`${root}/plugin`);
    const codeRoots = [`${root}/plugin`];
    const hostIsRoot = false;
    refused(
      () => resolveGrants({ write: [root] }, { codeRoots, hostIsRoot }),
      /overlaps .* which holds code/,
    );
    refused(
      () => resolveGrants({ write: [`${root}/plugin`] }, { codeRoots, hostIsRoot }),
      /pass unsafe\.writeCode/,
    );
    assert.deepEqual(
      resolveGrants({ write: [root] }, { codeRoots, hostIsRoot, unsafe: { writeCode: true } })
        .write,
      [root],
    );
    assert.deepEqual(
      resolveGrants({ read: [root] }, { codeRoots }).read,
      [root],
      "reading code is fine",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("resolveGrants() copies named env variables from the host and refuses Deno's own", () => {
  const grants = resolveGrants({ env: ["GIVEN", "ABSENT"] }, {
    hostEnv: (name) => name === "GIVEN" ? "value" : undefined,
  });
  assert.deepEqual(grants.env, { GIVEN: "value" });
  assert.deepEqual(resolveGrants({ env: { MYAPP_TOKEN: "t" } }).env, { MYAPP_TOKEN: "t" });
  for (
    const name of [
      "DENO_DIR",
      "NODE_OPTIONS",
      "HOME",
      "HTTPS_PROXY",
      "LD_PRELOAD",
      "DENO_AUTH_TOKENS",
      "PWD",
      // Not DENO_*, yet read by Deno 2.9.6 itself: a deny-list of prefixes let these through.
      "OTEL_EXPORTER_OTLP_ENDPOINT",
      "SOCKET_API_KEY",
      "ACTIONS_ID_TOKEN_REQUEST_URL",
      "DENO_WEBGPU_TRACE",
    ]
  ) {
    refused(() => resolveGrants({ env: [name] }), /is a name Deno may read itself/);
  }
  refused(() => resolveGrants({ env: ["http_proxy"] }), /upper-case/);
});

Deno.test("net grants are passed in the canonical form Deno compares against", () => {
  const grants = resolveGrants({
    net: ["EXAMPLE.com:443", "xn--bcher-kva.example", "[2001:DB8:0:0:0:0:0:1]:443"],
  });
  assert.deepEqual(grants.net, ["[2001:db8::1]:443", "example.com:443", "xn--bcher-kva.example"]);
  // Spellings of loopback a URL parser (and Deno) turn into 127.0.0.1 or ::1 are refused without acknowledgement.
  for (
    const host of [
      "0x7f000001:8080",
      "0x7f.1:8080",
      "2130706433:80",
      "017700000001:80",
      "[::ffff:7f00:1]:80",
      "[64:ff9b::7f00:1]",
      "[::ffff:a00:1]",
      "[2002:7f00:1::]:80",
      "[0:0:0:0:0:0:0:1]:80",
    ]
  ) {
    refused(() => resolveGrants({ net: [host] }), /loopback, private or local/);
  }
  assert.deepEqual(
    resolveGrants({ net: ["0x7f000001:8080"] }, { unsafe: { privateNetwork: true } }).net,
    ["127.0.0.1:8080"],
  );
});

Deno.test("isPrivateHost() classifies hosts", () => {
  const local = [
    "localhost",
    "LOCALHOST:1",
    "api.localhost",
    "printer.local",
    "127.1",
    "0.0.0.0",
    "10.0.0.1",
    "100.64.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.0.1:443",
    "169.254.169.254",
    "[::1]:80",
    "[fe80::1]",
    "[fd00::1]",
    "[::ffff:127.0.0.1]",
    "224.0.0.1",
    "2130706433",
  ];
  const remote = [
    "example.com",
    "example.com:443",
    "8.8.8.8",
    "172.32.0.1",
    "[2001:db8::1]:443",
    "1.1.1.1:53",
  ];
  for (const host of local) assert.equal(isPrivateHost(host), true, host);
  for (const host of remote) assert.equal(isPrivateHost(host), false, host);
});

Deno.test("no name with PROXY in it can be granted, even one the runtime's files do not mention (THREATS T25)", () => {
  const names = runtimeNames([]); // no files: only the PROXY rule can refuse
  for (const name of ["HTTP_PROXY", "NO_PROXY", "ALL_PROXY", "MYAPP_NO_PROXY"]) {
    refused(() => resolveGrants({ env: [name] }, { runtimeNames: names }), /is a proxy setting/);
  }
  assert.deepEqual(resolveGrants({ env: { MYAPP_SETTING: "x" } }, { runtimeNames: names }).env, {
    MYAPP_SETTING: "x",
  });
});

Deno.test("a refused grant quotes a long entry cut in its middle, its reason kept whole", () => {
  const long = `/tmp/${"x".repeat(120_000)}`;
  for (
    const [grants, reason] of [
      [{ read: [long] }, /": no such file or folder$/],
      [{ write: [`${long},b`] }, /must not contain ",", "=", a newline or NUL$/],
    ] as const
  ) {
    try {
      resolveGrants(grants);
    } catch (error) {
      assert.ok(error instanceof TypeError);
      assert.ok(error.message.length < 2_100, `a message of ${error.message.length}`);
      assert.match(error.message, /^Cannot grant (read|write)\S* "\/tmp\/x/);
      assert.match(error.message, reason);
      continue;
    }
    assert.fail(`${Object.keys(grants)} was granted`);
  }
});
