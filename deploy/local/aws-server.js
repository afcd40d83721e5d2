// AWS-compatible servers for the local cloud, in memory, bound to loopback only:
// Kinesis (kinesalite) and DynamoDB (dynalite).
// Usage: node aws-server.js kinesis|dynamodb [PORT] [--stop-on-stdin-close]
//   PORT 0 or absent: any free port.
// Prints one line, "listening http://127.0.0.1:PORT", once it accepts connections, and stops
// on SIGINT/SIGTERM or, with --stop-on-stdin-close, when its stdin closes (so it never outlives
// the program that started it).
'use strict'
const path = require('path')

const kinds = {
  // streams and tables become ACTIVE at once (or nearly)
  kinesis: () => require(path.join(__dirname, 'node_modules', 'kinesalite'))(
    { createStreamMs: 20, deleteStreamMs: 20, updateStreamMs: 20, shardLimit: 50 }),
  dynamodb: () => require(path.join(__dirname, 'node_modules', 'dynalite'))(
    { createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 }),
}
const kind = process.argv[2]
if (!kinds[kind]) {
  process.stderr.write(`usage: node aws-server.js ${Object.keys(kinds).join('|')} [PORT]\n`)
  process.exit(2)
}
const port = Number(process.argv[3] || 0)
const server = kinds[kind]()
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`)
})
server.on('error', (err) => {
  process.stderr.write(`${kind} server: ${err.message}\n`)
  process.exit(1)
})
const stop = () => server.close(() => process.exit(0))
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
if (process.argv.includes('--stop-on-stdin-close')) {
  process.stdin.resume()
  process.stdin.on('end', stop)
}
