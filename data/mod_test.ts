import { assertEquals } from "./_assert_test_util.ts";
import * as root from "../mod.ts";
import * as data from "./mod.ts";

Deno.test("the data API is reachable from the library's mod.ts", () => {
  assertEquals(root.data.parseScheme("rs:4+4"), data.parseScheme("rs:4+4"));
  assertEquals(typeof root.data.sealBlock, "function");
});
