// Runs one SQL query with DuckDB and prints each row as a JSON array, for
// the tests that read the bucket back as a query engine would; with
// --time, on one thread, three times, and prints the median milliseconds
// instead (make bench).
//   node tools/duckdb/query.mjs "SELECT count(*) FROM read_csv('...')"
//   node tools/duckdb/query.mjs --time "SELECT ..."
import { DuckDBInstance } from '@duckdb/node-api';

const time = process.argv[2] === '--time';
const sql = process.argv[time ? 3 : 2];
if (!sql) {
  console.error('usage: node query.mjs [--time] SQL');
  process.exit(2);
}
const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
if (time) {
  await conn.run('SET threads = 1');
  const ms = [];
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    await conn.runAndReadAll(sql);
    ms.push(performance.now() - start);
  }
  ms.sort((a, b) => a - b);
  console.log(Math.round(ms[1]));
} else {
  const reader = await conn.runAndReadAll(sql);
  for (const row of reader.getRowsJson()) {
    console.log(JSON.stringify(row));
  }
}
