/**
 * nng-pingpong: raw NNG through shoal's binding (`NngSocket`, src/lamellae/nng), between this
 * process and a child process over ipc:// on one host. It is the baseline that shoal's own
 * inter-process active-message round trip will be measured against (target ≤ 1.3× of it).
 * - round trip: an 8-byte message sent and echoed back, one at a time (µs each);
 * - small messages one way: 16-byte messages streamed to the child, which counts them (msgs/s);
 * - large messages one way: 16 MiB messages streamed to the child (GB/s = 10^9 bytes/s).
 *
 * Baseline, in the same run, against the same child, alternating with it: Node's own `net` over a
 * Unix domain socket with the same framing (a 4-byte length before each message). The child and
 * both connections are bench/support/nng-links.ts, which bench/procs.ts shares.
 *
 *   npx shoal bench nng-pingpong [--reps 7] [--iters 5000] [--count 200000] [--mib 256] [--json]
 *   node --import tsx bench/nng-pingpong.ts [same options]     (a 1-PE world: the same figures)
 *
 * PE 0 measures; other PEs wait. Check, every repetition: each echo is the message sent, and the
 * child counted every streamed message, in order. Needs the NNG addon (npm test installs libnng
 * and builds it; see scripts/install-system-deps.sh).
 */
import { init } from "shoal";

import { endBenchmark, integerOption, printRows, settle, summarize, type Row } from "./harness.js";
import { roundTrip, startLinks, stream } from "./support/nng-links.js";

const world = await init();
if (world.pe === 0) {
  const reps = integerOption("reps", 7);
  const iters = integerOption("iters", 5000);
  const count = integerOption("count", 200_000);
  const mib = integerOption("mib", 256);
  const largeBytes = Math.min(16 << 20, mib << 20);
  const largeCount = Math.max(1, Math.floor((mib << 20) / largeBytes));
  await settle(world);
  const links = await startLinks({ benchmark: "nng-pingpong", net: true });
  const figures = { nng: { rtt: [] as number[], small: [] as number[], large: [] as number[] }, net: { rtt: [] as number[], small: [] as number[], large: [] as number[] } };
  const polled: number[] = [];
  for (let rep = -1; rep < reps; rep++) { // rep -1 warms up
    const order = rep % 2 === 0 ? [links.nng, links.net] : [links.net, links.nng];
    const polledRtt = links.polledRoundTrip(rep < 0 ? Math.min(iters, 1000) : iters);
    if (rep >= 0) polled.push(polledRtt);
    await new Promise((resolve) => setTimeout(resolve, 20)); // the child stops polling
    for (const link of order) {
      const rtt = await roundTrip("nng-pingpong", link, rep < 0 ? Math.min(iters, 1000) : iters);
      const small = await stream("nng-pingpong", link, rep < 0 ? Math.min(count, 20_000) : count, 16);
      const large = (await stream("nng-pingpong", link, largeCount, largeBytes)) * largeBytes / 1e9;
      if (rep >= 0) {
        const f = figures[link.name];
        f.rtt.push(rtt);
        f.small.push(small / 1e6);
        f.large.push(large);
      }
    }
  }
  await links.close();
  const s = { nng: { rtt: summarize(figures.nng.rtt), small: summarize(figures.nng.small), large: summarize(figures.nng.large) }, net: { rtt: summarize(figures.net.rtt), small: summarize(figures.net.small), large: summarize(figures.net.large) } };
  const check = "every echo was the message sent; the child counted every streamed message, in order";
  const target = "baseline of the inter-process AM round trip (≤ 1.3×)";
  const rows: Row[] = [
    { benchmark: "nng-pingpong", what: "NNG round trip, 8 B, ipc, 2 processes", unit: "µs", ...s.nng.rtt, target, check },
    { benchmark: "nng-pingpong", what: "baseline: node:net round trip, Unix socket", unit: "µs", ...s.net.rtt, ratio: s.net.rtt.median / s.nng.rtt.median, ratioOf: "net / NNG", check },
    { benchmark: "nng-pingpong", what: "NNG round trip, both sides polling (poll())", unit: "µs", ...summarize(polled), ratio: summarize(polled).median / s.nng.rtt.median, ratioOf: "polled / NNG", check },
    { benchmark: "nng-pingpong", what: "NNG 16 B messages one way", unit: "M msgs/s", ...s.nng.small, check },
    { benchmark: "nng-pingpong", what: "baseline: node:net 16 B messages one way", unit: "M msgs/s", ...s.net.small, ratio: s.nng.small.median / s.net.small.median, ratioOf: "NNG / net", check },
    { benchmark: "nng-pingpong", what: `NNG ${largeBytes >> 20} MiB messages one way`, unit: "GB/s", ...s.nng.large, check },
    { benchmark: "nng-pingpong", what: `baseline: node:net ${largeBytes >> 20} MiB messages one way`, unit: "GB/s", ...s.net.large, ratio: s.nng.large.median / s.net.large.median, ratioOf: "NNG / net", check },
  ];
  printRows(rows);
}
await endBenchmark(world);
