// Tests verify.js on proof bundles from a running chain: every bundle in the fixtures
// directory must verify, and tampered copies must fail for the right reason.
//
//   node verify.test.mjs FIXTURES_DIR [--emit OUT_DIR]
//
// FIXTURES_DIR holds genesis.json and bundles (a file with a `reading` field is a reading
// bundle, any other a state bundle). account.json, account_absent.json, key_zero_absent.json,
// feed_absent.json, reading.json and reading60.json are also the bases of the tampered cases.
// --emit writes every case (bundle, genesis and expected outcome, in OUT_DIR/cases.tsv) so
// that `machina verify-proof` / `verify-reading` can be run on the same files.

import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import * as ed from './vendor/noble-ed25519.js';
import { sha256 } from './vendor/noble-hashes.js';
import { verifyReadingBundle, verifyStateBundle } from './verify.js';

const [dir, flag, emitDir] = process.argv.slice(2);
if (!dir || (flag && (flag !== '--emit' || !emitDir))) {
  console.error('usage: node verify.test.mjs FIXTURES_DIR [--emit OUT_DIR]');
  process.exit(2);
}

const load = (name) => JSON.parse(readFileSync(join(dir, name), 'utf8'));
const genesis = load('genesis.json');
const isReading = (bundle) => 'reading' in bundle;

// ── Byte helpers ─────────────────────────────────────────────────────────────────────────

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const unhex = (text) => Uint8Array.from(Buffer.from(text, 'hex'));
const utf8 = (text) => new TextEncoder().encode(text);

/** `text` (hex) with bits `mask` of the byte at `index` (negative: from the end) flipped. */
function flip(text, index, mask = 0x01) {
  const bytes = unhex(text);
  bytes[index < 0 ? bytes.length + index : index] ^= mask;
  return hex(bytes);
}

/** A copy of `bundle` changed by `edit(copy)`. */
function edited(bundle, edit) {
  const copy = structuredClone(bundle);
  edit(copy);
  return copy;
}

function varint(n) {
  const out = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
  out.push(n);
  return Uint8Array.from(out);
}

function readVarint(bytes, at) {
  let value = 0;
  for (let shift = 1; ; shift *= 128) {
    const b = bytes[at++];
    value += (b & 0x7f) * shift;
    if (b < 0x80) return [value, at];
  }
}

// ── Certificates by validators whose keys the test holds ─────────────────────────────────

const secretKeys = [0, 1, 2, 3].map((i) => sha256(utf8(`machina verify test validator ${i}`)));
const publicKeys = secretKeys.map((k) => ed.getPublicKey(k));
/** Consensus indexes validators in key order: `byKey[i]` is the test key of index `i`. */
const byKey = publicKeys
  .map((k, i) => i)
  .sort((a, b) => Buffer.compare(publicKeys[a], publicKeys[b]));
/** The genesis with the test's validators, listed in reverse key order. */
const genesis4 = { ...genesis, validators: byKey.map((i) => hex(publicKeys[i])).reverse() };

/** The proposal of an encoded finalization (three varints and the block digest). */
function proposalOf(finalization) {
  const bytes = unhex(finalization);
  let at = 0;
  for (let i = 0; i < 3; i++) [, at] = readVarint(bytes, at);
  return bytes.slice(0, at + 32);
}

/**
 * A finalization of `bundle`'s proposal signed by the validators at `signers` (consensus
 * indexes); `bits` is the signer bitmap's length, `keyIndex` maps an index to a test key.
 */
function certificate(bundle, signers, { bits = 4, keyIndex = (i) => byKey[i], drop = 0 } = {}) {
  const proposal = proposalOf(bundle.finalization);
  const namespace = utf8(`machina/${genesis.chain_id}/consensus_FINALIZE`);
  const message = Buffer.concat([varint(namespace.length), namespace, proposal]);
  const bitmap = new Uint8Array(Math.ceil(bits / 8));
  for (const i of signers) bitmap[i >> 3] |= 1 << (i & 7);
  const signatures = signers.slice(drop).map((i) => ed.sign(message, secretKeys[keyIndex(i)]));
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(bits));
  return hex(Buffer.concat([proposal, length, bitmap, varint(signatures.length), ...signatures]));
}

