/**
 * Shared test helpers: fixture paths and deadlines (tests wait on events,
 * never on fixed sleeps).
 * @module
 */

/** URL of a fixture plugin in tests/fixtures. */
export function fixture(name: string): URL {
  return new URL(`./fixtures/${name}`, import.meta.url);
}

/** Rejects when `promise` has not settled within `ms`; the timer never leaks. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Deadline of ${ms} ms passed waiting for ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves when `check()` is true, polling on a short interval, or rejects at the deadline. */
export async function until(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`Deadline of ${ms} ms passed waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Both isolation layers, for tests that must hold under each. */
export const LAYERS = ["deno", "os"] as const;

/** Resolves with what `promise` rejected with; fails the test if it resolved instead. */
export async function rejected<E = Error>(promise: Promise<unknown>): Promise<E> {
  try {
    const value = await promise;
    throw new Error(`Expected a rejection, got ${JSON.stringify(value)}`, { cause: "resolved" });
  } catch (error) {
    if (error instanceof Error && error.cause === "resolved") throw error;
    return error as E;
  }
}
