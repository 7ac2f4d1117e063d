import assert from "node:assert/strict";
import fc from "fast-check";
import { addressBlock } from "./address.ts";

Deno.test("addressBlock() puts IPv4 addresses in their /24", () => {
  assert.equal(addressBlock("127.0.0.1"), "127.0.0.0/24");
  assert.equal(addressBlock("127.0.0.254"), "127.0.0.0/24");
  assert.equal(addressBlock("127.0.1.1"), "127.0.1.0/24");
  assert.equal(addressBlock("203.0.113.77"), "203.0.113.0/24");
  assert.equal(addressBlock("0.0.0.0"), "0.0.0.0/24");
  assert.equal(addressBlock("255.255.255.255"), "255.255.255.0/24");
});

Deno.test("addressBlock() puts IPv6 addresses in their /64, however they are written", () => {
  const block = "2001:db8:0:1::/64";
  for (
    const a of [
      "2001:db8:0:1::1",
      "2001:0db8:0000:0001:0000:0000:0000:0001",
      "2001:DB8:0:1:ffff:ffff:ffff:ffff",
      "[2001:db8:0:1::abcd]",
      "2001:db8:0:1::1%eth0",
      "2001:db8:0:1:a:b:1.2.3.4",
      "2001:db8::1:0:0:0:1",
    ]
  ) assert.equal(addressBlock(a), block, a);
  assert.equal(addressBlock("2001:db8:0:2::1"), "2001:db8:0:2::/64");
  assert.equal(addressBlock("::1"), "0:0:0:0::/64");
  assert.equal(addressBlock("::"), "0:0:0:0::/64");
  assert.equal(addressBlock("fe80::1%lo0"), "fe80:0:0:0::/64");
  assert.equal(addressBlock("1::"), "1:0:0:0::/64");
});

Deno.test("addressBlock() treats IPv4-mapped IPv6 addresses as IPv4", () => {
  assert.equal(addressBlock("::ffff:127.0.3.7"), "127.0.3.0/24");
  assert.equal(addressBlock("::ffff:7f00:307"), "127.0.3.0/24");
  assert.equal(addressBlock("0:0:0:0:0:ffff:10.0.0.1"), "10.0.0.0/24");
});

Deno.test("addressBlock() keeps anything that is not an address as a block of its own", () => {
  for (
    const a of [
      "",
      "example.com",
      "256.1.1.1",
      "1.2.3",
      "01.2.3.4",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "12345::",
      "1:2:3:4:5:6:7",
      "::ffff:1.2.3.256",
      "1:2:3:4:5:6:7::8",
    ]
  ) assert.equal(addressBlock(a), a, a);
});

Deno.test("addressBlock() agrees for every address of a /64 and of a /24", () => {
  const group = fc.integer({ min: 0, max: 0xffff });
  fc.assert(
    fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), group, group, (g, x, y) => {
      const a = g.map((n) => n.toString(16)).join(":");
      const b = [...g.slice(0, 4), x, y, g[6], g[7]].map((n) => n.toString(16)).join(":");
      const mapped = g.slice(0, 5).every((n) => n === 0) && g[5] === 0xffff;
      fc.pre(!mapped);
      assert.equal(addressBlock(a), addressBlock(b));
      assert.equal(addressBlock(a), `${g.slice(0, 4).map((n) => n.toString(16)).join(":")}::/64`);
    }),
  );
  const octet = fc.integer({ min: 0, max: 255 });
  fc.assert(fc.property(octet, octet, octet, octet, octet, (a, b, c, d, e) => {
    assert.equal(addressBlock(`${a}.${b}.${c}.${d}`), addressBlock(`${a}.${b}.${c}.${e}`));
    assert.equal(addressBlock(`${a}.${b}.${c}.${d}`), `${a}.${b}.${c}.0/24`);
  }));
});

Deno.test("addressBlock(): mapped, NAT64, zones and what is not an address", () => {
  assert.equal(addressBlock("::ffff:cb00:7109"), "203.0.113.0/24");
  assert.equal(addressBlock("2001:0db8:0001:0002:ffff:1:2:3"), "2001:db8:1:2::/64");
  assert.equal(addressBlock("[2001:db8:1:2::9%eth0]"), "2001:db8:1:2::/64");
  assert.notEqual(addressBlock("2001:db8:1:3::1"), addressBlock("2001:db8:1:2::1"));
  assert.equal(addressBlock("::1"), "0:0:0:0::/64");
  assert.equal(addressBlock("64:ff9b::192.0.2.1"), "64:ff9b:0:0::/64");
  assert.equal(addressBlock("n17"), "n17", "a simulated node is a block of its own");
  assert.equal(addressBlock("1.2.3.999"), "1.2.3.999");
  assert.equal(addressBlock("1:2:3:4:5:6:7:8:9"), "1:2:3:4:5:6:7:8:9");
  assert.equal(addressBlock("x".repeat(1000)).length, 256);
});