const signedBy = (bundle, signers, options) =>
  edited(bundle, (b) => (b.finalization = certificate(bundle, signers, options)));

// ── Cases ────────────────────────────────────────────────────────────────────────────────

const account = load('account.json');
const absent = load('account_absent.json');
const zeroAbsent = load('key_zero_absent.json');
const feedAbsent = load('feed_absent.json');
const reading = load('reading.json');
const reading60 = load('reading60.json');
const otherValidator = hex(ed.getPublicKey(sha256(utf8('another validator'))));
const otherGenesis = { ...genesis, validators: [otherValidator] };

/** The key whose span an exclusion proof uses (right after its tag and operation proof). */
function lowerNeighbour(bundle) {
  const bytes = unhex(bundle.proof.proof);
  let at = 1;
  [, at] = readVarint(bytes, at); // location
  at += 32; // chunk
  [, at] = readVarint(bytes, at); // leaves
  [, at] = readVarint(bytes, at); // inactive peaks
  let digests;
  [digests, at] = readVarint(bytes, at);
  at += 32 * digests;
  at += bytes[at] === 1 ? 33 : 1; // partial chunk digest
  at += 32; // ops root
  return hex(bytes.slice(at, at + 32));
}

/** The reading with its sequence number (bytes 36..44 of its encoding) set to `seq`. */
function withSeq(bundle, seq) {
  return edited(bundle, (b) => {
    const bytes = unhex(b.reading);
    new DataView(bytes.buffer).setBigUint64(36, BigInt(seq));
    b.reading = hex(bytes);
    b.decoded.seq = seq;
  });
}

const BAD_CERTIFICATE = [
  'bad-certificate',
  'the finalization certificate is not signed by a quorum of the validators',
];
const OTHER_BLOCK = ['other-block', 'the certificate finalizes another block than the header'];
const BAD_PROOF = [
  'bad-proof',
  'the state proof does not verify: proof does not verify against the state root',
];
const NOT_DECODING = ['bad-proof', 'the state proof does not verify: proof does not decode'];
const KIND = [
  'bad-proof',
  'the state proof does not verify: proof kind does not match the claimed value',
];
const DECODED = ['decoded-mismatch', 'the decoded value does not match the value'];
const KEY = ['key-mismatch', 'the key does not match its description'];
const MERKLE = ['bad-merkle', "the reading's Merkle path does not lead to the anchored root"];
const WRONG_CHAIN = [
  'wrong-chain',
  'the proof is for chain "other-chain", the genesis for "machina-dev"',
];

