import type { KeelEvent } from "../events.js";

/** A member's place in reports: its URL without password, and its tenant schema. */
export interface MemberRef {
  readonly target: string;
  readonly schema?: string;
}

/** How a member ended in a fleet run. `skipped`: a fleet run had already finished it. */
export type MemberState = "done" | "skipped" | "failed" | "unreachable";

/** What a fleet run reports, in order; `--json` prints one per line. */
export type FleetEvent =
  | { readonly type: "fleet-start"; readonly fleet: string; readonly command: string; readonly runner: string; readonly members: number; readonly waves: readonly { readonly name: string; readonly members: number }[] }
  | { readonly type: "wave-start"; readonly wave: string; readonly members: number }
  | { readonly type: "member-start"; readonly member: MemberRef; readonly wave: string }
  /** Another fleet runner holds the member: this one goes on with others and comes back to it. */
  | { readonly type: "member-held"; readonly member: MemberRef; readonly wave: string }
  | {
      readonly type: "member-done";
      readonly member: MemberRef;
      readonly wave: string;
      readonly state: MemberState;
      readonly exit: number;
      readonly error?: string;
      readonly ms: number;
      /** "this-run", or "another-runner" when another fleet runner finished it meanwhile. */
      readonly by?: "this-run" | "another-runner";
    }
  /** A member's own event (a retry, a warning, a wait). */
  | { readonly type: "member-event"; readonly member: MemberRef; readonly event: KeelEvent }
  | { readonly type: "wave-done"; readonly wave: string; readonly failed: number }
  | { readonly type: "soak"; readonly after: string; readonly ms: number }
  /** No new member starts: `reason` says why (failures reached --halt-after, a failed wave, a stop signal). */
  | { readonly type: "halt"; readonly reason: string }
  | { readonly type: "fleet-done"; readonly fleet: string; readonly counts: Readonly<Record<MemberState | "pending", number>>; readonly exit: number };

export type FleetSink = (e: FleetEvent) => void;
