// T5: a deno.json beside the plugin turns on unstable APIs (the test writes the deno.json).
const kv = typeof (Deno as unknown as { openKv?: unknown }).openKv;
console.error(`openKv is ${kv === "function" ? "ENABLED" : "disabled"}`);
