// The lifecycle table itself: the properties every path through it relies on.
import assert from "node:assert/strict";
import { type LifeEvent, type LifeState, next, TRANSITIONS } from "../../runner/host/lifecycle.ts";

const STATES = Object.keys(TRANSITIONS) as LifeState[];
const EVENTS: LifeEvent[] = [
  "spawned",
  "spawn-failed",
  "spawn-failed-final",
  "crashed",
  "crashed-final",
  "crashed-promote",
  "backoff-elapsed",
  "closed",
  "idle",
  "restart",
  "stop",
];

Deno.test("every state that can hold a process or a start is left by stop, towards stopped", () => {
  for (const state of STATES) {
    const step = next(state, "stop");
    if (state === "stopping" || state === "stopped") {
      assert.equal(step, undefined, `${state}: a second stop joins the first`);
      continue;
    }
    assert.equal(step?.to, "stopping", state);
    // Whatever could still run is ended by the step itself: a start is aborted, a process closed.
    if (state === "starting" || state === "respawning") {
      assert.ok(step!.actions.includes("abort-spawn"));
    }
    if (state === "running") assert.ok(step!.actions.includes("close"));
    if (state === "backoff") assert.ok(step!.actions.includes("cancel-timer"));
  }
  assert.deepEqual(next("stopping", "idle"), { to: "stopped", actions: ["finish"] });
});

Deno.test("nothing spawns once a stop has begun, and stopped is final", () => {
  for (const event of EVENTS) {
    for (const state of ["stopping", "stopped"] as const) {
      const step = next(state, event);
      assert.ok(!step?.actions.includes("spawn"), `${state} + ${event} spawns`);
      assert.ok(!step || step.to === "stopping" || step.to === "stopped", `${state} + ${event}`);
    }
  }
  // A process that comes up after the stop began is closed, not adopted.
  assert.deepEqual(next("stopping", "spawned"), { to: "stopping", actions: ["discard"] });
});

Deno.test("one spawn at a time: a spawn only starts where none is in progress", () => {
  const spawning = new Set<LifeState>(["starting", "respawning"]);
  for (const state of STATES) {
    for (const event of EVENTS) {
      const step = next(state, event);
      if (!step?.actions.includes("spawn")) continue;
      assert.ok(!spawning.has(state), `${state} + ${event} spawns while a spawn runs`);
      assert.ok(spawning.has(step.to), `${state} + ${event} spawns but leaves ${step.to}`);
    }
  }
  // A restart during a start or a restart joins it.
  for (const state of ["starting", "respawning", "replacing"] as const) {
    assert.equal(next(state, "restart"), undefined, state);
  }
});

Deno.test("a promotion is a crash that is counted, then an adoption, and only from running", () => {
  for (const state of STATES) {
    const step = next(state, "crashed-promote");
    if (state !== "running") {
      assert.equal(step, undefined, `${state} + crashed-promote`);
      continue;
    }
    assert.deepEqual(step, { to: "running", actions: ["promote", "adopt"] });
  }
  // Nothing else promotes: the crash budget is counted by every way a standby takes over after a crash.
  for (const state of STATES) {
    for (const event of EVENTS.filter((e) => e !== "crashed-promote")) {
      assert.ok(!next(state, event)?.actions.includes("promote"), `${state} + ${event}`);
    }
  }
});