/** [name, bundle, expected [code, message start] or null for valid, genesis]. */
// A header ends with its height, timestamp, transaction root and count, state root, ops root
// and ops range (8, 8, 32, 4, 32, 32 and 16 bytes): byte -100 is in the transaction root,
// byte -125 the height's last.
const tampered = [
  // State bundles.
  ['header byte flipped', edited(account, (b) => (b.header = flip(b.header, -100))), OTHER_BLOCK],
  [
    'header height changed',
    edited(account, (b) => (b.header = flip(b.header, -125))),
    ['height', 'the header is at height'],
  ],
  ['header not hex', edited(account, (b) => (b.header += 'z')), ['malformed', 'malformed header']],
  [
    'finalization signature byte flipped',
    edited(account, (b) => (b.finalization = flip(b.finalization, -40))),
    BAD_CERTIFICATE,
  ],
  [
    'finalization payload byte flipped',
    edited(account, (b) => (b.finalization = flip(b.finalization, 5))),
    BAD_CERTIFICATE,
  ],
  [
    'finalization truncated',
    edited(account, (b) => (b.finalization = b.finalization.slice(0, -2))),
    ['malformed', 'malformed finalization'],
  ],
  [
    'state proof ops root flipped',
    edited(account, (b) => (b.proof.proof = flip(b.proof.proof, -40))),
    BAD_PROOF,
  ],
  [
    'state proof digest flipped',
    edited(account, (b) => (b.proof.proof = flip(b.proof.proof, 50))),
    BAD_PROOF,
  ],
  [
    'state proof next key flipped',
    edited(account, (b) => (b.proof.proof = flip(b.proof.proof, -1))),
    BAD_PROOF,
  ],
  // The proven update is operation 716: bit 204 of the chunk after the 2-byte location.
  [
    'state proof activity bit cleared',
    edited(account, (b) => (b.proof.proof = flip(b.proof.proof, 2 + 25, 1 << 4))),
    BAD_PROOF,
  ],
  [
    'state proof truncated',
    edited(account, (b) => (b.proof.proof = b.proof.proof.slice(0, -2))),
    NOT_DECODING,
  ],
  [
    'state proof with a trailing byte',
    edited(account, (b) => (b.proof.proof += '00')),
    NOT_DECODING,
  ],
  ['decoded balance changed', edited(account, (b) => (b.decoded.balance += 1)), DECODED],
  ['decoded value with an extra field', edited(account, (b) => (b.decoded.extra = 0)), DECODED],
  [
    'value changed to match a changed decoded',
    edited(account, (b) => {
      b.value = flip(b.value, 7);
      b.decoded.nonce ^= 1;
    }),
    BAD_PROOF,
  ],
  [
    'description names another account',
    edited(account, (b) => (b.description = absent.description)),
    KEY,
  ],
  [
    'description in capitals with 0x',
    edited(
      account,
      (b) => (b.description = `bank/account/0x${b.description.slice(13).toUpperCase()}`),
    ),
    null,
  ],
  ['decoded value without a description', edited(account, (b) => (b.description = null)), DECODED],
  ['chain id changed', edited(account, (b) => (b.chain_id = 'other-chain')), WRONG_CHAIN],
  [
    'height claimed wrongly',
    edited(account, (b) => (b.height += 1)),
    ['height', 'the header is at height 222, the bundle claims 223'],
  ],
  ['genesis with another validator', account, BAD_CERTIFICATE, otherGenesis],
  [
    'genesis with a small-order validator key',
    account,
    ['malformed', 'malformed genesis: a validator is not a strong ed25519 key'],
    { ...genesis, validators: ['01' + '00'.repeat(31)] },
  ],
  [
    'value claimed absent',
    edited(account, (b) => {
      b.value = null;
      b.decoded = null;
    }),
    KIND,
  ],
  [
    'exclusion proof claimed as a value',
    edited(absent, (b) => {
      b.value = '00'.repeat(16);
      b.decoded = { nonce: 0, balance: 0 };
    }),
    KIND,
  ],
  [
    'exclusion proof flipped',
    edited(absent, (b) => (b.proof.proof = flip(b.proof.proof, -40))),
    BAD_PROOF,
  ],
  [
    'exclusion for another key in the span',
    edited(zeroAbsent, (b) => (b.key = '00'.repeat(31) + '01')),
    null,
  ],
  [
    "exclusion for the span's own key",
    edited(zeroAbsent, (b) => (b.key = lowerNeighbour(zeroAbsent))),
    BAD_PROOF,
  ],
  [
    'feed exclusion for another key in the span',
    edited(feedAbsent, (b) => (b.key = flip(b.key, 31))),
    KEY,
  ],
  [
    'description of a kind neither verifier knows',
    edited(feedAbsent, (b) => (b.description = 'data/feeds/0')),
    null,
  ],
  // Reading bundles.
  [
    'reading: header byte flipped',
    edited(reading, (b) => (b.header = flip(b.header, -100))),
    OTHER_BLOCK,
  ],
  [
    'reading: finalization signature byte flipped',
    edited(reading, (b) => (b.finalization = flip(b.finalization, -40))),
    BAD_CERTIFICATE,
  ],
  ['reading: chain id changed', edited(reading, (b) => (b.chain_id = 'other-chain')), WRONG_CHAIN],
  ['reading: genesis with another validator', reading, BAD_CERTIFICATE, otherGenesis],
  // The reading's Merkle leaf covers its signature, and the path is checked first.
  [
    'reading: signature byte flipped',
    edited(reading, (b) => {
      b.reading = flip(b.reading, -1);
      b.decoded.signature = flip(b.decoded.signature, -1);
    }),
    MERKLE,
  ],
  [
    'reading: signature flipped, decoded not',
    edited(reading, (b) => (b.reading = flip(b.reading, -1))),
    DECODED,
  ],
  ['reading: decoded value changed', edited(reading, (b) => (b.decoded.value.value += 1)), DECODED],
  [
    'reading: not hex',
    edited(reading, (b) => (b.reading = b.reading.slice(1))),
    ['malformed', 'malformed reading'],
  ],
  [
    'reading: seq outside the anchor',
    withSeq(reading, 99),
    ['not-covered', 'the reading is not covered by the anchor'],
  ],
  [
    'reading: anchor of another batch',
    edited(reading60, (b) => (b.anchor = reading.anchor)),
    ['not-covered', 'the reading is not covered by the anchor'],
  ],
  [
    'reading: merkle sibling flipped',
    edited(reading, (b) => (b.merkle.siblings[0] = flip(b.merkle.siblings[0], 0))),
    MERKLE,
  ],
  ['reading: merkle count changed', edited(reading, (b) => (b.merkle.count += 1)), MERKLE],
  ['reading: merkle index changed', edited(reading, (b) => (b.merkle.index -= 1)), MERKLE],
  [
    'reading: merkle sibling added',
    edited(reading, (b) => b.merkle.siblings.push(b.merkle.siblings[0])),
    MERKLE,
  ],
  [
    'reading: anchor value byte flipped',
    edited(reading, (b) => (b.anchor.value = flip(b.anchor.value, 70))),
    DECODED,
  ],
  [
    'reading: anchor value flipped with its decoded',
    edited(reading, (b) => {
      b.anchor.value = flip(b.anchor.value, 70); // byte 6 of the anchored root
      b.anchor.decoded.root = flip(b.anchor.decoded.root, 6);
    }),
    BAD_PROOF,
  ],
  ['reading: anchor index changed', edited(reading, (b) => (b.anchor.decoded.index = 1)), KEY],
  [
    'reading: anchor proof flipped',
    edited(reading, (b) => (b.anchor.proof.proof = flip(b.anchor.proof.proof, -40))),
    BAD_PROOF,
  ],
  ["reading: device entry is the maker's", edited(reading, (b) => (b.device = reading.maker)), KEY],
  [
    'reading: maker proof flipped',
    edited(reading, (b) => (b.maker.proof.proof = flip(b.maker.proof.proof, -40))),
    BAD_PROOF,
  ],
  [
    'reading: device decoded changed',
    edited(reading, (b) => (b.device.decoded.status = 'suspended')),
    DECODED,
  ],
  // Certificates of a four-validator genesis (quorum 3).
  ['3 of 4 validators sign', signedBy(account, [0, 1, 3]), null, genesis4],
  ['4 of 4 validators sign', signedBy(account, [0, 1, 2, 3]), null, genesis4],
  ['2 of 4 validators sign', signedBy(account, [1, 2]), BAD_CERTIFICATE, genesis4],
  [
    'signer bitmap of 3 validators',
    signedBy(account, [0, 1, 2], { bits: 3 }),
    BAD_CERTIFICATE,
    genesis4,
  ],
  [
    'signer bitmap of 5 validators',
    signedBy(account, [0, 1, 2], { bits: 5 }),
    ['malformed', 'malformed finalization'],
    genesis4,
  ],
  [
    'a signature missing',
    signedBy(account, [0, 1, 2], { drop: 1 }),
    ['malformed', 'malformed finalization'],
    genesis4,
  ],
  [
    'signers indexed in genesis order',
    signedBy(account, [0, 1, 2], { keyIndex: (i) => byKey[3 - i] }),
    BAD_CERTIFICATE,
    genesis4,
  ],
  ['reading: 3 of 4 validators sign', signedBy(reading, [0, 2, 3]), null, genesis4],
  ['reading: 2 of 4 validators sign', signedBy(reading, [0, 2]), BAD_CERTIFICATE, genesis4],
];

