import { describe, expect, it } from "vitest";
import { serverVersion, versionWarnings } from "../../src/catalog/version.js";

describe("server versions pgkeel supports (doctor's verdict)", () => {
  it("12 to 18 are supported; a sound release gets no warning", () => {
    for (const [num, text] of [[120022, "12.22"], [130023, "13.23"], [140023, "14.23"], [180004, "18.4"]] as const) {
      const v = serverVersion(num, text);
      expect(v).toMatchObject({ supported: true, major: Math.floor(num / 10000) });
      expect(versionWarnings(v)).toEqual([]);
    }
  });

  it("older than 12: not supported, with a warning that says why", () => {
    const v = serverVersion(110022, "11.22");
    expect(v.supported).toBe(false);
    expect(versionWarnings(v)).toEqual([expect.stringMatching(/11\.22 is older than 12, the oldest pgkeel supports/)]);
  });

  it("newer than 18: not yet tested, said so", () => {
    const v = serverVersion(190001, "19.1");
    expect(v.supported).toBe(false);
    expect(versionWarnings(v)).toEqual([expect.stringMatching(/newer than 18, the newest pgkeel is tested on/)]);
  });

  it("14.0 to 14.3: supported, with the concurrent index corruption named", () => {
    expect(versionWarnings(serverVersion(140003, "14.3"))).toEqual([expect.stringMatching(/CONCURRENTLY can silently corrupt indexes before 14\.4/)]);
    expect(versionWarnings(serverVersion(140004, "14.4"))).toEqual([]);
  });
});
