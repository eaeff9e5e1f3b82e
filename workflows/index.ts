// Every workflow the rekey worker registers.
export { rotateJwtKeys } from './rotate';
