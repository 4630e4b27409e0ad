/**
 * Review 74's host side: the honest plugin with answers of a size (the
 * floods and their measure are review 73's, _r73.ts).
 * @module
 */

import { startR73 } from "./_r73.ts";

/**
 * The honest plugin (r73_honest.ts, SDK only) at the default share, the host's `list` and `read`
 * asynchronous (a disk's or a database's wait) and answering `records` records or a document of
 * `documentBytes`.
 */
export function startHonest74(
  faults: string[],
  answers: { records?: number; documentBytes?: number },
) {
  const records = Array.from(
    { length: answers.records ?? 0 },
    (_, i) => ({ id: i, name: `file-${i}.txt`, tags: ["a", "b"] }),
  );
  const document = "d".repeat(answers.documentBytes ?? 0);
  const waited = () => new Promise((resolve) => setTimeout(resolve, 1));
  return startR73("r73_honest.ts", { onProtocolFault: (detail) => faults.push(detail) }, {
    list: async () => (await waited(), records),
    read: async () => (await waited(), document),
  });
}
