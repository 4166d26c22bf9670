// Prints vitest's JSON report as one plain line, "Tests: N passed, N failed[, N skipped]".
import { existsSync, readFileSync } from "node:fs";

const path = process.argv[2];
if (!path || !existsSync(path)) {
  console.log("Tests: 0 passed, 1 failed (no test report was written: the run stopped before the tests)");
  process.exit(1);
}
const report = JSON.parse(readFileSync(path, "utf8"));
const skipped = report.numPendingTests + report.numTodoTests;
console.log(`Tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`);
process.exit(report.numFailedTests === 0 && report.numTotalTests > 0 ? 0 : 1);
