import { pgDriver } from "../../src/db/pg.js";
import { defaultTuning, type Driver } from "../../src/db/driver.js";
import { Gateway, type GatewayEvent } from "../../src/gateway/gateway.js";

/** A gateway on a real server, with every event and pool discard recorded. */
export function testGateway(url: string, maxAttempts = 6) {
  const events: GatewayEvent[] = [];
  const inner = pgDriver(url, { ...defaultTuning, connectTimeoutMs: 3_000 });
  let discards = 0;
  const driver: Driver = {
    kind: inner.kind,
    acquire: () => inner.acquire(),
    discard: () => {
      discards++;
      return inner.discard();
    },
    close: () => inner.close(),
  };
  const gw = new Gateway(driver, {
    retry: { maxAttempts, firstMs: 40, capMs: 200 },
    onEvent: (e) => events.push(e),
  });
  return {
    gw,
    events,
    retries: () => events.filter((e) => e.type === "retry"),
    discards: () => discards,
  };
}
