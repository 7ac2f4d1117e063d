import assert from "node:assert/strict";
import { AssertionError } from "../../core/assert.ts";
import type { SignedOffer } from "../../core/protocol/identity.ts";
import { idServerState, invariants } from "./mod.ts";

/** An ID server listing `n` offers, its offer index consistent. */
function withOffers(n: number) {
  const state = idServerState();
  for (let i = 0; i < n; i++) {
    const supplier = `s${String(i).padStart(3, "0")}`;
    const offer = { supplier } as SignedOffer; // the index checks read no field of it
    state.offers.set(supplier, offer);
    state.offerSlot.set(supplier, state.offerOrder.length);
    state.offerOrder.push(supplier);
  }
  return state;
}

Deno.test("invariants: a small table's broken index stops the first check", () => {
  const state = withOffers(8);
  invariants(state);
  state.offerSlot.set("s003", 5);
  assert.throws(() => invariants(state), AssertionError);
});

Deno.test("invariants: a large table's broken index stops a check within 16 steps", () => {
  const state = withOffers(100);
  invariants(state);
  state.offerSlot.set("s042", 7);
  assert.throws(() => invariants(state, true), AssertionError, "a full check sees it at once");
  let caught = 0;
  for (let i = 0; i < 16; i++) {
    try {
      invariants(state);
    } catch (e) {
      assert(e instanceof AssertionError);
      caught++;
    }
  }
  assert.equal(caught, 1, "one linear check in 16 steps");
});
