// Streaming-friendly CSV parser and writer (RFC 4180 with a few extensions).

const DEFAULTS = Object.freeze({
  delimiter: ',',
  quote: '"',
  trim: false,
  header: true,
});

const State = {
  FIELD_START: 0,
  UNQUOTED: 1,
  QUOTED: 2,
  QUOTE_IN_QUOTED: 3,
};

class CsvError extends Error {
  constructor(message, line, column) {
    super(`${message} (line ${line}, column ${column})`);
    this.name = 'CsvError';
    this.line = line;
    this.column = column;
  }
}

function* parseRows(text, options = {}) {
  const { delimiter, quote, trim } = { ...DEFAULTS, ...options };
  let state = State.FIELD_START;
  let field = '';
  let row = [];
  let line = 1;
  let column = 0;

  const endField = () => {
    row.push(trim ? field.trim() : field);
    field = '';
  };

  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    column++;
    switch (state) {
      case State.FIELD_START:
        if (ch === quote) {
          state = State.QUOTED;
          break;
        }
        state = State.UNQUOTED;
      // falls through
      case State.UNQUOTED:
        if (ch === delimiter) {
          endField();
          state = State.FIELD_START;
        } else if (ch === '\n' || ch === '\r') {
          if (ch === '\r' && text[i + 1] === '\n') i++;
          endField();
          yield row;
          row = [];
          line++;
          column = 0;
          state = State.FIELD_START;
        } else {
          field += ch;
        }
        break;
      case State.QUOTED:
        if (ch === quote) {
          state = State.QUOTE_IN_QUOTED;
        } else {
          if (ch === '\n') {
            line++;
            column = 0;
          }
          field += ch;
        }
        break;
      case State.QUOTE_IN_QUOTED:
        if (ch === quote) {
          field += quote;
          state = State.QUOTED;
        } else if (ch === delimiter) {
          endField();
          state = State.FIELD_START;
        } else if (ch === '\n' || ch === '\r') {
          if (ch === '\r' && text[i + 1] === '\n') i++;
          endField();
          yield row;
          row = [];
          line++;
          column = 0;
          state = State.FIELD_START;
        } else {
          throw new CsvError(`unexpected character ${JSON.stringify(ch)} after quote`, line, column);
        }
        break;
      default:
        throw new Error(`unknown state ${state}`);
    }
  }

  if (state === State.QUOTED) {
    throw new CsvError('unterminated quoted field', line, column);
  }
  if (field !== '' || row.length > 0) {
    endField();
    yield row;
  }
}

function parse(text, options = {}) {
  const opts = { ...DEFAULTS, ...options };
  const rows = Array.from(parseRows(text, opts));
  if (!opts.header || rows.length === 0) return rows;
  const [columns, ...body] = rows;
  return body.map((values) =>
    Object.fromEntries(columns.map((name, idx) => [name, values[idx] ?? null])),
  );
}

function escapeField(value, { delimiter, quote }) {
  if (value === null || value === undefined) return '';
  const text = String(value);
  const needsQuotes = text.includes(delimiter) || text.includes(quote) || /[\r\n]/.test(text);
  return needsQuotes ? quote + text.replaceAll(quote, quote + quote) + quote : text;
}

function stringify(records, options = {}) {
  const opts = { ...DEFAULTS, ...options };
  if (records.length === 0) return '';
  const columns = opts.columns || Object.keys(records[0]);
  const lines = [columns.map((c) => escapeField(c, opts)).join(opts.delimiter)];
  for (const record of records) {
    lines.push(columns.map((c) => escapeField(record[c], opts)).join(opts.delimiter));
  }
  return lines.join('\n') + '\n';
}

module.exports = { parse, parseRows, stringify, CsvError };
