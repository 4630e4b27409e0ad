// judgeCheck(): the verdict plugbox gives each line of Deno's audit, by
// Deno's own rules. The process-level test that it matches what Deno did is
// in tests/host/audit_test.ts.
import assert from "node:assert/strict";
import { judgeCheck, type ResolvedGrants } from "../../runner/sandbox/mod.ts";

const grants: ResolvedGrants = {
  read: ["/srv/docs", "/proc"],
  write: ["/srv/out", "/tmp"],
  net: ["example.com:443", "api.example.org", "[::1]:8080"],
  env: { TOKEN: "secret" },
  sys: ["hostname"],
  run: [],
  ffi: [],
  all: false,
};
const judge = (kind: string, value: string | null) => judgeCheck(kind, value, grants, "/snap/x");

Deno.test("judgeCheck() grants a path within a granted folder, resolving relative paths and ..", () => {
  assert.deepEqual(judge("read", "/srv/docs/a.md"), {
    kind: "read",
    value: "/srv/docs/a.md",
    granted: true,
  });
  assert.deepEqual(judge("read", "../../srv/docs/b"), {
    kind: "read",
    value: "/srv/docs/b",
    granted: true,
  });
  assert.equal(judge("read", "/srv/docs/../secret").granted, false);
  assert.equal(judge("read", "/srv/docsx").granted, false);
  assert.equal(judge("read", "local.txt").value, "/snap/x/local.txt");
  assert.equal(judge("write", "/srv/docs/a.md").granted, false, "read does not grant write");
  assert.equal(judge("write", "/srv/out/a/b").granted, true);
});

Deno.test("judgeCheck() follows Deno's special files: /proc needs every permission, four devices do not", () => {
  assert.equal(
    judge("read", "/proc/cpuinfo").granted,
    false,
    "a plain grant of /proc is not enough",
  );
  assert.equal(judge("read", "/proc/self/environ").granted, false);
  const devices = { ...grants, read: ["/dev"] };
  assert.equal(judgeCheck("read", "/dev/null", devices, "/").granted, true);
  assert.equal(judgeCheck("read", "/dev/urandom", devices, "/").granted, true);
  assert.equal(judgeCheck("read", "/dev/tty", devices, "/").granted, false);
  // A process's own pipes pass with a plain grant; plugbox cannot tell them from files.
  assert.equal(judge("read", "/proc/self/fd/7").granted, true);
});

Deno.test("judgeCheck() reads net checks written as host:port, bare hosts or URLs", () => {
  assert.deepEqual(judge("net", "https://example.com/x?y"), {
    kind: "net",
    value: "example.com:443",
    granted: true,
  });
  assert.deepEqual(judge("net", "http://example.com/"), {
    kind: "net",
    value: "example.com:80",
    granted: false,
  });
  assert.equal(judge("net", "api.example.org:9999").granted, true, "a bare host grants every port");
  assert.equal(judge("net", "EXAMPLE.com:443").granted, true, "hosts compare in canonical form");
  assert.equal(judge("net", "[0:0::1]:8080").granted, true);
  assert.equal(judge("net", "wss://example.com/socket").value, "example.com:443");
  assert.deepEqual(judge("net", "not a host"), {
    kind: "net",
    value: "not a host",
    granted: false,
  });
});

Deno.test("judgeCheck() matches names exactly and counts checks of a whole kind as denied", () => {
  assert.equal(judge("env", "TOKEN").granted, true);
  assert.equal(judge("env", "TOKEN2").granted, false);
  assert.equal(
    judge("env", "HOME").granted,
    false,
    "plugbox sets HOME but does not grant reading it",
  );
  assert.deepEqual(judge("env", null), { kind: "env", value: null, granted: false });
  assert.equal(judge("sys", "hostname").granted, true);
  assert.equal(judge("sys", "osRelease").granted, false);
  assert.equal(judge("write", "<TMP>").granted, true, "<TMP> is the temporary folder");
});

Deno.test("judgeCheck() denies remote imports and kinds plugbox does not know, and neutralises values", () => {
  assert.equal(judge("import", "jsr.io:443").granted, false);
  assert.deepEqual(judge("teleport", "mars"), { kind: "teleport", value: "mars", granted: false });
  assert.equal(judge("env", "A\x1b[31mB").value, "A\\x1b[31mB");
  assert.equal(judge("read", "/srv/docs/" + "x".repeat(10_000)).value!.length < 4200, true);
  const everything = { ...grants, all: true };
  assert.equal(judgeCheck("env", null, everything, "/").granted, true);
});
