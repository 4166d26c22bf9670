// Builds shoal's NNG addon (build/Release/shoal_nng.node) with node-gyp, for the multi-process
// transport. It never fails an install: without libnng, or when the build fails, it prints one
// notice and exits 0, and the single-process runtime works as before (loadNng() then says why the
// NNG transport is unavailable).
//
//   node scripts/build-native.mjs              build unless the addon is newer than its sources
//   node scripts/build-native.mjs --force      build in any case
//   node scripts/build-native.mjs --required   as the first form, but exit 1 when libnng is
//                                              installed and the build still fails (npm test)
//
// `npm install` runs the first form (the `install` script) and `npm test` the third (`pretest`,
// after scripts/install-system-deps.sh). node-gyp is npm's own (npm passes its path in
// npm_config_node_gyp) and builds against this Node's headers, found next to the node binary,
// so nothing is downloaded.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const addon = join(root, "build", "Release", "shoal_nng.node");
const force = process.argv.includes("--force");
const required = process.argv.includes("--required");
const fix = "sudo bash scripts/install-system-deps.sh, then npm rebuild (or node scripts/build-native.mjs)";

function notice(message) {
  process.stderr.write(`shoal: the NNG transport is not built: ${message}. The single-process runtime works without it; for multi-process runs: ${fix}\n`);
}

/** The newest modification time among the addon's sources. */
function sourcesTime() {
  const files = [join(root, "binding.gyp"), ...readdirSync(join(root, "native", "nng")).map((f) => join(root, "native", "nng", f))];
  return Math.max(...files.map((f) => statSync(f).mtimeMs));
}

/** Where libnng's header is, or undefined. */
function findNngHeader() {
  const dirs = ["/usr/include", "/usr/local/include", "/opt/homebrew/include", ...(process.env.CPATH ?? "").split(":").filter(Boolean)];
  return dirs.map((dir) => join(dir, "nng", "nng.h")).find((path) => existsSync(path));
}

/** The node-gyp to run: npm's own when npm runs this script, else the one bundled with this Node's npm. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
  ];
  try {
    candidates.push(createRequire(import.meta.url).resolve("node-gyp/bin/node-gyp.js"));
  } catch {
    // not installed locally
  }
  return candidates.find((path) => path !== undefined && path !== "" && existsSync(path));
}

if (!force && existsSync(addon) && statSync(addon).mtimeMs >= sourcesTime()) process.exit(0);

if (findNngHeader() === undefined) {
  notice("libnng is not installed (nng/nng.h was not found)");
  process.exit(0);
}

const nodeGyp = findNodeGyp();
if (nodeGyp === undefined) {
  notice("node-gyp was not found (it comes with npm)");
  process.exit(required ? 1 : 0);
}

const args = [nodeGyp, "rebuild", "--loglevel=error"];
// Build against the headers of the running Node when they are installed beside it (no download).
const prefix = resolve(dirname(process.execPath), "..");
if (process.env.npm_config_nodedir === undefined && existsSync(join(prefix, "include", "node", "node_api.h"))) {
  args.push(`--nodedir=${prefix}`);
}
const result = spawnSync(process.execPath, args, { cwd: root, encoding: "utf8" });
if (result.status !== 0) {
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim().split("\n").slice(-15).join("\n");
  process.stderr.write(`${output}\n`);
  notice(`node-gyp failed (its last lines are above)`);
  process.exit(required ? 1 : 0);
}
process.stderr.write(`shoal: built the NNG addon (${addon.slice(root.length + 1)})\n`);
