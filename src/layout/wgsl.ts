/**
 * WGSL side of a schema: the struct text and the functions that load a struct from, or
 * store it into, a flat `array<u32>` storage buffer. Generated from the same SchemaLayout
 * as the TS codec, so the two can never disagree about where a field lives.
 */
import type { FieldLayout, SchemaLayout } from './schema.ts';
import { REPLY_HEADER_FIELDS, REQUEST_HEADER_FIELDS } from './record.ts';

function wgslType(field: FieldLayout): string {
  return field.length === 0 ? field.type : `array<${field.type}, ${field.length}>`;
}

/** `struct Name { a: u32, b: array<f32, 3>, }` for the layout. */
export function wgslStruct(name: string, layout: SchemaLayout): string {
  const members = layout.fields.map((f) => `  ${f.name}: ${wgslType(f)},`);
  return `struct ${name} {\n${members.join('\n')}\n}`;
}

function fromWord(type: FieldLayout['type'], word: string): string {
  return type === 'u32' ? word : `bitcast<${type}>(${word})`;
}

function toWord(type: FieldLayout['type'], value: string): string {
  return type === 'u32' ? value : `bitcast<u32>(${value})`;
}

/**
 * `fn <fnName>(base: u32) -> <struct>` reading the struct from `buffer` at word `base`.
 * `buffer` must be a module-scope `array<u32>` visible to the function.
 */
export function wgslLoader(fnName: string, structName: string, layout: SchemaLayout, buffer: string): string {
  const body: string[] = [];
  for (const f of layout.fields) {
    if (f.length === 0) {
      body.push(`  v.${f.name} = ${fromWord(f.type, `${buffer}[base + ${f.offset}u]`)};`);
    } else {
      body.push(
        `  for (var i = 0u; i < ${f.length}u; i++) { v.${f.name}[i] = ${fromWord(f.type, `${buffer}[base + ${f.offset}u + i]`)}; }`,
      );
    }
  }
  return `fn ${fnName}(base: u32) -> ${structName} {\n  var v: ${structName};\n${body.join('\n')}\n  return v;\n}`;
}

/** `fn <fnName>(base: u32, v: <struct>)` writing the struct into `buffer` at word `base`. */
export function wgslStorer(fnName: string, structName: string, layout: SchemaLayout, buffer: string): string {
  const body: string[] = [];
  for (const f of layout.fields) {
    if (f.length === 0) {
      body.push(`  ${buffer}[base + ${f.offset}u] = ${toWord(f.type, `v.${f.name}`)};`);
    } else {
      body.push(
        `  for (var i = 0u; i < ${f.length}u; i++) { ${buffer}[base + ${f.offset}u + i] = ${toWord(f.type, `v.${f.name}[i]`)}; }`,
      );
    }
  }
  return `fn ${fnName}(base: u32, v: ${structName}) {\n${body.join('\n')}\n}`;
}

function constantName(prefix: string, field: string): string {
  return `${prefix}${field.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** Header word offsets as WGSL constants: `const RS_REQ_TARGET: u32 = 0u;` ... */
export function wgslHeaderConstants(): string {
  const lines = [
    ...REQUEST_HEADER_FIELDS.map((f, i) => `const ${constantName('RS_REQ_', f)}: u32 = ${i}u;`),
    `const RS_REQ_HEADER_WORDS: u32 = ${REQUEST_HEADER_FIELDS.length}u;`,
    ...REPLY_HEADER_FIELDS.map((f, i) => `const ${constantName('RS_REP_', f)}: u32 = ${i}u;`),
    `const RS_REP_HEADER_WORDS: u32 = ${REPLY_HEADER_FIELDS.length}u;`,
  ];
  return lines.join('\n');
}
