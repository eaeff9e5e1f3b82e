// Every workflow the rekey worker registers.

export { rolloverSigningKey } from './rollover';
export { rotateJwtKeys } from './rotate';
