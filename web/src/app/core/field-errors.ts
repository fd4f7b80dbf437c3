/** The server's problem+json turned into per-field messages and one general message. */
import { Problem } from './models';

export interface FormErrors {
  /** Field name (as sent to the server) → the server's reason. */
  fields: Record<string, string>;
  /** A message not tied to one field (409, network failure, …), or null. */
  general: string | null;
}

export const NO_ERRORS: FormErrors = { fields: {}, general: null };

/** Splits a problem into field errors (for `known` fields) and a general message. */
export function formErrors(problem: Problem, known: readonly string[]): FormErrors {
  const fields: Record<string, string> = {};
  const other: string[] = [];
  for (const error of problem.errors ?? []) {
    if (known.includes(error.name)) {
      fields[error.name] = fields[error.name] ? `${fields[error.name]}; ${error.reason}` : error.reason;
    } else {
      other.push(`${error.name}: ${error.reason}`);
    }
  }
  let general: string | null = null;
  if (Object.keys(fields).length === 0 || other.length > 0) {
    general = other.length > 0 ? `${problem.detail} (${other.join('; ')})` : problem.detail;
  }
  if (Object.keys(fields).length > 0 && general === null) {
    general = 'Please correct the fields marked below.';
  }
  return { fields, general };
}
