/**
 * Prints one plain closing line, `jest: N passed, N failed` (plus skipped), so that tools which read
 * the last lines of a run see how many tests ran.
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    // Written after the default reporter's summary has been flushed, so it is the very last line.
    setImmediate(() => this.print(results));
  }

  print(results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    process.stdout.write(
      `jest: ${results.numPassedTests} passed, ${results.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}\n`,
    );
  }
}
module.exports = SummaryReporter;
