// Every workflow the rekey worker registers.

export { rotateCodecKey } from './codec-key';
export { environmentLock } from './environment-lock';
export { deliverEvent } from './notify';
export { promote } from './promote';
export { promoteHop } from './promote-hop';
export { reencryptRows } from './reencrypt-rows';
export { requestClaim } from './requests';
export { rolloverSigningKey } from './rollover';
export { rotateJwtKeys } from './rotate';
export { rotateSecret } from './rotate-secret';
export { rotateSecrets } from './rotate-secrets';
export { watchSecrets } from './watch-secrets';
