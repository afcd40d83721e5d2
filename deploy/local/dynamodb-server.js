// A DynamoDB-compatible server (dynalite, in memory) for the local cloud, bound to loopback only.
// Usage: node dynamodb-server.js [PORT]   (PORT 0 or absent: any free port)
// Prints one line, "listening http://127.0.0.1:PORT", once it accepts connections, and stops
// on SIGINT/SIGTERM or, with --stop-on-stdin-close, when its stdin closes.
'use strict'
const path = require('path')
const dynalite = require(path.join(__dirname, 'node_modules', 'dynalite'))

const port = Number(process.argv[2] || 0)
// tables become ACTIVE at once; in memory, gone when the process ends
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`)
})
server.on('error', (err) => {
  process.stderr.write(`dynamodb server: ${err.message}\n`)
  process.exit(1)
})
const stop = () => server.close(() => process.exit(0))
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
if (process.argv.includes('--stop-on-stdin-close')) {
  process.stdin.resume()
  process.stdin.on('end', stop)
}
