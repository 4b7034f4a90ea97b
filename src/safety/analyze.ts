import type { Gateway } from "../gateway/gateway.js";
import type { CodeMigration, SqlMigration } from "../phases/migrate/migration.js";

/** What the analysis reads: SQL migrations in full; of a code migration only that it exists. */
export type AnalysisInput = SqlMigration | Pick<CodeMigration, "kind" | "name" | "file">;
import { readFacts, typeChangeRewrites, functionNames, type DbFacts } from "./catalog.js";
import { RunState } from "./run-state.js";
import { rules } from "./rules/index.js";
import { activeRules, minRowsOf, type SafetyConfig } from "./settings.js";
import { exprSql, key, sameTable, tableOf, tableSql, typeSql, unwrap } from "./sql.js";
import { statementLocks } from "./statement-locks.js";
import { doBlockBody, type DoBlockBody } from "./do-blocks.js";
import type { Statement } from "../sql/split.js";
import type { Finding, LockMode, StatementContext, TableFacts, TableName } from "./types.js";

/** One pending statement as analysed: the locks it takes on which tables (for `plan`). */
export interface AnalysedStatement {
  readonly migration: string;
  readonly index: number;
  /** Undefined when the locks depend on code pgkeel cannot see (DO blocks, function calls). */
  readonly locks?: readonly { readonly table: string; readonly mode: LockMode; readonly isNew: boolean; readonly oid?: number }[];
}

export interface Analysis {
  /** Whether a database gave the context (sizes, versions, types). */
  readonly online: boolean;
  readonly serverVersion?: number;
  readonly minRows: number;
  readonly findings: readonly Finding[];
  readonly statements: readonly AnalysedStatement[];
  /** Code migrations: their SQL is not known before they run. */
  readonly notAnalysed: readonly { readonly migration: string; readonly file: string }[];
}

interface Questions {
  version: boolean;
  tables: TableName[];
  indexes: TableName[];
  functions: TableName[];
  typeChanges: Map<string, { table: TableName; column: string; to: string; using?: string }>;
}

/**
 * Judges pending migrations, statement by statement, in the order they would
 * run. A first pass over the parse trees records what the rules need to know;
 * the database answers it in a few round trips (none without a database); a
 * second pass judges with the answers.
 */
export async function analyze(migrations: readonly AnalysisInput[], gw: Gateway | undefined, config: SafetyConfig | undefined): Promise<Analysis> {
  const active = activeRules(rules, config);
  const minRows = minRowsOf(config);
  const questions: Questions = { version: false, tables: [], indexes: [], functions: [], typeChanges: new Map() };
  const blocks = await doBlocks(migrations);
  const walk = (facts: DbFacts | undefined, probes: Map<string, { rewrites: boolean | undefined; from?: string }>, q?: Questions) => walkAll(migrations, blocks, active, facts, probes, minRows, q);
  const offline = walk(undefined, new Map(), questions);
  if (!gw) return { online: false, minRows, ...offline };
  // Nothing to ask (only tables this run creates, say): no round trip at all.
  if (!questions.version && !questions.tables.length && !questions.indexes.length && !questions.functions.length && !questions.typeChanges.size) {
    return { online: true, minRows, ...offline };
  }
  const facts = await readFacts(gw, questions, minRows);
  const probes = new Map<string, { rewrites: boolean | undefined; from?: string }>();
  for (const [k, q] of questions.typeChanges) {
    const from = facts.tables.get(key(q.table))?.columns.get(q.column);
    if (!from) continue;
    probes.set(k, { from: from.type, rewrites: await typeChangeRewrites(gw, facts.serverVersion, q.column, from, q.to, q.using) });
  }
  return { online: true, serverVersion: facts.serverVersion, minRows, ...walk(facts, probes) };
}

/** The static SQL of every PL/pgSQL DO block among the pending statements, parsed once for both passes. */
async function doBlocks(migrations: readonly AnalysisInput[]): Promise<Map<Statement, DoBlockBody>> {
  const out = new Map<Statement, DoBlockBody>();
  for (const m of migrations) {
    if (m.kind !== "sql") continue;
    for (const s of m.statements) {
      const body = s.kind === "DoStmt" ? await doBlockBody(s) : undefined;
      if (body) out.set(s, body);
    }
  }
  return out;
}

function createdBy(s: { kind: string; node: Record<string, unknown> }): TableName | undefined {
  if (s.kind === "CreateStmt") return tableOf(s.node.relation);
  if (s.kind === "CreateTableAsStmt") return tableOf(unwrap(s.node.into, "IntoClause")?.rel);
  return undefined;
}

