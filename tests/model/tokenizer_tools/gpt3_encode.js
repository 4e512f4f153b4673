// Encodes text chunks with the npm package gpt-3-encoder (openai/gpt-2's encoder.py ported to
// JavaScript by someone else): the independent reference the C++ tokenizer is checked against.
// usage: node gpt3_encode.js PACKAGE_DIR CHUNKS.json OUT.json
//   CHUNKS.json: ["text", ...]; OUT.json: {"ids": [[...], ...], "seconds": encode time, "tokens": n}
const fs = require('fs');
const path = require('path');

const [packageDir, chunksPath, outPath] = process.argv.slice(2);
if (!outPath) {
  console.error('usage: node gpt3_encode.js PACKAGE_DIR CHUNKS.json OUT.json');
  process.exit(2);
}
const { encode } = require(path.resolve(packageDir, 'Encoder.js'));
const chunks = JSON.parse(fs.readFileSync(chunksPath, 'utf8'));
const start = process.hrtime.bigint();
const ids = chunks.map((chunk) => encode(chunk));
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const tokens = ids.reduce((n, chunk) => n + chunk.length, 0);
fs.writeFileSync(outPath, JSON.stringify({ ids, seconds, tokens }));
