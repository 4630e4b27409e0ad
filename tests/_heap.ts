/**
 * Counts live objects by constructor name in a V8 heap snapshot of this
 * process: what a long-lived host keeps, asserted by kind rather than by
 * bytes, which the rest of the process moves by more than one object weighs.
 * Writing the snapshot collects garbage first.
 * @module
 */

import v8 from "node:v8";

/**
 * How many objects (or closures, by their function's name) of each of
 * `names` the heap holds now.
 *
 * @example
 * ```ts ignore
 * const { Slots } = liveObjects(["Slots"]);
 * ```
 */
export function liveObjects(names: readonly string[]): Record<string, number> {
  const file = Deno.makeTempFileSync({ suffix: ".heapsnapshot" });
  try {
    v8.writeHeapSnapshot(file);
    const snapshot = JSON.parse(Deno.readTextFileSync(file)) as {
      snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
      nodes: number[];
      strings: string[];
    };
    const fields = snapshot.snapshot.meta.node_fields;
    const types = snapshot.snapshot.meta.node_types[0];
    const width = fields.length;
    const typeAt = fields.indexOf("type");
    const nameAt = fields.indexOf("name");
    const wanted = new Set(names);
    const counts: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
    for (let i = 0; i < snapshot.nodes.length; i += width) {
      const type = types[snapshot.nodes[i + typeAt]];
      if (type !== "object" && type !== "closure") continue;
      const name = snapshot.strings[snapshot.nodes[i + nameAt]];
      if (wanted.has(name)) counts[name]++;
    }
    return counts;
  } finally {
    Deno.removeSync(file);
  }
}
