// The report as JUnit XML, which CI systems show natively: one test case per check (a leak is a
// failure, an inconclusive check is skipped) and one per operation that was not exercised (an error
// when it should have been, skipped when it does not apply).
import { checkLabel, type VerifyReport } from './report.js';

function xml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;');
}

/**
 * Renders a report as a JUnit XML document.
 *
 * @example
 * writeFileSync('verify.xml', toJunit(report));
 */
export function toJunit(report: VerifyReport): string {
  const cases: string[] = [];
  for (const c of report.checks) {
    const name = xml(checkLabel(c));
    const head = `    <testcase classname="${xml(c.operation)}" name="${name}" time="0"`;
    const message = xml(`expected ${c.expected}; got ${c.got}`);
    if (c.verdict === 'leak')
      cases.push(
        `${head}>\n      <failure type="leak" message="${message}">${message}</failure>\n    </testcase>`,
      );
    else if (c.verdict === 'inconclusive')
      cases.push(`${head}>\n      <skipped message="${message}"/>\n    </testcase>`);
    else cases.push(`${head}/>`);
  }
  for (const o of report.operations) {
    if (o.coverage === 'exercised') continue;
    const head = `    <testcase classname="${xml(o.operation)}" name="exercised" time="0">`;
    const reason = xml(o.reason ?? '');
    cases.push(
      o.coverage === 'skipped'
        ? `${head}\n      <error type="not_exercised" message="${reason}">${reason}</error>\n    </testcase>`
        : `${head}\n      <skipped message="${reason}"/>\n    </testcase>`,
    );
  }
  const s = report.summary;
  const time = (report.elapsedMs / 1000).toFixed(3);
  const counts =
    `tests="${cases.length}" failures="${s.leaks}" errors="${s.skipped}" ` +
    `skipped="${s.inconclusive + s.notApplicable}" time="${time}"`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="bulkhead verify" ${counts}>`,
    `  <testsuite name="${xml(`bulkhead verify ${report.target}`)}" ${counts} timestamp="${xml(report.startedAt)}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
  ].join('\n');
}
