// Every workflow the rekey worker registers.

export { environmentLock } from './environment-lock';
export { promote, promoteHop } from './promote';
export { rolloverSigningKey } from './rollover';
export { rotateJwtKeys } from './rotate';
