#!/usr/bin/env node
// Command-line front end: convert CSV to JSON and back.

const fs = require('fs/promises');
const path = require('path');
const { parse, stringify, CsvError } = require('./csv');

const USAGE = `usage: csvjson [options] <file>

  -o, --output <file>   write to a file instead of stdout
  -d, --delimiter <c>   field delimiter (default ",")
  -r, --reverse         convert JSON to CSV
  -h, --help            show this help`;

function parseArgs(argv) {
  const opts = { output: null, delimiter: ',', reverse: false, files: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    switch (arg) {
      case '-o':
      case '--output':
        opts.output = argv[++i];
        break;
      case '-d':
      case '--delimiter':
        opts.delimiter = argv[++i] === '\\t' ? '\t' : argv[i];
        break;
      case '-r':
      case '--reverse':
        opts.reverse = true;
        break;
      case '-h':
      case '--help':
        opts.help = true;
        break;
      default:
        if (arg.startsWith('-')) {
          throw new Error(`unknown option: ${arg}`);
        }
        opts.files.push(arg);
    }
  }
  return opts;
}

async function convert(file, opts) {
  const text = await fs.readFile(file, 'utf8');
  if (opts.reverse) {
    const data = JSON.parse(text);
    return stringify(Array.isArray(data) ? data : [data], opts);
  }
  return JSON.stringify(parse(text, opts), null, 2) + '\n';
}

async function main(argv = process.argv.slice(2)) {
  let opts;
  try {
    opts = parseArgs(argv);
  } catch (err) {
    console.error(err.message);
    console.error(USAGE);
    return 2;
  }
  if (opts.help || opts.files.length === 0) {
    console.log(USAGE);
    return opts.help ? 0 : 2;
  }

  const results = await Promise.allSettled(opts.files.map((f) => convert(f, opts)));
  let status = 0;
  const chunks = [];
  results.forEach((result, idx) => {
    const name = path.basename(opts.files[idx]);
    if (result.status === 'fulfilled') {
      chunks.push(result.value);
    } else if (result.reason instanceof CsvError) {
      console.error(`${name}:${result.reason.line}: ${result.reason.message}`);
      status = 1;
    } else {
      console.error(`${name}: ${result.reason?.message ?? result.reason}`);
      status = 1;
    }
  });

  if (opts.output) {
    await fs.writeFile(opts.output, chunks.join(''), 'utf8');
  } else {
    process.stdout.write(chunks.join(''));
  }
  return status;
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(err);
      process.exitCode = 70;
    },
  );
}

module.exports = { parseArgs, main };
