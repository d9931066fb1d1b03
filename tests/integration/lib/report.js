// Failure reports for the integration tests: what the peers saw goes into the failed test's error.
'use strict';

// Appends `parts` (text blocks) to the error's message, and rebuilds its stack, which the test
// reporter prints and which holds the message as it was at construction. Returns `e`.
function withContext(e, parts) {
  e.message = [e.message, ...parts].join('\n');
  if (typeof e.stack === 'string') {
    const at = e.stack.indexOf('\n    at ');
    e.stack = `${e.name}${e.code ? ` [${e.code}]` : ''}: ${e.message}${at >= 0 ? e.stack.slice(at) : ''}`;
  }
  return e;
}

// The last `n` lines of a process log, indented.
function tail(log, n = 40) {
  return `  ${log.trim().split('\n').slice(-n).join('\n  ')}`;
}

module.exports = { withContext, tail };
