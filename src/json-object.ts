// Reading a record someone else may have written (a file, an etcd key): its
// JSON text as an object to check field by field, or undefined when the text
// is not JSON or not an object. Never throws.

/** `text` parsed, when it is JSON of an object (or a list); else undefined. */
export function parseJsonObject(text: string): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof v === 'object' && v !== null ? v as Record<string, unknown> : undefined;
}
