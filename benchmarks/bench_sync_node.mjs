// The verifying firehose of @atproto/sync on the frames of bench_sync.py, for comparison.
//
// Run by `python benchmarks/bench_sync.py --compare-node DIR`, where DIR holds an npm install
// of @atproto/sync (`npm install @atproto/sync@0.4.11` in DIR; the package is not a dependency
// of this project). Arguments: the frames file (4-byte big-endian length + message, as
// `atproto-async record` writes), a JSON file mapping each DID to its did:key, the rounds.
//
// Per commit frame, as the Firehose class of @atproto/sync does for a #commit event with
// `unauthenticatedCommits: false`: decode the frame (header + body), then
// parseCommitAuthenticated(idResolver, evt): the signature against the account key and the
// MST proof of every op (verifyProofs). The key comes from a map in memory (a cache hit, as
// the Python side's StaticIdentityResolver). Unlike the Python verifier it does not invert
// the ops to check prevData (no gap detection) nor track revs. Prints one JSON line.

import { readFileSync } from 'node:fs'
import { cborDecodeMulti } from '@atproto/common'
import { parseCommitAuthenticated } from '@atproto/sync'

const [framesPath, keysPath, roundsText] = process.argv.slice(2)
const keys = JSON.parse(readFileSync(keysPath, 'utf8'))
const data = readFileSync(framesPath)
const frames = []
for (let pos = 0; pos < data.length; ) {
  const size = data.readUInt32BE(pos)
  frames.push(data.subarray(pos + 4, pos + 4 + size))
  pos += 4 + size
}
const idResolver = { did: { resolveAtprotoKey: async (did) => keys[did] } }

function decodeAll() {
  const events = []
  for (const frame of frames) {
    const [header, body] = cborDecodeMulti(frame)
    if (header.t === '#commit') events.push(body)
  }
  return events
}

async function verifyAll() {
  let ops = 0
  for (const frame of frames) {
    const [header, body] = cborDecodeMulti(frame)
    if (header.t !== '#commit') continue
    ops += (await parseCommitAuthenticated(idResolver, body)).length
  }
  return ops
}

const rounds = Number(roundsText || 5)
let bestDecode = Infinity
let bestVerify = Infinity
let commits = 0
let verifiedOps = 0
for (let round = 0; round < rounds; round++) {
  let start = process.hrtime.bigint()
  commits = decodeAll().length
  bestDecode = Math.min(bestDecode, Number(process.hrtime.bigint() - start) / 1e3)
  start = process.hrtime.bigint()
  verifiedOps = await verifyAll()
  bestVerify = Math.min(bestVerify, Number(process.hrtime.bigint() - start) / 1e3)
}
console.log(
  JSON.stringify({
    node: process.version,
    commits,
    verified_ops: verifiedOps,
    decode_us: bestDecode / commits,
    verify_us: bestVerify / commits,
  }),
)
