// Commands the runs tell people to type, written once for the workflows (Web UI, events) and the
// activities (plans). Pure.

/** Hands a run waiting for a value issued elsewhere (generator: manual) that value. */
export const supplyCommand = (secret: string, env: string) => `rekey secret supply ${secret} --env ${env}`;
