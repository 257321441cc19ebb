// Every answer of every app a test builds is checked against the OpenAPI document (test/helpers/contract.ts):
// a suite whose answers broke it fails after its last test, listing how. It is on for every suite, so a
// new suite is checked without asking; the few exempt below say why. A suite that never builds an app (the
// unit suites, the CLI suites that talk to a `bulkhead serve` process) pays only for adding the hook.
import { relative } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { appHooks } from '../../src/http/app-hooks.js';
import { checkAnswers, settleAnswers, violations } from '../helpers/contract.js';

/**
 * The suites whose answers are not checked, each with its reason. Hostile input is no reason: an answer
 * to garbage is an answer a client gets, and must be one the document declares.
 */
const exempt = new Map<string, string>([
  // It builds apps that break the document on purpose, to show the check reports each kind of breach; it
  // installs the check itself, recording into a set of its own, and asserts what is found.
  ['test/setup/answers.test.ts', 'tests the check itself'],
]);

let installed = false;

// eslint-disable-next-line no-empty-pattern -- vitest reads the fixtures a hook takes from its first argument
beforeAll(({}, file) => {
  const path = relative(process.cwd(), (file as { filepath?: string }).filepath ?? '');
  if (exempt.has(path)) return;
  violations.clear();
  appHooks.add(checkAnswers);
  installed = true;
});

afterAll(() => {
  if (!installed) return;
  appHooks.delete(checkAnswers);
  installed = false;
  settleAnswers();
  const found = [...violations];
  if (found.length > 0) {
    throw new Error(`answers the OpenAPI document does not declare:\n${found.sort().join('\n')}`);
  }
});
