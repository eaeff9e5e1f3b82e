// Rotation windows: when a schedule's runs may change anything ("mon-fri 09:00-17:00" in
// Europe/Berlin). A run outside its window waits, durably, for the next opening, or is skipped,
// as its schedule says (`rekey schedule create ... --window`). Pure: the workflows import it and
// evaluate it at the workflow's clock, so a replay takes the same decisions.
import { z } from 'zod';

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const DAY = '(sun|mon|tue|wed|thu|fri|sat)';
const DAY_SET = `${DAY}(-${DAY})?(,${DAY}(-${DAY})?)*`;
const SPAN = new RegExp(`^${DAY_SET} ([01]\\d|2[0-3]):[0-5]\\d-(([01]\\d|2[0-3]):[0-5]\\d|24:00)$`);

/** One span: its days, and the local time it opens and closes (a close before the open runs past
 * midnight into the next day). */
interface Span {
  days: Set<number>;
  from: number;
  to: number;
}

function parseSpan(text: string): Span {
  const [daySet = '', hours = ''] = text.split(' ');
  const days = new Set<number>();
  for (const part of daySet.split(',')) {
    const [a = -1, b = a] = part.split('-').map((d) => DAYS.indexOf(d as (typeof DAYS)[number]));
    if (a < 0 || b < 0) throw new Error(`not a day: ${part}`);
    // A range may wrap over the week's end: fri-mon.
    for (let d = a; ; d = (d + 1) % 7) {
      days.add(d);
      if (d === b) break;
    }
  }
  const [from = 0, to = 0] = hours.split('-').map((t) => {
    const [h, m] = t.split(':').map(Number);
    return (h as number) * 60 + (m as number);
  });
  return { days, from, to };
}

const validZone = (tz: string) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

export const RunWindow = z.strictObject({
  /** When a run may change anything: "mon-fri 09:00-17:00", "sat,sun 00:00-24:00", "fri 22:00-02:00". */
  allow: z
    .array(
      z
        .string()
        .regex(SPAN, 'days and hours such as "mon-fri 09:00-17:00" (days sun..sat, ranges and lists)')
        // Zod runs a refinement even where the pattern failed: only a span that matched is read.
        .refine(
          (s) => !SPAN.test(s) || parseSpan(s).from !== parseSpan(s).to,
          'the span opens and closes at the same time',
        ),
    )
    .min(1),
  /** An IANA time zone the hours are in (Europe/Berlin). */
  timeZone: z.string().refine(validZone, 'an IANA time zone such as Europe/Berlin or UTC').default('UTC'),
  /** What a run started outside its window does: wait for the next opening, or end as skipped. */
  outside: z.enum(['wait', 'skip']).default('wait'),
});
export type RunWindow = z.input<typeof RunWindow>;

/** `window` checked, or what is wrong with it in one line ("allow.0: days and hours such as ..."). */
export function checkWindow(window: unknown): { window: RunWindow } | { problem: string } {
  const r = RunWindow.safeParse(window);
  return r.success
    ? { window: r.data }
    : { problem: r.error.issues.map((i) => `${i.path.join('.') || 'window'}: ${i.message}`).join('; ') };
}

/** The weekday (0 = Sunday), minute of the day and calendar date at `at` in `timeZone`. */
function localTime(at: number, timeZone: string) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    })
      .formatToParts(new Date(at))
      .map((p) => [p.type, p.value]),
  );
  return {
    day: DAYS.indexOf((parts.weekday as string).toLowerCase() as (typeof DAYS)[number]),
    minute: Number(parts.hour) * 60 + Number(parts.minute),
    date: [Number(parts.year), Number(parts.month), Number(parts.day)] as const,
  };
}

/** The instant the local clock in `timeZone` shows `minute` on `date` (near it in a DST gap). */
function instantOf(date: readonly [number, number, number], minute: number, timeZone: string): number {
  const wall = Date.UTC(date[0], date[1] - 1, date[2], 0, minute);
  const offset = (t: number) => {
    const l = localTime(t, timeZone);
    return Date.UTC(l.date[0], l.date[1] - 1, l.date[2], 0, l.minute) - Math.floor(t / 60_000) * 60_000;
  };
  const guess = wall - offset(wall);
  return wall - offset(guess);
}

function openAt(spans: Span[], at: number, timeZone: string): boolean {
  const { day, minute } = localTime(at, timeZone);
  return spans.some((s) =>
    s.from < s.to
      ? s.days.has(day) && minute >= s.from && minute < s.to
      : (s.days.has(day) && minute >= s.from) || (s.days.has((day + 6) % 7) && minute < s.to),
  );
}

/** Whether `window` is open at `at`, and if not, when it next opens (within the coming week). */
export function windowAt(window: RunWindow, at: number): { open: true } | { open: false; opensAt: number } {
  const w = RunWindow.parse(window);
  const spans = w.allow.map(parseSpan);
  if (openAt(spans, at, w.timeZone)) return { open: true };
  let opensAt = Number.POSITIVE_INFINITY;
  const today = localTime(at, w.timeZone).date;
  // Calendar days, not 24-hour steps: a day of 23 hours (the spring change) is not stepped over.
  for (let d = 0; d <= 8; d++) {
    const day = new Date(Date.UTC(today[0], today[1] - 1, today[2] + d));
    const date = [day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate()] as const;
    for (const s of spans) {
      const t = instantOf(date, s.from, w.timeZone);
      if (t > at && t < opensAt && openAt(spans, t, w.timeZone)) opensAt = t;
    }
  }
  // Every span opens on one of its days each week: only a span lost to a clock change can miss.
  if (!Number.isFinite(opensAt))
    throw new Error(`the window ${windowText(w)} does not open in the coming week`);
  return { open: false, opensAt };
}

/** "mon-fri 09:00-17:00 (Europe/Berlin)", for plans, steps and `schedule describe`. */
export const windowText = (w: RunWindow) => `${w.allow.join(', ')} (${w.timeZone ?? 'UTC'})`;