function walkAll(
  migrations: readonly AnalysisInput[],
  blocks: ReadonlyMap<Statement, DoBlockBody>,
  active: ReturnType<typeof activeRules>,
  facts: DbFacts | undefined,
  probes: Map<string, { rewrites: boolean | undefined; from?: string }>,
  minRows: number,
  questions?: Questions,
): { findings: Finding[]; statements: AnalysedStatement[]; notAnalysed: { migration: string; file: string }[] } {
  const state = new RunState();
  const findings: Finding[] = [];
  const statements: AnalysedStatement[] = [];
  const notAnalysed: { migration: string; file: string }[] = [];
  for (const m of migrations) {
    if (m.kind === "code") {
      notAnalysed.push({ migration: m.name, file: m.file });
      continue;
    }
    state.startMigration();
    m.statements.forEach((s, index) => {
      const ctx = context(state, facts, probes, m.transactional, questions);
      const locks = statementLocks(s, (i) => ctx.indexTable(i));
      const created = createdBy(s);
      statements.push({
        migration: m.name,
        index,
        locks: locks?.map((l) => {
          // The table this statement creates is new too (and nothing to ask the database about).
          const isNew = (created !== undefined && sameTable(created, l.table)) || ctx.table(l.table).state === "new";
          return { table: tableSql(l.table), mode: l.mode, isNew, oid: isNew ? undefined : facts?.tables.get(key(state.original(l.table)))?.oid };
        }),
      });
      // A DO block is judged by the statements it runs (its own static SQL), each at its line.
      const judged = blocks.get(s)?.statements ?? [s];
      for (const j of judged) {
        for (const { rule, level } of active) for (const match of rule.check(j, ctx)) {
          const tf = match.table ? ctx.table(match.table) : undefined;
          if (tf?.state === "new") continue;
          if (match.sizeMatters && tf?.state === "existing" && tf.rows === 0) continue;
          const small = tf?.state === "existing" && tf.rows !== undefined && tf.rows < minRows;
          const allowed = m.allows.find((a) => a.rule === rule.id && (a.statement === undefined || a.statement === index));
          findings.push({
            rule: rule.id,
            level: level === "error" && small ? "warning" : level,
            file: m.file,
            line: j.line,
            column: j.column,
            migration: m.name,
            statement: index,
            table: match.table && tableSql(match.table),
            facts: tf,
            locks: match.locks.map((l) => ({ table: tableSql(l.table), mode: l.mode })),
            effect: match.effect,
            message: match.message,
            fix: match.fix,
            ...(allowed && { allowed: allowed.reason }),
            sql: j.text,
          });
        }
        state.apply(j);
      }
    });
  }
  return { findings, statements, notAnalysed };
}

function context(
  state: RunState,
  facts: DbFacts | undefined,
  probes: Map<string, { rewrites: boolean | undefined; from?: string }>,
  transactional: boolean,
  questions: Questions | undefined,
): StatementContext {
  const db = (t: TableName) => facts?.tables.get(key(state.original(t)));
  return {
    get serverVersion() {
      if (questions) questions.version = true;
      return facts?.serverVersion;
    },
    online: facts !== undefined,
    transactional,
    table(t): TableFacts {
      if (state.isNew(t)) return { state: "new" };
      questions?.tables.push(state.original(t));
      if (!facts) return { state: "unknown" };
      const d = db(t);
      return d ? { state: "existing", rows: d.rows, rowsAtLeast: d.rowsAtLeast, bytes: d.bytes } : { state: "missing" };
    },
    indexTable(index) {
      const inRun = state.indexTable(index);
      if (inRun) return inRun;
      const original = state.originalIndex(index);
      questions?.indexes.push(original);
      const d = facts?.indexTables.get(key(original));
      return d && (d.visible ? { name: d.name } : { schema: d.schema, name: d.name });
    },
    provesNotNull(t, column) {
      const d = db(t);
      if (d?.columns.get(column)?.notNull) return true;
      const modern = facts === undefined || facts.serverVersion >= 120000;
      return modern && (state.provesNotNull(t, column) || (d?.notNullChecks.has(column) ?? false));
    },
    isVolatile(expr) {
      const names = functionNames(expr);
      if (!names.length) return false;
      questions?.functions.push(...names);
      if (!facts) return undefined;
      const answers = names.map((n) => facts.volatile.get(key(n)));
      if (answers.includes(true)) return true;
      return answers.includes(undefined) ? undefined : false;
    },
    typeChangeRewrites(t, column, typeName, using) {
      const to = typeSql(typeName);
      const usingSql = using ? exprSql(using) : undefined;
      const k = JSON.stringify([key(state.original(t)), column, to, usingSql ?? null]);
      questions?.typeChanges.set(k, { table: state.original(t), column, to, using: usingSql });
      return probes.get(k) ?? { rewrites: undefined, from: db(t)?.columns.get(column)?.type };
    },
    primaryKey: (t) => db(t)?.primaryKey,
    addedNotValidHere: (t, c) => state.addedNotValidHere(t, c),
    columnType: (t, c) => db(t)?.columns.get(c)?.type,
  };
}

