// Where each environment's private key lives, as its store tells places apart (two environments
// at one place share a key pair, whatever their groups say): indexed once per config, since a
// run's checks look up their environments' neighbours and a fleet has thousands.
import { secretPlace } from '../stores/kinds';
import { secretNamesOf } from './key-groups';
import type { Config } from './schema';

export interface KeyPlaces {
  /** Environment -> its key's place. */
  of: Map<string, string>;
  /** Place -> the environments whose key lives there, in config order. */
  at: Map<string, string[]>;
}

const index = new WeakMap<Config, KeyPlaces>();

export function keyPlaces(config: Config): KeyPlaces {
  let places = index.get(config);
  if (!places) {
    places = { of: new Map(), at: new Map() };
    for (const [env, c] of Object.entries(config.environments)) {
      const place = secretPlace(c.store, config.stores[c.store], secretNamesOf(config, env).privateKey);
      places.of.set(env, place);
      places.at.set(place, [...(places.at.get(place) ?? []), env]);
    }
    index.set(config, places);
  }
  return places;
}

/** The environments whose key lives where one of `envs`' does (`envs` among them). */
export function sharingKeys(config: Config, envs: string[]): Set<string> {
  const { of, at } = keyPlaces(config);
  return new Set(envs.flatMap((env) => at.get(of.get(env) as string) ?? []));
}
