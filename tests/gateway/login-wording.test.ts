import { describe, expect, it } from "vitest";
import { classify } from "../../src/gateway/classify.js";

/**
 * The classifier on the messages PgBouncer 1.18 sent here, all 08P01 FATAL: "password
 * authentication failed" (auth_type md5), "SASL authentication failed" (scram-sha-256),
 * "no such database: X" (a [databases] list without `*`, which the test bed's PgBouncer
 * does not have) and 'database "X" does not exist' (with `*`); "no such user: X" is
 * PgBouncer's wording for a role it cannot look up.
 */
const endpoint = { host: "db.internal", port: 6432, user: "app", database: "shop" };
const err = (code: string, message: string, extra: object = {}) => Object.assign(new Error(message), { code, severity: "FATAL", ...extra });
const withEndpoint = (e: Error) => Object.defineProperty(e, "endpoint", { value: endpoint, enumerable: false });

describe("PgBouncer's login refusals are login errors, named", () => {
  it.each([
    ["password authentication failed", /login refused: password authentication failed for role "app" \(SQLSTATE 08P01, from the pooler\)/],
    ["SASL authentication failed", /password authentication failed for role "app"/],
    ["no such user: bob", /login refused: unknown role "bob" \(SQLSTATE 08P01, from the pooler\)/],
    ["no such database: shop2", /database "shop2" does not exist .*createdb shop2, or CREATE DATABASE shop2;/],
    ['database "Shop X" does not exist', /database "Shop X" does not exist .*createdb 'Shop X', or CREATE DATABASE "Shop X";/],
  ])("%s", (message, wording) => {
    const c = classify(withEndpoint(err("08P01", message)));
    expect(c.kind).toBe("login");
    expect(c.reason).toMatch(wording);
  });

  it("other 08P01 errors stay connection failures; PgBouncer's saturation stays saturation", () => {
    expect(classify(err("08P01", "server conn crashed?")).kind).toBe("connection");
    expect(classify(err("08P01", "no more connections allowed (max_client_conn)")).kind).toBe("saturated");
  });

  it("ECONNREFUSED names the URL's host and port; without them, the socket's", () => {
    expect(classify(withEndpoint(Object.assign(new Error("connect ECONNREFUSED 10.0.0.5:6432"), { code: "ECONNREFUSED", address: "10.0.0.5", port: 6432 }))).reason).toBe(
      "cannot reach db.internal:6432: is the server running? (ECONNREFUSED)",
    );
    expect(classify(Object.assign(new Error("connect ECONNREFUSED 10.0.0.5:6432"), { code: "ECONNREFUSED", address: "10.0.0.5", port: 6432 })).reason).toBe(
      "cannot reach 10.0.0.5:6432: is the server running? (ECONNREFUSED)",
    );
  });
});
