// A role's password on a PostgreSQL server, as a recipe's location.
import type { StoreDriver } from '../types';
import type { PostgresConfig } from './config';
import { PostgresServer } from './server';
import { viaOf } from './tunnel';

export const driver: StoreDriver<PostgresConfig> = {
  place: (storeName, cfg, role, ctx) => {
    const server = new PostgresServer(storeName, cfg, ctx.secret(cfg.password), viaOf(cfg, ctx.onHost));
    return {
      marker: 'role',
      text: `set the password of role ${role} on ${storeName}`,
      exists: () => server.roleCanLogin(role),
      set: (value) => server.setPassword(role, value),
    };
  },
};
