// Review 118: attacks on review 117's fix (the Python probe under the plugin's seccomp filter).
// Each test failed on the code it was written against (8e13ef4).
import assert from "node:assert/strict";
import { previewStart } from "../../mod.ts";
import { freshCache } from "../_helpers.ts";
import { hostile } from "./_hostile.ts";
import { realPython, tempFolder, withPython } from "./_python_shim.ts";

// The probe (a shim's code, which a plugin may have written: review 113) ran for 15 s with no limit
// on memory: one process took 4 GiB in 6 s, the plugin's own cap 512 MiB. The shim asks for 1 GiB
// in one piece (written, so it is held), says whether it got it, and fails so it is shown.
Deno.test("r118: a Python probe's process cannot take more memory than a plugin's", async () => {
  await using cache = await freshCache();
  await using dir = await tempFolder("plugbox-r118-probe-");
  const python = await realPython();
  const shim = `#!/bin/sh
echo PROBED >&2
"${python}" -I -S -c 'import sys; b = b"x" * (1 << 30); print("ALLOCATED", file=sys.stderr)'
exit 1
`;
  await withPython(dir.path, shim, async () => {
    const error = await previewStart(hostile("py_probe/main.py"), { cacheDir: cache.path })
      .then(() => undefined, (error: Error) => error);
    assert.ok(error instanceof TypeError, String(error));
    assert.match(error.message, /PROBED/);
    assert.doesNotMatch(error.message, /ALLOCATED/);
  });
});
