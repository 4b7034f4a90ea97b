/**
 * Preloaded into a pgkeel process (`--import`, see `recordLoads` in loads.ts):
 * appends every package the process loads through `import` to the file named
 * by PGKEEL_TEST_LOADS, one per line, so a test can see what a run needed.
 */
import { register } from "node:module";

if (process.env.PGKEEL_TEST_LOADS) register("./loads-hooks.mjs", import.meta.url, { data: { log: process.env.PGKEEL_TEST_LOADS } });
