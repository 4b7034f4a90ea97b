/**
 * Two realistic migration histories, generated (no network here to fetch real
 * ones): one in the style Prisma Migrate writes (quoted PascalCase names,
 * `-- CreateTable` comments, foreign keys added after the tables, `SET DATA
 * TYPE`), one hand-written (snake_case, seeds, backfill UPDATEs, CHECK ...
 * NOT VALID then VALIDATE, concurrent indexes alone in their files, renames).
 * Deterministic: the same n gives the same files.
 */
export interface HistoryFile {
  readonly name: string;
  readonly sql: string;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Timestamp-style names that sort in order (14 digits, as `pgkeel create` writes). */
const stamp = (i: number) => String(20240101000000 + i * 100);

const entities = ["User", "Account", "Session", "Organization", "Membership", "Project", "Task", "Comment", "Invoice", "Payment", "Product", "Order", "OrderItem", "Tag", "Webhook", "AuditLog", "ApiKey", "Notification", "File", "Subscription"];

export function prismaHistory(n: number, seed = 7): HistoryFile[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const files: HistoryFile[] = [];
  const made: string[] = [];
  const columns = new Map<string, string[]>();
  const uniques: { table: string; index: string }[] = [];
  for (let i = 0; i < n; i++) {
    const parts: string[] = [];
    let name: string;
    if (made.length < entities.length && (i < 3 || r() < 0.35)) {
      const batch = entities.slice(made.length, made.length + (i === 0 ? 4 : 1 + Math.floor(r() * 2)));
      name = i === 0 ? "init" : `add_${batch[0]!.toLowerCase()}`;
      for (const e of batch) {
        const parent = made.length ? pick(made) : undefined;
        const cols = ['"id" SERIAL NOT NULL', '"createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP', '"updatedAt" TIMESTAMP(3) NOT NULL', '"name" TEXT NOT NULL'];
        if (parent) cols.push(`"${parent.charAt(0).toLowerCase()}${parent.slice(1)}Id" INTEGER NOT NULL`);
        parts.push(`-- CreateTable\nCREATE TABLE "${e}" (\n    ${cols.join(",\n    ")},\n\n    CONSTRAINT "${e}_pkey" PRIMARY KEY ("id")\n);`);
        if (parent) {
          const fk = `${parent.charAt(0).toLowerCase()}${parent.slice(1)}Id`;
          parts.push(`-- CreateIndex\nCREATE INDEX "${e}_${fk}_idx" ON "${e}"("${fk}");`);
          parts.push(`-- AddForeignKey\nALTER TABLE "${e}" ADD CONSTRAINT "${e}_${fk}_fkey" FOREIGN KEY ("${fk}") REFERENCES "${parent}"("id") ON DELETE RESTRICT ON UPDATE CASCADE;`);
        }
        made.push(e);
        columns.set(e, []);
      }
    } else {
      const e = pick(made);
      const kind = r();
      const col = `field${i}`;
      if (kind < 0.3) {
        name = `${e.toLowerCase()}_${col}`;
        const def = pick([" TEXT", " INTEGER NOT NULL DEFAULT 0", " BOOLEAN NOT NULL DEFAULT false", " TIMESTAMP(3)", ' TEXT NOT NULL', " JSONB"]);
        if (def === " TEXT NOT NULL") parts.push(`/*\n  Warnings:\n\n  - Added the required column \`${col}\` to the \`${e}\` table without a default value. This is not possible if the table is not empty.\n\n*/`);
        parts.push(`-- AlterTable\nALTER TABLE "${e}" ADD COLUMN     "${col}"${def};`);
        columns.get(e)!.push(col);
      } else if (kind < 0.45) {
        name = `${e.toLowerCase()}_unique_${i}`;
        parts.push(`-- CreateIndex\nCREATE UNIQUE INDEX "${e}_name_${i}_key" ON "${e}"("name");`);
        uniques.push({ table: e, index: `${e}_name_${i}_key` });
      } else if (kind < 0.55) {
        name = `${e.toLowerCase()}_required_${i}`;
        const c = pick([...columns.get(e)!, "name"]);
        parts.push(`/*\n  Warnings:\n\n  - Made the column \`${c}\` on table \`${e}\` required, but there are existing NULL values.\n\n*/\n-- AlterTable\nALTER TABLE "${e}" ALTER COLUMN "${c}" SET NOT NULL;`);
      } else if (kind < 0.65) {
        name = `${e.toLowerCase()}_type_${i}`;
        parts.push(`-- AlterTable\nALTER TABLE "${e}" ALTER COLUMN "name" SET DATA TYPE VARCHAR(${pick([100, 191, 255])});`);
      } else if (kind < 0.72 && columns.get(e)!.length) {
        name = `${e.toLowerCase()}_drop_${i}`;
        const c = columns.get(e)!.pop()!;
        parts.push(`/*\n  Warnings:\n\n  - You are about to drop the column \`${c}\` on the \`${e}\` table. All the data in the column will be lost.\n\n*/\n-- AlterTable\nALTER TABLE "${e}" DROP COLUMN "${c}";`);
      } else if (kind < 0.8) {
        name = `${e.toLowerCase()}_enum_${i}`;
        parts.push(`-- CreateEnum\nCREATE TYPE "Status${i}" AS ENUM ('ACTIVE', 'ARCHIVED');`, `-- AlterTable\nALTER TABLE "${e}" ADD COLUMN     "status${i}" "Status${i}" NOT NULL DEFAULT 'ACTIVE';`);
      } else if (kind < 0.88) {
        name = `${e.toLowerCase()}_index_${i}`;
        parts.push(`-- CreateIndex\nCREATE INDEX "${e}_createdAt_${i}_idx" ON "${e}"("createdAt");`);
      } else if (kind < 0.94 && uniques.length) {
        const u = uniques.splice(Math.floor(r() * uniques.length), 1)[0]!;
        name = `${u.table.toLowerCase()}_dropindex_${i}`;
        parts.push(`-- DropIndex\nDROP INDEX "${u.index}";`);
      } else {
        name = `${e.toLowerCase()}_fk_${i}`;
        const other = pick(made);
        parts.push(`-- AlterTable\nALTER TABLE "${e}" ADD COLUMN     "ref${i}Id" INTEGER;`, `-- AddForeignKey\nALTER TABLE "${e}" ADD CONSTRAINT "${e}_ref${i}Id_fkey" FOREIGN KEY ("ref${i}Id") REFERENCES "${other}"("id") ON DELETE SET NULL ON UPDATE CASCADE;`);
      }
    }
    files.push({ name: `${stamp(i)}_${name}`, sql: `${parts.join("\n\n")}\n` });
  }
  return files;
}

const tables = ["accounts", "users", "sessions", "orders", "order_items", "products", "invoices", "payments", "events", "audit_log", "api_keys", "webhooks", "teams", "memberships", "documents", "comments", "tags", "settings", "jobs", "notifications"];

export function handwrittenHistory(n: number, seed = 11): HistoryFile[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const files: HistoryFile[] = [];
  const made: string[] = [];
  const pendingChecks: { table: string; name: string }[] = [];
  const plainIndexes: string[] = [];
  for (let i = 0; i < n; i++) {
    let name: string;
    let sql: string;
    if (made.length < tables.length && (i < 2 || r() < 0.3)) {
      const t = tables[made.length]!;
      const ref = made.length ? pick(made) : undefined;
      name = `create_${t}`;
      sql = [
        `-- ${t}: one row per ${t.replace(/s$/, "")}.`,
        `CREATE TABLE ${t} (`,
        "  id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,",
        ref ? `  ${ref.replace(/s$/, "")}_id bigint NOT NULL REFERENCES ${ref} (id) ON DELETE CASCADE,` : "",
        "  name        text NOT NULL,",
        "  created_at  timestamptz NOT NULL DEFAULT now()",
        ");",
        ref ? `CREATE INDEX ${t}_${ref.replace(/s$/, "")}_id_idx ON ${t} (${ref.replace(/s$/, "")}_id);` : "",
      ]
        .filter(Boolean)
        .join("\n");
      made.push(t);
    } else if (pendingChecks.length && r() < 0.5) {
      const c = pendingChecks.shift()!;
      name = `validate_${c.name}`;
      sql = `ALTER TABLE ${c.table} VALIDATE CONSTRAINT ${c.name};`;
    } else {
      const t = pick(made);
      const k = r();
      const col = `c${i}`;
      if (k < 0.2) {
        name = `add_${t}_${col}`;
        sql = `ALTER TABLE ${t} ADD COLUMN ${col} ${pick(["text", "integer", "boolean NOT NULL DEFAULT false", "timestamptz DEFAULT now()", "uuid DEFAULT gen_random_uuid()", "jsonb NOT NULL DEFAULT '{}'"])};`;
      } else if (k < 0.3) {
        name = `index_${t}_${i}`;
        sql = `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${t}_created_${i}_idx ON ${t} (created_at);`;
      } else if (k < 0.38) {
        name = `index_${t}_plain_${i}`;
        sql = `CREATE INDEX ${t}_name_${i}_idx ON ${t} (lower(name));`;
        plainIndexes.push(`${t}_name_${i}_idx`);
      } else if (k < 0.48) {
        name = `backfill_${t}_${i}`;
        sql = `-- fill the new column for old rows\nUPDATE ${t} SET name = trim(name) WHERE name <> trim(name);`;
      } else if (k < 0.56) {
        const cn = `${t}_name_len_${i}`;
        name = `check_${cn}`;
        sql = `ALTER TABLE ${t} ADD CONSTRAINT ${cn} CHECK (char_length(name) <= 200) NOT VALID;`;
        pendingChecks.push({ table: t, name: cn });
      } else if (k < 0.62) {
        name = `check_now_${t}_${i}`;
        sql = `ALTER TABLE ${t} ADD CONSTRAINT ${t}_name_nonempty_${i} CHECK (name <> '');`;
      } else if (k < 0.68) {
        name = `rename_${t}_${i}`;
        sql = `ALTER TABLE ${t} RENAME COLUMN name TO title;\nALTER TABLE ${t} RENAME COLUMN title TO name;`;
      } else if (k < 0.74) {
        name = `seed_${t}_${i}`;
        sql = `INSERT INTO ${tables[0]} (name) VALUES ('flag_${i}');`;
      } else if (k < 0.8) {
        name = `timeouts_${i}`;
        sql = `SET lock_timeout = '3s';\nALTER TABLE ${t} ALTER COLUMN name SET DEFAULT '';`;
      } else if (k < 0.85) {
        name = `trigger_${t}_${i}`;
        sql = [
          `CREATE OR REPLACE FUNCTION ${t}_touch_${i}() RETURNS trigger LANGUAGE plpgsql AS $$`,
          "BEGIN",
          "  NEW.created_at := coalesce(NEW.created_at, now());",
          "  RETURN NEW;",
          "END;",
          "$$;",
          `CREATE TRIGGER ${t}_touch_${i} BEFORE INSERT ON ${t} FOR EACH ROW EXECUTE FUNCTION ${t}_touch_${i}();`,
        ].join("\n");
      } else if (k < 0.9) {
        name = `fk_${t}_${i}`;
        const other = pick(made);
        sql = `ALTER TABLE ${t} ADD COLUMN ref_${i} bigint;\nALTER TABLE ${t} ADD CONSTRAINT ${t}_ref_${i}_fkey FOREIGN KEY (ref_${i}) REFERENCES ${other} (id);`;
      } else if (k < 0.94) {
        name = `type_${t}_${i}`;
        sql = `ALTER TABLE ${t} ALTER COLUMN name TYPE varchar(${pick([120, 255])});`;
      } else if (k < 0.97) {
        name = `not_null_${t}_${i}`;
        sql = `ALTER TABLE ${t} ALTER COLUMN created_at SET NOT NULL;`;
      } else {
        const index = plainIndexes.shift() ?? `${t}_gone_idx`;
        name = `drop_${index}`;
        sql = `DROP INDEX IF EXISTS ${index};`;
      }
    }
    files.push({ name: `${stamp(i)}_${name}`, sql: `${sql}\n` });
  }
  return files;
}
