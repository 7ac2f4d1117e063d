import { transportContract } from "../_transport_contract.ts";
import { TestNet } from "./_test_util.ts";

transportContract("TcpTransport", {
  create(n, limits) {
    const net = new TestNet();
    return Promise.resolve(
      Array.from({ length: n }, (_, i) => net.node(`node-${i}`, limits ?? {})),
    );
  },
  nowhere: "nobody",
  timeoutMs: 15_000,
});
