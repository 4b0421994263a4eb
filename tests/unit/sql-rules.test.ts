import { planProblems } from '../../model/plan-check';
import { sqlStatementProblem } from '../../model/sql-rules';
import { demoDoc, planFromDoc, planIssues } from '../helpers/plan-doc';

describe('measurement SQL that could act on the server', () => {
  it.each([
    ["COPY (select 1) TO '/tmp/x'", 'COPY'],
    ["  copy kept to program 'rm -rf /'", 'COPY'],
    ["(copy (select 1) to '/tmp/x')", 'COPY'],
    ["/* why */ Copy (select 1) TO '/tmp/x'", 'COPY'],
    ["select * from dblink_exec('host=x', 'drop table t')", 'dblink'],
    ["select * from public.DBLINK('host=x', 'select 1') as t(n int)", 'dblink'],
    ['select pg_terminate_backend(pid) from pg_stat_activity', 'signal function'],
    ['select count(pg_cancel_backend(pid)) from pg_stat_activity', 'signal function'],
    ['select pg_catalog.pg_advisory_lock(1)', 'advisory lock'],
    ['select pg_try_advisory_xact_lock(42)::int', 'advisory lock'],
    ["select length(pg_read_file('/etc/passwd'))", 'server file function'],
    ["select count(*) from pg_ls_dir('.')", 'server file function'],
    ["select lo_export(1, '/tmp/x')", 'server file function'],
    ['select 1 from pg_sleep(60)', 'pg_sleep'],
    ['SELECT "pg_sleep"(60)', 'pg_sleep'],
    ['select pg_sleep_for(interval $$1 minute$$)', 'pg_sleep'],
    ['set role postgres', 'SET'],
    ["SET SESSION AUTHORIZATION 'postgres'", 'SET'],
    ["select set_config('role', 'postgres', true)", 'set_config'],
    ['do $$ begin perform 1; end $$', 'DO block'],
    ['call refresh_scores()', 'CALL'],
    ["select query_to_xml('select pg_sleep(9)', true, true, '')", 'runs SQL given as text'],
  ])('refuses %s (%s)', (sql, why) => {
    expect(sqlStatementProblem(sql)).toEqual(expect.stringContaining(why));
  });

  it.each([
    "select count(*) from item_runs where status = 'copy pg_sleep(1) dblink_exec(x)'",
    'select avg(pg_sleep_ms) from "copy_jobs" where copy_count > 0',
    "select count(*) from runs -- pg_terminate_backend(pid)\n where note <> E'it\\'s pg_sleep(1)'",
    'select count(*) /* set role x; copy t to program */ from advisory_locks',
    'select count(*) from t where body <> $tag$ pg_advisory_lock(1) $tag$ and id > $1',
    'select sum(do_count + call_count) from dblink_stats',
    'with copy_runs as (select 1 as n) select count(*) from copy_runs',
  ])('lets %s read', (sql) => {
    expect(sqlStatementProblem(sql)).toBeUndefined();
  });

  it('refuses it as the plan is loaded, naming the field, and in a plan that did not come through the CLI', () => {
    const doc = demoDoc();
    doc.metrics[0].sql = "COPY (select 1) TO '/tmp/mo-x'";
    doc.preflight[0] = { ...doc.preflight[0], sql: 'select pg_sleep(60)' };
    delete doc.preflight[0].command;
    delete doc.preflight[0].readOnly;
    delete doc.preflight[0].pattern;
    doc.parallelRun.mismatchSql = 'select * from dblink_exec($$x$$, $$y$$) as t(a int)';
    const issues = planIssues(doc);
    expect(issues.map((i) => i.path).sort()).toEqual(['metrics[0].sql', 'parallelRun.mismatchSql', 'preflight[0].sql']);
    expect(issues.find((i) => i.path === 'metrics[0].sql')!.message).toMatch(
      /^expected one read-only query; COPY \(writes server files/,
    );
    // A hand-made workflow input: the workflow's own check of its plan refuses it too.
    const plan = planFromDoc(demoDoc());
    const sneaky = {
      ...plan,
      metrics: [{ ...plan.metrics[0]!, measure: { kind: 'sql' as const, query: 'select pg_advisory_lock(1)' } }],
    };
    expect(planProblems(sneaky)).toEqual(expect.arrayContaining([expect.stringContaining('metrics[0].sql')]));
  });
});
