// Runs one SQL query with DuckDB and prints each row as a JSON array, for
// the tests that read the bucket back as a query engine would.
//   node tools/duckdb/query.mjs "SELECT count(*) FROM read_csv('...')"
import { DuckDBInstance } from '@duckdb/node-api';

const sql = process.argv[2];
if (!sql) {
  console.error('usage: node query.mjs SQL');
  process.exit(2);
}
const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
const reader = await conn.runAndReadAll(sql);
for (const row of reader.getRowsJson()) {
  console.log(JSON.stringify(row));
}
