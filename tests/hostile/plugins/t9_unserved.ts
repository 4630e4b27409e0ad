// T9: runs code of its own and never serves (writes nothing to a host that could be gone), ignoring
// SIGTERM, SIGINT and SIGHUP: where its host died before its death signal was armed, only plugbox's
// host check (layers.ts) ends it.
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
  Deno.addSignalListener(signal, () => {});
}
setInterval(() => {}, 1_000);
