// T14: Deno reads the source map a comment names, with no permission, to
// print a stack trace; its "sources" then appear in the trace.
try {
  throw new Error("to print a stack trace");
} catch (error) {
  console.error(`LEAK: ${error.stack}`);
}
//# sourceMappingURL=file:///tmp/plugbox-hostile/map.json
