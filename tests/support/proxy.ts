import net from "node:net";

/**
 * An in-process TCP proxy in front of PostgreSQL that breaks connections on
 * purpose. It reads the frontend protocol (client to server) to know where
 * messages start, so faults can be aimed at a COMMIT or at a reply, and it
 * counts round trips (simple Query and extended-protocol Sync messages).
 */
export type Cut = "end" | "reset";

interface Pair {
  client: net.Socket;
  server: net.Socket;
  closed: boolean;
}

export class FaultProxy {
  private server?: net.Server;
  private readonly pairs = new Set<Pair>();
  private armed: { kind: "after-commit" | "mid-reply" | "before-query"; remaining: number } | undefined;
  private chaos: { random: () => number; probability: number; kills: number } | undefined;
  /** Added each way to every chunk, so a round trip costs about this much. */
  latencyMs = 0;
  /** Round trips seen: simple queries plus Sync messages. */
  roundTrips = 0;
  connections = 0;
  faults = 0;
  /** When set, new connections are reset as soon as they arrive. */
  refusing = false;
  /** Texts of the simple-protocol queries forwarded, in order (what a client sent, byte for byte). */
  readonly sent: string[] = [];
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<this> {
    this.server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.server!.address() as net.AddressInfo).port;
    return this;
  }

  /** `url` with its host and port replaced by the proxy's. */
  url(url: string): string {
    const u = new URL(url);
    u.hostname = "127.0.0.1";
    u.port = String(this.port);
    return u.toString();
  }

  /** Closes every open connection now, cleanly (FIN) or with a reset (RST). */
  dropAll(how: Cut = "end"): void {
    for (const p of this.pairs) this.kill(p, how);
  }

  /** The Nth COMMIT from now reaches the server, then the client's connection dies before the reply. */
  cutAfterCommit(nth = 1): void {
    this.armed = { kind: "after-commit", remaining: nth };
  }

  /** The Nth reply from now is cut halfway through its first chunk. */
  cutMidReply(nth = 1): void {
    this.armed = { kind: "mid-reply", remaining: nth };
  }

  /** The Nth query from now is never forwarded: the connection is reset instead. */
  cutBeforeQuery(nth = 1): void {
    this.armed = { kind: "before-query", remaining: nth };
  }

  /**
   * Random faults: each client query is, with `probability`, the moment a fault
   * hits: before forwarding, right after forwarding, or halfway through the reply.
   */
  startChaos(seed: number, probability: number): void {
    this.chaos = { random: mulberry32(seed), probability, kills: 0 };
  }

  stopChaos(): number {
    const kills = this.chaos?.kills ?? 0;
    this.chaos = undefined;
    return kills;
  }

  async stop(): Promise<void> {
    this.dropAll("reset");
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private accept(client: net.Socket): void {
    if (this.refusing) {
      client.resetAndDestroy();
      return;
    }
    this.connections++;
    const server = net.connect(this.targetPort, this.targetHost);
    const pair: Pair = { client, server, closed: false };
    this.pairs.add(pair);
    client.setNoDelay(true);
    server.setNoDelay(true);
    const frontend = new FrontendReader();
    let cutReply = false;
    let dropReplies = false;

    client.on("data", (chunk) => {
      for (const msg of frontend.push(chunk)) {
        if (pair.closed) return;
        const isQuery = msg.type === "Q" || msg.type === "S";
        if (isQuery) this.roundTrips++;
        if (msg.type === "Q") this.sent.push(msg.text);
        const action = isQuery ? this.decide(msg) : "pass";
        if (action === "kill-before") {
          this.faults++;
          this.kill(pair, "reset");
          return;
        }
        this.forward(server, msg.bytes, pair);
        if (action === "kill-after") {
          // The server gets the message and acts on it; the client never hears back.
          this.faults++;
          dropReplies = true;
          client.resetAndDestroy();
          setTimeout(() => this.kill(pair, "end"), 200);
          return;
        }
        if (action === "cut-reply") cutReply = true;
      }
      if (frontend.opaque && frontend.rest.length) this.forward(server, frontend.takeRest(), pair);
    });
    server.on("data", (chunk) => {
      if (dropReplies || pair.closed) return;
      if (cutReply) {
        this.faults++;
        this.forward(client, chunk.subarray(0, Math.max(1, chunk.length >> 1)), pair);
        setTimeout(() => this.kill(pair, "reset"), this.latencyMs + 5);
        return;
      }
      this.forward(client, chunk, pair);
    });
    const close = () => this.kill(pair, "end");
    client.on("error", close).on("close", close);
    server.on("error", close).on("close", close);
  }

  private decide(msg: FrontendMessage): "pass" | "kill-before" | "kill-after" | "cut-reply" {
    if (this.armed) {
      const hit =
        this.armed.kind !== "after-commit" || (msg.type === "Q" && /\bCOMMIT\s*;?\s*$/i.test(msg.text));
      if (hit && --this.armed.remaining <= 0) {
        const kind = this.armed.kind;
        this.armed = undefined;
        return kind === "after-commit" ? "kill-after" : kind === "mid-reply" ? "cut-reply" : "kill-before";
      }
    }
    if (this.chaos && this.chaos.random() < this.chaos.probability) {
      this.chaos.kills++;
      const r = this.chaos.random();
      return r < 0.34 ? "kill-before" : r < 0.67 ? "kill-after" : "cut-reply";
    }
    return "pass";
  }

  private forward(to: net.Socket, bytes: Buffer, pair: Pair): void {
    if (this.latencyMs <= 0) {
      if (!pair.closed) to.write(bytes);
      return;
    }
    const copy = Buffer.from(bytes);
    setTimeout(() => {
      if (!pair.closed) to.write(copy);
    }, this.latencyMs / 2);
  }

  private kill(pair: Pair, how: Cut): void {
    if (pair.closed) return;
    pair.closed = true;
    this.pairs.delete(pair);
    for (const s of [pair.client, pair.server]) {
      if (how === "reset") s.resetAndDestroy();
      else s.end(() => s.destroy());
    }
  }
}

