// Modules the worker evaluates once, in the shared V8 context, before any workflow run (see
// preloadModules in worker/bundle.ts); a run's own modules are evaluated anew for each run. Only
// modules without per-run state belong here: the shared context is frozen after this. A
// re-export, because the bundler drops a bare require of a package that declares itself free of
// side effects (zod does).
import { z } from 'zod';

// zod writes its defaults (locale, memoizer) into its global config when the first schema is
// built: one is built now, before the freeze, or that write would fail in every run. Frozen too
// are zod's shared format regexes, whose lastIndex a check resets: workflow inputs must not use
// z.email(), z.guid(), z.uuid(), z.ipv4(), z.base64(), z.iso.date() or .lowercase() (a regex
// literal of the input's own module, made anew for each run, is fine; test/fast/preloaded-zod).
z.strictObject({ ready: z.string() });

export { z };
