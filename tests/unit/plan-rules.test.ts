import path from 'node:path';
import {
  checkCommand,
  gateSignable,
  inlineSecrets,
  jobSchedules,
  measurementKind,
  metricThreshold,
  minSamplesOnSql,
  oneSource,
  quorum,
  routerFields,
  schedulerFields,
  proseProblem,
  shellMetacharacters,
  singleLineKeys,
  singleLineProblem,
  soakInterval,
  trafficSteps,
  unifiedJobName,
  uniqueNames,
  uniqueRoles,
} from '../../model/plan-rules';
import { normalizePosixPath } from '../../model/plan-schema';

describe('plan rules', () => {
  it('traffic steps rise and end at 100, skipping steps that are themselves invalid', () => {
    expect(trafficSteps([10, 25, 50, 100])).toEqual([]);
    expect(trafficSteps([10, 50, 25, 100])).toEqual([
      { path: [2], message: 'expected steps to increase, got 25 after 50' },
    ]);
    expect(trafficSteps([10, 50])).toEqual([{ path: [], message: 'expected the last step to be 100, got 50' }]);
    // The invalid step (reported by the schema) neither breaks the order nor counts as the last one.
    expect(trafficSteps([50, undefined, 25])).toEqual([
      { path: [2], message: 'expected steps to increase, got 25 after 50' },
      { path: [], message: 'expected the last step to be 100, got 25' },
    ]);
    expect(trafficSteps([])).toEqual([]);
  });

  it('names and roles are unique; the later uses are reported', () => {
    expect(uniqueNames(['a', 'b', 'a', undefined, 'a'])).toEqual([
      { path: [2, 'name'], message: 'duplicate name "a"' },
      { path: [4, 'name'], message: 'duplicate name "a"' },
    ]);
    expect(uniqueRoles(['tl', undefined, 'tl'])).toEqual([{ path: [2], message: 'duplicate role "tl"' }]);
    expect(unifiedJobName('batch', ['batch', 'trust'])).toEqual([
      { path: ['name'], message: 'duplicate job name "batch" (also a legacy job)' },
    ]);
    expect(unifiedJobName('unified', ['batch', undefined])).toEqual([]);
  });

  it('a quorum fits the distinct approvers of its allow-list', () => {
    expect(quorum(3, ['tina', 'tom', 'tina'])).toEqual([
      { path: ['required'], message: 'expected at most 2 (the distinct approvers on the allow-list), got 3' },
    ]);
    expect(quorum(2, ['tina', 'tom'])).toEqual([]);
    expect(quorum(5, undefined)).toEqual([]);
  });

  it('commands, paths and schedules are single lines; free text may have tabs and line breaks', () => {
    expect(singleLineProblem('echo hi\nrm -rf ~')).toBe(
      'contains a control character (\\n at position 8): commands, paths and schedules are single lines',
    );
    expect(singleLineProblem('a\rb')).toContain('(\\r at position 2)');
    expect(singleLineProblem('\ta')).toContain('(\\t at position 1)');
    expect(singleLineProblem('a\0')).toContain('(\\0 at position 2)');
    expect(singleLineProblem('a\x1b[31m')).toContain('(\\x1b at position 2)');
    expect(singleLineProblem('a\x7f')).toContain('(\\x7f at position 2)');
    expect(singleLineProblem('/srv/pipelines/scripts/batch scorer.py --rate=5%')).toBeUndefined();
    expect(proseProblem('select 1\n\tfrom t\r\n')).toBeUndefined();
    expect(proseProblem('Ship it\x1b[2J')).toBe(
      'contains a control character (\\x1b at position 8): only tabs and line breaks belong in text',
    );
    expect(proseProblem('a\0')).toContain('\\0 at position 2');
    expect(singleLineKeys(['../demo/system', 'a\nb'])).toEqual([
      { path: ['a\nb'], message: expect.stringContaining('\\n at position 2'), key: true },
    ]);
  });

  it("each job's schedule is read by the plan's scheduler", () => {
    expect(jobSchedules('crontab', ['99 * * * *', undefined, '@daily'], '@every 5m')).toEqual([
      { path: ['legacyJobs', 0, 'schedule'], message: 'minute field "99" is out of range 0-59' },
      { path: ['unifiedJob', 'schedule'], message: expect.stringContaining('"@every 5m" is not a crontab schedule') },
    ]);
    expect(jobSchedules('temporal-schedule', ['@daily'], '@every 5m')).toEqual([]);
    expect(jobSchedules('temporal-schedule', ['@reboot'], '*/5 * * * *')).toEqual([
      { path: ['legacyJobs', 0, 'schedule'], message: expect.stringContaining('"@reboot" is not a Temporal schedule') },
    ]);
    expect(jobSchedules(undefined, ['99 * * * *'], 'nonsense')).toEqual([]);
  });

  describe('a gate can be signed at all', () => {
    const cannot = (message: string) => [{ path: [], message: `cannot be signed: ${message}` }];

    it('with separation of duties, roles whose allow-lists together hold too few people are named', () => {
      const sre = { role: 'sre', required: 2, approvers: ['alice', 'bob'] };
      const dba = { role: 'dba', required: 1, approvers: ['alice', 'bob'] };
      expect(gateSignable([sre, dba], true)).toEqual(
        cannot(
          'with separationOfDuties, roles sre (2) and dba (1) need 3 different people but their approvers are only alice, bob',
        ),
      );
      // Without separation of duties alice and bob sign both roles.
      expect(gateSignable([sre, dba], false)).toEqual([]);
    });

    it('finds the assignment when one exists, moving a person to another of their roles', () => {
      // sre takes alice first; dba can only have alice, so sre has to move to bob.
      const roles = [
        { role: 'sre', required: 1, approvers: ['alice', 'bob'] },
        { role: 'dba', required: 1, approvers: ['alice'] },
      ];
      expect(gateSignable(roles, true)).toEqual([]);
      const ring = [
        { role: 'a', required: 1, approvers: ['x', 'y'] },
        { role: 'b', required: 1, approvers: ['y', 'z'] },
        { role: 'c', required: 1, approvers: ['z', 'x'] },
      ];
      expect(gateSignable(ring, true)).toEqual([]);
      expect(gateSignable([...ring, { role: 'd', required: 1, approvers: ['x'] }], true)).toEqual(
        cannot(
          'with separationOfDuties, roles a (1), b (1), c (1) and d (1) need 4 different people but their approvers are only x, y, z',
        ),
      );
    });

    it('names only the roles that run short, and never a role anyone may sign (without keys)', () => {
      const roles = [
        { role: 'ops', required: 2, approvers: ['olga', 'oscar', 'pat'] },
        { role: 'lead', required: 1, approvers: ['lee'] },
        { role: 'qa', required: 1, approvers: ['lee'] },
        { role: 'anyone', required: 5 },
      ];
      expect(gateSignable(roles, true)).toEqual(
        cannot(
          'with separationOfDuties, roles lead (1) and qa (1) need 2 different people but their approvers are only lee',
        ),
      );
      expect(
        gateSignable(
          [
            { role: 'tl', required: 1 },
            { role: 'em', required: 3 },
          ],
          true,
        ),
      ).toEqual([]);
    });

    it('with keys, only the people who have one sign, on an allow-list or not', () => {
      const keys = ' (the plan lists keys: only people with a key sign)';
      expect(
        gateSignable(
          [
            { role: 'tl', required: 1 },
            { role: 'em', required: 1 },
          ],
          true,
          ['alice'],
        ),
      ).toEqual(
        cannot(
          `with separationOfDuties, roles tl (1) and em (1) need 2 different people but only alice can sign them${keys}`,
        ),
      );
      expect(
        gateSignable(
          [
            { role: 'tl', required: 1 },
            { role: 'em', required: 1 },
          ],
          false,
          ['alice'],
        ),
      ).toEqual([]);
      expect(gateSignable([{ role: 'tl', required: 2 }], false, ['alice'])).toEqual(
        cannot(`role tl needs 2 different people but only alice can sign it${keys}`),
      );
      expect(gateSignable([{ role: 'tl', required: 1, approvers: ['mallory'] }], true, ['alice'])).toEqual(
        cannot(`role tl needs one person but nobody can sign it${keys}`),
      );
      expect(
        gateSignable(
          [
            { role: 'tl', required: 1, approvers: ['tina'] },
            { role: 'em', required: 1 },
          ],
          true,
          ['tina', 'eve'],
        ),
      ).toEqual([]);
    });
  });

  it('the soak interval is no longer than the soak', () => {
    expect(soakInterval(9000, 3000)).toEqual([]);
    expect(soakInterval(9000, 9000)).toEqual([]);
    expect(soakInterval(9000, 3_600_000)).toEqual([
      { path: ['soakInterval'], message: 'expected an interval no longer than durations.soak' },
    ]);
    expect(soakInterval(undefined, 3_600_000)).toEqual([]);
  });

  it('metric thresholds are not negative, and minSamples belongs to sql metrics', () => {
    expect(metricThreshold('error-rate', -0.01)).toEqual([
      { path: ['threshold'], message: 'expected a threshold >= 0 for error-rate, got -0.01' },
    ]);
    expect(metricThreshold('error-rate', 0)).toEqual([]);
    expect(minSamplesOnSql('command', 5)).toEqual([
      { path: ['minSamples'], message: 'expected only on an sql metric (its second column is the sample count)' },
    ]);
    expect(minSamplesOnSql('sql', 5)).toEqual([]);
    expect(minSamplesOnSql(undefined, 5)).toEqual([]);
  });

  it('a check measures with exactly one source', () => {
    expect(oneSource({ sql: 'select 1' })).toEqual([]);
    expect(measurementKind({ command: ['node'] })).toBe('command');
    expect(oneSource({ sql: 'select 1', http: 'https://x' })).toEqual([
      { path: [], message: 'expected exactly one of sql, command or http, got sql and http' },
    ]);
    expect(oneSource({})).toEqual([{ path: [], message: 'expected exactly one of sql, command or http, got none' }]);
    expect(measurementKind({ sql: 'select 1', command: ['x'] })).toBeUndefined();
  });

  it('argv has no shell syntax; a shell takes one command line', () => {
    expect(shellMetacharacters(['node', 'x.js', '|', 'tail'])).toEqual([
      {
        path: [2],
        message:
          'contains a shell metacharacter ("|") but no shell was declared: split it into arguments or set shell: true',
      },
    ]);
    expect(shellMetacharacters(['node', '$(whoami).js', '${HOME}', 'a;b', undefined]).map((i) => i.path)).toEqual([
      [1],
      [2],
      [3],
    ]);
    expect(shellMetacharacters(['node', '--rate', '1000/h', 'a=b'])).toEqual([]);
    expect(checkCommand('node x | tail', true, true)).toEqual([]);
    expect(checkCommand(['node', 'x'], true, true)).toEqual([
      { path: ['command'], message: 'expected a shell command line (shell: true), got a list' },
    ]);
    expect(checkCommand('node x', false, true)).toEqual([
      { path: ['command'], message: 'expected a list, got the string "node x"' },
    ]);
    expect(checkCommand(['a|b'], false, true).map((i) => i.path)).toEqual([['command', 0]]);
    expect(checkCommand(['a|b', 3], false, false)).toEqual([]);
  });

  it('scheduler and router fields belong to their kind', () => {
    expect(schedulerFields('crontab', { idPrefix: 'x' })).toEqual([
      { path: ['idPrefix'], message: 'only for kind temporal-schedule' },
    ]);
    expect(schedulerFields('temporal-schedule', { user: 'x' })).toEqual([
      { path: ['user'], message: 'only for kind crontab' },
    ]);
    expect(schedulerFields(undefined, { user: 'x', idPrefix: 'y' })).toEqual([]);
    expect(routerFields('command', undefined)).toEqual([{ path: ['command'], message: 'is required' }]);
    expect(routerFields('table', undefined)).toEqual([]);
  });

  it('finds inline secrets anywhere: URLs with credentials and secret-named keys', () => {
    const doc = {
      target: { databaseUrlEnv: 'postgres://app:s3cret@db:5432/prod' },
      metrics: [{ sql: 'select 1' }, { http: 'https://user:pw@example.com/x' }],
      notifications: { webhook: { urlEnv: 'HOOK', tokenEnv: 'HOOK_TOKEN', password: { nested: 'not looked into' } } },
      env: { API_KEY: 'x', Api_Token: 'y', KEYS: 'z', DB_URL: 'https://example.com/no-credentials' },
    };
    expect(inlineSecrets(doc).map((i) => [i.path, i.key ?? false])).toEqual([
      [['target', 'databaseUrlEnv'], false],
      [['metrics', 1, 'http'], false],
      [['notifications', 'webhook', 'password'], true],
      [['env', 'API_KEY'], true],
      [['env', 'Api_Token'], true],
    ]);
    expect(inlineSecrets('redis://u:p@host')[0]!.message).toContain('URL with credentials');
    expect(inlineSecrets(['a', 3, null, { fine: true }])).toEqual([]);
  });

  it('finds the secret names and URL forms a plan must not hold literally', () => {
    const doc = {
      unifiedJob: {
        containers: [
          {
            env: { AWS_SECRET_ACCESS_KEY: 'wJalr', PRIVATE_KEY: 'k', DB_PASS: 'p', LOG_LEVEL: 'info' },
            envFrom: { DB_PASSWORD: 'TARGET_DB_PASSWORD' },
          },
        ],
      },
      target: { cacheUrl: 'redis://:pw@cache:6379', replica: 'postgres://:pw@db/x' },
      preflight: [
        { http: 'https://metrics.example.com/q?api_key=abc123' },
        { http: 'https://metrics.example.com/q?page=1' },
        { command: ['env', 'GITHUB_TOKEN=ghp_1', 'run'] },
        { command: ['env', 'PGPASSWORD=$DB_PW', 'psql'] },
      ],
    };
    expect(inlineSecrets(doc).map((i) => [i.path.join('.'), i.message.split(':')[0]])).toEqual([
      ['unifiedJob.containers.0.env.AWS_SECRET_ACCESS_KEY', 'a secret written in the plan'],
      ['unifiedJob.containers.0.env.PRIVATE_KEY', 'a secret written in the plan'],
      ['unifiedJob.containers.0.env.DB_PASS', 'a secret written in the plan'],
      ['target.cacheUrl', 'contains a URL with credentials'],
      ['target.replica', 'contains a URL with credentials'],
      ['preflight.0.http', 'contains a URL with a token-like query parameter (?api_key=, ?token=, …)'],
      ['preflight.2.command.1', 'sets the secret variable GITHUB_TOKEN to a value written in the plan'],
    ]);
  });

  it('normalises repository paths as path.posix.normalize does', () => {
    const cases = [
      '',
      '.',
      './',
      '..',
      '../',
      'a/./b',
      'a//b/',
      'a/../..',
      '/a/../../b',
      './a/..',
      'a/b/../../..',
      '...',
    ];
    // Every path of up to five characters drawn from `a`, `.` and `/`.
    const alphabet = ['a', '.', '/'];
    let layer = [''];
    for (let n = 0; n < 5; n++) {
      layer = layer.flatMap((p) => alphabet.map((c) => p + c));
      cases.push(...layer);
    }
    for (const p of cases) expect([p, normalizePosixPath(p)]).toEqual([p, path.posix.normalize(p)]);
  });
});
