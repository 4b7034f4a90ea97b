import { UsageError } from "../errors.js";
import type { ToolReader } from "./history.js";
import { dbmate } from "./readers/dbmate.js";
import { flyway } from "./readers/flyway.js";
import { golangMigrate } from "./readers/golang-migrate.js";
import { knex } from "./readers/knex.js";
import { nodePgMigrate } from "./readers/node-pg-migrate.js";
import { prisma } from "./readers/prisma.js";

/** The tools `adopt --from` reads, by the name users know them by. */
export const tools: Readonly<Record<string, ToolReader>> = {
  "node-pg-migrate": nodePgMigrate,
  prisma,
  flyway,
  knex,
  dbmate,
  "golang-migrate": golangMigrate,
};

export function reader(tool: string): ToolReader {
  const r = tools[tool];
  if (!r) throw new UsageError(`adopt --from ${tool}: unknown tool (known: ${Object.keys(tools).join(", ")})`);
  return r;
}
