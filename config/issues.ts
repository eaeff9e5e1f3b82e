// zod issues as one line each, `path: message`: for config files and workflow inputs alike.
import type { z } from 'zod';

export function formatIssues(issues: z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return path ? `${path}: ${issue.message}` : issue.message;
  });
}