interface FrontendMessage {
  type: string;
  bytes: Buffer;
  text: string;
}

/** Splits the client's byte stream into protocol messages (until TLS makes it opaque). */
class FrontendReader {
  rest = Buffer.alloc(0);
  private started = false;
  opaque = false;

  push(chunk: Buffer): FrontendMessage[] {
    this.rest = Buffer.concat([this.rest, chunk]);
    const out: FrontendMessage[] = [];
    while (!this.opaque) {
      if (!this.started) {
        if (this.rest.length < 8) break;
        const len = this.rest.readInt32BE(0);
        if (this.rest.length < len) break;
        const code = this.rest.readInt32BE(4);
        out.push({ type: "startup", bytes: this.rest.subarray(0, len), text: "" });
        this.rest = this.rest.subarray(len);
        if (code === 80877103) this.opaque = true; // SSLRequest: what follows may be TLS
        else if (code !== 80877102 && code !== 80877104) this.started = true; // not cancel or GSS
        continue;
      }
      if (this.rest.length < 5) break;
      const len = this.rest.readInt32BE(1);
      if (this.rest.length < len + 1) break;
      const bytes = this.rest.subarray(0, len + 1);
      const type = String.fromCharCode(bytes[0]!);
      out.push({ type, bytes, text: type === "Q" ? bytes.subarray(5, len).toString("utf8").replace(/\0$/, "") : "" });
      this.rest = this.rest.subarray(len + 1);
    }
    return out;
  }

  takeRest(): Buffer {
    const r = this.rest;
    this.rest = Buffer.alloc(0);
    return r;
  }
}

/** A small seeded generator, so a chaos run can be replayed from its seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
