// The names rekey.yaml gives its own entries (environments, stores, hosts, secrets...).
import { z } from 'zod';

export const entryName = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/i, 'use letters, digits, "-" and "_"');
