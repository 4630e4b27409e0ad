import assert from "node:assert/strict";
import { z } from "zod";
import { type ContractApi, type ContractImpl, defineContract } from "../contract.ts";
import { implement } from "../plugin.ts";
import { methodsOf } from "../runner/contract.ts";
import { createApi } from "../runner/host/proxy.ts";

const Greeter = defineContract({
  name: "greeter",
  version: 1,
  methods: {
    sayHello: z.function({ input: [z.string()], output: z.string() }),
    count: z.function({ input: [z.array(z.number()), z.boolean().optional()], output: z.number() }),
  },
});

Deno.test("defineContract() returns a frozen contract and compiles its methods", () => {
  assert.equal(Greeter.name, "greeter");
  assert.ok(Object.isFrozen(Greeter) && Object.isFrozen(Greeter.methods));
  const infos = methodsOf(Greeter);
  assert.deepEqual([...infos.keys()], ["sayHello", "count"]);
  assert.equal(infos.get("count")!.arity, 2);
});

Deno.test("defineContract() names what is wrong with a bad definition", () => {
  const fn = z.function({ input: [], output: z.void() });
  const cases: [unknown, RegExp][] = [
    [{ name: "bad name", version: 1, methods: { f: fn } }, /"name" must be a letter/],
    [{ name: "ok", version: 0, methods: { f: fn } }, /"version" must be a positive integer, got 0/],
    [{ name: "ok", version: 1.5, methods: { f: fn } }, /"version" must be a positive integer/],
    [{ name: "ok", version: 1, methods: {} }, /at least one method/],
    [{ name: "ok", version: 1, methods: { then: fn } }, /method name "then"/],
    [{ name: "ok", version: 1, methods: { "a.b": fn } }, /method name "a\.b"/],
    [{ name: "ok", version: 1, methods: { f: z.string() } }, /method "f" must be a z\.function/],
    [{
      name: "ok",
      version: 1,
      methods: { f: z.function({ input: z.array(z.string()), output: z.void() }) },
    }, /tuple without rest/],
    [
      { name: "ok", version: 1, methods: { f: z.function({ output: z.string() }) } },
      /tuple without rest/,
    ],
  ];
  for (const [definition, message] of cases) {
    assert.throws(
      () => defineContract(definition as Parameters<typeof defineContract>[0]),
      (e: unknown) => e instanceof TypeError && message.test(e.message),
      `expected ${message}`,
    );
  }
});

Deno.test("contract types: the host API and the implementation are derived, wrong ones do not compile", async () => {
  // The API object the host gets, over a target that answers like the implementation below.
  const api: ContractApi<typeof Greeter> = createApi(Greeter, {
    name: "in-memory",
    call: (method, params) =>
      Promise.resolve(
        method === "greeter.sayHello" ? `hello, ${params[0]}` : (params[0] as number[]).length,
      ),
  });
  const typed: (name: string) => Promise<string> = api.sayHello;
  const counted: (xs: number[], flag?: boolean) => Promise<number> = api.count;
  assert.equal(await typed("a"), "hello, a");
  assert.equal(await counted([1, 2, 3]), 3);
  // @ts-expect-error: sayHello takes a string
  const wrongArg: (name: number) => Promise<string> = api.sayHello;
  // @ts-expect-error: sayHello resolves to a string
  const wrongResult: (name: string) => Promise<number> = api.sayHello;
  void wrongArg, wrongResult;

  const good: ContractImpl<typeof Greeter> = {
    sayHello: (name) => `hello, ${name}`,
    count: (xs, flag, { signal }) => Promise.resolve(signal.aborted || flag ? 0 : xs.length),
  };
  const served = implement(Greeter, good);
  assert.equal(
    await served.methods.sayHello("a", {
      signal: new AbortController().signal,
      host: {},
      progress: () => {},
    }),
    "hello, a",
  );
  // Type checks only (deno test type-checks this file); never run, the calls would throw.
  const compileOnly = () => {
    // @ts-expect-error: the implementation returns a number where the contract says string
    implement(Greeter, { sayHello: (name: string) => name.length, count: () => 1 });
    // @ts-expect-error: the implementation expects a number argument
    implement(Greeter, { sayHello: (n: number) => String(n), count: () => 1 });
    // @ts-expect-error: a method is missing
    implement(Greeter, { sayHello: (name: string) => name });
    // @ts-expect-error: an async implementation must still resolve to the contract's type
    implement(Greeter, { sayHello: () => Promise.resolve(42), count: () => 1 });
  };
  assert.equal(typeof compileOnly, "function");
});

Deno.test("implement() refuses missing, extra and non-function methods at run time", () => {
  const bad = [
    [{ sayHello: () => "" }, /method "count" is missing/],
    [{ sayHello: () => "", count: 1 }, /method "count" is not a function/],
    [
      { sayHello: () => "", count: () => 1, extra: () => 1 },
      /method "extra" is not in the contract/,
    ],
  ] as const;
  for (const [methods, message] of bad) {
    assert.throws(
      () => implement(Greeter, methods as unknown as ContractImpl<typeof Greeter>),
      (e: unknown) => e instanceof TypeError && message.test(e.message),
    );
  }
});
