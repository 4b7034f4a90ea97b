import type { FleetEvent, MemberRef } from "../fleet/events.js";
import type { FleetResult } from "../fleet/fleet.js";
import { plural, type Output } from "./output.js";
import { duration } from "./progress-line.js";

const name = (m: MemberRef) => (m.schema === undefined ? m.target : `${m.schema} (${m.target})`);

/**
 * A fleet run's report: with --json every event as one line on stdout; else a line
 * per member that ends and, on a terminal, one live line (members done / running /
 * failed / waiting, the wave, time left); at the end a table of members by state
 * and, last, the count of failed members.
 */
export class FleetReport {
  private total = 0;
  private wave = "";
  private waveNo = 0;
  private waves = 0;
  private readonly running = new Set<string>();
  private ended = 0;
  private failed = 0;
  private readonly started = performance.now();

  constructor(private readonly out: Output, private readonly json: boolean) {}

  event(e: FleetEvent): void {
    if (this.json) return this.out.result(JSON.stringify({ time: new Date().toISOString(), ...e }));
    switch (e.type) {
      case "fleet-start":
        this.total = e.members;
        this.waves = e.waves.length;
        this.out.log(`fleet ${e.fleet}: ${e.command} on ${plural(e.members, "member")} in ${plural(e.waves.length, "wave")} (${e.waves.map((w) => `${w.name}: ${w.members}`).join(", ")}); runner pgkeel:${e.runner}`);
        break;
      case "wave-start":
        this.wave = e.wave;
        this.waveNo++;
        this.out.log(`${e.wave}: ${plural(e.members, "member")}`);
        break;
      case "member-start":
        this.running.add(name(e.member));
        break;
      case "member-held":
        this.running.delete(name(e.member));
        this.out.log(`  ${name(e.member)}: another fleet runner is on it; coming back to it`);
        break;
      case "member-done": {
        this.running.delete(name(e.member));
        this.ended++;
        if (e.state === "failed" || e.state === "unreachable") this.failed++;
        const how = e.state === "skipped" ? "already done" : e.state === "done" ? (e.by === "another-runner" ? "done by another fleet runner" : "done") : `${e.state} (exit ${e.exit}): ${e.error}`;
        this.out.log(`  ${name(e.member)}: ${how} (${duration(e.ms / 1000)})`);
        break;
      }
      case "member-event":
        if (e.event.type === "retry") this.out.log(`  ${name(e.member)}: retry ${e.event.unit}: attempt ${e.event.attempt} failed (${e.event.kind}: ${e.event.reason}); next in ${e.event.waitMs} ms`);
        else if (e.event.type === "warning") this.out.log(`  ${name(e.member)}: warning: ${e.event.message}`);
        else if (e.event.type === "waiting") this.out.log(`  ${name(e.member)}: waiting: ${e.event.what} is being worked on by ${e.event.holder}`);
        break;
      case "wave-done":
        this.out.log(`${e.wave}: ended${e.failed ? `, ${plural(e.failed, "failed member")}` : ""}`);
        break;
      case "soak":
        this.out.log(`soak: waiting ${duration(e.ms / 1000)} after ${e.after}`);
        break;
      case "halt":
        this.out.log(`halt: ${e.reason}`);
        break;
      case "fleet-done":
        break;
    }
    this.out.live("fleet", () => this.line());
  }

  /** The live line: counts, the wave, and time left from the pace so far. */
  private line(): string {
    const waiting = this.total - this.ended - this.running.size;
    const secs = (performance.now() - this.started) / 1000;
    const eta = this.ended ? (secs / this.ended) * (this.total - this.ended) : undefined;
    return `fleet: ${this.wave} (${this.waveNo}/${this.waves}) · ${this.ended - this.failed} done · ${this.running.size} running · ${this.failed} failed · ${waiting} waiting${eta !== undefined && waiting + this.running.size ? ` · about ${duration(eta)} left` : ""}`;
  }

  /** The table of members by state (worst first) on stdout, then the last line with the count of failed members. */
  summary(fleet: string, r: FleetResult): void {
    this.out.close();
    if (this.json) return;
    const order = ["failed", "unreachable", "pending", "done", "skipped"];
    const rows = [...r.members].sort((a, b) => order.indexOf(a.state) - order.indexOf(b.state) || a.member.index - b.member.index);
    this.out.result(`${"STATE".padEnd(12)}${"EXIT".padEnd(6)}MEMBER`);
    for (const m of rows) {
      const state = m.state === "skipped" ? "done before" : m.state === "pending" ? "not started" : m.state;
      this.out.result(`${state.padEnd(12)}${String(m.exit).padEnd(6)}${name(m.member)}${m.error ? `  ${m.error}` : ""}`);
    }
    const c = r.counts;
    const bad = c.failed + c.unreachable;
    this.out.result(
      `fleet ${fleet}: ${bad} failed of ${plural(r.members.length, "member")}${c.unreachable ? ` (${c.unreachable} unreachable)` : ""}; ${c.done} done, ${c.skipped} done before, ${c.pending} not started; exit ${r.exit}`,
    );
  }
}
