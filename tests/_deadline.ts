/**
 * Preloaded by `deno task test` (`deno test --preload tests/_deadline.ts`):
 * every test gets a deadline, so a regression that hangs fails that test in
 * seconds, naming what it was waiting for, instead of stalling CI for 90
 * minutes. The default is {@linkcode DEFAULT_DEADLINE_MS} (override with
 * `PLUGBOX_TEST_DEADLINE_MS`); a test that legitimately takes longer calls
 * `testDeadline(ms)` from `_helpers.ts`.
 * @module
 */

import { type DeadlineState, setDeadlineState } from "./_helpers.ts";

/** The default per-test deadline, in milliseconds. */
export const DEFAULT_DEADLINE_MS = Number(Deno.env.get("PLUGBOX_TEST_DEADLINE_MS") ?? 45_000);

type Body = (t: Deno.TestContext) => void | Promise<void>;

/** Where a test was registered (the deadline wrapper would otherwise be named instead). */
function registrationSite(): string {
  const frames = (new Error().stack ?? "").split("\n").slice(1);
  return frames.find((f) => !f.includes("/_deadline.ts"))?.trim().replace(/^at /, "") ?? "";
}

function withDeadline(name: string, body: Body): Body {
  const site = registrationSite();
  return async (t) => {
    let fail: (error: Error) => void = () => {};
    const passed = new Promise<never>((_, reject) => fail = reject);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const state: DeadlineState = {
      name,
      ms: DEFAULT_DEADLINE_MS,
      waits: new Set(),
      reschedule() {
        clearTimeout(timer);
        const started = Date.now();
        timer = setTimeout(() => {
          const waits = [...state.waits];
          fail(
            new Error(
              `Test "${name}" passed its deadline of ${state.ms} ms (${
                Date.now() - started
              } ms since it was set) while waiting for ${
                waits.length ? waits.join("; ") : "an unlabelled await (label it with waitFor())"
              }`,
            ),
          );
        }, state.ms);
      },
    };
    setDeadlineState(state);
    state.reschedule();
    try {
      await Promise.race([Promise.resolve().then(() => body(t)), passed]);
    } catch (error) {
      try {
        if (error instanceof Error && site) error.message += `\n    (test registered ${site})`;
      } catch {
        // A DOMException's message has no setter (a TimeoutError, an AbortError): it fails as
        // thrown, not with this assignment's TypeError (review 147).
      }
      throw error;
    } finally {
      clearTimeout(timer);
      setDeadlineState(undefined);
    }
  };
}

const original = Deno.test;

function wrapped(...args: unknown[]): void {
  // Deno.test(fn) | (name, fn) | (options, fn) | (name, options, fn) | (definition)
  const fnIndex = args.findIndex((a) => typeof a === "function");
  if (fnIndex === -1) {
    const definition = args[0] as Deno.TestDefinition;
    return original({ ...definition, fn: withDeadline(definition.name, definition.fn) });
  }
  const fn = args[fnIndex] as Body;
  const name = typeof args[0] === "string"
    ? args[0]
    : (args[0] as { name?: string }).name ?? fn.name;
  const copy = [...args];
  copy[fnIndex] = withDeadline(name, fn);
  return (original as (...a: unknown[]) => void)(...copy);
}

Object.assign(wrapped, original);
(Deno as { test: typeof Deno.test }).test = wrapped as typeof Deno.test;
