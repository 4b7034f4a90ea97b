import type { Rule } from "../types.js";
import { banDropColumn, banDropDatabase, banDropTable, banTruncateCascade, renamingColumn, renamingTable } from "./breaking.js";
import { addingFieldWithDefault, addingNotNullableField, addingRequiredField, addingSerialPrimaryKeyField, changingColumnType } from "./columns.js";
import { addingForeignKeyConstraint, constraintMissingNotValid, disallowedUniqueConstraint } from "./constraints.js";
import { banCharField, preferBigintOverInt, preferIdentity, preferTextField, preferTimestamptz } from "./hygiene.js";
import { concurrentIndexPg14Corruption, requireConcurrentIndexCreation, requireConcurrentIndexDeletion, requireConcurrentReindex } from "./indexes.js";
import { banCluster, banVacuumFull, dataChangeInMigration, requireConcurrentPartitionDetach, sessionLevelSet } from "./operations.js";

/** Every rule, in the order the README lists them. Ids are stable: files name them in `pgkeel:allow`. */
export const rules: readonly Rule[] = [
  addingFieldWithDefault,
  addingRequiredField,
  addingNotNullableField,
  changingColumnType,
  constraintMissingNotValid,
  addingForeignKeyConstraint,
  disallowedUniqueConstraint,
  addingSerialPrimaryKeyField,
  requireConcurrentIndexCreation,
  requireConcurrentIndexDeletion,
  requireConcurrentReindex,
  requireConcurrentPartitionDetach,
  renamingColumn,
  renamingTable,
  banDropColumn,
  banDropTable,
  banTruncateCascade,
  banDropDatabase,
  dataChangeInMigration,
  banVacuumFull,
  banCluster,
  sessionLevelSet,
  concurrentIndexPg14Corruption,
  preferBigintOverInt,
  preferIdentity,
  preferTimestamptz,
  preferTextField,
  banCharField,
];

export const ruleIds: readonly string[] = rules.map((r) => r.id);
