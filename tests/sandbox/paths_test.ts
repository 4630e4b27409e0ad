import assert from "node:assert/strict";
import { join } from "node:path";
import {
  absolutePath,
  canonicalLoose,
  canonicalPath,
  isWithin,
} from "../../runner/sandbox/paths.ts";

Deno.test("isWithin() compares whole segments: /data does not contain /data2", () => {
  assert.ok(isWithin("/data", "/data"));
  assert.ok(isWithin("/data/x/y", "/data"));
  assert.ok(isWithin("/data/x", "/data/"));
  assert.ok(!isWithin("/data2", "/data"));
  assert.ok(!isWithin("/data2/x", "/data"));
  assert.ok(isWithin("/anything", "/"));
});

Deno.test("canonicalPath() follows links before '..', as the kernel does", async () => {
  const base = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.mkdir(join(base, "a", "deep"), { recursive: true });
    await Deno.mkdir(join(base, "b"));
    await Deno.symlink(join(base, "a", "deep"), join(base, "b", "link"));
    // base/b/link/.. is base/a (the link's parent), not base/b as a lexical '..' would say.
    assert.equal(canonicalPath(join(base, "b", "link") + "/.."), join(base, "a"));
    assert.equal(canonicalPath("link/..", join(base, "b")), join(base, "a"));
    assert.throws(() => canonicalPath(join(base, "missing")), Deno.errors.NotFound);
    assert.equal(absolutePath("x/../y", "/cwd"), "/cwd/x/../y", "spelled, not resolved by hand");
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("canonicalLoose() real-paths the part that exists and appends the rest", async () => {
  const base = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.mkdir(join(base, "real"));
    await Deno.symlink(join(base, "real"), join(base, "link"));
    assert.equal(
      canonicalLoose(join(base, "link", "not", "yet")),
      join(base, "real", "not", "yet"),
    );
    assert.equal(canonicalLoose(join(base, "link")), join(base, "real"));
    assert.equal(canonicalLoose(`${base}/link/missing/../x`), join(base, "real", "x"));
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
