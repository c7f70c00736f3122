/**
 * Where the SQL is in an IPython cell, and a Python language that parses it as SQL.
 *
 * A cell whose first line is `%%sql [options] [VAR <<]` is SQL from its second line on; a line
 * `%sql [options] [VAR <<] SELECT ...` (also `df = %sql ...`) is SQL after its options. The
 * options are those of sqlnb's magics (sqlnb/ipython/magics.py, `_split_line`).
 */

import type { LRLanguage } from '@codemirror/language';
import type { Parser } from '@lezer/common';
import { parseMixed } from '@lezer/common';

/** A span of the cell's text, as offsets from its start. */
export interface IRange {
  from: number;
  to: number;
}

/** `%%sql` alone or followed by a space: not `%%sqlnb`. */
const CELL_MAGIC = /^%%sql(?=\s|$)/;
/** `%sql` at the start of a line, or after `name =` (also `a, b =`). */
const LINE_MAGIC = /^\s*(?:[A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*)?%sql(?=\s|$)/;
/** The options that take a value. */
const VALUED = new Set(['--db', '--time-limit', '--save', '--cache-ttl']);
/** A connection target rather than SQL: `%sql sqlite:///file.db`, `%sql spark:local[2]`. */
const TARGET_URL = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/|^spark:local/;

/**
 * The offset in `line` where the SQL starts after the magic's options and `VAR <<` (which begin
 * at `pos`), or null when the rest is no SQL (nothing, or a connection URL).
 */
export function skipOptions(line: string, pos: number): number | null {
  const token = /\s*(\S+)/y;
  for (;;) {
    token.lastIndex = pos;
    const match = token.exec(line);
    if (match === null || !/^--?[A-Za-z]/.test(match[1])) {
      break;
    }
    pos = token.lastIndex;
    if (VALUED.has(match[1])) {
      token.lastIndex = pos;
      if (token.exec(line) !== null) {
        pos = token.lastIndex;
      }
    }
  }
  const target = /\s*[^\s<]+\s*<</y;
  target.lastIndex = pos;
  if (target.exec(line) !== null) {
    pos = target.lastIndex;
  }
  pos += line.slice(pos).length - line.slice(pos).trimStart().length;
  const rest = line.slice(pos);
  return rest.trim() === '' || TARGET_URL.test(rest) ? null : pos;
}

/** The spans of `text` (a cell's source) that hold SQL. */
export function sqlRanges(text: string): IRange[] {
  const lines = text.split('\n');
  let start = 0; // offset of the current line
  let index = 0;
  while (index < lines.length && lines[index].trim() === '') {
    start += lines[index].length + 1; // IPython drops leading empty lines
    index++;
  }
  if (index < lines.length && CELL_MAGIC.test(lines[index])) {
    const body = start + lines[index].length + 1;
    return body < text.length ? [{ from: body, to: text.length }] : [];
  }
  const ranges: IRange[] = [];
  for (; index < lines.length; index++) {
    const line = lines[index];
    const magic = LINE_MAGIC.exec(line);
    const sql = magic === null ? null : skipOptions(line, magic[0].length);
    if (sql !== null) {
      ranges.push({ from: start + sql, to: start + line.length });
    }
    start += line.length + 1;
  }
  return ranges;
}

/**
 * `python`, whose parser also parses the SQL of the magics with `sql` (an overlay: the rest of
 * the cell stays Python). Its language data is Python's, so indentation, comments and folding
 * are unchanged outside the SQL.
 */
export function withSqlMagics(python: LRLanguage, sql: Parser): LRLanguage {
  const wrap = parseMixed((node, input) => {
    if (!node.type.isTop) {
      return null;
    }
    const overlay = sqlRanges(input.read(0, input.length));
    return overlay.length > 0 ? { parser: sql, overlay } : null;
  });
  return python.configure({ wrap }, `${python.name}+sql`);
}
