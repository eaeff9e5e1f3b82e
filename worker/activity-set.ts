// The worker's activities as one object, from every factory: a name that two factories export is a
// compile error here, where a spread would let the later one silently replace the earlier.

/** The names that two of the objects in `T` share, left to right. */
type Shared<T extends readonly object[], Seen extends PropertyKey = never> = T extends readonly [
  infer Head extends object,
  ...infer Rest extends readonly object[],
]
  ? Extract<keyof Head, Seen> | Shared<Rest, Seen | keyof Head>
  : never;

/** All of `T`'s objects in one. */
type Merged<T extends readonly object[]> = T extends readonly [
  infer Head extends object,
  ...infer Rest extends readonly object[],
]
  ? Head & Merged<Rest>
  : unknown;

/** Refuses (at compile time) what `Shared` finds, naming it. */
type Disjoint<T extends readonly object[]> = [Shared<T>] extends [never]
  ? unknown
  : { 'two factories export the same activity': Shared<T> };

export function activitySet<const T extends readonly object[]>(...factories: T & Disjoint<T>): Merged<T> {
  return Object.assign({}, ...factories);
}
