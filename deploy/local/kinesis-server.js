// A Kinesis-compatible server (kinesalite, in memory) for the local cloud, bound to loopback only.
// Usage: node kinesis-server.js [PORT]   (PORT 0 or absent: any free port)
// Prints one line, "listening http://127.0.0.1:PORT", once it accepts connections, and stops
// on SIGINT/SIGTERM or when its stdin closes (so it never outlives the program that started it).
'use strict'
const path = require('path')
const kinesalite = require(path.join(__dirname, 'node_modules', 'kinesalite'))

const port = Number(process.argv[2] || 0)
const server = kinesalite({ createStreamMs: 20, deleteStreamMs: 20, updateStreamMs: 20, shardLimit: 50 })
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`)
})
server.on('error', (err) => {
  process.stderr.write(`kinesis server: ${err.message}\n`)
  process.exit(1)
})
const stop = () => server.close(() => process.exit(0))
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
if (process.argv.includes('--stop-on-stdin-close')) {
  process.stdin.resume()
  process.stdin.on('end', stop)
}