/** A bundle's outcome: its verified result, or its error. */
async function outcome(bundle, g) {
  try {
    return {
      result: await (isReading(bundle) ? verifyReadingBundle : verifyStateBundle)(bundle, g),
    };
  } catch (error) {
    if (!error.code) throw error; // a bug, not a rejection
    return { error };
  }
}

/** Checks a valid fixture's result against what its bundle claims; returns a problem or null. */
function checkValid(bundle, result) {
  if (result.height !== bundle.height) return `height ${result.height}`;
  if (isReading(bundle)) {
    const { seq, value } = bundle.decoded;
    if (result.reading.seq !== seq || !isDeepStrictEqual(result.reading.value, value)) {
      return 'another reading';
    }
    if (result.anchor !== bundle.anchor.decoded.index) return `anchor ${result.anchor}`;
    if (result.anchoredAt !== bundle.anchor.decoded.height) {
      return `anchored at ${result.anchoredAt}`;
    }
    if (result.maker.name !== bundle.maker.decoded.name) return `maker ${result.maker.name}`;
    return null;
  }
  if (result.value !== bundle.value) return `value ${result.value}`;
  // The page decodes accounts, devices, makers and anchors; any absent value decodes to null.
  const decodes = /^(bank\/account|identity\/device|identity\/maker|data\/anchor)\//.test(
    bundle.description ?? '',
  );
  const checked = bundle.decoded === null || decodes;
  if (result.decodedChecked !== checked) return `decodedChecked ${result.decodedChecked}`;
  return result.descriptionChecked === (bundle.description !== null)
    ? null
    : `descriptionChecked ${result.descriptionChecked}`;
}

