// T1: a literal dynamic JSON import is part of the module graph, so it needs no permission.
const secret = await import("file:///tmp/plugbox-hostile/secret.json", { with: { type: "json" } });
console.error(`LEAK: ${JSON.stringify(secret.default)}`);
