// Review 158: a plugin written with the SDK whose implementation throws values that throw again
// when made text: what `fail(kind)` throws is named by `kind` (see THROWN).
import { z } from "zod";
import { defineContract } from "@plugbox/plugbox/contract";
import { implement, serve } from "@plugbox/plugbox/plugin";

const Throws = defineContract({
  name: "r158",
  version: 1,
  methods: { fail: z.function({ input: [z.string()], output: z.string() }) },
});

function revoked(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

/** An Error whose `message` is `message`, set after its construction (as a library may). */
function withMessage(message: unknown): Error {
  const error = new Error("placeholder");
  Object.defineProperty(error, "message", { value: message });
  return error;
}

const THROWN: Record<string, () => unknown> = {
  "revoked": revoked,
  "symbol": () => Symbol("thrown"),
  "to-primitive": () => ({
    [Symbol.toPrimitive]() {
      throw revoked();
    },
  }),
  "message-getter": () => {
    const error = new Error("placeholder");
    Object.defineProperty(error, "message", {
      get() {
        throw revoked();
      },
    });
    return error;
  },
  "message-object": () =>
    withMessage({
      toString() {
        throw revoked();
      },
    }),
  "message-symbol": () => withMessage(Symbol("message")),
  "plain": () => new Error("plain"),
};

serve(implement(Throws, {
  fail(kind) {
    throw THROWN[kind]();
  },
}));