const PINNED = {
  'account.json': { height: 222, value: '0000000000000002000000e8990a4088', decodedChecked: true },
  'account_absent.json': { height: 222, value: null, decodedChecked: true },
  'reading.json': {
    height: 188,
    anchor: 0,
    anchoredAt: 12,
    reading: { seq: 3, value: { type: 'numeric', value: 234, decimals: 1, unit: 'C' } },
  },
  'reading60.json': {
    height: 188,
    anchor: 12,
    anchoredAt: 130,
    reading: { seq: 60, value: { type: 'numeric', value: 236, decimals: 1, unit: 'C' } },
  },
};

/** Whether `result` has every field of `pinned` (recursively). */
function matches(result, pinned) {
  return Object.entries(pinned).every(([k, v]) =>
    v !== null && typeof v === 'object' ? matches(result[k] ?? {}, v) : result[k] === v,
  );
}

let passed = 0;
let failed = 0;
function report(name, problem) {
  if (problem) {
    failed++;
    console.log(`FAIL ${name}: ${problem}`);
  } else {
    passed++;
    console.log(`ok   ${name}`);
  }
}

const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.json') && f !== 'genesis.json')
  .sort();
for (const file of fixtures) {
  const bundle = load(file);
  const { result, error } = await outcome(bundle, genesis);
  let problem = error ? `rejected: ${error.message}` : checkValid(bundle, result);
  if (!problem && PINNED[file] && !matches(result, PINNED[file])) {
    problem = `unexpected ${JSON.stringify(result)}`;
  }
  report(`valid ${file}`, problem);
}

const cases = [];
for (const [name, bundle, expected, g = genesis] of tampered) {
  const { error } = await outcome(bundle, g);
  let problem = null;
  if (!expected && error) problem = `rejected: ${error.message}`;
  if (expected && !error) problem = 'accepted';
  if (expected && error && (error.code !== expected[0] || !error.message.startsWith(expected[1]))) {
    problem = `rejected with ${error.code}: ${error.message}`;
  }
  report(name, problem);
  cases.push({ name, bundle, genesis: g, message: error?.message ?? 'valid' });
}

if (emitDir) {
  mkdirSync(emitDir, { recursive: true });
  const lines = cases.map(({ name, bundle, genesis: g, message }, i) => {
    const slug = `${String(i).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
    writeFileSync(join(emitDir, `${slug}.json`), JSON.stringify(bundle, null, 1));
    writeFileSync(join(emitDir, `${slug}.genesis.json`), JSON.stringify(g, null, 1));
    return [slug, isReading(bundle) ? 'verify-reading' : 'verify-proof', message].join('\t');
  });
  writeFileSync(join(emitDir, 'cases.tsv'), lines.join('\n') + '\n');
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
