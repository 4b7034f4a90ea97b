// Runs one pgkeel backfill in this process and reports what the benchmark needs:
// the longest batch and the peak resident memory of the process doing the work.
import { createKeel } from "../dist/index.js";

const [url, cwd, workers = "1"] = process.argv.slice(2);
let longestBatchMs = 0;
let batches = 0;
const keel = createKeel({
  url,
  cwd,
  workers: Number(workers),
  onEvent: (e) => {
    if (e.type === "backfill-progress") {
      batches++;
      longestBatchMs = Math.max(longestBatchMs, e.lastBatchMs);
    }
  },
});
const t = performance.now();
await keel.backfill();
const ms = performance.now() - t;
await keel.close();
console.log(JSON.stringify({ ms, longestBatchMs, batches, peakRssMb: process.resourceUsage().maxRSS / 1024 }));
