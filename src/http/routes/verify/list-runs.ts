import { Type } from '@sinclair/typebox';
import { operatorOnly } from '../../../policy/policy.js';
import { idSchemaPattern } from '../../../domain/ids.js';
import { listRuns } from '../../../verify/runs.js';
import { Timestamp } from '../../schemas.js';
import { Page, pageQueryOf, storedPage } from '../../paging.js';
import type { RouteModule } from '../../types.js';

const Count = Type.Integer({ minimum: 0 });
const Text = Type.String();

export const VerifyRun = Type.Object({
  id: Type.String({ description: 'A run id, `vrn_…`; ids order runs by their start.' }),
  startedAt: Timestamp,
  finishedAt: Timestamp,
  target: Type.String({ description: 'The base URL attacked.' }),
  verdict: Type.Union(
    ['clean', 'leak', 'incomplete', 'error'].map((v) => Type.Literal(v)),
    {
      description: '`error`: the run could not be made (`error` says why).',
    },
  ),
  operations: Type.Integer({ minimum: 0, description: 'Operations and backends to exercise.' }),
  exercised: Count,
  unexercised: Count,
  checks: Count,
  leaks: Count,
  inconclusive: Count,
  error: Type.Union([Text, Type.Null()]),
  report: Type.Union([
    Type.Object(
      {
        spec: Text,
        elapsedMs: Count,
        leaks: Type.Array(
          Type.Object({
            operation: Text,
            attack: Text,
            credential: Type.Union([Text, Type.Null()]),
            got: Text,
          }),
        ),
        unexercised: Type.Array(Type.Object({ operation: Text, reason: Type.Union([Text, Type.Null()]) })),
        cleanup: Type.Array(Text),
        omitted: Type.Object({ leaks: Count, unexercised: Count, cleanup: Count }),
      },
      { description: 'What went wrong, bounded: the first 50 leaks and unexercised operations.' },
    ),
    Type.Null(),
  ]),
});

export const listVerifyRuns: RouteModule = (app, { store, cursorKey }) => {
  app.get(
    '/v1/verify/runs',
    {
      config: { access: operatorOnly },
      schema: {
        operationId: 'listVerifyRuns',
        summary: 'The recorded isolation runs, newest first',
        description:
          "Runs of `bulkhead verify` recorded in this store: the server's own (`BULKHEAD_VERIFY_EVERY`) and " +
          'those of `bulkhead verify --store`. Paged with `limit` and `cursor` (the `next` of the previous page).',
        querystring: Type.Object(
          {
            ...pageQueryOf({ pageSize: 20, maxPageSize: 100 }),
            before: Type.Optional(
              Type.String({
                pattern: idSchemaPattern('verifyRun'),
                deprecated: true,
                description: 'Deprecated: send `cursor`. The runs before this id.',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Page(VerifyRun) },
      },
    },
    async (request, reply) =>
      storedPage(cursorKey, request, reply, {
        limit: request.query.limit ?? 20,
        from: request.query.before,
        fetch: (before, limit) =>
          store.system('verify', (tx) => listRuns(tx, { limit, before: before ?? undefined })),
        positionOf: (run) => run.id,
      }),
  );
};
