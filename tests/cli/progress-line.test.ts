import { describe, expect, it } from "vitest";
import { backfillLine, duration, indexLine, timeLeft } from "../../src/cli/progress-line.js";

/** The progress line at every width a terminal may have: it fits, and the numbers outlast the bar. */
const backfill = {
  type: "backfill-progress" as const,
  name: "20261127130000_leads_email_domain_normalized",
  rowsDone: 154_027,
  estimatedRows: 300_000,
  rowsPerSecond: 23_456,
  etaSeconds: 7,
  batchSize: 2000,
  lastBatchMs: 90,
};
const index = { type: "index-progress" as const, name: "big_email_idx", phase: "building index: scanning table", blocksDone: 4500, blocksTotal: 10_000, elapsedMs: 12_400 };

describe("progress lines fit the terminal", () => {
  it("every width from 20 to 200 columns: never longer; counts always there; the bar only with room to spare", () => {
    for (let width = 20; width <= 200; width++) {
      const line = backfillLine(backfill, width);
      expect(line.length, `${width}: ${line}`).toBeLessThanOrEqual(width);
      expect(line).toContain("154,027/300");
      if (line.includes("[")) {
        expect(line).toMatch(/rows\/s {2}about 7 s left {2}batch 2,000 {2}\[\u2588+\u2591+\]$/);
      }
      if (width >= 80) expect(line, `${width}`).toMatch(/154,027\/300,000 rows {2}23,456 rows\/s {2}about 7 s left/);
      expect(indexLine(index, width).length).toBeLessThanOrEqual(width);
    }
  });

  it("at 79 columns (an 80-column terminal): counts, rate and time left; the name loses its timestamp, then its start", () => {
    expect(backfillLine(backfill, 79)).toBe("  \u2026email_domain_normalized  154,027/300,000 rows  23,456 rows/s  about 7 s left");
    expect(backfillLine(backfill, 119)).toBe(
      "  leads_email_domain_normalized  154,027/300,000 rows  23,456 rows/s  about 7 s left  batch 2,000  [\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2588\u2591\u2591\u2591\u2591\u2591\u2591\u2591\u2591\u2591]",
    );
    expect(indexLine(index, 79)).toBe("  big_email_idx  45% of blocks  building index: scanning table  12 s");
  });

  it("time left only while there is some; durations at a useful precision", () => {
    expect(timeLeft(0)).toBeUndefined();
    expect(timeLeft(null)).toBeUndefined();
    expect(timeLeft(0.4)).toBeUndefined();
    expect(timeLeft(7)).toBe("about 7 s left");
    expect([duration(59), duration(65), duration(1532), duration(7450)]).toEqual(["59 s", "1 min 5 s", "26 min", "2 h 4 min"]);
  });
});
