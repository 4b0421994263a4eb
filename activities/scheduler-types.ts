import type { JobSpec, Plan, SchedulerSpec } from '../model/plan';
import type { StartProof } from '../model/admission';

/** Input of the scheduler operations on legacy jobs. */
export interface JobsInput {
  migrationId: string;
  scheduler: SchedulerSpec;
  jobs: JobSpec[];
  backupDir: string;
}

/** Input of the scheduler operations on the unified job. */
export interface JobInput {
  migrationId: string;
  scheduler: SchedulerSpec;
  job: JobSpec;
  backupDir: string;
  /** Temporal Schedules: the task queue the job's runs execute its command on (the commands agent), if not central. */
  runOn?: string;
  /** Temporal Schedules: the admitted migration's plan and start proof, which each scheduled run is checked against. */
  admission?: { plan: Plan; proof?: StartProof };
}

/** What a scheduler operation changed (plain data; the undo is the opposite operation). */
export interface SchedulerChange {
  kind: SchedulerSpec['kind'];
  changed: string[];
  unchanged: string[];
  /** The crontab as it was before this change, when something changed. */
  savedTo?: string;
}

/** One scheduled entry as it stands. */
export interface ScheduleEntry {
  name?: string;
  /** The migration whose marker or disabled prefix the line carries (lines of earlier versions name none). */
  migrationId?: string;
  schedule: string;
  command: string;
  enabled: boolean;
  /** The crontab line as written (crontab only). */
  line?: string;
}

/** How one legacy job was found in the scheduler (the preflight's check), or why it was not. */
export interface FoundJob {
  name: string;
  found: boolean;
  /** The line or schedule ID found, or the problem with the lines or schedules that were there. */
  detail: string;
}

/** What the preflight asks the scheduler about the unified job: is it already another migration's? */
export interface OwnerInput {
  migrationId: string;
  scheduler: SchedulerSpec;
  job: JobSpec;
}
