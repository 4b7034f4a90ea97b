import { UsageError } from "../errors.js";
import { redactUrl } from "../gateway/redact.js";
import { waveSize, type FleetConfig } from "./config.js";
import type { Member } from "./members.js";

export interface Wave {
  /** "canary", "wave 1", ... */
  readonly name: string;
  readonly members: readonly Member[];
  /** Failed members (counted over the whole run) before no new member starts. */
  readonly haltAfter: number;
}

/**
 * The canary (the first N members, default 1, or the members it names by URL or
 * schema), then each wave of the config taking the next members not yet run: a
 * count, or a percentage of the whole fleet (rounded up). Whatever the waves leave
 * over forms a last wave. `haltAfter` (flag or config) holds for every wave;
 * without it the canary halts at its first failed or unreachable member and later
 * waves never do (a later wave still only starts when no member of the one before
 * failed; an unreachable member does not count there).
 */
export function planWaves(members: readonly Member[], fleet: FleetConfig, at: string, haltAfter?: number): Wave[] {
  const canary = pickCanary(members, fleet.canary ?? 1, at);
  const chosen = new Set(canary);
  let rest = members.filter((m) => !chosen.has(m));
  const waves: Wave[] = canary.length ? [{ name: "canary", members: canary, haltAfter: haltAfter ?? 1 }] : [];
  for (const w of fleet.waves ?? ["100%"]) {
    if (!rest.length) break;
    const size = waveSize(w)!;
    const n = "count" in size ? size.count : Math.ceil((members.length * size.percent) / 100);
    waves.push({ name: `wave ${waves.length + (canary.length ? 0 : 1)}`, members: rest.slice(0, n), haltAfter: haltAfter ?? Infinity });
    rest = rest.slice(n);
  }
  if (rest.length) waves.push({ name: `wave ${waves.length + (canary.length ? 0 : 1)}`, members: rest, haltAfter: haltAfter ?? Infinity });
  return waves;
}

function pickCanary(members: readonly Member[], canary: number | readonly string[], at: string): Member[] {
  if (typeof canary === "number") return members.slice(0, Math.min(canary, members.length));
  return canary.map((c) => {
    const m = members.find((x) => (x.schema !== undefined ? x.schema === c : x.url === c || x.target === c));
    if (!m) throw new UsageError(`${at}.canary: ${c.includes("://") ? `URL ${redactUrl(c)}` : `schema ${c}`} is not a member of the fleet`);
    return m;
  });
}
