/**
 * The fleet's two caps: members at once overall, and members at once per host
 * (the per-host connection cap divided by each member's connections).
 */
export class Slots {
  private running = 0;
  private readonly perHost = new Map<string, number>();

  constructor(
    private readonly concurrency: number,
    private readonly membersPerHost: number,
  ) {}

  /** Takes a slot for a member on `host`, if both caps allow one now. */
  take(host: string): boolean {
    const onHost = this.perHost.get(host) ?? 0;
    if (this.running >= this.concurrency || onHost >= this.membersPerHost) return false;
    this.running++;
    this.perHost.set(host, onHost + 1);
    return true;
  }

  give(host: string): void {
    this.running--;
    this.perHost.set(host, (this.perHost.get(host) ?? 1) - 1);
  }
}

/**
 * Starts `work` on each item as the slots allow, until none is queued and none
 * runs. `work` may answer a delay in ms: the item is queued again, to start no
 * sooner (a member another runner holds). Once `halted()` says so, no new item
 * starts; running ones finish, and what is still queued is left.
 */
export async function dispatch<T>(
  items: readonly T[],
  hostOf: (item: T) => string,
  slots: Slots,
  work: (item: T, again: boolean) => Promise<number | void>,
  halted: () => boolean = () => false,
): Promise<void> {
  const queue = items.map((item) => ({ item, notBefore: 0 }));
  const running = new Set<Promise<void>>();
  while (queue.length || running.size) {
    const stopped = halted();
    if (stopped && !running.size) return;
    const now = Date.now();
    for (let i = 0; !stopped && i < queue.length; ) {
      const q = queue[i]!;
      const host = hostOf(q.item);
      if (q.notBefore > now || !slots.take(host)) {
        i++;
        continue;
      }
      queue.splice(i, 1);
      const p: Promise<void> = work(q.item, q.notBefore !== 0)
        .then((again) => {
          if (typeof again === "number") queue.push({ item: q.item, notBefore: Date.now() + again });
        })
        .finally(() => {
          slots.give(host);
          running.delete(p);
        });
      running.add(p);
    }
    const waits = stopped ? [] : queue.filter((q) => q.notBefore > now).map((q) => q.notBefore - now);
    let timer: NodeJS.Timeout | undefined;
    const wake = waits.length ? [new Promise<void>((r) => (timer = setTimeout(r, Math.min(...waits))))] : [];
    await Promise.race([...running, ...wake]);
    clearTimeout(timer);
  }
}
