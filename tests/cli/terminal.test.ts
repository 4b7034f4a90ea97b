import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { admin, freshDatabase, withDatabase, serverUrl } from "../support/db.js";
import { makeProject, runCli } from "../support/project.js";
import { TmuxPane, tmuxSkip } from "../support/tmux.js";

/**
 * What a person sees at a terminal: the CLI runs in a real tmux pane of 80 or
 * 120 columns. A row lock (or a table lock, for an index build) stops the unit
 * halfway, so the screen is read while it is in progress, without timing.
 */
const panes: TmuxPane[] = [];
const clients: pg.Client[] = [];
afterEach(async () => {
  for (const p of panes.splice(0)) p.kill();
  for (const c of clients.splice(0)) await c.end().catch(() => {});
});

async function holder(url: string, sql: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  clients.push(c);
  await c.query("BEGIN");
  await c.query(sql);
  return c;
}

/** Waits until a pgkeel session of the database waits on a lock. */
async function pgkeelBlocked(url: string, like: string): Promise<void> {
  const db = new URL(url).pathname.slice(1);
  for (;;) {
    const [row] = await admin<{ n: number }>(
      withDatabase(serverUrl(), "postgres"),
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'pgkeel:%' AND wait_event_type = 'Lock' AND query ILIKE $2`,
      [db, like],
    );
    if (row!.n > 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const esc = "\u001b[";
const frames = (raw: string, marker: string) => raw.split(marker).length - 1;

describe.skipIf(tmuxSkip())("on a terminal", () => {
  it.each([80, 120])("a backfill at %i columns: one updating line that fits, with counts, rate and time left; it ends in the summary, not in '0 s'", async (width) => {
    const url = await freshDatabase("tty_backfill");
    // No statistics yet (autovacuum off): a table this small is counted for the row estimate.
    await admin(
      url,
      `CREATE TABLE leads (id bigint PRIMARY KEY, email text NOT NULL, email_domain text) WITH (autovacuum_enabled = false);
       INSERT INTO leads SELECT g * 1000, 'user' || g || '@Example.com' FROM generate_series(1, 1000) g`,
    );
    const cwd = makeProject({
      "pgkeel.config.json": JSON.stringify({ lockTimeout: "120s" }),
      "db/backfills/20261127130000_leads_email_domain.sql":
        "-- pgkeel:backfill table=leads key=id batch=100 target=0 pause=150ms\nUPDATE leads SET email_domain = lower(split_part(email, '@', 2))\n WHERE id BETWEEN :from AND :to;\n",
    });
    // The sixth batch waits for this row; the five before it draw their frames.
    const lock = await holder(url, "SELECT 1 FROM leads WHERE id = 550000 FOR UPDATE");
    const pane = new TmuxPane(cwd, width, ["backfill", "--url", url]);
    panes.push(pane);
    await pgkeelBlocked(url, "%UPDATE leads%");
    const during = await pane.waitFor((s) => s.some((l) => l.includes("rows/s")), "a progress line");

    const progress = during.filter((l) => l.includes("rows/s"));
    expect(progress).toHaveLength(1);
    expect(progress[0]!.length).toBeLessThan(width);
    expect(progress[0]).toMatch(/^ {2}leads_email_domain {2}500\/1,000 rows {2}[\d,]+ rows\/s {2}about \d[\d hmins]* left/);
    // (Blanks may follow the bar where an earlier, longer frame stood: the rate shrinks as it settles.)
    if (width === 120) expect(progress[0]).toMatch(/batch 100 {2}\[\u2588*\u2591+\] *$/);
    // Several frames were drawn, all on the same line: no newline between the first and the last.
    const raw = pane.raw();
    expect(frames(raw, "rows/s")).toBeGreaterThanOrEqual(2);
    expect(raw.slice(raw.indexOf("rows/s"), raw.lastIndexOf("rows/s"))).not.toContain("\n");

    await lock.query("COMMIT");
    const after = await pane.exited();
    expect(after).toContain("[exit 0]");
    expect(after.filter((l) => l.includes("rows/s"))).toEqual([]);
    expect(after.join("\n")).not.toMatch(/\b0 s\b/);
    expect(after).toContain("  backfilling 20261127130000_leads_email_domain on leads (about 1,000 rows)");
    expect(after.some((l) => /^ {2}finished 20261127130000_leads_email_domain: 1,000 rows \(\d+ ms\)$/.test(l))).toBe(true);
    expect(after).toContain("backfill: done (1 finished)");
  });

  it("an index build at 80 columns: one line that updates every second, not a new line each time", async () => {
    const url = await freshDatabase("tty_index");
    await admin(url, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g");
    const cwd = makeProject({ "db/indexes/t.sql": "CREATE INDEX t_v_idx ON t (v);" });
    // CREATE INDEX CONCURRENTLY waits for this writer's transaction before it builds.
    const lock = await holder(url, "LOCK TABLE t IN ROW EXCLUSIVE MODE");
    const pane = new TmuxPane(cwd, 80, ["indexes", "--url", url]);
    panes.push(pane);
    // Three progress polls (a second apart) drawn while the build waits.
    await pane.waitFor(() => frames(pane.raw(), "waiting for writers") >= 3, "three progress frames");
    const during = pane.screen().filter((l) => l.includes("waiting for writers"));
    expect(during).toHaveLength(1);
    expect(during[0]).toMatch(/^ {2}t_v_idx {2}waiting for writers before build {2}\d+ s$/);
    expect(during[0]!.length).toBeLessThan(80);

    await lock.query("COMMIT");
    const after = await pane.exited();
    expect(after).toContain("[exit 0]");
    expect(after.filter((l) => l.includes("waiting for writers"))).toEqual([]);
    expect(after.some((l) => /^ {2}built t_v_idx \(\d+ ms\)$/.test(l))).toBe(true);
    expect(after).toContain("indexes: done (1 built)");
  });

  it("colour for states and errors at a terminal; none with NO_COLOR, none into a pipe", async () => {
    const url = await freshDatabase("tty_colour");
    const cwd = makeProject({ "db/migrations/001_a.sql": "CREATE TABLE a (id int);", "db/migrations/002_b.sql": "CREATE TABLE b (id int);" });
    expect((await runCli(["migrate", "--url", url], { cwd })).code).toBe(0);
    await admin(url, "DELETE FROM pgkeel.migrations WHERE name = '002_b'");

    const coloured = new TmuxPane(cwd, 80, ["status", "--url", url]);
    panes.push(coloured);
    await coloured.exited();
    const screen = coloured.screen({ escapes: true }).join("\n");
    expect(screen).toMatch(new RegExp(`${esc.replace("[", "\\[")}32mapplied`));
    expect(screen).toMatch(new RegExp(`${esc.replace("[", "\\[")}33mpending`));

    const failing = new TmuxPane(cwd, 80, ["migrate", "--url", "postgres://x@127.0.0.1:1/db", "--max-retries", "1"]);
    panes.push(failing);
    await failing.exited();
    expect(failing.screen({ escapes: true }).join("\n")).toMatch(/\u001b\[31mpgkeel: .*gave up after 1 attempts/);

    const plain = new TmuxPane(cwd, 80, ["status", "--url", url], { NO_COLOR: "1" });
    panes.push(plain);
    await plain.exited();
    expect(plain.screen({ escapes: true }).join("\n")).not.toContain(esc);
    expect(plain.raw()).not.toContain(`${esc}3`);

    const piped = await runCli(["status", "--url", url], { cwd });
    expect(piped.stdout + piped.stderr).not.toContain(esc);
    expect(piped.stdout).toContain("pending  002_b");
  });
});
