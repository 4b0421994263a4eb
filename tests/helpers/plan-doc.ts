import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { PlanValidationError, validatePlan } from '../../client/plan';
import type { Plan } from '../../model/plan';

/** The shipped plans' folder (relative paths in a plan resolve against it). */
export const PLANS = path.join(__dirname, '..', '..', 'plans');

/** The demo plan as its author wrote it (the YAML document, not the normalised plan). */
export const demoDoc = (): Record<string, any> =>
  YAML.parse(fs.readFileSync(path.join(PLANS, 'demo.yaml'), 'utf8')) as Record<string, any>;

/** The production example plan as its author wrote it (the YAML document). */
export const productionDoc = (): Record<string, any> =>
  YAML.parse(fs.readFileSync(path.join(PLANS, 'production.example.yaml'), 'utf8')) as Record<string, any>;

/** A (changed) plan document as the normalised plan, relative paths resolved against the shipped plans' folder. */
export const planFromDoc = (doc: unknown): Plan => validatePlan(doc, 'plan.yaml', PLANS);

/** What the CLI's validator says of a plan document: its issues, none when it is accepted. */
export function planIssues(doc: unknown): { path: string; message: string }[] {
  try {
    validatePlan(doc, 'plan.yaml', PLANS);
    return [];
  } catch (err) {
    if (err instanceof PlanValidationError) return err.issues;
    throw err;
  }
}
