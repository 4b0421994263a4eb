import { cronProblems, parseCron, type CronDialect } from '../../model/cron';

const both: CronDialect[] = ['crontab', 'temporal-schedule'];
const calendarOf = (expression: string, dialect: CronDialect) => {
  const parsed = parseCron(expression, dialect);
  if (!parsed.ok) throw new Error(`${expression}: ${parsed.problems.join('; ')}`);
  if (parsed.schedule.kind !== 'calendar') throw new Error(`${expression}: not a calendar`);
  return parsed.schedule;
};

describe('cron expressions, as Debian cron and the Temporal server read them', () => {
  // Lines as they stand in a Debian /etc/crontab and in the examples of man 5 crontab.
  const REAL = [
    '17 * * * *',
    '25 6 * * *',
    '47 6 * * 7',
    '52 6 1 * *',
    '25 6 * * 1-5',
    '*/15 9-17 * * mon',
    '0 0 1,15 * *',
    '5 4 * * sun',
    '30 4 1,15 * 5',
    '23 0-23/2 * * *',
    '0 22 * * 1-5',
    '5 0 * * *',
    '15 14 1 * *',
    '0 0 * jan-mar MON-Fri',
    '1-5/2,10 * * * *',
    '* * 29 2 *',
    '@daily',
    '@hourly',
    '@weekly',
    '@monthly',
    '@yearly',
    '@annually',
    '@midnight',
  ];

  it.each(REAL)('accepts %s for both schedulers', (expression) => {
    for (const d of both) expect([d, cronProblems(expression, d)]).toEqual([d, []]);
  });

  it('reads the fields as cron does: lists, ranges, steps, names in any case, 7 as Sunday', () => {
    expect(calendarOf('*/15 9-17 * * mon', 'crontab')).toMatchObject({
      minute: [0, 15, 30, 45],
      hour: [9, 10, 11, 12, 13, 14, 15, 16, 17],
      dayOfWeek: [1],
      days: 'both',
    });
    expect(calendarOf('0 0 1,15 jan-dec/3 *', 'crontab')).toMatchObject({ dayOfMonth: [1, 15], month: [1, 4, 7, 10] });
    expect(calendarOf('0 0 * * 5-7', 'crontab').dayOfWeek).toEqual([0, 5, 6]);
    expect(calendarOf('0 0 * * SUN,Sat', 'crontab').dayOfWeek).toEqual([0, 6]);
    expect(calendarOf('@weekly', 'crontab')).toMatchObject({ minute: [0], hour: [0], dayOfWeek: [0] });
    expect(parseCron('@reboot', 'crontab')).toEqual({ ok: true, schedule: { kind: 'reboot' } });
  });

  it('combines the day fields as each scheduler does: cron takes either when both are restricted', () => {
    expect(calendarOf('30 4 1,15 * 5', 'crontab').days).toBe('either');
    expect(calendarOf('30 4 1,15 * */2', 'crontab').days).toBe('both'); // a day field starting with * counts as *
    expect(calendarOf('30 4 1,15 * 5', 'temporal-schedule').days).toBe('both');
  });

  // The examples and the mistakes cron refuses (or would run as something nobody meant).
  it.each([
    ['99 99 99 99 99', 'minute field "99" is out of range 0-59'],
    ['99 99 99 99 99', 'day-of-week field "99" is out of range 0-7'],
    ['A=1 * * * *', 'minute field "A=1" is not a number 0-59'],
    ['60 * * * *', 'minute field "60" is out of range 0-59'],
    ['* 24 * * *', 'hour field "24" is out of range 0-23'],
    ['0 0 0 * *', 'day-of-month field "0" is out of range 1-31'],
    ['0 0 32 * *', 'day-of-month field "32" is out of range 1-31'],
    ['0 0 * 13 *', 'month field "13" is out of range 1-12'],
    ['0 0 * * 8', 'day-of-week field "8" is out of range 0-7'],
    ['0 0 1,99 * *', 'day-of-month field "1,99": "99" is out of range 1-31'],
    ['4294967301 * * * *', 'minute field "4294967301" is out of range 0-59'],
    ['5-1 * * * *', 'minute field "5-1" is a reversed range (5 comes after 1)'],
    ['0 0 * * sat-sun', 'day-of-week field "sat-sun" is a reversed range (6 comes after 0; Sunday ends a range as 7)'],
    ['*/0 * * * *', 'minute field "*/0" has a step of 0 (expected 1 or more)'],
    ['0-30/0 * * * *', 'minute field "0-30/0" has a step of 0 (expected 1 or more)'],
    ['*/x * * * *', 'minute field "*/x" has a step "x" that is not a number (expected 1 or more)'],
    ['1,,2 * * * *', 'minute field "1,,2" has an empty list item'],
    ['1, * * * *', 'minute field "1," has an empty list item'],
    [',1 * * * *', 'minute field ",1" has an empty list item'],
    ['5! * * * *', 'minute field "5!" is not a number 0-59'],
    ['*/5/2 * * * *', 'minute field "*/5/2" has more than one step ("/")'],
    ['1-2-3 * * * *', 'minute field "1-2-3" has more than one "-" (expected a range a-b)'],
    ['-1 * * * *', 'minute field "-1" starts with "", which is not a number 0-59'],
    ['1- * * * *', 'minute field "1-" ends with "", which is not a number 0-59'],
    ['*-5 * * * *', 'minute field "*-5" starts with "*", which is not a number 0-59'],
    ['+5 * * * *', 'minute field "+5" is not a number 0-59'],
    ['0 0 * mon *', 'month field "mon" is not a number 1-12 or a month name'],
    ['0 0 * * jan', 'day-of-week field "jan" is not a number 0-7 or a day name'],
    ['0 0 31 2 *', 'never runs: day-of-month "31" is in none of the months "2"'],
    ['0 0 31 4,6,9,11 *', 'never runs: day-of-month "31" is in none of the months "4,6,9,11"'],
    ['0 0 30 feb */2', 'never runs: day-of-month "30" is in none of the months "feb"'],
    ['* * * *', 'expected a five-field cron expression (minute hour day-of-month month day-of-week) or one of'],
    ['* * * * * *', 'got 6 fields'],
    ['* * * * 1\n* * * * 2', 'got 9 fields'],
    ['* * * * 1\n', 'day-of-week field "1\\n" is not a number 0-7'],
  ])('refuses %j for both schedulers: %s', (expression, message) => {
    for (const d of both)
      expect([d, cronProblems(expression, d).join('; ')]).toEqual([d, expect.stringContaining(message)]);
  });

  it('reports every wrong field of an expression', () => {
    expect(cronProblems('99 99 99 99 99', 'crontab')).toEqual([
      'minute field "99" is out of range 0-59',
      'hour field "99" is out of range 0-23',
      'day-of-month field "99" is out of range 1-31',
      'month field "99" is out of range 1-12',
      'day-of-week field "99" is out of range 0-7',
    ]);
  });

  describe('crontab (Vixie cron)', () => {
    it.each([
      ['1/5 * * * *', 'minute field "1/5" has a step after a single value: cron takes a step after a range or *'],
      ['0 0 * jan/2 *', 'month field "jan/2" has a step after a single value'],
      ['0 0 * * mo', 'day-of-week field "mo" is not a number 0-7 or a day name (sun-sat)'],
      ['0 0 * * monday', 'day-of-week field "monday" is not a number 0-7 or a day name (sun-sat)'],
      ['0 0 * sept *', 'month field "sept" is not a number 1-12 or a month name (jan-dec)'],
      ['@every 5m', '"@every 5m" is not a crontab schedule (expected one of @reboot, @yearly'],
      ['@DAILY', '"@DAILY" is not a crontab schedule'],
      ['@reboot now', '"@reboot now" is not a crontab schedule'],
    ])('refuses %j: %s', (expression, message) => {
      expect(cronProblems(expression, 'crontab').join('; ')).toContain(message);
    });

    it('accepts names in ranges and lists, leading zeros, blanks around and between fields, as cron does', () => {
      for (const e of [
        '0 0 * jan,jul mon-fri',
        '007 01 * * *',
        '  1 2 * * *  ',
        '1  2 * * *',
        '0 0 * * 0-7',
        '*/60 * * * *',
      ])
        expect([e, cronProblems(e, 'crontab')]).toEqual([e, []]);
    });
  });

  describe('temporal-schedule (the Temporal server)', () => {
    it('takes a step after a single value to the end of the field, and longer names', () => {
      expect(calendarOf('5/15 * * * *', 'temporal-schedule').minute).toEqual([5, 20, 35, 50]);
      expect(calendarOf('0 0 * * 1-7/2', 'temporal-schedule').dayOfWeek).toEqual([0, 1, 3, 5]);
      expect(calendarOf('0 0 * sept,October *', 'temporal-schedule').month).toEqual([9, 10]);
      expect(calendarOf('0 0 * * mo,TUES,thursday', 'temporal-schedule').dayOfWeek).toEqual([1, 2, 4]);
    });

    it('takes @every with an interval and a phase, as Go durations with days', () => {
      expect(parseCron('@every 90s/30s', 'temporal-schedule')).toEqual({
        ok: true,
        schedule: { kind: 'every', intervalMs: 90_000, phaseMs: 30_000 },
      });
      expect(parseCron('@every 1d', 'temporal-schedule')).toMatchObject({ schedule: { intervalMs: 86_400_000 } });
      expect(parseCron('@every 1h30m', 'temporal-schedule')).toMatchObject({ schedule: { intervalMs: 5_400_000 } });
      expect(parseCron('@every 1.5h', 'temporal-schedule')).toMatchObject({ schedule: { intervalMs: 5_400_000 } });
    });

    it.each([
      ['@reboot', '"@reboot" is not a Temporal schedule'],
      ['@every', '@every needs an interval'],
      ['@every 5x', '@every interval "5x" is not a duration'],
      ['@every  5m', '@every interval " 5m" is not a duration'],
      ['@every 500ms', '@every interval "500ms" is too short (expected 1s or more)'],
      ['@every 0', '@every interval "0" is too short'],
      ['@every 5m/5m', '@every phase "5m" is not shorter than the interval "5m"'],
      ['@every 5m/1m/1s', 'more than one "/"'],
      ['@everyday 5m', '"@everyday 5m" is not a Temporal schedule'],
      ['0 0 * * * 2030', 'got 6 fields: Temporal would read the sixth field as the year'],
      ['0 0 0 * * * *', 'got 7 fields: seconds and years are not supported here'],
      ['CRON_TZ=Europe/Paris 0 9 * * *', 'a time zone prefix (CRON_TZ=…) is not supported here'],
      ['TZ=UTC 0 9 * * *', 'a time zone prefix'],
      ['0 9 * * * # morning', 'a comment (#) is not supported here'],
      ['0 0 * ja *', 'month field "ja" is not a number 1-12 or a month name (january-december, or its first three'],
      ['0 0 * * s', 'day-of-week field "s" is not a number 0-7 or a day name (sunday-saturday, or its first two'],
      ['*/+5 * * * *', 'minute field "*/+5" has a step "+5" that is not a number'],
    ])('refuses %j: %s', (expression, message) => {
      expect(cronProblems(expression, 'temporal-schedule').join('; ')).toContain(message);
    });
  });
});
