// Every workflow the rekey worker registers.

export { promote, promoteHop } from './promote';
export { rolloverSigningKey } from './rollover';
export { rotateJwtKeys } from './rotate';
